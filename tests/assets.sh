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
# and installs mmdebstrap for the real images (tests/images/build.sh, run by the VM harness,
# caches .cache/images/) and the host clients their checks use (psql, redis-cli, ssh, curl).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE="$ROOT/.cache"
mkdir -p "$CACHE"

die() { echo "assets: $*" >&2; exit 1; }
log() { echo "assets: $*"; }

# --- 1. Debian packages -------------------------------------------------------------
PKGS="qemu-system-x86 qemu-utils busybox-static e2fsprogs xfsprogs btrfs-progs iproute2 kmod"
# cpio unpacks the image for root_disk scenarios. Real images (tests/images: built on demand by the VM harness, cached by package list) and the
# host-side clients their scenarios' checks use.
PKGS="$PKGS cpio mmdebstrap postgresql-client openssh-client curl redis-tools"
PKGS="$PKGS dnsmasq-base" # the IPv6 tap scenarios: DHCPv4, DHCPv6 and RAs inside a namespace
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	[ "$(id -u)" = 0 ] || die "need root to install:$missing"
	log "installing:$missing"
	if ! apt-get install -y $missing >"$CACHE/apt-install.log" 2>&1; then
		log "apt-get install failed, running apt-get update first"
		apt-get update >>"$CACHE/apt-install.log" 2>&1 || die "apt-get update failed (see $CACHE/apt-install.log)"
		apt-get install -y $missing >>"$CACHE/apt-install.log" 2>&1 || die "apt-get install$missing failed (see $CACHE/apt-install.log)"
	fi
fi

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
	rm -rf "$CACHE/kdl" "$KDIR.tmp"
	mkdir -p "$CACHE/kdl" "$KDIR.tmp"
	(cd "$CACHE/kdl" && apt-get download "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
	dpkg -x "$CACHE"/kdl/*.deb "$KDIR.tmp" || die "dpkg -x of $pkg failed"
	ver=${pkg#linux-image-}
	[ -d "$KDIR.tmp/lib/modules/$ver" ] || die "package $pkg has no lib/modules/$ver"
	depmod -b "$KDIR.tmp" "$ver" || die "depmod failed"
	cp "$KDIR.tmp/boot/vmlinuz-$ver" "$KDIR.tmp/vmlinuz"
	echo "$ver" >"$KDIR.tmp/version"
	rm -rf "$KDIR" "$CACHE/kdl"
	mv "$KDIR.tmp" "$KDIR"
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
