"""balloon_core's sources: per-driver amounts, their sums, the history line and the tracepoint.

tests/modules/balloon_core_sources_test.ko registers two sources (test-a
and test-b by default) and reports to them from process context, from
under a spinlock with interrupts off, under a raw spinlock, or from a
timer (its header says how). balloon_core_test.ko drives the seed's setters, the "legacy" source.
"""
import re

import pytest

from test_core import CORE, DEBUGFS, SYSFS, TEST, meminfo_lines, set_values, \
    show_mem_line, sysrq_show_mem, unload
from virtio_guest import MiB, balloon_to

SOURCES_TEST = "/ext/balloon_core_sources_test.ko"
SOURCES_PARAMS = "/sys/module/balloon_core_sources_test/parameters"
TRACE_EVENT = "events/balloon_core/balloon_core_report"
SOURCE_FILES = ("inflated_total_kb", "inflated_free_kb", "target_kb", "reports")
AGE = r"\d+\.\d s ago"


def unload_all(vm):
    vm.run("rmmod balloon_core_sources_test")
    unload(vm)


def loaded(guest):
    """`guest` with balloon_core, the legacy setters' module and two test sources, fresh."""
    unload_all(guest)
    guest.check("dmesg -c >/dev/null")
    guest.check(f"insmod {CORE} && insmod {TEST} && insmod {SOURCES_TEST}")
    yield guest
    unload_all(guest)


@pytest.fixture
def vm(core_vm):
    yield from loaded(core_vm)


@pytest.fixture
def trace_vm(tcg_single_guest):
    """For the tests that switch the tracepoint on and off (conftest.py, tcg_single_guest)."""
    yield from loaded(tcg_single_guest)


def report(vm, source, total, free, reason="host", context="process"):
    vm.check(f"echo '{source} {total} {free} {reason} {context}' > {SOURCES_PARAMS}/report")


def source_files(vm, name) -> dict[str, str]:
    out = vm.check(f"cd {SYSFS}/sources/{name} && for f in {' '.join(SOURCE_FILES)}; "
                   f"do echo $f=$(cat $f); done")
    return dict(line.split("=", 1) for line in out.split() if "=" in line)


def debugfs_sources(vm) -> dict[str, dict[str, str]]:
    sources = {}
    for line in vm.check(f"cat {DEBUGFS}").splitlines():
        if line.startswith("source: "):
            name, *fields = line[len("source: "):].split()
            sources[name] = dict(field.split("=", 1) for field in fields)
    return sources


def history(vm) -> str:
    """The line after the Balloon line of a SysRq-m report."""
    lines = sysrq_show_mem(vm).splitlines()
    at = next(n for n, line in enumerate(lines) if "Balloon InflatedTotal:" in line)
    assert "Balloon recent:" in lines[at + 1], lines[at:at + 2]
    return lines[at + 1].split("Balloon recent: ", 1)[1]


def assert_everywhere(vm, total, free, per_source):
    """The sums in meminfo, debugfs, sysfs and show_mem; each source's own files and line."""
    meminfo = vm.check("cat /proc/meminfo").splitlines()
    assert [line for line in meminfo if line.startswith("Inflated")] == \
        meminfo_lines(vm, total, free)
    assert vm.check(f"cat {DEBUGFS}").splitlines()[:2] == meminfo_lines(vm, total, free)
    assert vm.check(f"cat {SYSFS}/inflated_total_kb {SYSFS}/inflated_free_kb").split() == \
        [str(total), str(free)]
    listed = debugfs_sources(vm)
    for name, (src_total, src_free) in per_source.items():
        files = source_files(vm, name)
        assert (files["inflated_total_kb"], files["inflated_free_kb"]) == \
            (str(src_total), str(src_free)), (name, files)
        assert (listed[name]["inflated_total_kb"], listed[name]["inflated_free_kb"]) == \
            (str(src_total), str(src_free)), (name, listed[name])


@pytest.mark.every_kernel
def test_sources_sum_in_every_place_from_every_context(vm):
    assert sorted(vm.check(f"ls {SYSFS}/sources").split()) == ["legacy", "test-a", "test-b"]
    assert_everywhere(vm, 0, 0, {"test-a": (0, 0), "test-b": (0, 0), "legacy": (0, 0)})
    assert history(vm) == "no changes"

    report(vm, "a", 100, 0, "host", "process")
    assert_everywhere(vm, 100, 0, {"test-a": (100, 0), "test-b": (0, 0)})
    report(vm, "b", 0, 2048, "oom", "irqoff")
    assert_everywhere(vm, 100, 2048, {"test-a": (100, 0), "test-b": (0, 2048)})
    report(vm, "a", 300, 0, "host", "timer")
    assert_everywhere(vm, 300, 2048, {"test-a": (300, 0), "test-b": (0, 2048)})
    set_values(vm, 5, 7)  # the seed's setters: the legacy source
    assert_everywhere(vm, 305, 2055, {"test-a": (300, 0), "test-b": (0, 2048), "legacy": (5, 7)})
    assert show_mem_line(305, 2055) in sysrq_show_mem(vm)

    # Newest first, four at most; the legacy setters' two reports are one run.
    assert re.fullmatch(rf"legacy \+12 kB other {AGE}, test-a \+200 kB host {AGE}, "
                        rf"test-b \+2 MiB oom {AGE}, test-a \+100 kB host {AGE}", history(vm))
    # Another report of the same source, reason and direction joins its run.
    report(vm, "a", 400, 0, "host", "raw")
    report(vm, "a", 1324, 0, "host", "timer")
    assert history(vm).startswith("test-a +1 MiB host ")
    # Four reports; an unchanged value is a report but not a change.
    report(vm, "a", 1324, 0, "host", "process")
    assert source_files(vm, "test-a")["reports"] == "5"
    assert debugfs_sources(vm)["test-a"]["reports"] == "5"
    assert re.fullmatch(r"\d+", debugfs_sources(vm)["test-a"]["last_report_ms_ago"])
    assert debugfs_sources(vm)["test-b"]["reports"] == "1"
    assert vm.check(f"stat -c %a {SYSFS}/sources/test-a/*").split() == ["444"] * 4


def test_unloading_a_source_module_drops_its_values(vm):
    report(vm, "a", 1024, 0)
    report(vm, "b", 0, 4096)
    set_values(vm, 3, 0)
    assert_everywhere(vm, 1027, 4096, {"test-a": (1024, 0), "test-b": (0, 4096)})
    vm.check("rmmod balloon_core_sources_test")
    assert_everywhere(vm, 3, 0, {"legacy": (3, 0)})
    assert vm.check(f"ls {SYSFS}/sources").split() == ["legacy"]
    assert set(debugfs_sources(vm)) == {"legacy"}
    assert re.match(rf"test-a -1 MiB remove {AGE}, test-b -4 MiB remove {AGE}, "
                    rf"legacy \+3 kB other {AGE}", history(vm))
    # The names are free again.
    vm.check(f"insmod {SOURCES_TEST}")
    assert_everywhere(vm, 3, 0, {"test-a": (0, 0), "test-b": (0, 0)})


# An init returning -EEXIST reads "File exists" from insmod; kernels that keep
# that error for "module already loaded" (7.x) hand userspace -EBUSY instead.
EEXIST = "(File exists|Device or resource busy)"


@pytest.mark.parametrize("params,error,logged", [
    ("name_a=legacy", EEXIST, 'source "legacy" is registered already'),
    ("name_a=same name_b=same", EEXIST, 'source "same" is registered already'),
    ("name_a=" + "x" * 48, "Invalid argument", 'refused source name "' + "x" * 48 + '"'),
    ("name_a=.hidden", "Invalid argument", 'refused source name ".hidden"'),
    ("name_a=a/b", "Invalid argument", 'refused source name "a/b"'),
    ("name_a=", "Invalid argument", 'refused source name ""'),
])
def test_bad_and_duplicate_names_are_refused(vm, params, error, logged):
    vm.check("rmmod balloon_core_sources_test && dmesg -c >/dev/null")
    rc, out = vm.run(f"insmod {SOURCES_TEST} {params}")
    assert rc != 0 and re.search(error, out), out
    assert logged in vm.dmesg()
    # Nothing half made is left: the legacy source alone, and a good load still works.
    assert vm.check(f"ls {SYSFS}/sources").split() == ["legacy"]
    assert set(debugfs_sources(vm)) == {"legacy"}
    vm.check(f"insmod {SOURCES_TEST}")


def test_negative_values_and_targets_are_refused_and_old_values_kept(vm):
    report(vm, "a", 100, 200)
    vm.check(f"echo 'a 4096' > {SOURCES_PARAMS}/target")
    vm.check("dmesg -c >/dev/null")
    report(vm, "a", -1, 500)
    report(vm, "a", 500, -2)
    vm.check(f"echo 'a -5' > {SOURCES_PARAMS}/target")
    files = source_files(vm, "test-a")
    assert files == {"inflated_total_kb": "100", "inflated_free_kb": "200", "target_kb": "4096",
                     "reports": "1"}, files
    assert_everywhere(vm, 100, 200, {"test-a": (100, 200)})
    assert "rejected: 3" in vm.check(f"cat {DEBUGFS}")
    dmesg = vm.dmesg()
    assert re.search(r"rejected negative InflatedTotal of -1 kB from \S+ "
                     r"\[balloon_core_sources_test\]; keeping 100 kB \(source test-a\)", dmesg)
    assert re.search(r"rejected negative InflatedFree of -2 kB from .*; keeping 200 kB", dmesg)
    assert re.search(r"test-a: rejected target of -5 kB from .*; keeping 4096 kB", dmesg)
    # -1 says the target is unknown.
    vm.check(f"echo 'a -1' > {SOURCES_PARAMS}/target")
    assert source_files(vm, "test-a")["target_kb"] == "-1"
    assert debugfs_sources(vm)["test-a"]["target_kb"] == "-1"


def test_the_tracepoint_carries_source_reason_and_values(trace_vm):
    tracing = "/sys/kernel/tracing"
    trace_vm.check(f"[ -e {tracing}/trace ] || mount -t tracefs nodev {tracing}")
    fmt = trace_vm.check(f"cat {tracing}/{TRACE_EVENT}/format")
    for field in ("char source[48]", "int reason", "long old_total_kb", "long new_total_kb",
                  "long old_free_kb", "long new_free_kb"):
        assert field in fmt, fmt
    # perf, trace-cmd and bpftrace read this file: no enum name may be left in it.
    assert "BALLOON_CORE_" not in fmt and '{ 1, "oom" }' in fmt, fmt
    trace_vm.check(f"echo > {tracing}/trace && echo 1 > {tracing}/{TRACE_EVENT}/enable")
    try:
        report(trace_vm, "a", 512, 0, "pressure", "irqoff")
        report(trace_vm, "b", 0, 64, "migration", "timer")
        report(trace_vm, "a", 256, 0, "oom", "process")
        trace = trace_vm.check(f"cat {tracing}/trace")
    finally:
        trace_vm.check(f"echo 0 > {tracing}/{TRACE_EVENT}/enable")
    events = re.findall(r"balloon_core_report: (.*)", trace)
    assert events == [
        "source=test-a reason=pressure total_kb=0->512 free_kb=0->0",
        "source=test-b reason=migration total_kb=0->0 free_kb=0->64",
        "source=test-a reason=oom total_kb=512->256 free_kb=0->0",
    ], trace


def test_perf_and_trace_cmd_read_the_tracepoint(trace_vm):
    """The admin's own tools, the host's perf and trace-cmd, parse the format file.

    Both record the event by name and print its fields through libtraceevent;
    bpftrace reads the same format file but is not in the guest (LLVM).
    """
    trace_vm.check("[ -e /sys/kernel/tracing/trace ] || "
                   "mount -t tracefs nodev /sys/kernel/tracing")
    event = "balloon_core:balloon_core_report"

    def triggered(record: str, first: str, second: str) -> str:
        return trace_vm.check(f"cd /tmp && {record} sh -c \""
                              f"echo '{first}' > {SOURCES_PARAMS}/report && "
                              f"echo '{second}' > {SOURCES_PARAMS}/report\" 2>&1", timeout=300)

    triggered(f"perf record -q -a -e {event} -o /tmp/perf.data --",
              "a 768 0 pressure raw", "b 0 32 oom timer")
    out = trace_vm.check("perf --no-pager script -i /tmp/perf.data 2>&1 | cat", timeout=300)
    events = re.findall(rf"{event}: (.*)", out)
    assert events == ["source=test-a reason=pressure total_kb=0->768 free_kb=0->0",
                      "source=test-b reason=oom total_kb=0->0 free_kb=0->32"], out

    # start/extract reads the ring buffer once the events are in it; `record
    # <command>` stops its per-CPU readers when the command exits, and lost
    # both events that way once on 7.x (CI, stop 18).
    trace_vm.check(f"trace-cmd start -e {event} 2>&1", timeout=300)
    triggered("", "a 100 0 host process", "b 0 0 migration irqoff")
    trace_vm.check("trace-cmd stop && cd /tmp && trace-cmd extract -o /tmp/trace.dat 2>&1 && "
                   "trace-cmd reset 2>&1", timeout=300)
    out = trace_vm.check("trace-cmd report -i /tmp/trace.dat 2>&1", timeout=300)
    events = re.findall(r"balloon_core_report: +(.*)", out)
    assert events == ["source=test-a reason=host total_kb=768->100 free_kb=0->0",
                      "source=test-b reason=migration total_kb=0->0 free_kb=32->0"], out
    trace_vm.check("rm -f /tmp/perf.data /tmp/trace.dat")


@pytest.mark.parametrize("path,quiet,change", [
    ("sources/test-a/inflated_total_kb", "a 0 5", "a 10 5"),
    ("sources/test-a/inflated_free_kb", "a 10 0", "a 10 20"),
    ("sources/test-a/reports", "b 5 0", "a 0 0"),
    ("inflated_free_kb", "a 9 0", "b 0 30"),
])
def test_poll_on_a_sysfs_file_wakes_when_its_value_changes(vm, path, quiet, change):
    """A report that leaves the file alone first, then one that changes it.

    Had the first woken the poller, it would print the old value, not the new.
    The change comes from under a raw spinlock, where kernfs_notify() may not
    be called directly: the wake-up must still come.
    """
    out = vm.check(
        f"sysfs-poll {SYSFS}/{path} 600 > /tmp/poll.out & poller=$!; "
        f"until grep -q ready /tmp/poll.out; do usleep 10000; done; "
        f"echo '{quiet} other process' > {SOURCES_PARAMS}/report; "
        f"echo '{change} host raw' > {SOURCES_PARAMS}/report; "
        f"wait $poller; echo rc=$?; cat /tmp/poll.out; echo now=$(cat {SYSFS}/{path})",
        timeout=700)
    new = re.search(r"now=(\d+)", out).group(1)
    assert "rc=0" in out and f"woke {new}\n" in out, out


CYCLES = r"""
fail() { echo "cycle $i: $*"; exit 1; }
trap 'touch /tmp/cycles.done' EXIT INT TERM
rm -f /tmp/cycles.done /tmp/reader.bad
( while [ ! -e /tmp/cycles.done ]; do
      cat /proc/meminfo @DEBUGFS@ @SYSFS@/inflated_total_kb @SYSFS@/inflated_free_kb \
          @SYSFS@/sources/*/* > /dev/null 2>&1
      n=$(grep -c Inflated /proc/meminfo)
      [ "$n" = 2 ] || { echo "$n lines" > /tmp/reader.bad; exit 1; }
  done ) &
for i in $(seq 1 50); do
    insmod @MODULE@ || fail insmod
    echo "a $i 0 host process" > @PARAMS@/report || fail report
    echo "b 0 $i oom irqoff" > @PARAMS@/report || fail report
    [ "$(cat @SYSFS@/sources/test-a/inflated_total_kb)" = $i ] || fail "sysfs lacks test-a"
    grep -q "^InflatedTotal: *$((i + 7)) kB" /proc/meminfo || fail "meminfo lacks the sum"
    grep -q "^source: test-b inflated_total_kb=0 inflated_free_kb=$i " @DEBUGFS@ \
        || fail "debugfs lacks test-b"
    rmmod balloon_core_sources_test || fail rmmod
    grep -q "^InflatedTotal: *7 kB" /proc/meminfo || fail "test-a's value left behind"
    grep -q "^InflatedFree: *0 kB" /proc/meminfo || fail "test-b's value left behind"
    [ -e @SYSFS@/sources/test-a ] && fail "sources/test-a left behind"
    grep -q "^source: test-" @DEBUGFS@ && fail "debugfs line left behind"
    [ -e /tmp/reader.bad ] && fail "reader saw $(cat /tmp/reader.bad)"
done
touch /tmp/cycles.done
wait
[ -e /tmp/reader.bad ] && { echo "reader saw $(cat /tmp/reader.bad)"; exit 1; }
echo cycles-ok
"""


def test_source_load_unload_cycles_under_readers(vm):
    """Fifty loads and unloads of a source module while meminfo, debugfs and sysfs are read."""
    vm.check("rmmod balloon_core_sources_test")
    set_values(vm, 7, 0)
    script = CYCLES
    for name, value in (("MODULE", SOURCES_TEST), ("PARAMS", SOURCES_PARAMS),
                        ("SYSFS", SYSFS), ("DEBUGFS", DEBUGFS)):
        script = script.replace(f"@{name}@", value)
    vm.write_file("/root/source-cycles.sh", script)
    out = vm.check("sh /root/source-cycles.sh", timeout=1800)
    assert out.strip().endswith("cycles-ok"), out
    vm.check(f"insmod {SOURCES_TEST}")  # for the fixture's teardown


def test_unreported_names_a_bound_in_tree_driver(vm):
    """The in-tree virtio_balloon holds memory that no source reports: say so, by name."""
    assert vm.check(f"cat {SYSFS}/unreported").strip() == ""
    assert "unreported:" not in vm.check(f"cat {DEBUGFS}")
    vm.check("modprobe virtio_balloon")
    try:
        balloon_to(vm, 64 * MiB)
        assert vm.check(f"cat {SYSFS}/unreported").split() == ["virtio_balloon"]
        # vmstat counters keep per-CPU deltas; fold them so both reads are exact.
        vm.check("echo 1 >/proc/sys/vm/stat_refresh")
        debugfs = vm.check(f"cat {DEBUGFS}")
        assert "unreported: virtio_balloon holds 1 device and does not report to " \
               "balloon_core: its balloon is not counted above" in debugfs, debugfs
        assert vm.check(f"stat -c %a {SYSFS}/unreported").strip() == "444"
        # From 6.15 the kernel counts balloon pages itself (meminfo's Balloon:
        # line), and debugfs shows that count beside ours.
        kernel_line = re.search(r"^Balloon:\s+(\d+) kB", vm.check("cat /proc/meminfo"), re.M)
        if kernel_line:
            assert f"kernel NR_BALLOON_PAGES: {kernel_line.group(1)} kB" in debugfs, debugfs
            assert int(kernel_line.group(1)) == 64 * 1024
        else:
            assert "NR_BALLOON_PAGES" not in debugfs, debugfs
    finally:
        balloon_to(vm, 0)
        vm.check("rmmod virtio_balloon")
    assert vm.check(f"cat {SYSFS}/unreported").strip() == ""
