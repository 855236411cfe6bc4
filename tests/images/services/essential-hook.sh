# easyto's chrony user (ctr2disk adds cb-chrony), before chrony's postinst adds _chrony.
set -eu
r=$1
echo 'cb-chrony:x:998:998:chrony (easyto):/nonexistent:/usr/sbin/nologin' >>"$r/etc/passwd"
echo 'cb-chrony:x:998:' >>"$r/etc/group"
echo 'cb-chrony:*:19000:0:99999:7:::' >>"$r/etc/shadow"
