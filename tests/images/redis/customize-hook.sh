set -eu
install -m 0755 "$IMAGE_DIR/docker-entrypoint.sh" "$1/usr/local/bin/docker-entrypoint.sh"
mkdir -p "$1/data"
chown 999:999 "$1/data"
