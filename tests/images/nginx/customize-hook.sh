# As the official nginx image: logs to the container's stdout/stderr, no default site (the
# user data's template volume renders the configuration into conf.d).
set -eu
r=$1
ln -sf /dev/stdout "$r/var/log/nginx/access.log"
ln -sf /dev/stderr "$r/var/log/nginx/error.log"
rm -f "$r/etc/nginx/sites-enabled/default"
# The official image logs at notice level (worker starts, signals, exits).
sed -i 's|^error_log /var/log/nginx/error.log;|error_log /var/log/nginx/error.log notice;|' "$r/etc/nginx/nginx.conf"
grep -q '^error_log /var/log/nginx/error.log notice;' "$r/etc/nginx/nginx.conf"
