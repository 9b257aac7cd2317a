// SPDX-License-Identifier: GPL-2.0
/*
 * hv-offline: do the pages the simulated Hyper-V host holds as ballooned
 * (tests/hv_host, its debugfs "ranges") agree with the guest's page flags?
 *
 * Reads the held ranges, then /proc/kpageflags for them and for all pages
 * up to the highest PFN asked; prints
 *   held N offline-held M offline-all K
 * where offline-held counts held pages that are PageOffline and
 * offline-all every PageOffline page in [0, max PFN). Exit 0 unless a file
 * cannot be read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define KPF_OFFLINE 23
#define RANGES "/sys/kernel/debug/hv_sim/ranges"
#define MAX_RANGES (1 << 20)

static uint64_t start[MAX_RANGES], count[MAX_RANGES];

int main(int argc, char **argv)
{
	uint64_t max_pfn = argc > 1 ? strtoull(argv[1], NULL, 0) : 0;
	uint64_t held = 0, offline_held = 0, offline_all = 0, pfn, flags;
	size_t n = 0, r = 0;
	FILE *f = fopen(RANGES, "r");
	FILE *k;

	if (!f) {
		perror(RANGES);
		return 1;
	}
	while (n < MAX_RANGES && fscanf(f, "%lx %lx", &start[n], &count[n]) == 2) {
		held += count[n];
		if (start[n] + count[n] > max_pfn)
			max_pfn = start[n] + count[n];
		n++;
	}
	fclose(f);
	k = fopen("/proc/kpageflags", "r");
	if (!k) {
		perror("/proc/kpageflags");
		return 1;
	}
	/* The ranges come sorted by start and do not overlap. */
	for (pfn = 0; pfn < max_pfn; pfn++) {
		if (fread(&flags, sizeof(flags), 1, k) != 1)
			break;
		if (!(flags >> KPF_OFFLINE & 1))
			continue;
		offline_all++;
		while (r < n && start[r] + count[r] <= pfn)
			r++;
		if (r < n && start[r] <= pfn)
			offline_held++;
	}
	fclose(k);
	printf("held %lu offline-held %lu offline-all %lu\n", held, offline_held, offline_all);
	return 0;
}
