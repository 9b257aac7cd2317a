"""A QEMU guest driven through its serial console (a shell) and QMP."""
import base64
import os
import random
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from . import kernel_log
from .cache import checkout_dir
from .kernels import Kernel
from .qemu import HOST, Qemu
from .qmp import QMP, QMPClosed

READY = b"@@balloon-ext-ready@@\n"  # printed by tests/guest/init before each shell
MARKER_LOOKBACK = 4096  # bytes a marker and any message inside its line can span
BOOT_TIMEOUT = 300  # TCG boots take 6-9 s alone, much longer on a loaded host
# loglevel=1 keeps printk off the console, where it would mix with output.
# tsc=unstable: under TCG, boots of 7.x (about one in six) and of 6.12
# (seen once in a full run) died with "Oops: int3" at sched_clock_cpu+0x9
# while the __sched_clock_stable static key was being switched on
# ("sched_clock: Marking stable") and the other vCPU ran its timer
# interrupt through that site. With an unstable TSC that key is never
# patched. Every guest gets it, since no kernel is known to be immune.
# Other keys' sites still die so now and then (6.12, run_timer_softirq):
# guest.boot_vm() boots such a guest once more.
BASE_CMDLINE = "console=ttyS0 panic=-1 loglevel=1 log_buf_len=4M tsc=unstable"
# The kernel log gate (harness/log_gate.py): a WARN or an oops panics the
# guest, whose panic replays the whole log on the console (tests/guest/init
# turns that on), so a guest dead of one still tells what killed it. The
# soft lockup and RCU stall detectors get their longest timeouts (120 s and
# 300 s): both measure wall time, which a guest starved by a loaded host
# loses in one piece, and a real lockup in our code still trips them.
BASE_CMDLINE += " panic_on_warn=1 oops=panic watchdog_thresh=60 rcupdate.rcu_cpu_stall_timeout=300"
# TCG_SINGLE: multi-threaded TCG (every vCPU its own host thread) runs code
# another vCPU is patching wrongly, beyond the boot-time static keys above:
# arming and disarming a kprobe (ftrace-patched function entry) on
# hugetlb_report_meminfo() while the other vCPU reads /proc/meminfo jumps to
# address 0 within a second on 6.1, with the kernel's own kprobe_events and
# no module of ours loaded (RIP 0 at meminfo_proc_show+0xa13, IF clear).
# With thread=single, 150 such rounds ran clean. Tests that patch code
# under concurrent execution on purpose boot their guest with
# tcg_threads="single": the vCPUs still interleave, in time slices.


# Every guest booted in this process, for the kernel log gate.
VMS: list["VM"] = []


def memory_bytes(size: str) -> int:
    """QEMU's -m size ("1G", "1536M") in bytes."""
    units = {"M": 1 << 20, "G": 1 << 30}
    if not (match := re.fullmatch(r"(\d+)([MG])", size)):
        raise ValueError(f"guest memory {size!r}: give a number of M or G")
    return int(match.group(1)) * units[match.group(2)]


class VMError(RuntimeError):
    pass


class GuestTimeout(VMError):
    def __init__(self, message: str, silent: bool = False):
        super().__init__(message)
        self.silent = silent  # the guest printed nothing at all: the emulator never ran it


class QemuExited(VMError):
    def __init__(self, message: str, console: str = "", returncode: int | None = None):
        super().__init__(message)
        self.console = console  # all the guest printed, for callers that judge the death
        self.returncode = returncode  # QEMU's; -N when signal N killed it


class VM:
    def __init__(self, kernel: Kernel, initrd: Path, mem: str = "1G", smp: int = 2,
                 devices=(), append: str = "", name: str = "vm", qemu: Qemu = HOST,
                 tcg_threads: str = "multi", machine: str = "q35", cpu: str = "max",
                 extra_args=()):
        self.kernel = kernel
        self.qemu = qemu
        self.name = name
        self.ram = memory_bytes(mem)  # what QEMU gives the guest; tests balloon from it
        # Unix socket paths must stay short, so not under the cache.
        self.tmpdir = Path(tempfile.mkdtemp(prefix="balloon-ext-"))
        qmp_socket = self.tmpdir / "qmp.sock"
        logs = checkout_dir("logs")
        self.console_log_path = logs / f"{name}.console.log"
        self.qemu_log_path = logs / f"{name}.qemu.log"
        # tcg_threads="single" runs every vCPU on one host thread; see TCG_SINGLE.
        # machine, cpu and extra_args (raw QEMU arguments, e.g. -smbios) let a
        # guest pass for another hypervisor's (tests/vmw_guest.py).
        args = ["-machine", machine, "-accel", f"tcg,thread={tcg_threads}",
               "-cpu", cpu, "-smp", str(smp), "-m", mem, "-display", "none", "-no-reboot",
               "-kernel", str(kernel.vmlinuz), "-initrd", str(initrd),
               "-append", f"{BASE_CMDLINE} {append}".strip(),
               "-qmp", f"unix:{qmp_socket},server=on,wait=off",
               "-serial", "stdio", "-monitor", "none", "-nic", "none"]
        for device in devices:
            args += ["-device", device]
        args += list(extra_args)
        cmd = qemu.command(args, binds=[(kernel.top, False), (initrd.parent, False),
                                        (self.tmpdir, True)])

        self.console = bytearray()  # everything the guest printed, without \r
        self.cond = threading.Condition()
        self.eof = False
        self.console_log = open(self.console_log_path, "wb")
        self.qemu_log = open(self.qemu_log_path, "wb")
        self.qemu_log.write(shlex.join(cmd).encode() + b"\n")
        self.qemu_log.flush()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.qemu_log)
        self.reader = threading.Thread(target=self._read_console, daemon=True)
        self.reader.start()
        self._qmp = None
        self.uses = 0  # commands and QMP calls so far: which guests a test used
        self.log_seq = 0  # the next kernel log record the gate has not seen
        self.log_seen_until = -1.0  # the printk time of the last record it has seen
        self.log_pending = ""  # records taken while stopping, not yet judged
        try:
            self._wait_for_socket(qmp_socket)
            self._qmp = self._connect_qmp(qmp_socket)
            self._wait_for(re.escape(READY), 0, BOOT_TIMEOUT, "the guest shell")
            self._run("true", BOOT_TIMEOUT)  # swallows the shell's banner
        except BaseException:
            self.stop()
            raise
        VMS.append(self)

    def _wait_for_socket(self, path: Path, timeout: float = 30):
        """QEMU creates the QMP socket early in its start-up, unless it fails to start."""
        deadline = time.monotonic() + timeout
        while not path.exists():
            if self.proc.poll() is not None:
                raise self._exited("start-up")
            if time.monotonic() > deadline:
                raise VMError(f"{self.name}: no QMP socket after {timeout} s")
            time.sleep(0.05)

    def _connect_qmp(self, path: Path, timeout: float = 30) -> QMP:
        """QMP, once QEMU listens: the socket file exists from bind(), before listen().

        A full CI run lost a 6.12 guest to that gap ("Connection refused")
        while the guest itself booted; a loaded host widens it.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                return QMP(path)
            except ConnectionRefusedError as error:
                if self.proc.poll() is not None:
                    raise self._exited("start-up") from error
                if time.monotonic() > deadline:
                    raise VMError(f"{self.name}: QMP refused connections for {timeout} s") \
                        from error
                time.sleep(0.1)
            except (QMPClosed, OSError, ValueError) as error:
                raise self._exited("start-up") from error  # e.g. a bad -device

    def _read_console(self):
        fd = self.proc.stdout.fileno()
        while chunk := os.read(fd, 65536):
            chunk = chunk.replace(b"\r", b"")
            self.console_log.write(chunk)
            self.console_log.flush()
            with self.cond:
                self.console += chunk
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None and not self.eof

    def console_text(self) -> str:
        """Everything the guest printed on its console so far."""
        with self.cond:
            return self.console.decode(errors="replace")

    def console_tail(self, lines: int = 40) -> str:
        return "\n".join(self.console_text().splitlines()[-lines:])

    def _exited(self, what: str) -> QemuExited:
        self.proc.wait(timeout=30)
        self.reader.join(timeout=5)  # the console's last words
        return QemuExited(
            f"{self.name}: QEMU exited ({self.proc.returncode}) during {what}; console tail "
            f"(full log {self.console_log_path}):\n{self.console_tail()}\nQEMU stderr:\n"
            f"{self.qemu_log_path.read_text(errors='replace')[-2000:]}",
            console=self.console_text(), returncode=self.proc.returncode)

    def _emulator_state(self) -> str:
        """What QEMU says of a guest that went quiet: run state, vCPU registers, stderr."""
        lines = []
        if self._qmp:
            try:
                lines.append(f"QEMU status: {self._qmp.command('query-status')}")
                regs = self._qmp.command("human-monitor-command",
                                         **{"command-line": "info registers -a"})
                lines += [line for line in regs.splitlines() if line.startswith(("RAX", "RIP", "CPU#"))]
            except (OSError, RuntimeError) as error:  # QMP errors are RuntimeErrors
                lines.append(f"QEMU did not answer over QMP: {error}")
        stderr = self.qemu_log_path.read_text(errors="replace")[-2000:]
        return "\n".join(lines + [f"QEMU stderr:\n{stderr}"])

    def _wait_for(self, pattern: bytes, start: int, timeout: float, what: str) -> re.Match:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        position = start
        with self.cond:
            while not (match := regex.search(self.console, position)):
                # Only a marker still arriving can start this far back; keeps big outputs linear.
                position = max(start, len(self.console) - MARKER_LOOKBACK)
                if self.eof:
                    raise self._exited(f"wait for {what}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise GuestTimeout(
                        f"{self.name}: no {what} within {timeout} s; console tail "
                        f"(full log {self.console_log_path}):\n{self.console_tail()}\n"
                        f"{self._emulator_state()}", silent=not self.console)
                self.cond.wait(remaining)
            return match

    def _send(self, data: bytes):
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # QEMU is gone; _wait_for reports it with the console tail

    def run(self, cmd: str, timeout: float = 120) -> tuple[int, str]:
        """Run cmd in the guest shell; return (exit status, stdout+stderr)."""
        try:
            return self._run(cmd, timeout)
        except GuestTimeout:
            # ^C, then wait for a shell again, so the next command starts clean.
            self._send(b"\x03")
            try:
                self._run("true", 10)
            except GuestTimeout:
                pass
            raise

    def _run(self, cmd: str, timeout: float) -> tuple[int, str]:
        self.uses += 1
        nonce = random.randrange(10**8, 10**9)
        with self.cond:
            start = len(self.console)
        # The marker's number only exists once the shell has computed it, so
        # an echo of this text can never be mistaken for the end of the output.
        self._send((f"{{ {cmd}\n}} </dev/null 2>&1; __rc=$?; "
                    f"printf '\\n@@%s_%s@@\\n' \"$(({nonce}+1))\" \"$__rc\"\n").encode())
        # A console message can land between the marker and its newline
        # (printk runs from its own thread on newer kernels): skip to the end of the line.
        match = self._wait_for(rb"\n@@%d_(\d+)@@[^\n]{0,%d}\n|%s"
                               % (nonce + 1, MARKER_LOOKBACK // 2, re.escape(READY)),
                               start, timeout, f"end of {cmd!r}")
        if match.group(1) is None:
            self._run("true", 10)  # swallows the new shell's banner
            # printk stays off the console (loglevel=1): show why the shell died.
            _, dmesg = self._run("dmesg | tail -n 60", 30)
            raise VMError(f"{self.name}: the guest shell exited during {cmd!r}; init started "
                          f"a new one, shell state (cwd, variables) is lost. dmesg tail:\n"
                          f"{dmesg}")
        with self.cond:
            output = self.console[start:match.start()]
        return int(match.group(1)), output.decode(errors="replace")

    def check(self, cmd: str, timeout: float = 120) -> str:
        """Run cmd in the guest; return its output, raise if it fails."""
        rc, output = self.run(cmd, timeout)
        if rc != 0:
            raise VMError(f"{self.name}: {cmd!r} exited {rc}:\n{output}")
        return output

    def dmesg(self) -> str:
        return self.check("dmesg")

    def write_file(self, guest_path: str, content: str | bytes):
        """Create a guest file; base64 keeps console line lengths and bytes safe."""
        data = content.encode() if isinstance(content, str) else content
        encoded = base64.encodebytes(data).decode()
        self.check(f"base64 -d > {shlex.quote(guest_path)} <<'@@EOF@@'\n{encoded}@@EOF@@")

    def qmp(self, command: str, **arguments) -> dict:
        """A QMP command's `return` payload (QMPError on `error`)."""
        self.uses += 1
        try:
            return self._qmp.command(command, **arguments)
        except QMPClosed:
            raise self._exited(f"QMP {command}") from None

    def qmp_events(self) -> list[dict]:
        """QMP events received since the last call."""
        return self._qmp.take_events()

    def take_kernel_log(self) -> str:
        """The kernel log records since the last call, as dmesg prints them.

        From a live guest through /dev/kmsg (tests/guest/kmsg-since), which
        "dmesg -c" does not clear; from a dead one, the console lines stamped
        later than the last record seen: a panic replays the whole log there.
        """
        text, self.log_pending = self.log_pending, ""
        if not self.alive:
            text += kernel_log.lines_after(self.console_text(), self.log_seen_until)
            self.log_seen_until = float("inf")  # a dead guest's console is read once
            return text
        try:
            output = self.check(f"kmsg-since {self.log_seq}", timeout=120)
        except VMError:
            if self.alive:
                raise
            return text + self.take_kernel_log()  # it died meanwhile: read the console
        records = output.splitlines()
        # The number ends the output, unless an emergency message came after it.
        ends = [i for i, line in enumerate(records) if re.fullmatch(r"@@kmsg-next \d+@@", line)]
        if not ends:
            raise VMError(f"{self.name}: kmsg-since printed no next record number:\n{output}")
        self.log_seq = int(records.pop(ends[-1])[len("@@kmsg-next "):-2])
        # A "@@kmsg-lost@@" line stays, for the gate to report.
        for line in reversed(records):
            if (stamp := kernel_log.timestamp(line)) is not None:
                self.log_seen_until = stamp
                break
        return text + "".join(line + "\n" for line in records)

    def stop(self):
        """Quit QEMU (QMP quit, then kill if it hangs) and close the logs.

        The kernel log since the gate last looked is taken first, so a test
        that stops its own guest still has that guest's log judged.
        """
        if self.alive and self._qmp is not None:
            try:
                self.log_pending = self.take_kernel_log()
            except VMError:
                pass  # the gate then reads the console
        if self.proc.poll() is None and self._qmp is not None:
            try:
                self._qmp.command("quit")
            except (QMPClosed, OSError, TimeoutError):
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._qmp is not None:
            self._qmp.close()
        self.reader.join(timeout=5)
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        self.console_log.close()
        self.qemu_log.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)
