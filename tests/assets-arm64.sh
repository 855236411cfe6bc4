# tests/assets-arm64.sh — sourced by tests/assets.sh when ARCH=arm64 (make vm-test ARCH=arm64).
#
# Idempotent like the amd64 part; everything lives in .cache/arm64/ so the amd64 assets
# (.cache/kernel, .cache/staging) are never touched:
#   .cache/arm64/kernel/     dpkg -x of Debian's linux-image-<ver>-cloud-arm64 (+ modules.dep),
#                            vmlinuz and version as for amd64
#   .cache/arm64/busybox/    busybox (busybox-static:arm64) and applets (its --list, run
#                            under qemu-aarch64-static, since the image builder cannot run it)
#   .cache/arm64/staging/    mkfs/blkid tools of the :arm64 packages with every library they
#                            need (readelf NEEDED closure), laid out as in the guest; they run
#                            in the guest only
# The guest boots through UEFI (qemu-efi-aarch64's QEMU_EFI.fd) so that the power button is
# ACPI, as on a Graviton instance (see README "Architectures").

A="$CACHE/arm64"
mkdir -p "$A"
MA=aarch64-linux-gnu
TOOLS_ARM64="mkfs.ext4 mkfs.xfs mkfs.btrfs blkid resize2fs" # as image.Tools

# --- 1. host packages and the arm64 architecture --------------------------------------
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	[ "$(id -u)" = 0 ] || die "need root to run: dpkg --add-architecture arm64"
	log "dpkg --add-architecture arm64"
	dpkg --add-architecture arm64
	apt-get update >"$A/apt-update.log" 2>&1 || die "apt-get update failed (see $A/apt-update.log)"
fi
PKGS="qemu-system-arm qemu-efi-aarch64 qemu-user-static qemu-utils e2fsprogs xfsprogs btrfs-progs iproute2 kmod binutils cpio"
install_pkgs "$A/apt-install.log" $PKGS
[ -f /usr/share/qemu-efi-aarch64/QEMU_EFI.fd ] || die "qemu-efi-aarch64 installed but /usr/share/qemu-efi-aarch64/QEMU_EFI.fd is missing"

# fetch DIR PKG...: apt-get download PKG:arm64 into DIR (apt-get update once if unknown).
fetch() {
	dir=$1
	shift
	rm -rf "$dir"
	mkdir -p "$dir"
	args=""
	for p in "$@"; do args="$args $p:arm64"; done
	if ! (cd "$dir" && apt-get download $args >"$dir.log" 2>&1); then
		apt-get update >>"$dir.log" 2>&1 || die "apt-get update failed (see $dir.log)"
		(cd "$dir" && apt-get download $args >>"$dir.log" 2>&1) || die "apt-get download$args failed (see $dir.log)"
	fi
}

# --- 2. kernel --------------------------------------------------------------------------
KDIR="$A/kernel"
if [ ! -s "$KDIR/version" ] || [ ! -s "$KDIR/vmlinuz" ]; then
	pick() {
		apt-cache depends linux-image-cloud-arm64:arm64 2>/dev/null |
			sed -n 's/.*Depends: \(linux-image-6\.[0-9.]*-[0-9]*-cloud-arm64\)\(:arm64\)\{0,1\}$/\1/p' | head -n1
	}
	pkg=$(pick || true)
	if [ -z "$pkg" ]; then
		apt-get update >"$A/apt-update.log" 2>&1 || die "apt-get update failed (see $A/apt-update.log)"
		pkg=$(pick || true)
	fi
	[ -n "$pkg" ] || die "apt-cache offers no linux-image-cloud-arm64:arm64 (is the arm64 architecture added?)"
	log "downloading $pkg:arm64"
	fetch "$A/kdl" "$pkg"
	unpack_kernel "$A/kdl" "$pkg"
	rm -f "$A/kdl.log"
fi
log "arm64 kernel $(cat "$KDIR/version")"

# --- 3. busybox -------------------------------------------------------------------------
BB="$A/busybox"
if [ ! -s "$BB/applets" ]; then
	fetch "$A/bbdl" busybox-static
	rm -rf "$BB" "$A/bbx"
	mkdir -p "$BB" "$A/bbx"
	dpkg -x "$A"/bbdl/*.deb "$A/bbx" || die "dpkg -x of busybox-static:arm64 failed"
	cp "$A/bbx/bin/busybox" "$BB/busybox"
	qemu-aarch64-static "$BB/busybox" --list >"$BB/applets.tmp" || die "qemu-aarch64-static busybox --list failed"
	mv "$BB/applets.tmp" "$BB/applets"
	rm -rf "$A/bbdl" "$A/bbdl.log" "$A/bbx"
fi
log "arm64 busybox $(wc -l <"$BB/applets") applets"

# --- 4. mkfs tools and their libraries ------------------------------------------------
STAGE="$A/staging"
if [ ! -f "$STAGE/.done" ]; then
	# The tools' packages and, transitively, the library packages they depend on.
	want="e2fsprogs xfsprogs btrfs-progs util-linux"
	seen=""
	todo=$want
	while [ -n "$todo" ]; do
		next=""
		for p in $todo; do
			case " $seen " in *" $p "*) continue ;; esac
			seen="$seen $p"
			for d in $(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances "$p:arm64" 2>/dev/null |
				sed -n 's/^ *\(Pre\)\{0,1\}Depends: \([a-z0-9][a-z0-9.+-]*\)\(:arm64\)\{0,1\}$/\2/p'); do
				case "$d" in lib* | zlib1g) next="$next $d" ;; esac
			done
		done
		todo=$next
	done
	log "downloading$seen (:arm64)"
	fetch "$A/stdl" $seen
	rm -rf "$A/stx" "$STAGE"
	mkdir -p "$A/stx" "$STAGE/sbin" "$STAGE/lib/$MA"
	for deb in "$A"/stdl/*.deb; do
		dpkg -x "$deb" "$A/stx" || die "dpkg -x $deb failed"
	done
	# findlib NAME: the library file in the extracted packages (multiarch dirs).
	findlib() {
		for d in lib/$MA usr/lib/$MA lib usr/lib; do
			[ -e "$A/stx/$d/$1" ] && { echo "$A/stx/$d/$1"; return 0; }
		done
		return 1
	}
	addlibs() { # NEEDED closure of one ELF file
		for n in $(readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
			[ -e "$STAGE/lib/$MA/$n" ] && continue
			src=$(findlib "$n") || die "library $n (needed by $(basename "$1")) is in none of:$seen"
			cp -L "$src" "$STAGE/lib/$MA/$n"
			addlibs "$STAGE/lib/$MA/$n"
		done
	}
	for t in $TOOLS_ARM64; do
		src=""
		for d in sbin usr/sbin bin usr/bin; do
			[ -e "$A/stx/$d/$t" ] && src="$A/stx/$d/$t" && break
		done
		[ -n "$src" ] || die "tool $t not in the arm64 packages$seen"
		cp -L "$src" "$STAGE/sbin/$t"
		addlibs "$STAGE/sbin/$t"
	done
	# The program interpreter (PT_INTERP) of arm64 binaries.
	interp=$(readelf -l "$STAGE/sbin/mkfs.ext4" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
	[ -n "$interp" ] || die "no program interpreter in mkfs.ext4"
	src=$(findlib "$(basename "$interp")") || die "interpreter $interp not in the arm64 packages"
	mkdir -p "$STAGE$(dirname "$interp")"
	cp -L "$src" "$STAGE$interp"
	rm -rf "$A/stdl" "$A/stdl.log" "$A/stx"
	touch "$STAGE/.done"
fi
log "arm64 staging $(du -sh "$STAGE" | cut -f1)"

if ! command -v moto_server >/dev/null 2>&1; then
	die "moto_server not found in PATH: scenarios with aws = true need moto (pip install 'moto[server]'); it is not packaged in Debian and cannot be installed offline here"
fi
log "ok (arm64)"
