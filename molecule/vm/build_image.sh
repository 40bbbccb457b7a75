#!/usr/bin/env bash
# Build (or reuse) the boot image of the molecule `vm` scenario: Debian's 6.1
# kernel and an initramfs holding a whole minimal Debian 12 (python3, sshd),
# so the VM boots straight into its root filesystem with no block device.
#
#   build_image.sh            print the image directory, building it if needed
#
# The image is cached in $EBPF_VM_CACHE (default /var/cache/ebpf_deploy/vm),
# keyed by the kernel package, its version and a checksum of this script and
# of init.sh: a second run finds it and returns at once. The directory holds
#   vmlinuz  initrd.cpio  id_ed25519(.pub)  kernel_release  kernel_package
# The ssh key is generated per build and authorized for root in the image.
#
# Environment:
#   EBPF_VM_CACHE           cache directory
#   EBPF_VM_KERNEL_PACKAGE  kernel package or metapackage (default linux-image-amd64,
#                           i.e. the newest linux-image-6.1.0-NN-amd64)
#   EBPF_VM_KERNEL_SUITE    take the kernel from this Debian release instead of the machine's apt
#                           sources (e.g. bullseye: 5.10), through a private apt directory under
#                           the cache that holds only `deb MIRROR SUITE main`; the machine's own
#                           apt sources and lists are not touched. The root filesystem stays Debian 12.
#   EBPF_VM_MIRROR          Debian mirror for debootstrap (default: debootstrap's own)
#   EBPF_VM_MODULES         kernel modules copied into the image (with their dependencies)
#
# Needs root, debootstrap, cpio, apt-get (Debian 12 host). Progress goes to
# stderr, the image directory alone to stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${EBPF_VM_CACHE:-/var/cache/ebpf_deploy/vm}
kernel_meta=${EBPF_VM_KERNEL_PACKAGE:-linux-image-amd64}
kernel_suite=${EBPF_VM_KERNEL_SUITE:-}
modules=${EBPF_VM_MODULES:-virtio_pci virtio_net virtio_rng veth sch_ingress cls_bpf}
suite=bookworm
packages=python3,openssh-server,openssh-sftp-server,iproute2,kmod

log() { echo "build_image: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, device nodes in the image)"
for tool in debootstrap cpio apt-get apt-cache dpkg-deb ssh-keygen chroot flock; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install debootstrap cpio openssh-client)"
done

# Another release's kernel: apt reads a sources list, lists and caches of its own.
apt_opts=()
if [ -n "$kernel_suite" ]; then
  case "$kernel_suite" in
    *[!a-z0-9-]*) die "EBPF_VM_KERNEL_SUITE must be a Debian suite name, not $kernel_suite" ;;
  esac
  aptdir="$cache/.apt-$kernel_suite"
  mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/sources.list.d"
  echo "deb ${EBPF_VM_MIRROR:-http://deb.debian.org/debian} $kernel_suite main" > "$aptdir/sources.list"
  apt_opts=(-o "Dir::Etc::sourcelist=$aptdir/sources.list" -o "Dir::Etc::sourceparts=$aptdir/sources.list.d"
            -o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir/cache")
fi

# The kernel package: a metapackage resolves to the linux-image-6.1.0-NN-amd64 it depends on.
resolve_kernel() {
  local pkg=$1 dep
  if ! apt-cache "${apt_opts[@]}" show "$pkg" >/dev/null 2>&1; then
    return 1
  fi
  dep=$(apt-cache "${apt_opts[@]}" depends "$pkg" 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')
  echo "${dep:-$pkg}"
}
kernel_pkg=$(resolve_kernel "$kernel_meta") || {
  log "apt does not know $kernel_meta${kernel_suite:+ in $kernel_suite}; running apt-get update"
  DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update -qq >&2
  kernel_pkg=$(resolve_kernel "$kernel_meta") || die "no package $kernel_meta in the apt sources"
}
kernel_version=$(apt-cache "${apt_opts[@]}" policy "$kernel_pkg" | awk '$1 == "Candidate:" {print $2}')
if [ -z "$kernel_version" ] || [ "$kernel_version" = "(none)" ]; then
  die "no installable version of $kernel_pkg"
fi

recipe=$(cat "${BASH_SOURCE[0]}" "$here/init.sh" | sha256sum | cut -c1-12)
key="${kernel_pkg}_${kernel_version}_${recipe}"
image="$cache/$key"

if [ -f "$image/complete" ]; then
  log "cached image $image"
  echo "$image"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -f "$image/complete" ]; then   # built by another run while this one waited
  echo "$image"
  exit 0
fi

# debootstrap mounts proc and sys in the tree while it installs: if it was interrupted, unmount
# whatever is left (deepest first) before removing a tree, and never cross into another file system.
remove_tree() {
  awk -v w="$1/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf --one-file-system "$1"
}
# Builds killed outright left their trees behind; holding the lock, none is running.
for stale in "$cache"/.build.*; do
  if [ -d "$stale" ]; then remove_tree "$stale"; fi
done
work=$(mktemp -d "$cache/.build.XXXXXX")
trap 'remove_tree "$work"' EXIT
trap 'exit 130' INT TERM
start=$(date +%s)

# 1. The kernel: vmlinuz and the modules the VM loads (with their dependencies).
log "downloading $kernel_pkg $kernel_version"
mkdir -p "$work/deb" "$work/kernel"
# (apt warns that it downloads as root, unsandboxed, into a root-only directory: expected)
(cd "$work/deb" && apt-get "${apt_opts[@]}" download -q "$kernel_pkg=$kernel_version") >"$work/download.log" 2>&1 ||
  { cat "$work/download.log" >&2; die "apt-get download $kernel_pkg=$kernel_version failed"; }
dpkg-deb -x "$work"/deb/*.deb "$work/kernel"
release=$(basename "$(ls -d "$work"/kernel/lib/modules/*/)")
[ -f "$work/kernel/boot/vmlinuz-$release" ] || die "no vmlinuz in $kernel_pkg"
grep -q '^CONFIG_DEBUG_INFO_BTF=y' "$work/kernel/boot/config-$release" || die "$kernel_pkg has no BTF"

# 2. The root filesystem.
log "debootstrap $suite (minbase + $packages)"
mirror=()
[ -n "${EBPF_VM_MIRROR:-}" ] && mirror=("$EBPF_VM_MIRROR")
root="$work/root"
if ! debootstrap --variant=minbase --include="$packages" "$suite" "$root" "${mirror[@]}" >"$work/debootstrap.log" 2>&1; then
  tail -n 30 "$work/debootstrap.log" >&2
  die "debootstrap failed"
fi

# The kernel's modules go in through the image's own kmod (the host needs none):
# all of them for depmod to resolve dependencies, then only those the VM loads.
log "kernel modules: $modules"
moddir="lib/modules/$release"
mkdir -p "$root/lib/modules"
mv "$work/kernel/$moddir" "$root/$moddir"
chroot "$root" depmod "$release"
keep=""
for mod in $modules; do
  # Built-in modules print "builtin NAME" and need no file.
  if deps=$(chroot "$root" modprobe -S "$release" --show-depends "$mod" 2>/dev/null); then
    keep="$keep $(echo "$deps" | awk '$1 == "insmod" {print $2}')"
  else
    log "warning: $kernel_pkg has no module $mod"
  fi
done
keep=$(echo "$keep" | tr ' ' '\n' | sort -u)
mv "$root/$moddir" "$work/allmods"
mkdir -p "$root/$moddir"
cp "$work/allmods"/modules.order "$work/allmods"/modules.builtin* "$root/$moddir/"
for ko in $keep; do
  rel=${ko#"/$moddir/"}
  mkdir -p "$root/$moddir/$(dirname "$rel")"
  cp "$work/allmods/$rel" "$root/$moddir/$rel"
done
chroot "$root" depmod "$release"

# 3. Trim what a test VM never reads (docs, locales, apt's lists and caches).
rm -rf "$root"/usr/share/{doc,man,info,locale,lintian} "$root"/var/cache/apt/* \
  "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/var/cache/debconf/*-old

# 4. Access: a key generated for this build, sshd tuned for a test VM.
ssh-keygen -q -t ed25519 -N '' -C "ebpf-deploy-molecule-vm" -f "$work/id_ed25519"
install -d -m 700 "$root/root/.ssh"
install -m 600 "$work/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
cat > "$root/etc/ssh/sshd_config.d/molecule.conf" <<'EOF'
# molecule vm scenario: root by key only, no PAM (no logind in this VM)
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
EOF
echo ebpf-vm > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 ebpf-vm\n' > "$root/etc/hosts"
install -m 755 "$here/init.sh" "$root/init"
echo "$release" > "$root/etc/ebpf-vm-kernel"

# 5. The initramfs: the whole tree, uncompressed (faster to boot than
#    decompressing under TCG; the kernel copies it into its tmpfs root).
log "packing initramfs"
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) > "$work/initrd.cpio"

out="$work/out"
mkdir -p "$out"
mv "$work/initrd.cpio" "$work/id_ed25519" "$work/id_ed25519.pub" "$out/"
cp "$work/kernel/boot/vmlinuz-$release" "$out/vmlinuz"
echo "$release" > "$out/kernel_release"
echo "$kernel_pkg $kernel_version" > "$out/kernel_package"
touch "$out/complete"
rm -rf "$image"
mv "$out" "$image"

# Older images (another kernel version or recipe) are of no further use.
for old in "$cache"/*/; do
  [ "${old%/}" = "$image" ] || rm -rf "${old%/}"
done
log "built $image in $(( $(date +%s) - start )) s ($(du -sh "$image/initrd.cpio" | cut -f1) initramfs)"
echo "$image"
