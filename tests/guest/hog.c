// SPDX-License-Identifier: GPL-2.0
/*
 * Memory hog for balloon tests: hog [--holes] MIB [SECONDS]
 *
 * Maps MIB MiB of anonymous memory and writes every page, so the guest really
 * has to find that memory (reclaim, OOM, balloon deflate). Then holds it for
 * SECONDS (default 0; -1 = until killed) and exits 0. Prints how far it got,
 * so a test can tell an OOM kill from a completed run.
 *
 * --holes gives every other page back once all are touched, so each
 * pageblock the hog had stays partly used: what compaction needs as a place
 * to move pages to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIB (1024UL * 1024UL)

int main(int argc, char **argv)
{
	unsigned long mib, done, page, offset;
	int holes = argc > 1 && !strcmp(argv[1], "--holes");
	long seconds;
	char *mem;

	argc -= holes;
	argv += holes;
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: hog [--holes] MIB [SECONDS|-1]\n");
		return 2;
	}
	mib = strtoul(argv[1], NULL, 0);
	seconds = argc == 3 ? strtol(argv[2], NULL, 0) : 0;

	mem = mmap(NULL, mib * MIB, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) {
		perror("hog: mmap");
		return 1;
	}
	/* Non-zero bytes, so neither zero-page sharing nor KSM can undo the hog. */
	for (done = 0; done < mib; done++) {
		memset(mem + done * MIB, 0x5a, MIB);
		if ((done + 1) % 64 == 0)
			fprintf(stderr, "hog: %lu MiB\n", done + 1);
	}
	printf("hog: touched %lu MiB\n", done);
	if (holes) {
		page = (unsigned long)sysconf(_SC_PAGESIZE);
		for (offset = 0; offset < mib * MIB; offset += 2 * page) {
			if (madvise(mem + offset, page, MADV_DONTNEED)) {
				perror("hog: madvise");
				return 1;
			}
		}
		printf("hog: holes in %lu MiB\n", mib);
	}
	fflush(stdout);

	if (seconds < 0)
		for (;;)
			pause();
	sleep(seconds);
	return 0;
}
