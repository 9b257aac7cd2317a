# SPDX-License-Identifier: GPL-2.0
#
#   make                      build every module for the running kernel
#   make KDIR=<build dir>     ... for another kernel (KERNELRELEASE=<ver> works too)
#   make check [KERNELS=...]  run the tests in QEMU guests (installs what it needs);
#                             every supported kernel, or e.g. KERNELS="6.1 7.x"
#   make demo                 boot a guest and show the balloon values everywhere
#   make bench [BENCH_ARGS=]  in-tree virtio_balloon, vmw_balloon and hv_balloon against ours,
#                             side by side in one guest each (bench/README.md);
#                             writes bench/results/
#   make lint                 checkpatch --strict, sparse and a W=1 build
#   make dkms-install         install from this checkout with DKMS (as root;
#                             KERNELRELEASE=<ver> for another installed kernel)
#   make dkms-remove

KDIR ?= /lib/modules/$(or $(KERNELRELEASE),$(shell uname -r))/build
# The release the kernel reports (uname -r); Debian's kernel.release differs.
KREL = $(shell sed -n 's/.*UTS_RELEASE "\(.*\)"/\1/p' $(KDIR)/include/generated/utsrelease.h 2>/dev/null)
# The probe results hold for one build of the kernel, not for a release
# string: a rebuilt or reconfigured kernel (another package revision, an
# in-place header update) can keep UTS_RELEASE. So the results are keyed by
# a hash of the files that change with any such build: the configuration,
# the version and build stamps, the exported symbols, and the compiler asked
# for. Hashing beats depending on their mtimes, which a package update can
# set to dates older than the generated header.
COMPAT_KEY_FILES = .config Module.symvers include/generated/autoconf.h \
	include/generated/utsrelease.h include/generated/utsversion.h \
	include/generated/compile.h include/generated/uapi/linux/version.h
COMPAT_KEY := $(shell { cd $(KDIR) 2>/dev/null && cat $(COMPAT_KEY_FILES) 2>/dev/null; \
	echo '$(CC) $(LLVM)'; } | sha256sum | cut -c1-12)
COMPAT_DIR = $(CURDIR)/src/compat/generated/$(KREL)-$(COMPAT_KEY)
COMPAT_H = $(COMPAT_DIR)/compat-generated.h

PYTEST = /usr/bin/python3 -m pytest
# Empty: every supported kernel (tests/conftest.py; README "Supported kernels").
KERNELS ?=

all: modules

kdir-exists:
	@test -f $(KDIR)/Makefile || { \
		echo "No kernel build directory at $(KDIR)."; \
		echo "Install the kernel headers (apt-get install linux-headers-$$(uname -r)) or pass KDIR=<dir>."; \
		exit 1; }

$(COMPAT_H): src/compat/gen-compat.sh $(wildcard src/compat/probes/*.c) | kdir-exists
	@mkdir -p $(dir $@)
	+src/compat/gen-compat.sh $(KDIR) $@

# A failed build shows what the probes found, since a wrong "no" is the
# likeliest cause (compat.h stops with #error where it can tell).
modules: kdir-exists $(COMPAT_H)
	$(MAKE) -C $(KDIR) M=$(CURDIR) BEXT_COMPAT_DIR=$(COMPAT_DIR) modules || { \
		echo "balloon-ext: the build failed. The compile probes found, for $(KDIR):"; \
		cat $(COMPAT_H).summary; \
		echo "(compiler output of the probes: $(COMPAT_H).log)"; \
		exit 1; }

# Works without a kernel tree, so a checkout can always be cleaned.
clean:
	rm -rf src/compat/generated
	find . \( -name '*.o' -o -name '*.ko' -o -name '*.mod' -o -name '*.mod.c' \
		-o -name '.*.cmd' -o -name '*.order' -o -name 'Module.symvers' \
		-o -name '*.dwo' -o -name '.*.d' \) -not -path './.git/*' -delete
	rm -rf .tmp_versions

deps:
	scripts/install-deps.sh

check: deps
	KERNELS="$(KERNELS)" /usr/bin/python3 tests/run_matrix.py

demo: deps
	/usr/bin/python3 tests/demo.py

bench:
	bench/run $(BENCH_ARGS)

lint:
	scripts/install-deps.sh lint
	scripts/lint.sh

dkms-install:
	packaging/dkms-install.sh $(KERNELRELEASE)

dkms-remove:
	packaging/dkms-remove.sh

.PHONY: all modules kdir-exists clean deps check demo bench lint dkms-install dkms-remove
