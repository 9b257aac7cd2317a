"""A guest's kernel log, saved next to its console log before the guest shuts down.

Guests boot with loglevel=1 (vm.py), so warnings and lockdep, KASAN and
kmemleak reports reach only the ring buffer; this keeps them for reading
after the run. It only saves: judging the log is not its job.
"""
from .vm import VM, VMError

KMEMLEAK = "/sys/kernel/debug/kmemleak"  # only in kernels with DEBUG_KMEMLEAK (6.1-debug)
# A kmemleak scan of a 1-4 GiB KASAN guest under TCG takes tens of seconds.
SCAN_TIMEOUT = 600


def save_kernel_log(vm: VM):
    """Write <name>.dmesg.log (and <name>.kmemleak.log where kmemleak is on) beside the console log."""
    if not vm.alive:
        return  # its console log is all there is
    try:
        rc, leaks = vm.run(f"test -e {KMEMLEAK} && echo scan > {KMEMLEAK} && cat {KMEMLEAK}",
                           timeout=SCAN_TIMEOUT)
        if rc == 0:
            _write(vm, "kmemleak", leaks)
        _write(vm, "dmesg", vm.check("dmesg", timeout=120))
    except VMError as error:
        _write(vm, "dmesg", f"could not read the kernel log: {error}\n")


def _write(vm: VM, kind: str, text: str):
    vm.console_log_path.with_name(f"{vm.name}.{kind}.log").write_text(text)
