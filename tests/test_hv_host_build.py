"""harness/hv_host.py without a kernel: the include lists it copies and the CRC check."""
import pytest

from harness.hv_host import EXPORTED, crc_problems, exported_by, include_lines, symvers

DEBIAN = {symbol: f"0x{index + 1:08x}" for index, symbol in enumerate(EXPORTED)}


def test_include_lines_keeps_order_and_private_header(tmp_path):
    c_file = tmp_path / "channel.c"
    c_file.write_text('// x\n#include <linux/kernel.h>\n#include <asm/mshyperv.h>\n\n'
                      '#include "hyperv_vmbus.h"\nint x;\n')
    assert include_lines(c_file) == ["#include <linux/kernel.h>", "#include <asm/mshyperv.h>",
                                     '#include "hyperv_vmbus.h"']


def test_include_lines_refuses_conditional_includes(tmp_path):
    c_file = tmp_path / "vmbus_drv.c"
    c_file.write_text('#ifdef CONFIG_X\n#include <linux/x.h>\n#endif\n#include "hyperv_vmbus.h"\n')
    with pytest.raises(RuntimeError, match="conditional"):
        include_lines(c_file)


def test_include_lines_wants_the_private_header(tmp_path):
    c_file = tmp_path / "channel.c"
    c_file.write_text("#include <linux/hyperv.h>\n")
    with pytest.raises(RuntimeError, match="hyperv_vmbus.h"):
        include_lines(c_file)


def test_crcs_that_match():
    imports = {symbol: DEBIAN[symbol] for symbol in EXPORTED if symbol != "vmbus_driver_unregister"}
    assert crc_problems(dict(DEBIAN), DEBIAN, imports) == []


def test_crc_mismatches_are_named():
    ours = dict(DEBIAN, vmbus_open="0xfff224e0")
    imports = dict(DEBIAN, vmbus_close="0x00000000")
    del imports["vmbus_recvpacket"]
    problems = crc_problems(ours, DEBIAN, imports)
    assert problems == [f"vmbus_open: ours 0xfff224e0, Debian's {DEBIAN['vmbus_open']}",
                        f"vmbus_close: hv_balloon.ko imports 0x00000000, Module.symvers says "
                        f"{DEBIAN['vmbus_close']}",
                        f"vmbus_recvpacket: hv_balloon.ko imports None, Module.symvers says "
                        f"{DEBIAN['vmbus_recvpacket']}"], problems


def test_symvers_reads_the_crc_column(tmp_path):
    path = tmp_path / "Module.symvers"
    path.write_text("0x1f4cdfab\tvmbus_open\tdrivers/hv/hv_vmbus\tEXPORT_SYMBOL_GPL\t\n"
                    "0x7ae0ff8\tvmbus_recvpacket\tdrivers/hv/hv_vmbus\tEXPORT_SYMBOL\t\n")
    assert symvers(path) == {"vmbus_open": "0x1f4cdfab", "vmbus_recvpacket": "0x07ae0ff8"}


def test_exported_by_tells_vmlinux_from_a_module(tmp_path):
    """What decides the redirected 7.x build: who exports vmbus_sendpacket."""
    path = tmp_path / "Module.symvers"
    path.write_text("0x00000000\tvmbus_open\tvmlinux\tEXPORT_SYMBOL_GPL\t\n"
                    "0x00000000\tvmbus_sendpacket\tvmlinux\tEXPORT_SYMBOL\t\n")
    assert exported_by(path, "vmbus_sendpacket") == "vmlinux"
    path.write_text("0xab925826\tvmbus_sendpacket\tdrivers/hv/hv_vmbus\tEXPORT_SYMBOL\t\n")
    assert exported_by(path, "vmbus_sendpacket") == "drivers/hv/hv_vmbus"
    with pytest.raises(RuntimeError, match="not exported"):
        exported_by(path, "vmbus_recvpacket")
