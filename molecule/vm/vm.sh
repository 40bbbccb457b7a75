#!/usr/bin/env bash
# Start and stop the qemu VM of the molecule `vm` scenario.
#
#   vm.sh start IMAGE_DIR RUN_DIR   boot the image built by build_image.sh; wait for ssh;
#                                   print one JSON line: port, accel, boot_seconds, ...
#   vm.sh stop RUN_DIR              kill the VM recorded in RUN_DIR/qemu.pid, remove RUN_DIR
#
# RUN_DIR holds the runtime state: qemu.pid, console.log (the serial console),
# port. `stop` is safe to run at any time: no VM, a dead VM, no RUN_DIR.
#
# Environment:
#   EBPF_VM_ACCEL         auto (default: KVM when /dev/kvm actually boots a kernel, else TCG), kvm, tcg
#   EBPF_VM_MEMORY        MiB of guest memory (default 1536; the root filesystem lives in it)
#   EBPF_VM_CPUS          guest CPUs (default 2)
#   EBPF_VM_BOOT_TIMEOUT  seconds to wait for ssh (default 300)
#   EBPF_VM_APPEND        more kernel command line, e.g. init.sh's ebpf_vm.memlock=64 ebpf_vm.pam=yes
set -euo pipefail

vm_name=ebpf-deploy-molecule-vm

log() { echo "vm.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Is PID a qemu of this scenario started with RUN_DIR? (guards against a recycled pid)
is_our_qemu() {
  local pid=$1 run=$2
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "-name $vm_name .*-pidfile $run/qemu.pid" 
}

stop_vm() {
  local run=$1 pid
  if [ -f "$run/qemu.pid" ]; then
    pid=$(cat "$run/qemu.pid")
    if [ -n "$pid" ] && is_our_qemu "$pid" "$run"; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        is_our_qemu "$pid" "$run" || break
        sleep 0.1
      done
      if is_our_qemu "$pid" "$run"; then
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.2
      fi
      log "stopped qemu $pid"
    fi
  fi
  rm -rf "$run"
}

# KVM can be present and still not work (nested virtualisation without VMX
# exposed hangs in the first ioctl): boot the kernel alone, which panics at
# once for lack of a root filesystem, and see that it gets that far.
kvm_works() {
  local image=$1 probe pid
  [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
  probe=$(mktemp -d)
  qemu-system-x86_64 -name "$vm_name-kvm-probe" -accel kvm -cpu host -m 256 -nodefaults -display none \
    -no-reboot -serial "file:$probe/console" -kernel "$image/vmlinuz" \
    -append "console=ttyS0 panic=-1 loglevel=4" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    grep -q "Kernel panic" "$probe/console" 2>/dev/null && break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if grep -q "Kernel panic" "$probe/console" 2>/dev/null; then
    rm -rf "$probe"
    return 0
  fi
  rm -rf "$probe"
  return 1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_vm() {
  local image=$1 run=$2 accel cpu port start elapsed pid timeout
  [ -f "$image/complete" ] || die "no image in $image (build_image.sh makes it)"
  command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
  stop_vm "$run"
  mkdir -p "$run"

  accel=${EBPF_VM_ACCEL:-auto}
  if [ "$accel" = auto ]; then
    if kvm_works "$image"; then accel=kvm; else accel=tcg; fi
  fi
  case "$accel" in
    kvm) cpu=host ;;
    tcg) cpu=max ;;
    *) die "EBPF_VM_ACCEL must be auto, kvm or tcg, not $accel" ;;
  esac

  port=$(free_port)
  echo "$port" > "$run/port"
  start=$(date +%s.%N)
  qemu-system-x86_64 -name "$vm_name" \
    -accel "$accel" -cpu "$cpu" -smp "${EBPF_VM_CPUS:-2}" -m "${EBPF_VM_MEMORY:-1536}" \
    -nodefaults -display none -no-reboot \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.cpio" \
    -append "console=ttyS0 loglevel=4 panic=-1 rdinit=/init${EBPF_VM_APPEND:+ $EBPF_VM_APPEND}" \
    -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=net0 \
    -device virtio-rng-pci \
    -serial "file:$run/console.log" -monitor none \
    -daemonize -pidfile "$run/qemu.pid"
  pid=$(cat "$run/qemu.pid")

  timeout=${EBPF_VM_BOOT_TIMEOUT:-300}
  while :; do
    if ssh -q -o BatchMode=yes -o ConnectTimeout=2 -o StrictHostKeyChecking=no \
         -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentitiesOnly=yes \
         -i "$image/id_ed25519" -p "$port" root@127.0.0.1 true </dev/null 2>/dev/null; then
      break
    fi
    elapsed=$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN {print int(n - s)}')
    if ! is_our_qemu "$pid" "$run" || [ "$elapsed" -ge "$timeout" ]; then
      log "the VM did not answer ssh on port $port ($accel, ${elapsed}s); its console:"
      tail -n 40 "$run/console.log" >&2 || true
      stop_vm "$run"
      exit 1
    fi
    sleep 0.5
  done
  elapsed=$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN {printf "%.1f", n - s}')
  log "VM up ($accel) with ssh on 127.0.0.1:$port after ${elapsed}s"
  printf '{"port": %s, "accel": "%s", "boot_seconds": %s, "pid": %s, "identity_file": "%s", "kernel_release": "%s"}\n' \
    "$port" "$accel" "$elapsed" "$pid" "$image/id_ed25519" "$(cat "$image/kernel_release")"
}

case "${1:-}" in
  start) [ $# = 3 ] || die "usage: vm.sh start IMAGE_DIR RUN_DIR"; start_vm "$2" "$3" ;;
  stop) [ $# = 2 ] || die "usage: vm.sh stop RUN_DIR"; stop_vm "$2" ;;
  *) die "usage: vm.sh start IMAGE_DIR RUN_DIR | vm.sh stop RUN_DIR" ;;
esac
