// SPDX-License-Identifier: GPL-2.0
/*
 * meminfo-bench N: open, read to the end and close /proc/meminfo N times, in
 * batches of 1000, then print
 * "meminfo-bench: N reads, X ns/read, B ns/read best batch, Y bytes/read".
 *
 * The benchmark's measure of what balloon_core's meminfo hook costs. A
 * shell loop of `cat` would time process creation, not the read; this
 * times only the three system calls a monitoring agent makes per sample.
 * The best batch is the figure to compare: on a shared host the guest's
 * vCPU is sometimes descheduled, which only ever adds time, and a batch
 * of 1000 reads is short enough that many batches escape it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* One sample: returns the bytes read, or -1 on an error. */
static long read_once(void)
{
	char buf[8192];
	long total = 0;
	ssize_t n;
	int fd;

	fd = open("/proc/meminfo", O_RDONLY);
	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += n;
	close(fd);
	return n < 0 ? -1 : total;
}

#define BATCH 1000UL

int main(int argc, char **argv)
{
	unsigned long i, reads;
	long bytes = 0;
	double start, batch_start, elapsed, batch, best = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s READS\n", argv[0]);
		return 2;
	}
	reads = strtoul(argv[1], NULL, 0);
	if (!reads)
		return 2;

	start = batch_start = now_ns();
	for (i = 0; i < reads; i++) {
		bytes = read_once();
		if (bytes < 0) {
			perror("meminfo-bench: /proc/meminfo");
			return 1;
		}
		if ((i + 1) % BATCH == 0 || i + 1 == reads) {
			double now = now_ns();

			batch = (now - batch_start) / ((i % BATCH) + 1);
			if (best == 0 || batch < best)
				best = batch;
			batch_start = now;
		}
	}
	elapsed = now_ns() - start;
	printf("meminfo-bench: %lu reads, %.0f ns/read, %.0f ns/read best batch, %ld bytes/read\n",
	       reads, elapsed / reads, best, bytes);
	return 0;
}
