# Lay the services out as an easyto AMI does: binaries under /.easyto, an empty marker file
# per service in /.easyto/services, the login user's home under /.easyto/home.
set -eu
r=$1
mkdir -p "$r/.easyto/sbin" "$r/.easyto/bin" "$r/.easyto/etc/ssh" "$r/.easyto/services" "$r/.easyto/home"
cp -p "$r/usr/sbin/sshd" "$r/.easyto/sbin/sshd"
cp -p "$r/usr/sbin/chronyd" "$r/.easyto/sbin/chronyd"
cp -p "$r/usr/bin/ssh-keygen" "$r/.easyto/bin/ssh-keygen"
install -m 0644 "$IMAGE_DIR/sshd_config" "$r/.easyto/etc/ssh/sshd_config"
install -m 0644 "$IMAGE_DIR/chrony.conf" "$r/etc/chrony/chrony.conf"
: >"$r/.easyto/services/ssh"
: >"$r/.easyto/services/chrony"
# Host keys are made on the first boot (bootplan runs ssh-keygen), not baked into the image.
rm -f "$r"/etc/ssh/ssh_host_*
# The login user (easyto's default name), key-only: no password.
echo 'cloudboss:x:1000:1000:easyto login user:/.easyto/home/cloudboss:/bin/sh' >>"$r/etc/passwd"
echo 'cloudboss:x:1000:' >>"$r/etc/group"
echo 'cloudboss:*:19000:0:99999:7:::' >>"$r/etc/shadow"
mkdir -p "$r/.easyto/home/cloudboss"
chown 1000:1000 "$r/.easyto/home/cloudboss"
chown -R 998:998 "$r/var/lib/chrony"
