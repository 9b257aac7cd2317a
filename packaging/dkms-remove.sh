#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# dkms-remove.sh
#
# Undo dkms-install.sh: remove balloon-ext from DKMS for every kernel, its
# sources in /usr/src, and the modprobe rule, initramfs hook and admin
# tool. Safe to run when nothing is installed.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$top/dkms.conf")

if command -v dkms >/dev/null && [ -e "/var/lib/dkms/balloon-ext/$version" ]; then
	dkms remove "balloon-ext/$version" --all
fi
rm -rf "/usr/src/balloon-ext-$version"
"$top/packaging/install-files.sh" remove
echo "balloon-ext $version removed; rebuild the initramfs (update-initramfs -u,"
echo "or dracut -f) so that the next boot binds the in-tree driver again."
