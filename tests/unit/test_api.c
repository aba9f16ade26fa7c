// SPDX-License-Identifier: Apache-2.0
/*
 * test_api.c - the API socket's framing and access control, with a
 * handler that echoes: newline-delimited JSON, malformed and oversize
 * requests, several requests in one write, stale and live socket files,
 * mode 0600, and a non-root peer refused. Its limits: idle and stalled
 * clients closed, 300 idle clients that do not lock a caller out, the
 * cap evicting the client idle longest, refusing when all are busy, a
 * client that survives a server closing on it (no SIGPIPE), and a read
 * group whose members may only read.
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
#include <grp.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "request_json.h"

struct server {
	struct cp_api *api;
	pthread_t thread;
	volatile int stop;
	int handled;
	char path[108];
	pthread_mutex_t lock;	/* st: a copy the test thread may read */
	struct cp_api_stats st;
	unsigned long rounds;	/* of the server's loop */
};

static json_t *echo(void *arg, json_t *req, const struct ucred *peer)
{
	struct server *s = arg;
	json_t *reply = cp_reply_ok();

	(void)peer;
	s->handled++;
	/* {"sleep_ms": N}: a handler that takes long, as a big batch does. */
	if (json_integer_value(json_object_get(req, "sleep_ms")))
		usleep(json_integer_value(json_object_get(req, "sleep_ms")) * 1000);
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
		pthread_mutex_lock(&s->lock);
		cp_api_stats(s->api, &s->st);
		s->rounds++;
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

/* The counters after two more rounds of the server's loop: everything
 * the test did before is counted. */
static struct cp_api_stats stats_of(struct server *s)
{
	struct cp_api_stats st;
	unsigned long start;

	pthread_mutex_lock(&s->lock);
	start = s->rounds;
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < 200; i++) {
		pthread_mutex_lock(&s->lock);
		st = s->st;
		if (s->rounds >= start + 2) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		pthread_mutex_unlock(&s->lock);
		usleep(5000);
	}
	return st;
}

/* A server with lim (NULL: the defaults). */
static int setup_with(void **state, const struct cp_api_limits *lim)
{
	struct server *s = calloc(1, sizeof(*s));

	snprintf(s->path, sizeof(s->path), "/tmp/sluice-test-api-%d/api.sock", (int)getpid());
	s->api = cp_api_open(s->path, echo, s);
	if (!s->api || (lim && cp_api_set_limits(s->api, lim)))
		return -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_create(&s->thread, NULL, serve, s);
	*state = s;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, NULL);
}

/* Timeouts short enough to watch. */
static int setup_short_idle(void **state)
{
	const struct cp_api_limits lim = { .max_clients = 16, .idle_ms = 300, .stall_ms = 10000 };

	return setup_with(state, &lim);
}

static int setup_short_stall(void **state)
{
	const struct cp_api_limits lim = { .max_clients = 16, .idle_ms = 60000, .stall_ms = 300 };

	return setup_with(state, &lim);
}

static int setup_cap4(void **state)
{
	const struct cp_api_limits lim = { .max_clients = 4, .idle_ms = 60000, .stall_ms = 60000 };

	return setup_with(state, &lim);
}

#define TEST_GID 47411		/* the read group of test_read_group: no name needed */

static int setup_read_group(void **state)
{
	const struct cp_api_limits lim = { .max_clients = 16, .idle_ms = 60000, .stall_ms = 10000,
					   .read_group = 1, .read_gid = TEST_GID,
					   .read_group_name = "sluice-test" };

	if (geteuid() != 0)
		return setup(state);	/* the test skips */
	return setup_with(state, &lim);
}

static int teardown(void **state)
{
	struct server *s = *state;
	char dir[108];

	s->stop = 1;
	pthread_join(s->thread, NULL);
	cp_api_close(s->api);
	pthread_mutex_destroy(&s->lock);
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

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Milliseconds until the server closes fd (EOF; whatever it sent first
 * is read and dropped), or -1 if still open after limit_ms. */
static long long ms_until_closed(int fd, int limit_ms)
{
	long long start = mono_ms();
	char buf[65536];

	while (mono_ms() - start < limit_ms) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 20) <= 0)
			continue;
		if (read(fd, buf, sizeof(buf)) <= 0)
			return mono_ms() - start;
	}
	return -1;
}

/* Open: nothing to read and no EOF within 50 ms. */
static int still_open(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 50) == 0;
}

static void round_trip_ok(const char *path)
{
	json_t *req = json_pack("{s:i, s:s}", "v", 1, "op", "status");
	json_t *reply = cp_api_call(path, req, 5000);

	assert_non_null(reply);
	assert_true(json_is_true(json_object_get(reply, "ok")));
	json_decref(req);
	json_decref(reply);
}

/* No request for the idle timeout closes a client; one that keeps
 * asking stays. */
static void test_idle_timeout(void **state)
{
	struct server *s = *state;
	int idle = raw_connect(s->path), busy;
	long long took = ms_until_closed(idle, 3000), start;

	/* 300 ms, less the tick's grain (75 ms), plus scheduling. */
	assert_in_range(took, 200, 2000);
	busy = raw_connect(s->path);
	start = mono_ms();
	while (mono_ms() - start < 800) {
		json_t *r;

		assert_int_equal(write(busy, "{}\n", 3), 3);
		r = read_reply(busy);
		assert_non_null(r);
		json_decref(r);
		usleep(100 * 1000);
	}
	assert_true(still_open(busy));
	assert_int_equal(stats_of(s).idle, 1);
	assert_int_equal(stats_of(s).stalled, 0);
	close(idle);
	close(busy);
}

/* A refused peer that keeps its end open does not keep a slot: it has
 * the stall timeout to read why, then it is closed. */
static void test_refused_peer_released(void **state)
{
	struct server *s = *state;
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		print_message("skipped: needs root to run a client as another uid\n");
		skip();
	}
	assert_int_equal(chmod(s->path, 0666), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		strcpy(sun.sun_path, s->path);
		if (setuid(65534) || connect(fd, (struct sockaddr *)&sun, sizeof(sun)))
			_exit(10);
		usleep(1500 * 1000);	/* holds it open, never reads */
		_exit(0);
	}
	usleep(100 * 1000);
	assert_int_equal(stats_of(s).denied, 1);
	for (int i = 0; i < 100 && stats_of(s).clients; i++)
		usleep(10 * 1000);
	assert_int_equal(stats_of(s).clients, 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A client whose request arrived while the loop was busy past the idle
 * timeout is served, not closed as idle when the loop comes back. */
static void test_busy_loop_keeps_waiting_request(void **state)
{
	struct server *s = *state;

	for (int round = 0; round < 3; round++) {
		int waiting = raw_connect(s->path), slow = raw_connect(s->path);
		json_t *r;

		usleep(50 * 1000);	/* both accepted */
		assert_int_equal(write(slow, "{\"sleep_ms\":700}\n", 17), 17);
		usleep(100 * 1000);	/* the server is in the handler now */
		assert_int_equal(write(waiting, "{\"n\":1}\n", 8), 8);
		r = read_reply(waiting);
		assert_non_null(r);
		assert_true(json_is_true(json_object_get(r, "ok")));
		json_decref(r);
		r = read_reply(slow);
		assert_non_null(r);
		json_decref(r);
		close(waiting);
		close(slow);
	}
}

/* A request line started and never finished is closed after the stall
 * timeout, well before the idle one; a quiet client is not. */
static void test_stalled_line(void **state)
{
	struct server *s = *state;
	int quiet = raw_connect(s->path), slow = raw_connect(s->path);
	long long took;

	assert_int_equal(write(slow, "{\"v\":1,", 7), 7);
	took = ms_until_closed(slow, 3000);
	assert_true(took >= 200);	/* 300 ms, less the tick's grain */
	assert_true(still_open(quiet));
	assert_int_equal(stats_of(s).stalled, 1);
	assert_int_equal(stats_of(s).idle, 0);
	close(slow);
	close(quiet);
}

/* A client that asks and never reads: its replies make no progress for
 * the stall timeout and it is closed, long before CP_API_MAX_OUT. */
static void test_unread_replies(void **state)
{
	struct server *s = *state;
	int fd = raw_connect(s->path);
	char line[1100];
	long long start = mono_ms();

	memset(line, ' ', sizeof(line));
	memcpy(line, "{\"pad\":\"", 8);
	memcpy(line + sizeof(line) - 3, "\"}\n", 3);
	for (int i = 0; i < 4; i++)
		line[100 + i] = 'x';
	/* 4 MiB of echoes: more than the socket buffers hold. */
	for (int i = 0; i < 4000 && stats_of(s).stalled == 0; i++) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		if (poll(&p, 1, 1000) <= 0 || write(fd, line, sizeof(line)) < 0)
			break;
	}
	while (stats_of(s).stalled == 0 && mono_ms() - start < 5000)
		usleep(20 * 1000);
	assert_int_equal(stats_of(s).stalled, 1);
	assert_int_equal(stats_of(s).clients, 0);
	close(fd);
}

/* 300 idle connections against the default cap of 256: each newcomer
 * closes the client idle longest, so a caller is still answered. */
static void test_300_idle_clients(void **state)
{
	struct server *s = *state;
	int fds[300];

	for (int i = 0; i < 300; i++)
		fds[i] = raw_connect(s->path);
	for (int i = 0; i < 3; i++)
		round_trip_ok(s->path);
	assert_int_equal(s->handled, 3);
	/* 44 for the last idle ones, one for the first call; the next calls
	 * find the slot the one before left, unless they came before its
	 * close was seen. */
	assert_in_range(stats_of(s).evicted, 300 + 1 - CP_API_DEFAULT_MAX_CLIENTS,
			300 + 3 - CP_API_DEFAULT_MAX_CLIENTS);
	assert_int_equal(stats_of(s).refused, 0);
	assert_true(stats_of(s).clients <= CP_API_DEFAULT_MAX_CLIENTS);
	for (int i = 0; i < 300; i++)
		close(fds[i]);
}

/* At the cap the one closed is the client idle longest, not one with a
 * request under way. */
static void test_cap_evicts_idle_longest(void **state)
{
	struct server *s = *state;
	int fds[4];

	for (int i = 0; i < 4; i++) {
		fds[i] = raw_connect(s->path);
		usleep(20 * 1000);	/* distinct ages */
	}
	/* The oldest is mid-request: it must survive. */
	assert_int_equal(write(fds[0], "{\"v\":", 5), 5);
	usleep(50 * 1000);
	round_trip_ok(s->path);
	assert_true(still_open(fds[0]));
	assert_true(ms_until_closed(fds[1], 2000) >= 0);
	assert_true(still_open(fds[2]));
	assert_true(still_open(fds[3]));
	assert_int_equal(stats_of(s).evicted, 1);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

/* Every client mid-request: the newcomer is refused, and the caller
 * gets an error, not a hang or a signal. */
static void test_cap_all_busy(void **state)
{
	struct server *s = *state;
	json_t *req = json_pack("{s:i, s:s}", "v", 1, "op", "status");
	int fds[4];

	for (int i = 0; i < 4; i++) {
		fds[i] = raw_connect(s->path);
		assert_int_equal(write(fds[i], "{", 1), 1);
	}
	usleep(50 * 1000);
	assert_null(cp_api_call(s->path, req, 2000));
	assert_int_equal(errno, ECONNRESET);
	assert_int_equal(stats_of(s).refused, 1);
	for (int i = 0; i < 4; i++)
		assert_true(still_open(fds[i]));
	json_decref(req);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

struct closer {
	int lfd;
	const char *say;	/* written before closing, or NULL */
};

static void *accept_and_close(void *arg)
{
	struct closer *c = arg;
	int fd = accept(c->lfd, NULL, NULL);

	if (fd >= 0) {
		if (c->say && write(fd, c->say, strlen(c->say)) < 0)
			fd = fd;	/* the test then fails on the reply */
		close(fd);
	}
	return NULL;
}

/* A server that closes without reading a request larger than the socket
 * buffers: the send fails with EPIPE. With the signal's default action
 * that killed sluicectl (exit 141); now the call fails with ECONNRESET,
 * or returns what the server said before closing. */
static json_t *call_closer(const char *path, const char *say)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct closer c = { .say = say };
	size_t big = 2u << 20;
	char *pad = malloc(big + 1);
	json_t *req, *reply;
	pthread_t t;

	memset(pad, 'x', big);
	pad[big] = '\0';
	req = json_pack("{s:i, s:s, s:s}", "v", 1, "op", "status", "pad", pad);
	strcpy(sun.sun_path, path);
	unlink(path);
	c.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(c.lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(c.lfd, 4), 0);
	pthread_create(&t, NULL, accept_and_close, &c);
	reply = cp_api_call(path, req, 5000);
	pthread_join(t, NULL);
	close(c.lfd);
	unlink(path);
	json_decref(req);
	free(pad);
	return reply;
}

static void test_server_closes_no_sigpipe(void **state)
{
	char path[108];
	json_t *reply;

	(void)state;
	signal(SIGPIPE, SIG_DFL);
	snprintf(path, sizeof(path), "/tmp/sluice-test-closer-%d.sock", (int)getpid());
	assert_null(call_closer(path, NULL));
	assert_int_equal(errno, ECONNRESET);
	reply = call_closer(path, "{\"ok\":false,\"error\":{\"field\":\"peer\"}}\n");
	assert_non_null(reply);
	assert_string_equal(error_field(reply), "peer");
	json_decref(reply);
}

/* A full backlog (a server that does not accept) must not hold the
 * caller past its timeout: connect() is non-blocking. */
static void test_connect_bounded(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	json_t *req = json_pack("{s:i, s:s}", "v", 1, "op", "status");
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0), fds[8], n = 0;
	char path[108];
	long long start;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/sluice-test-backlog-%d.sock", (int)getpid());
	unlink(path);
	strcpy(sun.sun_path, path);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	/* Fill the backlog with non-blocking connects until one would wait. */
	while (n < 8) {
		fds[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(fds[n], (struct sockaddr *)&sun, sizeof(sun))) {
			close(fds[n]);
			break;
		}
		n++;
	}
	assert_true(n < 8);
	start = mono_ms();
	assert_null(cp_api_call(path, req, 300));
	assert_int_equal(errno, ETIMEDOUT);
	assert_true(mono_ms() - start < 2000);
	json_decref(req);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	close(lfd);
	unlink(path);
}

/* A child that becomes nobody with the given groups, connects, and
 * sends one request; 0 when the answer is as expected:
 * want_field NULL: ok; else an error naming that field. */
static int read_group_child(const char *path, gid_t gid, gid_t extra, const char *op,
			    const char *want_field)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	char line[128];
	json_t *reply;
	int n;

	if (setgroups(extra ? 1 : 0, &extra) || setgid(gid) || setuid(65534))
		return 10;
	strcpy(sun.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)))
		return 11;
	n = snprintf(line, sizeof(line), "{\"v\":1,\"op\":\"%s\"}\n", op);
	if (write(fd, line, n) != n)
		return 12;
	reply = read_reply(fd);
	if (!reply)
		return 13;
	if (!want_field)
		return json_is_true(json_object_get(reply, "ok")) ? 0 : 14;
	return error_field(reply) && !strcmp(error_field(reply), want_field) ? 0 : 15;
}

static int run_read_group_child(const char *path, gid_t gid, gid_t extra, const char *op,
				const char *want_field)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(read_group_child(path, gid, extra, op, want_field));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Members of the read group (as the process's gid or a supplementary
 * group) connect through mode 0660 and may read; a change, a health
 * report or detach is refused to them by name; others are refused. */
static void test_read_group(void **state)
{
	struct server *s = *state;
	struct stat st;

	if (geteuid() != 0) {
		print_message("skipped: needs root to run clients as nobody\n");
		skip();
	}
	assert_int_equal(stat(s->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(st.st_gid, TEST_GID);
	assert_int_equal(run_read_group_child(s->path, TEST_GID, 0, "vip.list", NULL), 0);
	assert_int_equal(run_read_group_child(s->path, 65534, TEST_GID, "status", NULL), 0);
	assert_int_equal(run_read_group_child(s->path, TEST_GID, 0, "stats", NULL), 0);
	assert_int_equal(s->handled, 3);
	assert_int_equal(run_read_group_child(s->path, TEST_GID, 0, "vip.add", "op"), 0);
	assert_int_equal(run_read_group_child(s->path, 65534, TEST_GID, "health.report", "op"), 0);
	assert_int_equal(run_read_group_child(s->path, TEST_GID, 0, "detach", "op"), 0);
	assert_int_equal(s->handled, 3);
	/* Not a member: the mode keeps it out; behind the mode, SO_PEERCRED. */
	assert_int_equal(run_read_group_child(s->path, 65534, 0, "status", NULL), 11);
	assert_int_equal(chmod(s->path, 0666), 0);
	assert_int_equal(run_read_group_child(s->path, 65534, 0, "status", "peer"), 0);
	assert_int_equal(s->handled, 3);
	assert_int_equal(stats_of(s).read_only, 3);
	assert_int_equal(stats_of(s).denied, 1);
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
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup_short_idle, teardown),
		cmocka_unit_test_setup_teardown(test_busy_loop_keeps_waiting_request, setup_short_idle,
						teardown),
		cmocka_unit_test_setup_teardown(test_stalled_line, setup_short_stall, teardown),
		cmocka_unit_test_setup_teardown(test_refused_peer_released, setup_short_stall,
						teardown),
		cmocka_unit_test_setup_teardown(test_unread_replies, setup_short_stall, teardown),
		cmocka_unit_test_setup_teardown(test_300_idle_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_evicts_idle_longest, setup_cap4, teardown),
		cmocka_unit_test_setup_teardown(test_cap_all_busy, setup_cap4, teardown),
		cmocka_unit_test(test_server_closes_no_sigpipe),
		cmocka_unit_test(test_connect_bounded),
		cmocka_unit_test_setup_teardown(test_read_group, setup_read_group, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
