"""Stats tags 10-15 seen by a host that knows them: trixie's QEMU, run in its chroot.

The host's QEMU (7.2) drops tags 10-15 without a word, so there
test_virtio_balloon.py can only count what the driver sent. Here a QEMU of
9.2 or later names every tag in guest-stats, and shows -1 for a tag the guest
never sent, as (u64)-1. On 5.10 and 6.1 the in-tree driver predates the tags (Linux
6.10), so the same guest first shows them missing with it, then arriving
with ours: proof that this QEMU would notice a missing tag.

QEMU keeps the last value of each tag for the device's lifetime, so ours
reports to a freshly hot-plugged balloon, whose tags all start missing.
"""
import time

import pytest

from harness import timing
from harness.qemu import suite_qemu
from virtio_guest import (DEBUGFS, NEW_STAT_NAMES, STAT_NAMES, missing_stats, next_guest_stats,
                          stats_polling, unload_all, unplug, vmstat, wait_guest)

QEMU_SUITE = "trixie"
MIN_QEMU = (9, 2)
# Kernels whose in-tree virtio_balloon sends only tags 0-9.
IN_TREE_WITHOUT_NEW_TAGS = {"5.10", "6.1"}
PAGE = 4096


@pytest.fixture(scope="module")
def new_qemu_vm(boot):
    with timing.stage(f"QEMU from {QEMU_SUITE}"):
        qemu = suite_qemu(QEMU_SUITE)
        version = qemu.version()
    assert tuple(map(int, version.split(".")[:2])) >= MIN_QEMU, \
        f"{QEMU_SUITE}'s QEMU is {version}, older than {MIN_QEMU}"
    # The balloon with every default: no deflate-on-oom, so the hog gets OOM-killed.
    # On a root port, to be unplugged.
    return boot(f"qemu-{QEMU_SUITE}", qemu=qemu,
                devices=("pcie-root-port,id=rp1,chassis=1,slot=1",
                         "virtio-balloon-pci,id=balloon0,bus=rp1"))


def reclaim_counters(vm) -> dict[str, int]:
    """What tags 10-15 should say, from /proc/vmstat: counts, and bytes for pages."""
    fields = dict(line.split() for line in vm.check("cat /proc/vmstat").splitlines())
    counters = {name: int(value) for name, value in fields.items()}
    return {
        "stat-oom-kills": counters["oom_kill"],
        "stat-alloc-stalls": sum(value for name, value in counters.items()
                                 if name.startswith("allocstall_")),
        "stat-async-scans": counters["pgscan_kswapd"] * PAGE,
        "stat-direct-scans": counters["pgscan_direct"] * PAGE,
        "stat-async-reclaims": counters["pgsteal_kswapd"] * PAGE,
        "stat-direct-reclaims": counters["pgsteal_direct"] * PAGE,
    }


def stats_between(vm, after: int, device_id: str) -> tuple[dict, dict, dict]:
    """(vmstat before, the host's stats, vmstat after), the stats gathered after `before`.

    last-update is in whole seconds; asking for one two seconds past the
    read of `before` makes sure the guest gathered it after that read.
    """
    before = reclaim_counters(vm)
    answer = next_guest_stats(vm, max(after, int(time.time()) + 1), device_id=device_id)
    return before, answer, reclaim_counters(vm)


@pytest.mark.kernel_log_expects(r"invoked oom-killer")
def test_every_new_tag_reaches_a_host_that_knows_it(kernel, new_qemu_vm):
    vm = new_qemu_vm
    # An OOM kill first, so tags 10-15 have something to count.
    rc, out = vm.run("hog 2048 2>/dev/null", timeout=600)
    assert rc != 0 and "touched 2048" not in out, f"the hog was not OOM-killed: {rc} {out}"
    assert vmstat(vm, "oom_kill") >= 1

    unload_all(vm)
    vm.check("modprobe virtio_balloon")
    stats_polling(vm, 1, "balloon0")
    _, in_tree, _ = stats_between(vm, 0, "balloon0")
    stats = in_tree["stats"]
    assert not missing_stats(stats, STAT_NAMES), stats
    if kernel.stock in IN_TREE_WITHOUT_NEW_TAGS:
        assert missing_stats(stats, NEW_STAT_NAMES) == list(NEW_STAT_NAMES), stats
    else:
        assert not missing_stats(stats, NEW_STAT_NAMES), stats

    unplug(vm, "balloon0")
    unload_all(vm)
    vm.check("insmod /ext/balloon_core.ko && insmod /ext/virtio_balloon_ext.ko")
    vm.qmp("device_add", driver="virtio-balloon-pci", id="balloon1", bus="rp1")
    wait_guest(vm, f"test -e {DEBUGFS}", "virtio_balloon_ext bound to the new balloon")
    stats_polling(vm, 1, "balloon1")
    before, ours, after = stats_between(vm, 0, "balloon1")
    stats = ours["stats"]
    assert not missing_stats(stats, STAT_NAMES + NEW_STAT_NAMES), stats
    for name in NEW_STAT_NAMES:
        assert before[name] <= stats[name] <= after[name], (name, before, stats, after)
    assert stats["stat-oom-kills"] >= 1
