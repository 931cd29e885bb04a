#!/usr/bin/env bash
# Builds the Debian 12 (bookworm, amd64) disk image the VM tests boot, from Debian's packages
# with mmdebstrap, and prints its path as the last line of stdout (everything else goes to
# stderr).
#
# The image boots from its own disk like a published cloud image: GRUB in the MBR, one ext4
# partition, linux-image-cloud-amd64 with a small initramfs (only the virtio disk drivers),
# cloud-init (NoCloud: a CD-ROM labelled `cidata`, as `keel render` makes), systemd-networkd (what
# cloud-init renders network config v2 to here), OpenSSH, and the console on ttyS0.
#
# Cached by the digest of this file: ${KEEL_CACHE:-/var/cache/keel}/vm-image/DIGEST/debian-12.qcow2
# (DIGEST: the first 16 hex digits of this script's SHA-256) with debian-12.qcow2.sha256 beside
# it. When it exists, nothing is built. Any change to this file builds a new image. The build
# runs in a temp dir inside the cache dir and the result is renamed into place, so a failed or
# interrupted build leaves nothing behind; a lock keeps two builds on one machine from racing.
#
# Needs root, mmdebstrap, sfdisk (fdisk), mkfs.ext4 (e2fsprogs), qemu-img (qemu-utils) and
# Debian's mirror (KEEL_DEBIAN_MIRROR, default http://deb.debian.org/debian). No loop device or
# mount is needed: mke2fs writes the file system straight into the partition (`-E offset`,
# `-d`), and the GRUB boot sector and core image are written with dd, as grub-install would.
set -euo pipefail
exec 3>&1 1>&2

self=$(readlink -f "${BASH_SOURCE[0]}")
digest=$(sha256sum "$self" | cut -c1-16)
cache=${KEEL_CACHE:-/var/cache/keel}/vm-image
dir=$cache/$digest
image=$dir/debian-12.qcow2
mirror=${KEEL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
size_mib=2048

done_() { [ -f "$image" ] && [ -f "$image.sha256" ]; }
if done_; then
  echo "$image" >&3
  exit 0
fi

# mmdebstrap would fall back to an unprivileged mode whose files mke2fs -d cannot give root's
# ownership; the tests that boot the image run as root anyway.
[ "$(id -u)" = 0 ] || { echo "vm-image: building the image needs root" >&2; exit 1; }
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if done_; then # built by another run while we waited for the lock
  echo "$image" >&3
  exit 0
fi

tmp=$(mktemp -d "$cache/.build-XXXXXX")
cleanup() {
  # mmdebstrap unmounts what it mounted, but not when it is killed: never let rm walk into a
  # mounted /proc, /sys or /dev of the chroot.
  local m
  findmnt -rn -o TARGET | grep -F "$tmp/" | sort -r | while IFS= read -r m; do umount -l "$m"; done || true
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
start=$SECONDS

uuid=$(cat /proc/sys/kernel/random/uuid)
root=$tmp/root

# Runs inside mmdebstrap before any package is installed: the initramfs holds only what finds
# the root disk (ext4 is built into the cloud kernel), so it is built once, small, and unpacks
# fast under TCG (MODULES=most gives ~15 MB).
cat >"$tmp/setup.sh" <<'EOF'
set -eu
mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/usr/share/initramfs-tools/modules.d"
printf 'MODULES=list\n' >"$1/etc/initramfs-tools/conf.d/keel.conf"
printf '%s\n' virtio_pci virtio_blk virtio_scsi sd_mod >"$1/usr/share/initramfs-tools/modules.d/keel"
EOF

# Runs inside mmdebstrap after the packages are installed ($1: the root; /proc, /sys, /dev
# mounted).
cat >"$tmp/customize.sh" <<EOF
set -eu
r=\$1
printf 'UUID=$uuid / ext4 rw,discard,errors=remount-ro 0 1\n' >"\$r/etc/fstab"
echo debian >"\$r/etc/hostname"

# cloud-init: look only for NoCloud (no probing of cloud metadata services, which would wait
# for timeouts on a network without them), render the network to systemd-networkd. No RSA host
# key (generating one takes ~20 s under TCG). C.UTF-8 is built into glibc: the default locale
# (en_US.UTF-8) would have to be generated first and fails here (update-locale exits 255).
cat >"\$r/etc/cloud/cloud.cfg.d/90-keel.cfg" <<'CFG'
datasource_list: [NoCloud, None]
system_info:
  network:
    renderers: [networkd]
ssh_genkeytypes: [ed25519, ecdsa]
locale: C.UTF-8
CFG
chroot "\$r" systemctl enable systemd-networkd.service
# Nothing a test VM needs, and each costs seconds of CPU at boot under TCG.
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer; do
  [ ! -e "\$r/lib/systemd/system/\$u" ] || chroot "\$r" systemctl disable "\$u"
done

# Every VM gets its own SSH host keys: cloud-init makes them (ssh_deletekeys, ssh_genkeytypes);
# ssh-keygen -A is the fallback if cloud-init made none.
rm -f "\$r"/etc/ssh/ssh_host_*
mkdir -p "\$r/etc/systemd/system/ssh.service.d"
cat >"\$r/etc/systemd/system/ssh.service.d/keel.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/bin/sh -c 'ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1 || ssh-keygen -A'
ExecStartPre=/usr/sbin/sshd -t
UNIT

# GRUB, as grub-install --target=i386-pc does it: modules under /boot/grub/i386-pc, a core image
# that finds /boot/grub on the first partition of the disk it was booted from. The menu is
# written here (the kernel is reached through the /vmlinuz and /initrd.img links, which kernel
# upgrades keep current).
mkdir -p "\$r/boot/grub/i386-pc"
cp "\$r"/usr/lib/grub/i386-pc/*.mod "\$r"/usr/lib/grub/i386-pc/*.lst "\$r/boot/grub/i386-pc/"
chroot "\$r" grub-mkimage -O i386-pc -o /boot/grub/i386-pc/core.img -p '(,msdos1)/boot/grub' \
  biosdisk part_msdos ext2
cat >"\$r/boot/grub/grub.cfg" <<'CFG'
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
set default=0
menuentry 'Debian GNU/Linux 12' {
  search --no-floppy --fs-uuid --set=root $uuid
  linux /vmlinuz root=UUID=$uuid ro console=tty0 console=ttyS0,115200n8
  initrd /initrd.img
}
CFG

rm -rf "\$r"/var/cache/apt/*.bin "\$r"/var/lib/apt/lists/* "\$r"/var/log/*.log "\$r"/tmp/*
EOF

echo "vm-image: mmdebstrap bookworm from $mirror" >&2
mmdebstrap --variant=minbase --arch=amd64 \
  --include=systemd-sysv,udev,dbus,linux-image-cloud-amd64,grub-pc-bin,initramfs-tools \
  --include=cloud-init,cloud-guest-utils,openssh-server,sudo,iproute2,netbase,ca-certificates \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --setup-hook="sh $tmp/setup.sh \"\$1\"" \
  --customize-hook="sh $tmp/customize.sh \"\$1\"" \
  bookworm "$root" \
  "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
  "deb ${mirror%/debian}/debian-security bookworm-security main"

echo "vm-image: disk image" >&2
raw=$tmp/disk.raw
truncate -s "${size_mib}M" "$raw"
printf 'label: dos\nunit: sectors\nstart=2048, type=83, bootable\n' | sfdisk -q "$raw"
# GRUB 2.06 cannot read ext4 with metadata_csum_seed or orphan_file; leave them off.
mkfs.ext4 -q -F -L root -U "$uuid" -O ^metadata_csum_seed,^orphan_file \
  -E offset=$((2048 * 512)),root_owner=0:0 -d "$root" "$raw" "$((size_mib - 1))M"
# boot.img into the MBR's code area (the partition table after byte 440 stays), core.img into
# the gap before the partition; grub-mkimage already wrote core.img's own sector list (it
# continues at sector 2), so nothing needs patching.
dd if="$root/usr/lib/grub/i386-pc/boot.img" of="$raw" bs=440 count=1 conv=notrunc status=none
core=$root/boot/grub/i386-pc/core.img
[ "$(stat -c %s "$core")" -lt $(((2048 - 1) * 512)) ] || { echo "vm-image: core.img too big" >&2; exit 1; }
dd if="$core" of="$raw" bs=512 seek=1 conv=notrunc status=none

mkdir "$tmp/$digest"
qemu-img convert -f raw -O qcow2 -o compat=1.1 "$raw" "$tmp/$digest/debian-12.qcow2"
(cd "$tmp/$digest" && sha256sum debian-12.qcow2 >debian-12.qcow2.sha256)
rm -rf "$dir" # a partial directory left by hand; a build of ours is renamed whole
mv -T "$tmp/$digest" "$dir"
echo "vm-image: built in $((SECONDS - start)) s: $(du -h --apparent-size "$image" | cut -f1)" >&2
echo "$image" >&3
