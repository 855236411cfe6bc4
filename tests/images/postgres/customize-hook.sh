set -eu
install -m 0755 "$IMAGE_DIR/docker-entrypoint.sh" "$1/usr/local/bin/docker-entrypoint.sh"
mkdir -p "$1/var/lib/postgresql/data"
chown 999:999 "$1/var/lib/postgresql/data"
chmod 0700 "$1/var/lib/postgresql/data"
rm -rf "$1/usr/lib/postgresql/15/lib/bitcode"
