// SPDX-License-Identifier: Apache-2.0
/*
 * test_api.c - the API socket's framing and access control, with a
 * handler that echoes: newline-delimited JSON, malformed and oversize
 * requests, several requests in one write, stale and live socket files,
 * mode 0600, and a non-root peer refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "request_json.h"

struct server {
	struct cp_api *api;
	pthread_t thread;
	volatile int stop;
	int handled;
	char path[108];
};

static json_t *echo(void *arg, json_t *req, const struct ucred *peer)
{
	struct server *s = arg;
	json_t *reply = cp_reply_ok();

	(void)peer;
	s->handled++;
	json_object_set(reply, "echo", req);
	return reply;
}

static void *serve(void *arg)
{
	struct server *s = arg;

	while (!s->stop) {
		struct pollfd p = { .fd = cp_api_fd(s->api), .events = POLLIN };

		if (poll(&p, 1, 20) > 0)
			cp_api_dispatch(s->api);
	}
	return NULL;
}

static int setup(void **state)
{
	struct server *s = calloc(1, sizeof(*s));

	snprintf(s->path, sizeof(s->path), "/tmp/sluice-test-api-%d/api.sock", (int)getpid());
	s->api = cp_api_open(s->path, echo, s);
	if (!s->api)
		return -1;
	pthread_create(&s->thread, NULL, serve, s);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct server *s = *state;
	char dir[108];

	s->stop = 1;
	pthread_join(s->thread, NULL);
	cp_api_close(s->api);
	snprintf(dir, sizeof(dir), "/tmp/sluice-test-api-%d", (int)getpid());
	rmdir(dir);
	free(s);
	return 0;
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sun.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Reads one reply line (at most 64 KiB), parsed. */
static json_t *read_reply(int fd)
{
	static char buf[65536];
	size_t len = 0;

	while (len < sizeof(buf)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		assert_true(poll(&p, 1, 5000) > 0);
		n = read(fd, buf + len, 1);
		if (n <= 0)
			return NULL;
		if (buf[len] == '\n')
			return json_loadb(buf, len, 0, NULL);
		len++;
	}
	return NULL;
}

static const char *error_field(json_t *reply)
{
	return json_string_value(json_object_get(json_object_get(reply, "error"), "field"));
}

static void test_round_trip(void **state)
{
	struct server *s = *state;
	json_t *req = json_pack("{s:i, s:s}", "v", 1, "op", "status");
	json_t *reply = cp_api_call(s->path, req, 5000);

	assert_non_null(reply);
	assert_true(json_is_true(json_object_get(reply, "ok")));
	assert_true(json_equal(json_object_get(reply, "echo"), req));
	json_decref(req);
	json_decref(reply);
}

static void test_malformed_json(void **state)
{
	struct server *s = *state;
	int fd = raw_connect(s->path);
	const char *bad = "{\"v\": 1, \"op\": \n[1, 2]\n\"just a string\"\n";
	json_t *r1, *r2, *r3;

	assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
	r1 = read_reply(fd);
	r2 = read_reply(fd);
	r3 = read_reply(fd);
	assert_non_null(r1);
	assert_non_null(r2);
	assert_non_null(r3);
	assert_true(json_is_false(json_object_get(r1, "ok")));
	assert_string_equal(error_field(r1), "request");
	assert_string_equal(error_field(r2), "request");	/* not an object */
	assert_string_equal(error_field(r3), "request");
	assert_int_equal(s->handled, 0);
	json_decref(r1);
	json_decref(r2);
	json_decref(r3);
	close(fd);
}

static void test_pipelined(void **state)
{
	struct server *s = *state;
	int fd = raw_connect(s->path);
	const char *two = "{\"n\":1}\n\n{\"n\":2}\n";
	json_t *a, *b;

	assert_int_equal(write(fd, two, strlen(two)), (ssize_t)strlen(two));
	a = read_reply(fd);
	b = read_reply(fd);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(a, "echo"), "n")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "echo"), "n")), 2);
	json_decref(a);
	json_decref(b);
	close(fd);
}

static void test_oversize(void **state)
{
	struct server *s = *state;
	size_t len = CP_API_MAX_LINE + 4096;
	char *big = malloc(len);
	int fd = raw_connect(s->path);
	size_t off = 0;
	json_t *reply;

	memset(big, 'x', len);
	big[0] = '{';
	/* The server may close before it has read it all: EPIPE is fine. */
	signal(SIGPIPE, SIG_IGN);
	while (off < len) {
		ssize_t n = write(fd, big + off, len - off);

		if (n <= 0)
			break;
		off += n;
	}
	reply = read_reply(fd);
	assert_non_null(reply);
	assert_string_equal(error_field(reply), "request");
	assert_non_null(strstr(json_string_value(json_object_get(
					json_object_get(reply, "error"), "message")), "larger"));
	assert_int_equal(s->handled, 0);
	json_decref(reply);
	free(big);
	close(fd);
}

static void test_mode_and_live_path(void **state)
{
	struct server *s = *state;
	struct stat st;

	assert_int_equal(stat(s->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* A second server on a live socket is refused. */
	assert_null(cp_api_open(s->path, echo, s));
	assert_int_equal(errno, EADDRINUSE);
}

static void test_stale_socket_replaced(void **state)
{
	char path[108];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct cp_api *api;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/sluice-test-stale-%d.sock", (int)getpid());
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);		/* bound, never listening: what a crash leaves */
	api = cp_api_open(path, echo, NULL);
	assert_non_null(api);
	cp_api_close(api);
	assert_int_equal(access(path, F_OK), -1);
}

static int child_as_nobody(const char *path, int expect_connect_errno)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	json_t *reply;

	if (setuid(65534))
		return 10;
	strcpy(sun.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)))
		return errno == expect_connect_errno ? 0 : 11;
	if (expect_connect_errno)
		return 12;
	if (write(fd, "{}\n", 3) != 3)
		return 13;
	reply = read_reply(fd);
	return reply && error_field(reply) && !strcmp(error_field(reply), "peer") ? 0 : 14;
}

static int run_child(const char *path, int expect_connect_errno)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_as_nobody(path, expect_connect_errno));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Mode 0600 keeps other users from connecting; behind it, SO_PEERCRED
 * refuses any peer that is not root (checked by opening the mode). */
static void test_non_root_refused(void **state)
{
	struct server *s = *state;

	if (geteuid() != 0) {
		print_message("skipped: needs root to run a client as another uid\n");
		skip();
	}
	assert_int_equal(run_child(s->path, EACCES), 0);
	assert_int_equal(chmod(s->path, 0666), 0);
	assert_int_equal(run_child(s->path, 0), 0);
	assert_int_equal(s->handled, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_and_live_path, setup, teardown),
		cmocka_unit_test(test_stale_socket_replaced),
		cmocka_unit_test_setup_teardown(test_non_root_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
