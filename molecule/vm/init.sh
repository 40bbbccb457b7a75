#!/bin/sh
# /init of the molecule `vm` image (build_image.sh puts it there): the whole
# root filesystem is the initramfs, so there is nothing to switch to. Mount
# the kernel filesystems, load the virtio drivers, configure qemu's user
# network statically and run sshd as PID 1 (it reaps every child, orphans
# included). Progress goes to the serial console (console.log on the host).
#
# Options on the kernel command line (vm.sh passes EBPF_VM_APPEND there):
#   ebpf_vm.memlock=KIB   RLIMIT_MEMLOCK (KiB, soft and hard) sshd runs with, so its sessions
#                         inherit it unless pam_limits sets another
#   ebpf_vm.pam=yes       sshd with UsePAM yes: sessions go through /etc/pam.d/sshd (pam_limits)
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t bpf -o mode=700 bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t cgroup2 cgroup2 /sys/fs/cgroup

for mod in virtio_pci virtio_net virtio_rng; do
  modprobe "$mod" || echo "init: modprobe $mod failed"
done

hostname ebpf-vm
ip link set lo up
# No udev: the first virtio NIC is eth0. Wait for it to appear (virtio probe is asynchronous).
tries=0
while ! ip link show eth0 >/dev/null 2>&1 && [ "$tries" -lt 50 ]; do
  sleep 0.1
  tries=$((tries + 1))
done
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2

memlock=
pam=no
read -r cmdline < /proc/cmdline
for arg in $cmdline; do
  case "$arg" in
    ebpf_vm.memlock=*) memlock=${arg#ebpf_vm.memlock=} ;;
    ebpf_vm.pam=*) pam=${arg#ebpf_vm.pam=} ;;
  esac
done
set --
if [ "$pam" = yes ]; then
  set -- -o UsePAM=yes
fi
case "$memlock" in
  *[!0-9]*) echo "init: ebpf_vm.memlock=$memlock is not a number of KiB, ignored"; memlock= ;;
esac
if [ -n "$memlock" ]; then
  prlimit --pid $$ --memlock="$((memlock * 1024)):$((memlock * 1024))" || echo "init: memlock $memlock KiB failed"
fi

mkdir -p /run/sshd
chmod 755 /run/sshd
echo "init: $(uname -r) up in $(cut -d' ' -f1 /proc/uptime) s, starting sshd (memlock $(prlimit --pid $$ --memlock --noheadings --output SOFT), UsePAM $pam)"
exec /usr/sbin/sshd -D -e "$@"
