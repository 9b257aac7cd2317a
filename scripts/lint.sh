#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# lint.sh: the three checks every kernel source file must pass.
#  1. checkpatch.pl --strict, from Debian's linux-source-6.1 tarball;
#  2. sparse (C=2);
#  3. a W=1 build.
# Checks 2 and 3 build a scratch copy of the tree against the host's
# Debian 6.1 headers (package linux-headers-amd64), so every file is
# compiled and no build product of the checkout is touched.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${BALLOON_EXT_CACHE:-$HOME/.cache/balloon-ext}/lint
mkdir -p "$cache"
failed=0

kernel_c_files() {
	git -C "$top" ls-files --cached --others --exclude-standard \
		'src/*.c' 'src/*.h' 'tests/modules/*.c' 'tests/modules/*.h' \
		'tests/hv_host/*.c' 'tests/hv_host/*.h'
}

fetch_checkpatch() {
	[ -f "$cache/checkpatch/checkpatch.pl" ] && return 0
	echo "lint: fetching checkpatch.pl from linux-source-6.1"
	dl=$(mktemp -d)
	(cd "$dl" && apt-get download -q linux-source-6.1 >/dev/null)
	dpkg-deb --fsys-tarfile "$dl"/linux-source-6.1_*.deb |
		tar -x -C "$dl" --wildcards './usr/src/linux-source-6.1.tar.xz'
	mkdir -p "$cache/checkpatch"
	tar -xJf "$dl"/usr/src/linux-source-6.1.tar.xz -C "$cache/checkpatch" \
		--strip-components=2 --wildcards \
		'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch'
	rm -rf "$dl"
}

fetch_checkpatch
echo "== checkpatch --strict"
for f in $(kernel_c_files); do
	# Compat headers call the kernel by its own names, some CamelCase
	# and made by token pasting, which checkpatch cannot see.
	ignore=
	case $f in src/compat/*.h) ignore="--ignore CAMELCASE" ;; esac
	perl "$cache/checkpatch/checkpatch.pl" --no-tree --strict --quiet \
		--show-types $ignore -f "$top/$f" || failed=1
done

kdir=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1)
if [ -z "$kdir" ]; then
	echo "lint: no Debian amd64 headers under /usr/src (install linux-headers-amd64)" >&2
	exit 1
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git -C "$top" ls-files --cached --others --exclude-standard -z |
	(cd "$top" && xargs -0 cp --parents -t "$scratch")

echo "== sparse (C=2) and W=1 against $kdir"
log="$scratch/build.log"
if ! { make -C "$scratch" KDIR="$kdir" C=2 W=1 &&
	make -C "$scratch/tests/modules" KDIR="$kdir" C=2 W=1; } >"$log" 2>&1; then
	cat "$log"
	echo "lint: build failed" >&2
	exit 1
fi
# Sparse and W=1 findings are warnings: any warning or error line fails.
if grep -E '(warning|error):' "$log"; then
	failed=1
fi

if [ "$failed" -ne 0 ]; then
	echo "lint: FAILED" >&2
	exit 1
fi
echo "lint: clean"
