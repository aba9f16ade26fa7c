// SPDX-License-Identifier: Apache-2.0
/*
 * test_healthd_check.c - sluice-healthd's check engine against real local
 * servers started here on 127.0.0.1 and ::1: a TCP listener, a tiny HTTP
 * server answering 200 then 503, a UDP echo, closed ports (refused), and
 * servers that never answer (timeouts). Short intervals, bounded loops.
 * Runs unprivileged. If ::1 is not available the IPv6 halves are skipped
 * with a message.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "check.h"

/* ---- local servers ----------------------------------------------------- */

enum srv_mode {
	SRV_ACCEPT,	/* TCP: accept and close */
	SRV_HTTP,	/* TCP: answer n_ok times 200, then 503 */
	SRV_SILENT,	/* TCP: accept, never answer */
	SRV_UDP_ECHO,	/* UDP: echo every datagram */
	SRV_UDP_SILENT,	/* UDP: bound, never answers */
	SRV_CLOSED,	/* nothing listens on the port */
};

struct server {
	enum srv_mode mode;
	int family;
	int fd;
	uint16_t port;
	int n_ok;
	atomic_int stop;
	atomic_int served;
	pthread_t thread;
	int has_thread;
	char last_req[2048];
	pthread_mutex_t lock;
	int held[64];
	int n_held;
};

static int have_v6(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM, 0), ok;

	if (fd < 0)
		return 0;
	ok = !bind(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return ok;
}

static void fill_addr(int family, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (void *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons(port);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (void *)ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons(port);
		*len = sizeof(*a);
	}
}

static void *serve(void *arg)
{
	struct server *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		char buf[2048];
		int c;

		if (poll(&p, 1, 20) <= 0)
			continue;
		if (s->mode == SRV_UDP_ECHO) {
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(s->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);

			if (n >= 0) {
				sendto(s->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
				atomic_fetch_add(&s->served, 1);
			}
			continue;
		}
		c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		if (s->mode == SRV_ACCEPT) {
			atomic_fetch_add(&s->served, 1);
			close(c);
		} else if (s->mode == SRV_SILENT) {
			if (s->n_held < 64)
				s->held[s->n_held++] = c;
			else
				close(c);
		} else {
			size_t len = 0;
			ssize_t n;
			int nth;
			char resp[128];
			struct pollfd q = { .fd = c, .events = POLLIN };

			/* Read the request head (bounded wait). */
			while (len < sizeof(buf) - 1 && poll(&q, 1, 500) > 0) {
				n = recv(c, buf + len, sizeof(buf) - 1 - len, 0);
				if (n <= 0)
					break;
				len += (size_t)n;
				buf[len] = '\0';
				if (strstr(buf, "\r\n\r\n"))
					break;
			}
			buf[len] = '\0';
			pthread_mutex_lock(&s->lock);
			snprintf(s->last_req, sizeof(s->last_req), "%s", buf);
			pthread_mutex_unlock(&s->lock);
			nth = atomic_fetch_add(&s->served, 1);
			n = snprintf(resp, sizeof(resp),
				     "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
				     nth < s->n_ok ? "200 OK" : "503 Service Unavailable");
			send(c, resp, (size_t)n, MSG_NOSIGNAL);
			close(c);
		}
	}
	return NULL;
}

static void server_start(struct server *s, enum srv_mode mode, int family, int n_ok)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int udp = mode == SRV_UDP_ECHO || mode == SRV_UDP_SILENT || mode == SRV_CLOSED;
	int one = 1;

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->mode = mode;
	s->family = family;
	s->n_ok = n_ok;
	s->fd = socket(family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	assert_true(s->fd >= 0);
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	fill_addr(family, 0, &ss, &len);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&ss, len), 0);
	len = sizeof(ss);
	getsockname(s->fd, (struct sockaddr *)&ss, &len);
	s->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					 : ((struct sockaddr_in *)&ss)->sin_port);
	if (mode == SRV_CLOSED) {
		/* A UDP port just freed: nothing listens there, for TCP or UDP. */
		close(s->fd);
		s->fd = -1;
		return;
	}
	if (!udp)
		assert_int_equal(listen(s->fd, 4096), 0);
	if (mode != SRV_UDP_SILENT) {
		assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
		s->has_thread = 1;
	}
}

static void server_stop(struct server *s)
{
	atomic_store(&s->stop, 1);
	if (s->has_thread)
		pthread_join(s->thread, NULL);
	for (int i = 0; i < s->n_held; i++)
		close(s->held[i]);
	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->lock);
}

/* ---- engine harness ----------------------------------------------------- */

#define MAX_EV 256

struct trans {
	struct hc_target *t;
	enum hc_state state;
	uint64_t at_us;
	char reason[HC_REASON_MAX];
};

struct rec {
	uint64_t ok, failed;
	struct trans tr[MAX_EV];
	size_t n_tr;		/* recorded in tr (at most MAX_EV) */
	size_t n_tr_total;	/* every transition */
	char last_reason[HC_REASON_MAX];
};

static void rec_result(void *arg, struct hc_target *t, int ok, uint32_t lat, const char *reason)
{
	struct rec *r = arg;

	(void)t;
	(void)lat;
	if (ok)
		r->ok++;
	else
		r->failed++;
	snprintf(r->last_reason, sizeof(r->last_reason), "%s", reason);
}

static void rec_transition(void *arg, struct hc_target *t, enum hc_state s, uint32_t lat,
			   const char *reason)
{
	struct rec *r = arg;

	(void)lat;
	r->n_tr_total++;
	if (r->n_tr < MAX_EV) {
		r->tr[r->n_tr].t = t;
		r->tr[r->n_tr].state = s;
		r->tr[r->n_tr].at_us = hc_now_us();
		snprintf(r->tr[r->n_tr].reason, HC_REASON_MAX, "%s", reason);
		r->n_tr++;
	}
}

static struct hc_engine *engine(struct rec *r)
{
	struct hc_callbacks cb = { .on_result = rec_result, .on_transition = rec_transition,
				   .arg = r };
	struct hc_engine *e;

	memset(r, 0, sizeof(*r));
	e = hc_engine_new(&cb);
	assert_non_null(e);
	return e;
}

static struct cp_check spec(enum cp_check_type type, uint32_t interval, uint32_t timeout,
			    unsigned int rise, unsigned int fall)
{
	struct cp_check c;

	memset(&c, 0, sizeof(c));
	c.type = type;
	c.interval_ms = interval;
	c.timeout_ms = timeout;
	c.rise = (__u8)rise;
	c.fall = (__u8)fall;
	c.expect_status = 200;
	snprintf(c.path, sizeof(c.path), "/health");
	snprintf(c.payload, sizeof(c.payload), "ping");
	return c;
}

static struct hc_target *add(struct hc_engine *e, int family, uint16_t port,
			     const struct cp_check *c)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct hc_target *t;

	fill_addr(family, port, &ss, &len);
	t = hc_target_add(e, (struct sockaddr *)&ss, len, c, NULL);
	assert_non_null(t);
	return t;
}

/* Polls until r has n transitions or max_ms passed. */
static void run_until_transitions(struct hc_engine *e, struct rec *r, size_t n, int max_ms)
{
	uint64_t end = hc_now_us() + (uint64_t)max_ms * 1000u;

	while (r->n_tr < n && hc_now_us() < end)
		hc_engine_poll(e, 10, NULL);
}

static void run_for(struct hc_engine *e, int ms)
{
	uint64_t end = hc_now_us() + (uint64_t)ms * 1000u;

	while (hc_now_us() < end)
		hc_engine_poll(e, 10, NULL);
}

static int families(int out[2])
{
	out[0] = AF_INET;
	if (have_v6()) {
		out[1] = AF_INET6;
		return 2;
	}
	print_message("note: ::1 unavailable, IPv6 cases skipped\n");
	return 1;
}

/* ---- tests -------------------------------------------------------------- */

static void test_invalid_spec(void **state)
{
	struct rec r;
	struct hc_engine *e = engine(&r);
	struct cp_check c = spec(CP_CHECK_NONE, 50, 50, 1, 1);
	struct sockaddr_storage ss;
	socklen_t len;

	(void)state;
	fill_addr(AF_INET, 1, &ss, &len);
	assert_null(hc_target_add(e, (struct sockaddr *)&ss, len, &c, NULL));
	assert_int_equal(errno, EINVAL);
	c = spec(CP_CHECK_TCP, 0, 50, 1, 1);
	assert_null(hc_target_add(e, (struct sockaddr *)&ss, len, &c, NULL));
	ss.ss_family = AF_UNIX;
	c = spec(CP_CHECK_TCP, 50, 50, 1, 1);
	assert_null(hc_target_add(e, (struct sockaddr *)&ss, len, &c, NULL));
	assert_int_equal(hc_engine_count(e), 0);
	hc_engine_free(e);
}

static void test_tcp_up(void **state)
{
	int fam[2], nf = families(fam);

	(void)state;
	for (int f = 0; f < nf; f++) {
		struct server s;
		struct rec r;
		struct hc_engine *e = engine(&r);
		struct cp_check c = spec(CP_CHECK_TCP, 50, 500, 2, 2);
		struct hc_target *t;
		const char *reason;
		uint32_t lat;

		server_start(&s, SRV_ACCEPT, fam[f], 0);
		t = add(e, fam[f], s.port, &c);
		run_until_transitions(e, &r, 1, 2000);
		assert_int_equal(r.n_tr, 1);
		assert_int_equal(r.tr[0].state, HC_UP);
		assert_string_equal(r.tr[0].reason, "connect ok");
		assert_true(r.ok >= 2);
		assert_int_equal(r.failed, 0);
		run_for(e, 200);
		assert_int_equal(r.n_tr, 1);		/* stays up, no repeat */
		assert_int_equal(hc_target_state(t), HC_UP);
		assert_true(hc_target_last(t, &lat, &reason));
		assert_true(lat < 500000);
		print_message("tcp %s: up, connect latency %u us\n",
			      fam[f] == AF_INET ? "v4" : "v6", lat);
		hc_engine_free(e);
		server_stop(&s);
	}
}

static void test_tcp_refused(void **state)
{
	int fam[2], nf = families(fam);

	(void)state;
	for (int f = 0; f < nf; f++) {
		struct server s;
		struct rec r;
		struct hc_engine *e = engine(&r);
		const unsigned int iv = 50, fall = 3;
		struct cp_check c = spec(CP_CHECK_TCP, iv, 500, 2, fall);
		uint64_t t0, det_ms;

		server_start(&s, SRV_CLOSED, fam[f], 0);
		t0 = hc_now_us();
		add(e, fam[f], s.port, &c);
		run_until_transitions(e, &r, 1, 2000);
		assert_int_equal(r.n_tr, 1);
		assert_int_equal(r.tr[0].state, HC_DOWN);
		assert_string_equal(r.tr[0].reason, "connect: Connection refused");
		det_ms = (r.tr[0].at_us - t0) / 1000;
		print_message("tcp refused %s: down after %llu ms (fall %u x interval %u ms)\n",
			      fam[f] == AF_INET ? "v4" : "v6", (unsigned long long)det_ms, fall, iv);
		/* First check within 10% of the interval, then fall-1 intervals ±10%. */
		assert_true(det_ms >= (fall - 1) * iv * 9 / 10 - 5);
		assert_true(det_ms <= fall * iv * 11 / 10 + 250);
		hc_engine_free(e);
		server_stop(&s);
	}
}

static void test_http_200_then_503(void **state)
{
	int fam[2], nf = families(fam);

	(void)state;
	for (int f = 0; f < nf; f++) {
		struct server s;
		struct rec r;
		struct hc_engine *e = engine(&r);
		struct cp_check c = spec(CP_CHECK_HTTP, 50, 500, 2, 2);
		char want[96];

		server_start(&s, SRV_HTTP, fam[f], 3);
		add(e, fam[f], s.port, &c);
		run_until_transitions(e, &r, 2, 3000);
		assert_int_equal(r.n_tr, 2);
		assert_int_equal(r.tr[0].state, HC_UP);
		assert_string_equal(r.tr[0].reason, "HTTP 200");
		assert_int_equal(r.tr[1].state, HC_DOWN);
		assert_string_equal(r.tr[1].reason, "HTTP 503");
		/* 3 × 200, then down after exactly 2 × 503. */
		assert_int_equal(r.ok, 3);
		assert_int_equal(r.failed, 2);

		pthread_mutex_lock(&s.lock);
		assert_non_null(strstr(s.last_req, "GET /health HTTP/1.1\r\n"));
		assert_non_null(strstr(s.last_req, "Connection: close\r\n"));
		if (fam[f] == AF_INET)
			snprintf(want, sizeof(want), "Host: 127.0.0.1:%u\r\n", s.port);
		else
			snprintf(want, sizeof(want), "Host: [::1]:%u\r\n", s.port);
		assert_non_null(strstr(s.last_req, want));
		pthread_mutex_unlock(&s.lock);
		hc_engine_free(e);
		server_stop(&s);
	}
}

static void test_http_host_header(void **state)
{
	struct server s;
	struct rec r;
	struct hc_engine *e = engine(&r);
	struct cp_check c = spec(CP_CHECK_HTTP, 50, 500, 1, 1);

	(void)state;
	snprintf(c.host, sizeof(c.host), "www.example.com");
	snprintf(c.path, sizeof(c.path), "/status?full=1");
	server_start(&s, SRV_HTTP, AF_INET, 100);
	add(e, AF_INET, s.port, &c);
	run_until_transitions(e, &r, 1, 2000);
	assert_int_equal(r.n_tr, 1);
	assert_int_equal(r.tr[0].state, HC_UP);
	pthread_mutex_lock(&s.lock);
	assert_non_null(strstr(s.last_req, "GET /status?full=1 HTTP/1.1\r\n"));
	assert_non_null(strstr(s.last_req, "Host: www.example.com\r\n"));
	pthread_mutex_unlock(&s.lock);
	hc_engine_free(e);
	server_stop(&s);
}

static void test_http_timeout(void **state)
{
	int fam[2], nf = families(fam);

	(void)state;
	for (int f = 0; f < nf; f++) {
		struct server s;
		struct rec r;
		struct hc_engine *e = engine(&r);
		const unsigned int iv = 100, to = 60, fall = 2;
		struct cp_check c = spec(CP_CHECK_HTTP, iv, to, 1, fall);
		uint64_t t0, det_ms;

		server_start(&s, SRV_SILENT, fam[f], 0);
		t0 = hc_now_us();
		add(e, fam[f], s.port, &c);
		run_until_transitions(e, &r, 1, 3000);
		assert_int_equal(r.n_tr, 1);
		assert_int_equal(r.tr[0].state, HC_DOWN);
		assert_string_equal(r.tr[0].reason, "HTTP: timeout after 60 ms");
		det_ms = (r.tr[0].at_us - t0) / 1000;
		print_message("http timeout %s: down after %llu ms (fall %u x interval %u ms + "
			      "timeout %u ms)\n", fam[f] == AF_INET ? "v4" : "v6",
			      (unsigned long long)det_ms, fall, iv, to);
		assert_true(det_ms >= (fall - 1) * iv * 9 / 10 + to - 5);
		assert_true(det_ms <= fall * iv * 11 / 10 + to + 250);
		hc_engine_free(e);
		server_stop(&s);
	}
}

static void test_udp(void **state)
{
	int fam[2], nf = families(fam);

	(void)state;
	for (int f = 0; f < nf; f++) {
		struct server echo, closed, silent;
		struct rec r;
		struct hc_engine *e = engine(&r);
		struct cp_check c = spec(CP_CHECK_UDP, 50, 80, 2, 2);
		struct hc_target *te, *tc, *ts;
		const char *reason;

		server_start(&echo, SRV_UDP_ECHO, fam[f], 0);
		server_start(&closed, SRV_CLOSED, fam[f], 0);
		server_start(&silent, SRV_UDP_SILENT, fam[f], 0);
		te = add(e, fam[f], echo.port, &c);
		tc = add(e, fam[f], closed.port, &c);
		ts = add(e, fam[f], silent.port, &c);
		run_until_transitions(e, &r, 3, 3000);
		assert_int_equal(r.n_tr, 3);
		assert_int_equal(hc_target_state(te), HC_UP);
		assert_true(hc_target_last(te, NULL, &reason));
		assert_string_equal(reason, "UDP reply");
		assert_true(atomic_load(&echo.served) >= 2);
		assert_int_equal(hc_target_state(tc), HC_DOWN);
		assert_false(hc_target_last(tc, NULL, &reason));
		assert_string_equal(reason, "UDP recv: Connection refused");
		assert_int_equal(hc_target_state(ts), HC_DOWN);
		assert_false(hc_target_last(ts, NULL, &reason));
		assert_string_equal(reason, "UDP: timeout after 80 ms");
		hc_engine_free(e);
		server_stop(&echo);
		server_stop(&closed);
		server_stop(&silent);
	}
}

/* A backend that comes back: down, then up after rise successes. */
static void test_tcp_recovers(void **state)
{
	struct server s;
	struct rec r;
	struct hc_engine *e = engine(&r);
	struct cp_check c = spec(CP_CHECK_TCP, 50, 200, 2, 2);
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	(void)state;
	server_start(&s, SRV_CLOSED, AF_INET, 0);
	add(e, AF_INET, s.port, &c);
	run_until_transitions(e, &r, 1, 2000);
	assert_int_equal(r.n_tr, 1);
	assert_int_equal(r.tr[0].state, HC_DOWN);
	/* Now listen on that port (the kernel queues; no accept needed). */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	fill_addr(AF_INET, s.port, &ss, &len);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(fd, 64), 0);
	run_until_transitions(e, &r, 2, 2000);
	assert_int_equal(r.n_tr, 2);
	assert_int_equal(r.tr[1].state, HC_UP);
	print_message("tcp recovery: up %llu ms after down (rise 2 x 50 ms)\n",
		      (unsigned long long)(r.tr[1].at_us - r.tr[0].at_us) / 1000);
	close(fd);
	hc_engine_free(e);
	server_stop(&s);
}

static void test_delete_running(void **state)
{
	struct server s;
	struct rec r;
	struct hc_engine *e = engine(&r);
	struct cp_check c = spec(CP_CHECK_HTTP, 50, 1000, 1, 1);
	struct hc_target *t;

	(void)state;
	server_start(&s, SRV_SILENT, AF_INET, 0);
	t = add(e, AF_INET, s.port, &c);
	run_for(e, 100);		/* a check is now waiting for its answer */
	assert_int_equal(hc_target_checks(t), 0);
	hc_target_del(e, t);
	assert_int_equal(hc_engine_count(e), 0);
	run_for(e, 50);
	assert_int_equal(r.ok + r.failed, 0);
	hc_engine_free(e);
	server_stop(&s);
}

#define N_MANY 1000

static void test_thousand_targets(void **state)
{
	static struct hc_target *ts[N_MANY];
	struct server s;
	struct rec r;
	struct hc_engine *e = engine(&r);
	struct cp_check c = spec(CP_CHECK_TCP, 1000, 2000, 1, 1);
	struct rlimit rl;
	uint64_t t0, t1, end;
	size_t done = 0;

	(void)state;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	server_start(&s, SRV_ACCEPT, AF_INET, 0);
	t0 = hc_now_us();
	for (int i = 0; i < N_MANY; i++)
		ts[i] = add(e, AF_INET, s.port, &c);
	end = t0 + 5000000u;
	while (done < N_MANY && hc_now_us() < end) {
		hc_engine_poll(e, 10, NULL);
		for (done = 0; done < N_MANY && hc_target_checks(ts[done]); done++)
			;
	}
	t1 = hc_now_us();
	print_message("%d TCP targets on one loop: first round in %llu ms "
		      "(first checks spread over 10%% of the 1000 ms interval), %llu ok, "
		      "%llu failed\n", N_MANY, (unsigned long long)(t1 - t0) / 1000,
		      (unsigned long long)r.ok, (unsigned long long)r.failed);
	assert_int_equal(done, N_MANY);
	assert_true(t1 - t0 < 5000000u);
	assert_int_equal(r.failed, 0);
	assert_int_equal(r.n_tr_total, N_MANY);
	hc_engine_free(e);
	server_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_invalid_spec),
		cmocka_unit_test(test_tcp_up),
		cmocka_unit_test(test_tcp_refused),
		cmocka_unit_test(test_tcp_recovers),
		cmocka_unit_test(test_http_200_then_503),
		cmocka_unit_test(test_http_host_header),
		cmocka_unit_test(test_http_timeout),
		cmocka_unit_test(test_udp),
		cmocka_unit_test(test_delete_running),
		cmocka_unit_test(test_thousand_targets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
