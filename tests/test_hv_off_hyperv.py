"""hv_balloon_ext off Hyper-V, on 7.x, where vmbus is built into the kernel.

Up to 6.12 vmbus is the hv_vmbus module, which itself refuses to load off
Hyper-V (test_hv_host.py runs the driver against a simulated host there).
From 7.x the driver links against vmlinux's vmbus, whose driver
registration returns -ENODEV without a VMBus device: the module must
refuse to load, leave no file behind and log nothing the gate flags.
"""
import pytest


@pytest.mark.every_kernel
@pytest.mark.only_kernels("7.x", "7.x-bpo")
def test_refuses_to_load_and_leaves_nothing(core_vm):
    vm = core_vm
    vm.check("test -e /sys/module/balloon_core || insmod /ext/balloon_core.ko")
    rc, out = vm.run("insmod /ext/hv_balloon_ext.ko 2>&1")
    assert rc != 0 and "No such device" in out, out
    assert vm.run("test -e /sys/module/hv_balloon_ext")[0] != 0
    assert vm.run("test -e /sys/kernel/debug/hv-balloon")[0] != 0
    assert vm.run("test -e /sys/bus/vmbus/drivers/hv_balloon_ext")[0] != 0
    # A failed probe leaves no source registered with balloon_core.
    assert vm.run("test -e /sys/kernel/balloon/sources/hv_balloon_ext")[0] != 0
    vm.check("rmmod balloon_core")
