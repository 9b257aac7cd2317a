"""The memory hog (tests/guest/hog.c) held in a guest's background."""
import shlex

HOG_OUT = "/tmp/hog.out"
EXITED = "hog exited:"


def start_hog(vm, args: str, ready: str, out: str = HOG_OUT, timeout: float = 600) -> str:
    """Run `hog args` in the background until `ready` is in its output; return that line.

    The output file goes first, so an earlier hog's line cannot pass for
    this one's. The hog runs in a subshell that appends EXITED and its
    status when it ends: a hog that dies (OOM-killed, say) ends the wait
    and fails it with its output, and the shell prints no job notice when
    it is killed. Polling `pidof hog` instead could end the wait at once,
    run before the subshell had exec'd the hog.
    """
    ready_arg, out_arg = shlex.quote(ready), shlex.quote(out)
    return vm.check(
        f"rm -f {out_arg}; "
        f"( (hog {args} >{out_arg} 2>&1; echo \"{EXITED} $?\" >>{out_arg}) & ); "
        f"until grep -q -e {ready_arg} -e '{EXITED}' {out_arg} 2>/dev/null; do sleep 0.2; done; "
        f"grep -e {ready_arg} {out_arg} || {{ cat {out_arg}; false; }}", timeout=timeout)


def stop_hogs(vm):
    """Every hog killed, and gone."""
    vm.check("killall hog; while pidof hog >/dev/null; do sleep 0.2; done", timeout=300)
