#!/bin/sh
# tests/images/build.sh NAME — build (or find cached) the Debian root filesystem of the real
# guest image tests/images/NAME and print the path of its tarball.
#
# An image folder holds:
#   packages            Debian packages to install, one per line (# comments)
#   exclude             optional: extra dpkg path-exclude globs, one per line (e.g. LLVM's JIT)
#   essential-hook.sh   optional: run before the packages are installed, $1 = the root
#                       (fixed uids/gids as the official container images have them)
#   customize-hook.sh   optional: run after, $1 = the root, $IMAGE_DIR = the image folder
#   metadata.json       the image config (not in the tarball: the harness adds it)
#
# mmdebstrap (--variant=essential) uses this machine's apt sources. The tarball is cached as
# .cache/images/NAME-HASH.tar, HASH over this script and the folder, so it is rebuilt only
# when the package list or a hook changes. Idempotent; safe to run concurrently (flock).
set -eu

name=${1:?usage: build.sh NAME}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IMAGE_DIR="$ROOT/tests/images/$name"
CACHE="$ROOT/.cache/images"
[ -f "$IMAGE_DIR/packages" ] || { echo "images: $IMAGE_DIR/packages not found" >&2; exit 1; }
mkdir -p "$CACHE"

# The suite is the machine's (bookworm on the test machines).
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
hash=$( { echo "$suite"; cat "$0"; cd "$IMAGE_DIR" && find . -type f ! -name metadata.json | LC_ALL=C sort | while read -r f; do echo "== $f"; cat "$f"; done; } | sha256sum | cut -c1-16)
out="$CACHE/$name-$hash.tar"

exec 9>"$CACHE/$name.lock"
flock 9
if [ -s "$out" ]; then
	echo "$out"
	exit 0
fi
command -v mmdebstrap >/dev/null || { echo "images: mmdebstrap not installed (run tests/assets.sh)" >&2; exit 1; }

pkgs=$(sed -e 's/#.*//' "$IMAGE_DIR/packages" | tr -s ' \n' ',' | sed -e 's/^,//' -e 's/,$//')
set -- --variant=essential --format=tar --include="$pkgs"
# Documentation, manuals and translations are dead weight in a guest image.
for g in '/usr/share/doc/*' '/usr/share/man/*' '/usr/share/info/*' '/usr/share/locale/*' '/usr/share/lintian/*'; do
	set -- "$@" --dpkgopt="path-exclude=$g"
done
if [ -f "$IMAGE_DIR/exclude" ]; then
	for g in $(sed -e 's/#.*//' "$IMAGE_DIR/exclude"); do
		set -- "$@" --dpkgopt="path-exclude=$g"
	done
fi
[ -f "$IMAGE_DIR/essential-hook.sh" ] && set -- "$@" --essential-hook="sh '$IMAGE_DIR/essential-hook.sh' \"\$1\""
[ -f "$IMAGE_DIR/customize-hook.sh" ] && set -- "$@" --customize-hook="IMAGE_DIR='$IMAGE_DIR' sh '$IMAGE_DIR/customize-hook.sh' \"\$1\""
# mmdebstrap leaves this machine's hostname and resolver in the tree; a container image has
# neither (its runtime provides them, as stage one and two do on an instance).
set -- "$@" --customize-hook='rm -f "$1/etc/hostname" "$1/etc/resolv.conf"'

start=$(date +%s)
echo "images: building $name ($pkgs) with mmdebstrap" >&2
if ! mmdebstrap "$@" "$suite" "$out.tmp" >"$CACHE/$name.log" 2>&1; then
	rm -f "$out.tmp"
	echo "images: mmdebstrap for $name failed; see $CACHE/$name.log:" >&2
	tail -n 20 "$CACHE/$name.log" >&2
	exit 1
fi
rm -f "$CACHE/$name"-*.tar
mv "$out.tmp" "$out"
echo "images: built $name in $(($(date +%s) - start)) s, $(du -m "$out" | cut -f1) MB" >&2
echo "$out"
