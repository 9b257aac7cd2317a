# SPDX-License-Identifier: GPL-2.0
"""Build what the benchmark guest needs and boot it, again if it dies.

The modules are built from the working tree by the tests' own build
function, in the same per-checkout build folder: it takes a lock, so a test
run building at the same time waits rather than spoiling the tree.
"""
import time
from pathlib import Path

from harness_path import BENCH, REPO  # first: makes the test harness importable
from harness import timing
from harness.build import build_hog, build_modules, build_static, prepare_toolchain
from harness.guest import DEFAULT_KERNEL_MODULES, boot_vm
from harness.kernels import Kernel


MEMINFO_BENCH_C = BENCH / "meminfo-bench.c"
GUEST_MEM = "4G"
RAM = 4 << 30
# No free page reporting or hinting: they would run beside the measured work.
BALLOON_DEVICE = "virtio-balloon-pci,id=balloon0,deflate-on-oom=on"


def build_meminfo_bench() -> Path:
    """bench/meminfo-bench.c as a static binary, rebuilt only when the source changes."""
    return build_static(MEMINFO_BENCH_C)


def guest_files(kernel: Kernel) -> dict[str, Path]:
    """Our two modules in /ext/, the hog and meminfo-bench in /bin/."""
    with timing.stage(f"build modules {kernel.name}"):
        prepare_toolchain(kernel)
        built = build_modules(kernel, REPO)
    with timing.stage("build guest tools"):
        hog, meminfo_bench = build_hog(REPO), build_meminfo_bench()
    files = {f"/ext/{name}": built / name for name in ("balloon_core.ko",
                                                        "virtio_balloon_ext.ko")}
    for path in files.values():
        if not path.exists():
            raise FileNotFoundError(f"the build made no {path}")
    return files | {"/bin/hog": hog, "/bin/meminfo-bench": meminfo_bench}


class Guest:
    """One benchmark configuration's guest; `vm` boots it again if QEMU has died.

    A measurement that kills the guest (a panic under OOM, say) is recorded as
    failed; the next one gets a fresh guest, and `reboots` says it happened.
    """

    def __init__(self, kernel: Kernel, files: dict[str, Path], config: str, append: str,
                 on_boot=None):
        """on_boot(vm) runs after every boot, before the guest is handed out."""
        self.on_boot = on_boot
        self.kernel = kernel
        self.files = files
        self.config = config
        self.append = kernel.cmdline(append)
        self.boots = 0
        self.reboots: list[dict] = []
        self._vm = None

    @property
    def vm(self):
        if self.alive:
            return self._vm
        if self._vm is not None:
            self.reboots.append({"at": time.time(), "console_log": str(self._vm.console_log_path),
                                 "console_tail": self._vm.console_tail(20)})
            self._vm.stop()
        self.boots += 1
        name = f"{self.kernel.name}-bench-{self.config.replace('=', '')}"
        if self.boots > 1:
            name += f"-boot{self.boots}"
        self._vm = self.boot(name)
        if self.on_boot:
            self.on_boot(self._vm)
        return self._vm

    def boot(self, name: str):
        """Boot this configuration's guest under `name` (a subclass boots another machine)."""
        return boot_vm(self.kernel, self.files, name, devices=(BALLOON_DEVICE,),
                       mem=GUEST_MEM, append=self.append, kernel_modules=DEFAULT_KERNEL_MODULES)

    @property
    def alive(self) -> bool:
        """Whether the guest booted last is still running (reading `vm` would boot one)."""
        return self._vm is not None and self._vm.alive

    def stop(self):
        if self._vm is not None:
            with timing.stage(f"shutdown {self.config}"):
                self._vm.stop()
            self._vm = None
