#!/bin/sh
# tests/assets.sh — fetch and cache everything the VM tests need.
#
# Idempotent: every step checks its cache under .cache/ first. Runs as root on Debian 12.
# Produces:
#   .cache/kernel/            dpkg -x of Debian's cloud kernel package (+ modules.dep)
#   .cache/kernel/vmlinuz     the kernel image
#   .cache/kernel/version     the kernel release (uname -r in the guest)
#   .cache/staging/           mkfs/blkid tools and every library they need, ready to copy into
#                             the initramfs (layout: sbin/<tool>, lib/... as on the host)
# With ARCH=arm64 (make vm-test ARCH=arm64) it prepares the arm64 guest instead, in
# .cache/arm64/ (tests/assets-arm64.sh); the amd64 assets are left alone.
# and installs mmdebstrap for the real images (tests/images/build.sh, run by the VM harness,
# caches .cache/images/) and the host clients their checks use (psql, redis-cli, ssh, curl).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE="$ROOT/.cache"
mkdir -p "$CACHE"

die() { echo "assets: $*" >&2; exit 1; }
log() { echo "assets: $*"; }

# install_pkgs LOG PKG...: apt-get install those of PKG dpkg does not have installed, output
# in LOG; apt-get update only when the install fails. Shared by both architectures.
install_pkgs() {
	plog=$1
	shift
	missing=""
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing="$missing $p"
		fi
	done
	if [ -n "$missing" ]; then
		[ "$(id -u)" = 0 ] || die "need root to install:$missing"
		log "installing:$missing"
		if ! apt-get install -y $missing >"$plog" 2>&1; then
			log "apt-get install failed, running apt-get update first"
			apt-get update >>"$plog" 2>&1 || die "apt-get update failed (see $plog)"
			apt-get install -y $missing >>"$plog" 2>&1 || die "apt-get install$missing failed (see $plog)"
		fi
	fi
}

# unpack_kernel DEBDIR PKG: the kernel package PKG downloaded into DEBDIR becomes $KDIR
# (modules.dep, vmlinuz, version), put in place by one rename; DEBDIR is removed.
unpack_kernel() {
	rm -rf "$KDIR.tmp"
	mkdir -p "$KDIR.tmp"
	dpkg -x "$1"/*.deb "$KDIR.tmp" || die "dpkg -x of $2 failed"
	ver=${2#linux-image-}
	[ -d "$KDIR.tmp/lib/modules/$ver" ] || die "package $2 has no lib/modules/$ver"
	depmod -b "$KDIR.tmp" "$ver" || die "depmod failed"
	cp "$KDIR.tmp/boot/vmlinuz-$ver" "$KDIR.tmp/vmlinuz"
	echo "$ver" >"$KDIR.tmp/version"
	rm -rf "$KDIR" "$1"
	mv "$KDIR.tmp" "$KDIR"
}

ARCH=${ARCH:-amd64}
case "$ARCH" in
amd64) ;;
arm64)
	# shellcheck source=tests/assets-arm64.sh
	. "$ROOT/tests/assets-arm64.sh"
	exit 0
	;;
*) die "ARCH=$ARCH: supported are amd64 and arm64" ;;
esac

# --- 1. Debian packages -------------------------------------------------------------
PKGS="qemu-system-x86 qemu-utils busybox-static e2fsprogs xfsprogs btrfs-progs iproute2 kmod"
# cpio unpacks the image for root_disk scenarios. Real images (tests/images: built on demand by the VM harness, cached by package list) and the
# host-side clients their scenarios' checks use.
PKGS="$PKGS cpio mmdebstrap postgresql-client openssh-client curl redis-tools"
PKGS="$PKGS dnsmasq-base" # the IPv6 tap scenarios: DHCPv4, DHCPv6 and RAs inside a namespace
install_pkgs "$CACHE/apt-install.log" $PKGS

# --- 2. Kernel ----------------------------------------------------------------------
KDIR="$CACHE/kernel"
if [ ! -s "$KDIR/version" ] || [ ! -s "$KDIR/vmlinuz" ]; then
	pick() {
		apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
			grep -E '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' |
			sort -t- -k5,5n | tail -n1
	}
	pkg=$(pick || true)
	if [ -z "$pkg" ]; then
		log "no cloud kernel known to apt, running apt-get update"
		apt-get update >"$CACHE/apt-update.log" 2>&1 || die "apt-get update failed (see $CACHE/apt-update.log)"
		pkg=$(pick || true)
	fi
	[ -n "$pkg" ] || die "apt-cache offers no linux-image-6.1.0-*-cloud-amd64 package"
	log "downloading $pkg"
	rm -rf "$CACHE/kdl"
	mkdir -p "$CACHE/kdl"
	(cd "$CACHE/kdl" && apt-get download "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
	unpack_kernel "$CACHE/kdl" "$pkg"
fi
log "kernel $(cat "$KDIR/version")"

# --- 3. mkfs tools and their libraries ------------------------------------------------
STAGE="$CACHE/staging"
TOOLS="mkfs.ext4 mkfs.xfs mkfs.btrfs blkid resize2fs"
if [ ! -f "$STAGE/.done" ]; then
	rm -rf "$STAGE"
	mkdir -p "$STAGE/sbin"
	for t in $TOOLS; do
		path=$(command -v "$t" || true)
		[ -n "$path" ] || { for d in /usr/sbin /sbin /usr/bin /bin; do [ -x "$d/$t" ] && path="$d/$t" && break; done; }
		[ -n "$path" ] || die "tool $t not found"
		cp -L "$path" "$STAGE/sbin/$t"
		ldd "$path" 2>/dev/null | awk '/=> \//{print $3} /^[ \t]*\//{print $1}' | while read -r lib; do
			dst="$STAGE$lib"
			[ -e "$dst" ] && continue
			mkdir -p "$(dirname "$dst")"
			cp -L "$lib" "$dst"
		done
	done
	# The dynamic loader is also reached through /lib64 on x86-64.
	touch "$STAGE/.done"
fi
log "staging $(du -sh "$STAGE" | cut -f1)"

# --- 4. moto --------------------------------------------------------------------------
if ! command -v moto_server >/dev/null 2>&1; then
	die "moto_server not found in PATH: scenarios with aws = true need moto (pip install 'moto[server]'); it is not packaged in Debian and cannot be installed offline here"
fi
log "moto_server $(command -v moto_server)"
log "ok"
