"""The 6.1-debug build's config check fails loudly when olddefconfig undid an edit.

Runs on the host, once per run, without building anything.
"""
import pytest

from harness.debug_kernel import CONFIG_EDITS, KEEP_AS_DEBIAN, verify_config

DEBIAN = {option: "y" for option in KEEP_AS_DEBIAN}


def wanted() -> dict[str, str]:
    """A config holding every edit as asked."""
    config = dict(DEBIAN)
    for action, option, *value in CONFIG_EDITS:
        if action == "--enable":
            config[option] = "y"
        elif action == "--set-val":
            config[option] = value[0]
        elif action == "--set-str":
            config[option] = f'"{value[0]}"'
    return config


def test_a_config_with_every_edit_passes():
    verify_config(wanted(), DEBIAN)
    # A blanked string whose feature is off is absent from .config.
    config = wanted()
    del config["SYSTEM_REVOCATION_KEYS"]
    verify_config(config, DEBIAN)


def test_a_dropped_debug_option_fails():
    config = wanted()
    del config["PROVE_LOCKING"]
    with pytest.raises(RuntimeError, match="PROVE_LOCKING: want y, got unset"):
        verify_config(config, DEBIAN)


def test_an_option_that_should_be_off_fails():
    config = wanted() | {"DEBUG_KMEMLEAK_DEFAULT_OFF": "y"}
    with pytest.raises(RuntimeError, match="DEBUG_KMEMLEAK_DEFAULT_OFF"):
        verify_config(config, DEBIAN)


def test_a_moved_debian_option_fails():
    config = wanted()
    del config["BALLOON_COMPACTION"]
    with pytest.raises(RuntimeError, match="BALLOON_COMPACTION: Debian has y"):
        verify_config(config, DEBIAN)
