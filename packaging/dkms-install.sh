#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# dkms-install.sh [KERNELRELEASE]
#
# Install balloon-ext from this checkout with DKMS: copy the sources DKMS
# needs to /usr/src/balloon-ext-<version>, then add, build and install for
# KERNELRELEASE (default: the running kernel), and install the modprobe
# rule, initramfs hook and admin tool. A previous install of the same
# version is removed first, so the command can be repeated.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$top/dkms.conf")
kernel=${1:-$(uname -r)}
dest=/usr/src/balloon-ext-$version

command -v dkms >/dev/null || {
	echo "dkms-install.sh: dkms is not installed (apt-get install dkms)" >&2
	exit 1
}
dkms remove "balloon-ext/$version" --all >/dev/null 2>&1 || true
rm -rf "$dest"
mkdir -p "$dest"
# What dkms builds from, without build products: works from a git checkout
# or an unpacked tarball alike.
(cd "$top" && tar -cf - --exclude=generated --exclude='*.o' --exclude='*.ko' \
	--exclude='*.mod' --exclude='*.mod.c' --exclude='.*.cmd' --exclude='*.order' \
	--exclude=Module.symvers --exclude='.*.d' dkms.conf Kbuild Makefile src) |
	tar -xf - -C "$dest"
dkms add "balloon-ext/$version"
dkms build "balloon-ext/$version" -k "$kernel"
dkms install "balloon-ext/$version" -k "$kernel"
"$top/packaging/install-files.sh" install
echo "Rebuild the initramfs (update-initramfs -u, or dracut -f) so that"
echo "virtio_balloon_ext is the driver bound at the next boot; or move the"
echo "balloon now, without a reboot: balloon-ext takeover"
