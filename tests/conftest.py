"""pytest fixtures: kernels to test on, the project built for each, and booted guests.

Run with Debian's interpreter: /usr/bin/python3 -m pytest tests/
KERNELS="6.1 7.x" (space-separated) picks kernels; see harness/kernels.py. Unset
or empty means every supported kernel but the opt-in ones (OPT_IN, e.g. the
6.1-debug build), where trixie-backports' kernel (7.x-bpo) counts only while
it is another upstream version than sid's (7.x).
"""
import os
from pathlib import Path

import pytest

from harness import log_gate, timing
from harness.build import build_hog, build_modules, prepare_toolchain
from harness.guest import DEFAULT_KERNEL_MODULES, REPO, boot_vm, guest_files
from harness.guest_logs import save_kernel_log
from harness.host_programs import program_files
from harness.debug_kernel import describe_build
from harness.kernels import KERNELS, default_kernel_names, prepare_kernel
from harness.qemu import HOST
from harness.vm import VM, memory_bytes

CORE_BALLOON = "virtio-balloon-pci,id=balloon0,deflate-on-oom=on,free-page-reporting=on"
HEADER: list[str] = []  # lines for pytest's report header


# An empty KERNELS would make pytest skip every test and look green: default instead.
KERNEL_NAMES = os.environ.get("KERNELS", "").split()
if not KERNEL_NAMES:
    with timing.stage("apt resolve sid and backports"):
        KERNEL_NAMES, notes = default_kernel_names()
    HEADER += notes
HEADER.insert(0, f"kernels: {' '.join(KERNEL_NAMES)}")
# Whether a debug kernel is built already, and how long its build took.
HEADER += [describe_build(name) for name in KERNEL_NAMES
           if name in KERNELS and KERNELS[name].debug_of]


def pytest_report_header(config):
    return HEADER


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "kernel_log_expects(*regexes): the kernel log reports (harness/kernel_log.py) "
        "this test causes on purpose; each regex must match a line of the log")
    config.addinivalue_line(
        "markers", "debug_kernel_only: needs the debug kernel's checkers (fault injection, "
        "kmemleak); deselected, not skipped, on the other kernels")
    config.addinivalue_line(
        "markers", "every_kernel: runs also on kernels whose spec has full_suite=False "
        "(harness/kernels.py); every other kernel test is deselected there, not skipped")
    config.addinivalue_line(
        "markers", "only_kernels(*names): runs on the kernels named (KERNELS names) alone; "
        "deselected, not skipped, on the others")
    unknown = [name for name in KERNEL_NAMES if name not in KERNELS]
    if unknown:
        raise pytest.UsageError(f"KERNELS: unknown {unknown}; known: {sorted(KERNELS)}")


def pytest_collection_modifyitems(config, items):
    """Debug-kernel-only tests run on the debug kernels alone; the rest are deselected.

    On a kernel with full_suite=False only the tests marked every_kernel run.

    With BALLOON_EXT_KERNEL_TESTS_ONLY=1 (every lane of tests/run_matrix.py
    but the first) the tests that need no kernel are deselected too.
    """
    kernel_tests_only = os.environ.get("BALLOON_EXT_KERNEL_TESTS_ONLY") == "1"
    keep, drop = [], []
    for item in items:
        name = getattr(item, "callspec", None) and item.callspec.params.get("kernel")
        if kernel_tests_only and name is None:
            drop.append(item)
        elif item.get_closest_marker("debug_kernel_only") and not (
                name in KERNELS and KERNELS[name].debug_of):
            drop.append(item)
        elif (name in KERNELS and not KERNELS[name].full_suite
              and not item.get_closest_marker("every_kernel")):
            drop.append(item)
        elif (only := item.get_closest_marker("only_kernels")) and name not in only.args:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep  # pytest's summary line counts them as deselected


def pytest_sessionfinish(session):
    """A skipped test is a check that did not run: fail the run rather than look green."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter and reporter.stats.get("skipped") and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if timing.records:
        terminalreporter.ensure_newline()  # or a blank line follows the header
        terminalreporter.section("balloon-ext stage timings")
        for line in timing.report_lines():
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def kernel_log_gate(request):
    """Fail the test on a report in the kernel log of any guest it used (harness/log_gate.py).

    Autouse, so set up before the test's other fixtures and torn down after
    them: what their teardown makes the guest log (an unload) counts too.
    """
    before = log_gate.usage()
    yield
    expects = [pattern for marker in request.node.iter_markers("kernel_log_expects")
               for pattern in marker.args]
    problems = log_gate.check(before, expects)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(scope="session", params=KERNEL_NAMES, ids=KERNEL_NAMES)
def kernel(request):
    return prepare_kernel(request.param)


@pytest.fixture(scope="session")
def built(kernel) -> Path:
    if kernel.spec.builder == "chroot":
        with timing.stage(f"chroot {kernel.spec.chroot_suite} for {kernel.name}"):
            prepare_toolchain(kernel)
    with timing.stage(f"build {kernel.name}"):
        return build_modules(kernel, REPO)


@pytest.fixture(scope="session")
def hog() -> Path:
    with timing.stage("build hog"):
        return build_hog(REPO)


@pytest.fixture(scope="session")
def boot(kernel, built, hog):
    """boot(config_name, ...) -> a running VM, shared by every test asking for that config.

    Project modules are in the guest's /ext/, the memory hog is /bin/hog;
    extra_files ({guest path: host path}) adds more; qemu picks another QEMU
    than the host's (harness/qemu.py); tcg_threads="single" runs all vCPUs
    on one host thread (harness/vm.py, TCG_SINGLE); machine, cpu and
    extra_args (raw QEMU arguments) go to the VM as they are. A guest that
    died (e.g. a test panicked it) is booted again on the next request.
    """
    files = guest_files(built, hog)
    vms: dict[str, tuple[VM, tuple]] = {}
    boots: dict[str, int] = {}

    def boot(config_name, devices=(), mem="1G", append="",
             kernel_modules=DEFAULT_KERNEL_MODULES, extra_files=None, qemu=HOST,
             tcg_threads="multi", machine="q35", cpu="max", extra_args=()) -> VM:
        extra_files = dict(extra_files or {})
        if kernel.spec.debug_of:
            # KASAN's shadow and the other checkers take about half of a 1 GiB
            # guest: twice the memory leaves the tests what they balloon from.
            mem = f"{memory_bytes(mem) * 2 >> 20}M"
        arguments = (tuple(devices), mem, append, tuple(kernel_modules),
                     tuple(sorted(extra_files.items())), qemu, tcg_threads, machine, cpu,
                     tuple(extra_args))
        if config_name in vms:
            vm, booted_with = vms[config_name]
            if booted_with != arguments:
                raise ValueError(f"config {config_name!r} was booted with {booted_with}, "
                                 f"now asked for {arguments}: use another config name")
            if vm.alive:
                return vm
            vm.stop()
        boots[config_name] = boots.get(config_name, 0) + 1
        # A reboot gets its own log, keeping the dead guest's console for post-mortem.
        name = f"{kernel.name}-{config_name}"
        if boots[config_name] > 1:
            name += f"-boot{boots[config_name]}"
        vm = boot_vm(kernel, files | extra_files, name, devices=devices, mem=mem,
                     append=kernel.cmdline(append), kernel_modules=kernel_modules, qemu=qemu,
                     tcg_threads=tcg_threads, machine=machine, cpu=cpu,
                     extra_args=tuple(extra_args))
        vms[config_name] = (vm, arguments)
        return vm

    yield boot
    for config_name, (vm, _) in vms.items():
        with timing.stage(f"shutdown {kernel.name}-{config_name}"):
            save_kernel_log(vm)
            vm.stop()


@pytest.fixture(scope="module")
def core_vm(boot) -> VM:
    """The common guest: 1 GiB, a virtio balloon with deflate-on-oom and free page reporting."""
    return boot("core", devices=(CORE_BALLOON,))


@pytest.fixture(scope="module")
def tcg_single_guest(boot) -> VM:
    """A guest whose vCPUs share one host thread (harness/vm.py, TCG_SINGLE).

    For tests that arm and disarm probes or tracepoints while another vCPU
    runs the patched code: multi-threaded TCG gets that wrong by itself,
    without our modules ("Oops: int3" in __schedule on 6.12 as a trace
    event was switched off). With the host's perf and trace-cmd, which
    read balloon_core's tracepoint.
    """
    tools = program_files("/usr/bin/perf") | program_files("/usr/bin/trace-cmd")
    return boot("core-tcg-single", tcg_threads="single", extra_files=tools)
