#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# install-files.sh install|remove [DESTDIR]
#
# The files besides the modules that make virtio_balloon_ext the driver
# bound at boot, and the admin tool. Shared by make dkms-install and
# dkms-remove; DESTDIR lets a package build stage them instead.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
action=${1:-}
dest=${2:-}

# kmod up to 30 reads /lib/modprobe.d but not /usr/lib/modprobe.d: where
# /lib is its own directory (no merged /usr), the rule must go there.
if [ -d "$dest/lib" ] && [ ! -L "$dest/lib" ]; then
	modprobe_d=/lib/modprobe.d
else
	modprobe_d=/usr/lib/modprobe.d
fi

# source | destination | when (a command that must succeed)
files="
packaging/modprobe.d/balloon-ext.conf|$modprobe_d/balloon-ext.conf|true
packaging/initramfs-tools/hooks/balloon-ext|/usr/share/initramfs-tools/hooks/balloon-ext|test -d $dest/usr/share/initramfs-tools
packaging/dracut/balloon-ext.conf|/usr/lib/dracut/dracut.conf.d/balloon-ext.conf|test -d $dest/usr/lib/dracut
tools/balloon-ext|/usr/sbin/balloon-ext|true
"

echo "$files" | while IFS='|' read -r src dst when; do
	[ -n "$src" ] || continue
	sh -c "$when" || continue
	case "$action" in
	install)
		mode=0644
		[ -x "$top/$src" ] && mode=0755
		install -D -m "$mode" "$top/$src" "$dest$dst"
		echo "installed $dst"
		;;
	remove)
		rm -f "$dest$dst"
		case $dst in
		*/modprobe.d/*)	# wherever an older version put it
			rm -f "$dest/usr/lib/modprobe.d/${dst##*/}" "$dest/lib/modprobe.d/${dst##*/}"
			;;
		esac
		;;
	*)
		echo "usage: $0 install|remove [DESTDIR]" >&2
		exit 2
		;;
	esac
done
