"""Error paths under injected allocation failures, and no leak after them (debug kernel only).

The probe runs in the task that writes the device's name to the driver's
`bind` file. /proc/self/fail-nth makes that task's N-th counted allocation
fail (failslab and fail_page_alloc, with GFP_KERNEL and order-0 counted
too), whichever it is; the sweep goes N = 1, 2, ... until an N finds no
allocation left to fail. Each failed probe must leave the device
driverless and the write refused, each surviving one a working driver,
and nothing may WARN (the guest would panic), trip KASAN or lockdep, or
leak by kmemleak's account. Only the debug kernel has fault injection and
kmemleak; on the others these tests are deselected (tests/conftest.py).

Inflation allocates in a work item, in a kworker shared with the rest of
the kernel, which fail-nth and the task filter cannot single out: the
driver has a fault attribute of its own for its page allocations
(fail_virtio-balloon/ in debugfs, src/virtio_balloon_ext/fault.c), and
the inflation test fails them at random while the host inflates. Deflate
and the stats work allocate nothing. Not covered here: hinting's
allocations, which the same attribute fails, on a hinting guest.
"""
import pytest

from conftest import CORE_BALLOON
from virtio_guest import (MiB, balloon_to, check_accounting, load_driver, meminfo_kb,
                          unload_all, vb_debugfs)

pytestmark = pytest.mark.debug_kernel_only
DRV = "/sys/bus/virtio/drivers/virtio_balloon_ext"
FAULTS = "/sys/kernel/debug"
OWN_FAULTS = "/sys/kernel/debug/fail_virtio-balloon"  # src/virtio_balloon_ext/fault.c
KMEMLEAK = "/sys/kernel/debug/kmemleak"
MAX_N = 2000  # far past the probe's allocations: the sweep ends well before
# One line per N: how many faults of each kind fired, the bind's status, bound or not.
SWEEP = r"""
dev=$1 n=1
while [ $n -le $2 ]; do
	s0=$(cat {faults}/failslab/times) p0=$(cat {faults}/fail_page_alloc/times)
	sh -c "echo $n > /proc/self/fail-nth && echo $dev > {drv}/bind" 2>/dev/null
	rc=$?
	s1=$(cat {faults}/failslab/times) p1=$(cat {faults}/fail_page_alloc/times)
	bound=no
	[ -e {drv}/$dev ] && bound=yes
	echo "sweep n=$n rc=$rc slab=$((s0 - s1)) page=$((p0 - p1)) bound=$bound"
	[ $s0 = $s1 ] && [ $p0 = $p1 ] && break
	[ $bound = yes ] && echo $dev > {drv}/unbind
	n=$((n + 1))
done
""".replace("{faults}", FAULTS).replace("{drv}", DRV)


@pytest.fixture(scope="module")
def faults_vm(boot):
    vm = boot("faults", devices=(CORE_BALLOON,))
    # Whatever kmemleak finds from boot is reported now, and set aside.
    vm.check(f"echo scan > {KMEMLEAK} && echo clear > {KMEMLEAK}", timeout=600)
    return vm


@pytest.fixture
def vm(faults_vm):
    yield faults_vm
    unload_all(faults_vm)


def arm_fault_injection(vm):
    """Count every allocation of a task with fail-nth set, and fail none of anyone else's."""
    for kind in ("failslab", "fail_page_alloc"):
        vm.check(f"cd {FAULTS}/{kind} && echo 0 > probability && echo 1000000 > times && "
                 f"echo 0 > verbose && echo N > ignore-gfp-wait")
    vm.check(f"cd {FAULTS}/fail_page_alloc && echo 0 > min-order && "
             f"echo N > ignore-gfp-highmem")


def test_every_allocation_failure_in_probe_unwinds(vm):
    load_driver(vm)
    device = vm.check(f"ls {DRV} | grep '^virtio'").strip()
    vm.check(f"echo {device} > {DRV}/unbind")
    arm_fault_injection(vm)
    vm.write_file("/tmp/sweep.sh", SWEEP)
    out = vm.check(f"sh /tmp/sweep.sh {device} {MAX_N}", timeout=3600)
    steps = [dict(field.split("=") for field in line.split()[1:])
             for line in out.splitlines() if line.startswith("sweep ")]
    assert steps, out
    last = steps.pop()
    # The sweep ended because an N found nothing left to fail, and that bind worked.
    assert last["slab"] == last["page"] == "0" and last["rc"] == "0" \
        and last["bound"] == "yes", last
    failed = [s for s in steps if s["bound"] == "no"]
    assert all(s["rc"] != "0" for s in failed), [s for s in failed if s["rc"] == "0"]
    # Most of the N fail the probe itself; the first few fail the write before it.
    assert len(steps) > 20, steps

    # After all that, the driver still does its job.
    balloon_to(vm, 64 * MiB)
    assert meminfo_kb(vm)["InflatedFree"] == 64 * 1024
    balloon_to(vm, 0)


def test_inflation_rides_out_failed_allocations(vm):
    """Half the balloon's allocations fail, up to 300: the target is still met, exactly."""
    load_driver(vm)
    base_memtotal_kb = meminfo_kb(vm)["MemTotal"]
    failures = int(vb_debugfs(vm)["alloc_failures"])
    vm.check(f"cd {OWN_FAULTS} && echo 0 > verbose && echo 1 > interval && "
             f"echo 300 > times && echo 50 > probability")
    balloon_to(vm, 256 * MiB, timeout=600)
    left = int(vm.check(f"cat {OWN_FAULTS}/times"))
    vm.check(f"echo 0 > {OWN_FAULTS}/probability")
    assert left < 300  # some did fail
    assert int(vb_debugfs(vm)["alloc_failures"]) > failures
    assert "out of memory: got" in vm.dmesg()  # rate-limited, but there
    check_accounting(vm, 256 * 1024, deflate_on_oom=True, base_memtotal_kb=base_memtotal_kb)
    balloon_to(vm, 0)
    check_accounting(vm, 0, deflate_on_oom=True, base_memtotal_kb=base_memtotal_kb)


def test_no_leak_after_faults_and_load_cycles(vm):
    """kmemleak after the sweep above (same guest), and after load, inflate, deflate, unload."""
    for _ in range(3):
        load_driver(vm)
        balloon_to(vm, 32 * MiB)
        balloon_to(vm, 0)
        unload_all(vm)
    # kmemleak reports an object only once it is 5 s old and unreferenced in two scans.
    vm.check("sleep 6")
    vm.check(f"echo scan > {KMEMLEAK}", timeout=600)
    vm.check(f"echo scan > {KMEMLEAK}", timeout=600)
    leaks = vm.check(f"cat {KMEMLEAK}")
    assert leaks.strip() == "", leaks
