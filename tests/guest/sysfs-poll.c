// SPDX-License-Identifier: GPL-2.0
/*
 * sysfs-poll FILE SECONDS: wait for a sysfs notification on FILE.
 *
 * Reads FILE once (a sysfs file must be read before poll() can report a
 * change), prints "ready", then polls for POLLPRI|POLLERR, which
 * sysfs_notify() and kernfs_notify() raise. Prints "woke <new value>" and
 * exits 0 when woken, "timeout" and exits 1 after SECONDS, so a test can
 * tell a notification from no notification. The test changes the value
 * after "ready".
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int read_value(int fd, char *buf, size_t size)
{
	ssize_t len;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return -1;
	len = read(fd, buf, size - 1);
	if (len < 0)
		return -1;
	buf[len] = '\0';
	return 0;
}

int main(int argc, char **argv)
{
	struct pollfd pfd;
	char value[64];
	int ret;

	if (argc != 3) {
		fprintf(stderr, "usage: sysfs-poll FILE SECONDS\n");
		return 2;
	}
	pfd.fd = open(argv[1], O_RDONLY);
	if (pfd.fd < 0 || read_value(pfd.fd, value, sizeof(value))) {
		perror(argv[1]);
		return 2;
	}
	pfd.events = POLLPRI | POLLERR;
	printf("ready\n");
	fflush(stdout);
	ret = poll(&pfd, 1, atoi(argv[2]) * 1000);
	if (ret < 0) {
		perror("poll");
		return 2;
	}
	if (ret == 0) {
		printf("timeout\n");
		return 1;
	}
	if (read_value(pfd.fd, value, sizeof(value))) {
		perror(argv[1]);
		return 2;
	}
	printf("woke %s", value);
	return 0;
}
