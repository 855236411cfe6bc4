# The official image's fixed ids (redis 999:999), before the package's postinst picks one.
set -eu
r=$1
echo 'redis:x:999:999::/home/redis:/usr/sbin/nologin' >>"$r/etc/passwd"
echo 'redis:x:999:' >>"$r/etc/group"
echo 'redis:*:19000:0:99999:7:::' >>"$r/etc/shadow"
