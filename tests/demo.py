"""make demo: the host inflates a Debian 12 guest's balloon, and the guest shows it everywhere.

One guest, one boot. First a balloon without deflate-on-oom: the host takes
256 MiB, MemTotal shrinks and InflatedTotal says why. Then that balloon is
unplugged and one with deflate-on-oom plugged in: the host takes 256 MiB
again, MemTotal stays and InflatedFree says the memory counts as used.
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import timing  # noqa: E402
from harness.guest import boot_guest  # noqa: E402
from virtio_guest import MiB, balloon_to, unplug, wait_guest  # noqa: E402

WHERE = (
    ("QMP query-balloon (the host's view)", None),
    ("driver debugfs", "head -n 5 /sys/kernel/debug/virtio-balloon"),
    ("balloon_core debugfs", "head -n 2 /sys/kernel/debug/balloon"),
    ("sysfs, for monitoring", "grep . /sys/kernel/balloon/*"),
    ("/proc/meminfo", "grep -E '^(MemTotal|MemFree|Inflated)' /proc/meminfo"),
    ("SysRq-m, as in an OOM report", "dmesg -c >/dev/null; echo m > /proc/sysrq-trigger; "
                                     "dmesg | grep -E 'pages RAM|Balloon'"),
)


def show_everywhere(vm, title):
    print(f"\n=== {title}")
    for label, cmd in WHERE:
        print(f"--- {label}")
        if cmd is None:
            print(f"actual: {vm.qmp('query-balloon')['actual'] // MiB} MiB")
        else:
            print(vm.check(cmd).rstrip())


def inflate_and_back(vm, kind):
    show_everywhere(vm, f"{kind}: balloon empty")
    seconds = balloon_to(vm, 256 * MiB)
    print(f"\n(host asked for 256 MiB over QMP; the guest gave it in {seconds:.1f} s)")
    show_everywhere(vm, f"{kind}: host took 256 MiB")
    balloon_to(vm, 0)
    show_everywhere(vm, f"{kind}: host gave it back")


def main():
    started = time.monotonic()
    vm = boot_guest("6.1", "demo", devices=(
        "pcie-root-port,id=rp1,chassis=1,slot=1",
        "virtio-balloon-pci,id=balloon0,bus=rp1,deflate-on-oom=off"))
    try:
        print(f"guest: Debian 12, kernel {vm.kernel.release}, 1 GiB, QEMU TCG")
        vm.check("insmod /ext/balloon_core.ko && insmod /ext/virtio_balloon_ext.ko")
        inflate_and_back(vm, "deflate-on-oom off")

        unplug(vm, "balloon0")
        vm.qmp("device_add", driver="virtio-balloon-pci", id="balloon1", bus="rp1",
               **{"deflate-on-oom": True})
        wait_guest(vm, "test -e /sys/kernel/debug/virtio-balloon", "hotplug")
        inflate_and_back(vm, "deflate-on-oom on")
    finally:
        vm.stop()
    print("\nStages:")
    for line in timing.report_lines():
        print(f"  {line}")
    print(f"demo finished in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
