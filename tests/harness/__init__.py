"""Test harness for balloon-ext: fetch Debian kernels, build modules, boot them in QEMU."""
