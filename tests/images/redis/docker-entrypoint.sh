#!/bin/sh
# The official redis image's entrypoint, less its root → redis step-down (easyto runs the
# command as run-as-user-id already): `-flag` or `x.conf` first → redis-server is meant.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi
umask 0077
exec "$@"
