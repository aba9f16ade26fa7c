// SPDX-License-Identifier: Apache-2.0
/*
 * test_healthd_daemon.c - sluice-healthd's logic (healthd/daemon.c)
 * against a fake sluiced: a thread serving the API socket that answers
 * health.targets (and, once the test says so, health.heartbeat) with a
 * list the test controls and records every health.report (each one also
 * decoded by the real request decoder, so the daemon speaks exactly what
 * sluiced accepts), keeping the reported health in the list as sluiced
 * keeps its view.
 *
 * As root the fake serves with cp_api_open() (controlplane/api.h), like
 * sluiced. cp_api_open() answers only root peers, so unprivileged the
 * fake falls back to a minimal line server with the same handler (one
 * request per connection, as cp_api_call() makes).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "api.h"
#include "daemon.h"
#include "log.h"
#include "request_json.h"

#define MAX_REPORTS 512

struct report {
	char vip[80];
	char backend[64];
	char health[8];
	char reason[128];
	long long latency_us;
};

struct fake {
	char path[108];
	struct cp_api *api;	/* root: the real API server */
	int lfd;		/* otherwise: a plain listener */
	pthread_t thread;
	atomic_int stop;
	pthread_mutex_t lock;
	json_t *targets;
	struct report reps[MAX_REPORTS];
	int n_reps;
	int n_bad;		/* reports the real decoder refused */
	int n_target_calls;
	int heartbeat_ok;	/* serve health.heartbeat, else refuse the op */
	int n_heartbeats;
};

/* sluiced's view: the list's "health" follows the reports. */
static void view_set(struct fake *f, const char *vip, const char *backend, const char *health)
{
	size_t i;
	json_t *t;

	json_array_foreach(f->targets, i, t)
		if (!strcmp(json_string_value(json_object_get(t, "vip")), vip) &&
		    json_is_string(json_object_get(t, "backend")) &&
		    !strcmp(json_string_value(json_object_get(t, "backend")), backend))
			json_object_set_new(t, "health", json_string(health));
}

static json_t *handle(void *arg, json_t *req, const struct ucred *peer)
{
	struct fake *f = arg;
	const char *op = json_string_value(json_object_get(req, "op"));
	json_t *reply;

	(void)peer;
	pthread_mutex_lock(&f->lock);
	if (op && (!strcmp(op, "health.targets") ||
		   (f->heartbeat_ok && !strcmp(op, "health.heartbeat")))) {
		reply = cp_reply_ok();
		json_object_set_new(reply, "targets", json_deep_copy(f->targets));
		f->n_target_calls++;
		f->n_heartbeats += !strcmp(op, "health.heartbeat");
	} else if (op && !strcmp(op, "health.report")) {
		struct cp_request r;
		struct cp_error e;

		if (cp_request_from_json(req, &r, &e)) {
			f->n_bad++;
			reply = cp_reply_error(&e);
		} else {
			if (f->n_reps < MAX_REPORTS) {
				struct report *p = &f->reps[f->n_reps++];

				snprintf(p->vip, sizeof(p->vip), "%s",
					 json_string_value(json_object_get(req, "vip")));
				snprintf(p->backend, sizeof(p->backend), "%s",
					 json_string_value(json_object_get(req, "backend")));
				snprintf(p->health, sizeof(p->health), "%s",
					 json_string_value(json_object_get(req, "health")));
				snprintf(p->reason, sizeof(p->reason), "%s", r.reason);
				p->latency_us = r.latency_us;
				view_set(f, p->vip, p->backend, p->health);
			}
			reply = cp_reply_ok();
		}
	} else {
		struct cp_error e;

		cp_error_set(&e, -EINVAL, "op", "fake sluiced: not served");
		reply = cp_reply_error(&e);
	}
	pthread_mutex_unlock(&f->lock);
	return reply;
}

/* The unprivileged fallback: one request line per connection. */
static void plain_serve_one(struct fake *f, int c)
{
	char buf[65536];
	size_t len = 0;
	struct pollfd p = { .fd = c, .events = POLLIN };
	json_t *req, *rep;
	char *out;

	while (len < sizeof(buf) - 1 && poll(&p, 1, 1000) > 0) {
		ssize_t n = recv(c, buf + len, sizeof(buf) - 1 - len, 0);

		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
	}
	buf[len] = '\0';
	req = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
	if (!req)
		return;
	rep = handle(f, req, NULL);
	out = json_dumps(rep, JSON_COMPACT);
	if (out) {
		size_t n = strlen(out), off = 0;

		out[n] = '\n';
		while (off <= n) {
			ssize_t w = send(c, out + off, n + 1 - off, MSG_NOSIGNAL);

			if (w <= 0)
				break;
			off += (size_t)w;
		}
		free(out);
	}
	json_decref(rep);
	json_decref(req);
}

static void *fake_serve(void *arg)
{
	struct fake *f = arg;

	while (!atomic_load(&f->stop)) {
		struct pollfd p = { .fd = f->api ? cp_api_fd(f->api) : f->lfd, .events = POLLIN };

		if (poll(&p, 1, 20) <= 0)
			continue;
		if (f->api) {
			cp_api_dispatch(f->api);
		} else {
			int c = accept(f->lfd, NULL, NULL);

			if (c >= 0) {
				plain_serve_one(f, c);
				close(c);
			}
		}
	}
	return NULL;
}

static void fake_start(struct fake *f)
{
	atomic_store(&f->stop, 0);
	f->api = NULL;
	f->lfd = -1;
	if (geteuid() == 0) {
		f->api = cp_api_open(f->path, handle, f);
		assert_non_null(f->api);
	} else {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		unlink(f->path);
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
		f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(f->lfd >= 0);
		assert_int_equal(bind(f->lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
		assert_int_equal(listen(f->lfd, 64), 0);
	}
	assert_int_equal(pthread_create(&f->thread, NULL, fake_serve, f), 0);
}

static void fake_stop(struct fake *f)
{
	atomic_store(&f->stop, 1);
	pthread_join(f->thread, NULL);
	if (f->api)
		cp_api_close(f->api);
	else
		close(f->lfd);
	f->api = NULL;
	unlink(f->path);
}

static json_t *target(const char *vip, const char *backend, const char *check, int port)
{
	return json_pack("{s:s, s:s, s:i, s:i, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:i, s:i, "
			 "s:i, s:i, s:s}",
			 "vip", vip, "backend", backend, "id", 1, "weight", 100, "state", "up",
			 "health", "unknown", "check", check, "check_port", port,
			 "check_path", "/", "check_host", "", "check_status", 200,
			 "check_interval_ms", 100, "check_timeout_ms", 50, "check_rise", 2,
			 "check_fall", 2, "check_payload", "");
}

static int tcp_listener(int family, uint16_t *port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd = socket(family, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (void *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (void *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	}
	if (bind(fd, (struct sockaddr *)&ss, len)) {
		close(fd);
		return -1;
	}
	assert_int_equal(listen(fd, 4096), 0);
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	*port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					 : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* A port nothing listens on: bound, then closed. */
static uint16_t closed_port(int family)
{
	uint16_t port;
	int fd = tcp_listener(family, &port);

	assert_true(fd >= 0);
	close(fd);
	return port;
}

static int count_reports(struct fake *f, const char *vip, const char *backend,
			 const char *health)
{
	int n = 0;

	pthread_mutex_lock(&f->lock);
	for (int i = 0; i < f->n_reps; i++)
		if (!strcmp(f->reps[i].vip, vip) && !strcmp(f->reps[i].backend, backend) &&
		    (!health || !strcmp(f->reps[i].health, health)))
			n++;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static int n_reports(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->lock);
	n = f->n_reps;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static void clear_reports(struct fake *f)
{
	pthread_mutex_lock(&f->lock);
	f->n_reps = 0;
	pthread_mutex_unlock(&f->lock);
}

/* A new target list; backends in the old one keep the health sluiced
 * had for them, as sluiced does when its targets change. */
static void set_targets(struct fake *f, json_t *arr)
{
	json_t *old, *n;
	size_t i, j;

	pthread_mutex_lock(&f->lock);
	json_array_foreach(f->targets, i, old)
		json_array_foreach(arr, j, n)
			if (json_equal(json_object_get(old, "vip"), json_object_get(n, "vip")) &&
			    json_equal(json_object_get(old, "backend"), json_object_get(n, "backend")))
				json_object_set(n, "health", json_object_get(old, "health"));
	json_decref(f->targets);
	f->targets = arr;
	pthread_mutex_unlock(&f->lock);
}

/* Polls d until cond(f) or max_ms. */
#define RUN_UNTIL(d, cond, max_ms)                                               \
	do {                                                                     \
		uint64_t end_ = hc_now_us() + (uint64_t)(max_ms) * 1000u;        \
		while (!(cond) && hc_now_us() < end_)                            \
			hd_poll((d), 10, NULL);                                  \
	} while (0)

#define VA "10.100.0.1:80/tcp"
#define VB "10.100.0.2:80/tcp"
#define VC "[2001:db8::1]:80/tcp"
#define VD "10.100.0.4:80/tcp"

static void test_daemon(void **state)
{
	static struct fake f;
	char dir[] = "/tmp/sluice-healthd-test-XXXXXX";
	struct hd_config cfg = { .refresh_ms = 100, .api_timeout_ms = 500,
				 .backoff_min_ms = 20, .backoff_max_ms = 200 };
	uint16_t up_port, down_port, down6_port = 0;
	int lfd, v6, known;
	struct healthd *d;
	json_t *arr;

	(void)state;
	lb_log_set_level(LB_LOG_WARN);
	if (geteuid())
		print_message("note: not root, the fake sluiced is a plain line server\n");
	assert_non_null(mkdtemp(dir));
	pthread_mutex_init(&f.lock, NULL);
	snprintf(f.path, sizeof(f.path), "%s/sluiced.sock", dir);

	lfd = tcp_listener(AF_INET, &up_port);
	down_port = closed_port(AF_INET);
	{
		int fd6 = tcp_listener(AF_INET6, &down6_port);

		v6 = fd6 >= 0;
		if (v6)
			close(fd6);
		else
			print_message("note: ::1 unavailable, IPv6 target skipped\n");
	}
	arr = json_array();
	json_array_append_new(arr, target(VA, "127.0.0.1", "tcp", up_port));
	json_array_append_new(arr, target(VB, "127.0.0.1", "tcp", down_port));
	if (v6)
		json_array_append_new(arr, target(VC, "::1", "tcp", down6_port));
	/* A duplicate is checked once; junk is skipped. */
	json_array_append_new(arr, target(VA, "127.0.0.1", "tcp", up_port));
	json_array_append_new(arr, json_pack("{s:s}", "vip", "junk"));
	set_targets(&f, arr);
	known = v6 ? 3 : 2;

	/* Start: sluiced is not there yet; healthd keeps trying. */
	cfg.socket = f.path;
	d = hd_new(&cfg);
	assert_non_null(d);
	RUN_UNTIL(d, 0, 150);
	assert_false(hd_connected(d));
	assert_int_equal(hd_target_count(d), 0);

	/* sluiced appears: targets taken, transitions reported. */
	fake_start(&f);
	RUN_UNTIL(d, count_reports(&f, VA, "127.0.0.1", "up") &&
		     count_reports(&f, VB, "127.0.0.1", "down") &&
		     (!v6 || count_reports(&f, VC, "::1", "down")), 3000);
	assert_true(hd_connected(d));
	assert_int_equal(hd_target_count(d), (size_t)known);
	assert_int_equal(count_reports(&f, VA, "127.0.0.1", "up"), 1);
	assert_int_equal(count_reports(&f, VB, "127.0.0.1", "down"), 1);
	if (v6)
		assert_int_equal(count_reports(&f, VC, "::1", "down"), 1);
	assert_int_equal(n_reports(&f), known);
	pthread_mutex_lock(&f.lock);
	for (int i = 0; i < f.n_reps; i++) {
		if (!strcmp(f.reps[i].health, "up"))
			assert_string_equal(f.reps[i].reason, "connect ok");
		else
			assert_string_equal(f.reps[i].reason, "connect: Connection refused");
	}
	assert_int_equal(f.n_bad, 0);
	pthread_mutex_unlock(&f.lock);
	assert_int_equal(hd_target_state(d, VA, "127.0.0.1"), HC_UP);
	assert_int_equal(hd_target_state(d, VB, "127.0.0.1"), HC_DOWN);

	/* sluiced goes away: healthd notices, keeps checking. */
	fake_stop(&f);
	RUN_UNTIL(d, !hd_connected(d), 2000);
	assert_false(hd_connected(d));
	RUN_UNTIL(d, 0, 300);
	assert_int_equal(hd_target_count(d), (size_t)known);
	assert_int_equal(hd_target_state(d, VA, "127.0.0.1"), HC_UP);

	/* It comes back, with health.heartbeat this time (the first one had
	 * only health.targets): the full view is re-sent, each known target
	 * once. */
	clear_reports(&f);
	pthread_mutex_lock(&f.lock);
	f.heartbeat_ok = 1;
	pthread_mutex_unlock(&f.lock);
	fake_start(&f);
	RUN_UNTIL(d, n_reports(&f) >= known, 3000);
	assert_true(hd_connected(d));
	assert_int_equal(n_reports(&f), known);
	assert_int_equal(count_reports(&f, VA, "127.0.0.1", "up"), 1);
	assert_int_equal(count_reports(&f, VB, "127.0.0.1", "down"), 1);
	if (v6)
		assert_int_equal(count_reports(&f, VC, "::1", "down"), 1);

	/* Targets change: VB dropped, VD new. */
	clear_reports(&f);
	arr = json_array();
	json_array_append_new(arr, target(VA, "127.0.0.1", "tcp", up_port));
	if (v6)
		json_array_append_new(arr, target(VC, "::1", "tcp", down6_port));
	json_array_append_new(arr, target(VD, "127.0.0.1", "tcp", up_port));
	set_targets(&f, arr);
	RUN_UNTIL(d, count_reports(&f, VD, "127.0.0.1", "up"), 3000);
	assert_int_equal(count_reports(&f, VD, "127.0.0.1", "up"), 1);
	assert_int_equal(hd_target_count(d), (size_t)known);
	assert_int_equal(hd_target_state(d, VB, "127.0.0.1"), HC_UNKNOWN);
	assert_int_equal(count_reports(&f, VB, "127.0.0.1", NULL), 0);

	/* A changed check restarts its target: unknown, then reported again. */
	if (v6) {
		clear_reports(&f);
		arr = json_array();
		json_array_append_new(arr, target(VA, "127.0.0.1", "tcp", up_port));
		json_array_append_new(arr, target(VC, "::1", "udp", down6_port));
		json_array_append_new(arr, target(VD, "127.0.0.1", "tcp", up_port));
		set_targets(&f, arr);
		RUN_UNTIL(d, count_reports(&f, VC, "::1", "down"), 3000);
		assert_int_equal(n_reports(&f), 1);
		pthread_mutex_lock(&f.lock);
		assert_string_equal(f.reps[0].reason, "UDP recv: Connection refused");
		pthread_mutex_unlock(&f.lock);
	}

	/* A report by hand says VA is down: the next heartbeat's answer shows
	 * it, and healthd says up again, once. */
	clear_reports(&f);
	pthread_mutex_lock(&f.lock);
	view_set(&f, VA, "127.0.0.1", "down");
	f.n_heartbeats = 0;
	pthread_mutex_unlock(&f.lock);
	RUN_UNTIL(d, count_reports(&f, VA, "127.0.0.1", "up"), 3000);
	assert_int_equal(count_reports(&f, VA, "127.0.0.1", "up"), 1);
	assert_int_equal(n_reports(&f), 1);
	pthread_mutex_lock(&f.lock);
	assert_true(f.n_heartbeats > 0);
	pthread_mutex_unlock(&f.lock);
	RUN_UNTIL(d, 0, 300);
	assert_int_equal(n_reports(&f), 1);	/* in step again: nothing more */

	/* A backend fails while connected: reported down, in order after up. */
	clear_reports(&f);
	close(lfd);
	RUN_UNTIL(d, count_reports(&f, VA, "127.0.0.1", "down") &&
		     count_reports(&f, VD, "127.0.0.1", "down"), 3000);
	assert_int_equal(count_reports(&f, VA, "127.0.0.1", "down"), 1);
	assert_int_equal(count_reports(&f, VD, "127.0.0.1", "down"), 1);
	assert_int_equal(n_reports(&f), 2);
	assert_int_equal(f.n_bad, 0);

	hd_free(d);
	fake_stop(&f);
	json_decref(f.targets);
	pthread_mutex_destroy(&f.lock);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_daemon),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
