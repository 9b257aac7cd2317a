"""make demo: boot a Debian 12 guest with balloon-ext and show the values in every place.

A balloon driver reports through balloon_set_inflated_total() and
balloon_set_inflated_free(); here the test module plays the driver, so the
demo shows what an admin sees: debugfs, sysfs, /proc/meminfo and the
show_mem() report of SysRq-m.
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import timing  # noqa: E402
from harness.guest import boot_guest  # noqa: E402

PARAMS = "/sys/module/balloon_core_test/parameters"


def show(vm, title, cmd):
    print(f"\n$ {cmd}    # {title}")
    print(vm.check(cmd).rstrip())


def main():
    started = time.monotonic()
    vm = boot_guest("6.1", "demo")
    try:
        print(f"guest: Debian 12, kernel {vm.kernel.release}, booted under QEMU TCG")
        vm.check("insmod /ext/balloon_core.ko && insmod /ext/balloon_core_test.ko")
        print("\nA driver reports 1 GiB taken out of MemTotal and 512 MiB counted as used:")
        vm.check(f"echo 1048576 > {PARAMS}/total && echo 524288 > {PARAMS}/free")
        show(vm, "debugfs", "cat /sys/kernel/debug/balloon")
        show(vm, "sysfs, for monitoring", "grep . /sys/kernel/balloon/*")
        show(vm, "/proc/meminfo", "tail -n 4 /proc/meminfo")
        vm.check("dmesg -c >/dev/null && echo m > /proc/sysrq-trigger")
        show(vm, "SysRq-m report (show_mem)", "dmesg | grep -E 'sysrq|pages RAM|Balloon'")
        print("\nUnloading balloon_core leaves no trace:")
        vm.check("rmmod balloon_core_test && rmmod balloon_core")
        show(vm, "/proc/meminfo after rmmod", "tail -n 2 /proc/meminfo")
    finally:
        vm.stop()
    print("\nStages:")
    for line in timing.report_lines():
        print(f"  {line}")
    print(f"demo finished in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
