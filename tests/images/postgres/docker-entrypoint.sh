#!/bin/sh
# A small docker-entrypoint.sh in the manner of the official postgres image's: on the first
# start (no $PGDATA/PG_VERSION) initialise the cluster with the superuser password from
# $POSTGRES_PASSWORD, accept password logins from the network, then exec the command.
set -eu
if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	: "${POSTGRES_PASSWORD:?is not set: the superuser needs a password}"
	pw=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pw"
	initdb --username=postgres --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 \
		--encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA"
	rm -f "$pw"
	echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	# /run is a fresh tmpfs at every boot: the socket goes to /tmp (the official image
	# bakes /var/run/postgresql in, which an easyto root cannot keep).
	printf "listen_addresses = '*'\nunix_socket_directories = '/tmp'\n" >>"$PGDATA/postgresql.conf"
	echo "docker-entrypoint.sh: PostgreSQL init process complete; ready for start up."
fi
exec "$@"
