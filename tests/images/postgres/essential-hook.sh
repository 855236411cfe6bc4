# The official image's fixed ids (postgres 999:999), before the package's postinst picks one;
# and no cluster under /var/lib/postgresql/15/main: the entrypoint initialises $PGDATA.
set -eu
r=$1
echo 'postgres:x:999:999:PostgreSQL administrator:/var/lib/postgresql:/bin/sh' >>"$r/etc/passwd"
echo 'postgres:x:999:' >>"$r/etc/group"
echo 'postgres:*:19000:0:99999:7:::' >>"$r/etc/shadow"
mkdir -p "$r/etc/postgresql-common/createcluster.d"
echo 'create_main_cluster = false' >"$r/etc/postgresql-common/createcluster.d/bootplan.conf"
