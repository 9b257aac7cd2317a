#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# bench/install-deps.sh
#
# Install what bench/run needs: everything make check needs (the kernel,
# QEMU, busybox, gcc for the static guest tools), plus matplotlib for the
# chart. Only missing packages are installed, so a prepared machine pays
# two dpkg-queries.
set -eu

here=$(dirname "$0")
"$here/../scripts/install-deps.sh"

pkgs="python3-matplotlib"
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/install-deps.sh: missing packages:$missing; run as root or install them." >&2
	exit 1
fi
echo "bench/install-deps.sh: installing$missing"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
