// SPDX-License-Identifier: GPL-2.0
/*
 * Memory hog for balloon tests: hog MIB [SECONDS]
 *
 * Maps MIB MiB of anonymous memory and writes every page, so the guest really
 * has to find that memory (reclaim, OOM, balloon deflate). Then holds it for
 * SECONDS (default 0; -1 = until killed) and exits 0. Prints how far it got,
 * so a test can tell an OOM kill from a completed run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIB (1024UL * 1024UL)

int main(int argc, char **argv)
{
	unsigned long mib, done;
	long seconds;
	char *mem;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s MIB [SECONDS|-1]\n", argv[0]);
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
	fflush(stdout);

	if (seconds < 0)
		for (;;)
			pause();
	sleep(seconds);
	return 0;
}
