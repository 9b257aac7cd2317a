// SPDX-License-Identifier: GPL-2.0
/*
 * kmsg-since SEQ: print the kernel log records numbered SEQ and later.
 *
 * The harness checks each guest's kernel log after every test. It reads
 * /dev/kmsg rather than running dmesg, because tests clear the log with
 * "dmesg -c" and a /dev/kmsg reader that does not seek keeps seeing every
 * record still in the buffer. Each record comes out as dmesg prints it,
 * "[seconds.micros] text"; the last line is "@@kmsg-next N@@", the SEQ to
 * pass next time. Records lost to the ring buffer wrapping show as one
 * "@@kmsg-lost@@" line, so the harness can say its check was incomplete.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Records are at most 1 KiB of text (PRINTK_MESSAGE_MAX) plus their header. */
#define RECORD_MAX 8192

int main(int argc, char **argv)
{
	unsigned long long want, seq, next, usec;
	static char record[RECORD_MAX + 1];
	char *text, *end;
	int fd, lost = 0;
	ssize_t len;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SEQ\n", argv[0]);
		return 2;
	}
	want = strtoull(argv[1], &end, 10);
	if (*end) {
		fprintf(stderr, "%s: '%s' is not a record number\n", argv[0], argv[1]);
		return 2;
	}
	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (fd < 0) {
		perror("/dev/kmsg");
		return 1;
	}
	next = want;
	for (;;) {
		len = read(fd, record, RECORD_MAX);
		if (len < 0 && errno == EPIPE) {
			lost = 1;	/* overwritten before we read it */
			continue;
		}
		if (len < 0 && errno == EAGAIN)
			break;		/* read everything there is */
		if (len < 0) {
			perror("read /dev/kmsg");
			return 1;
		}
		record[len] = '\0';
		/* "prio,seq,usec,flags;text\n" then " KEY=value" lines. */
		if (sscanf(record, "%*u,%llu,%llu,", &seq, &usec) != 2)
			continue;
		text = strchr(record, ';');
		if (!text)
			continue;
		text++;
		text[strcspn(text, "\n")] = '\0';
		if (seq < want)
			continue;
		if (seq > next)
			lost = 1;
		next = seq + 1;
		printf("[%5llu.%06llu] %s\n", usec / 1000000, usec % 1000000, text);
	}
	if (lost)
		printf("@@kmsg-lost@@\n");
	printf("@@kmsg-next %llu@@\n", next);
	return 0;
}
