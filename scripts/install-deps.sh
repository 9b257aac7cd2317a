#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# install-deps.sh [lint|bench]
#
# Install the Debian packages that make check and make demo need (and with
# "lint" or "bench", what make lint or bench/run needs too). Only missing
# packages are installed, so a prepared machine pays one dpkg-query.
set -eu

# wget, the archive keyring and util-linux (unshare) make and use the build
# chroots of 6.12 and 7.x (tests/harness/chroot.py). libssl-dev and openssl
# build the 6.1-debug kernel, which makes and signs with its own module key
# (tests/harness/debug_kernel.py). linux-perf and trace-cmd go into the core
# guest, to read the tracepoint as an admin would (tests/harness/host_programs.py).
# meson, ninja-build, the glib, pixman and fdt headers and dpkg-dev (dpkg-source)
# build Debian's QEMU source with the VMware balloon test host in it
# (tests/harness/vmw_host.py): no QEMU has a host for that protocol.
pkgs="qemu-system-x86 busybox-static python3-pytest build-essential bc flex
bison libelf-dev cpio xz-utils zstd kmod wget debian-archive-keyring util-linux
libssl-dev openssl linux-perf trace-cmd meson ninja-build libglib2.0-dev
libpixman-1-dev libfdt-dev dpkg-dev"
case "${1:-}" in
lint) pkgs="$pkgs sparse linux-headers-amd64 perl" ;;
bench) pkgs="$pkgs python3-matplotlib" ;;
"") ;;
*) echo "usage: $0 [lint|bench]" >&2; exit 2 ;;
esac

missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: missing packages:$missing; run as root or install them." >&2
	exit 1
fi
echo "install-deps.sh: installing$missing"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
