// SPDX-License-Identifier: GPL-2.0
/*
 * Direct calls to the VMware balloon port, for tests of the host model
 * (tests/vmw_host) on what the in-tree driver never sends.
 *
 *   vmw-call hold N           lock N pages in memory, print their PFNs, sleep
 *   vmw-call call CMD A1 A2 [MAGIC]
 *                             one call; prints "status rbx rcx" in hex
 *   vmw-call batch CMD PFN... one batched call on a batch page of its own;
 *                             prints "status rbx batch-pfn", then each entry's
 *                             5-bit status
 *
 * Numbers take C prefixes (0x...). The in-tree driver must be unloaded:
 * the host keeps one state for everyone.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAGIC 0x456c6d6fULL
#define PORT 0x5670
#define PAGE 4096

static uint32_t call(uint64_t magic, uint64_t cmd, uint64_t *rbx, uint64_t rsi, uint64_t *rcx)
{
	uint64_t a = magic, b = *rbx, c = cmd, d = PORT, s = rsi;

	asm volatile("inl (%%dx), %%eax"
		     : "+a"(a), "+b"(b), "+c"(c), "+d"(d), "+S"(s) : : "memory");
	*rbx = b;
	*rcx = c;
	return (uint32_t)a;
}

static uint64_t pfn_of(void *addr)
{
	uint64_t entry = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0 || pread(fd, &entry, 8, (uintptr_t)addr / PAGE * 8) != 8 ||
	    !(entry >> 63)) {
		fprintf(stderr, "vmw-call: no PFN for %p\n", addr);
		exit(1);
	}
	close(fd);
	return entry & ((1ULL << 55) - 1);
}

static void *locked_pages(size_t n)
{
	char *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED || mlock(p, n * PAGE)) {
		perror("vmw-call: mmap/mlock");
		exit(1);
	}
	memset(p, 0x5a, n * PAGE);
	return p;
}

static uint64_t num(const char *s)
{
	return strtoull(s, NULL, 0);
}

int main(int argc, char **argv)
{
	uint64_t rbx, rcx;
	uint32_t st;

	if (argc >= 3 && !strcmp(argv[1], "hold")) {
		size_t i, n = num(argv[2]);
		char *p = locked_pages(n);

		for (i = 0; i < n; i++)
			printf("%llu\n", (unsigned long long)pfn_of(p + i * PAGE));
		fflush(stdout);
		for (;;)
			pause();
	}
	if (iopl(3)) {
		perror("vmw-call: iopl");
		return 1;
	}
	if (argc >= 5 && !strcmp(argv[1], "call")) {
		rbx = num(argv[3]);
		st = call(argc > 5 ? num(argv[5]) : MAGIC, num(argv[2]), &rbx, num(argv[4]), &rcx);
		printf("%#x %#llx %#llx\n", st, (unsigned long long)rbx, (unsigned long long)rcx);
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "batch")) {
		uint64_t *batch = locked_pages(1);
		uint64_t batch_pfn = pfn_of(batch);
		int i, n = argc - 3;

		for (i = 0; i < n; i++)
			batch[i] = num(argv[3 + i]) << 12;
		rbx = batch_pfn;
		st = call(MAGIC, num(argv[2]), &rbx, n, &rcx);
		printf("%#x %#llx %#llx\n", st, (unsigned long long)rbx,
		       (unsigned long long)batch_pfn);
		for (i = 0; i < n; i++)
			printf("%llu\n", (unsigned long long)(batch[i] & 0x1f));
		return 0;
	}
	fprintf(stderr, "usage: vmw-call hold N | call CMD A1 A2 [MAGIC] | batch CMD PFN...\n");
	return 2;
}
