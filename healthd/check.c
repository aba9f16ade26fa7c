// SPDX-License-Identifier: Apache-2.0
/*
 * check.c - the check engine (check.h): one epoll instance, one timerfd
 * armed to the top of a min-heap of per-target deadlines.
 *
 * A target is either idle (its deadline is the next check's start) or
 * running a check (its deadline is that check's timeout; its socket is in
 * the epoll set). A check ends on its socket's event or on its timeout;
 * either way the socket is closed, the result fed to the rise/fall
 * machine, and the next start scheduled interval ±10% after this start.
 *
 * TCP sockets are closed with SO_LINGER 0 (a reset, as HAProxy does for
 * checks), so thousands of checks a second leave no TIME_WAIT behind.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

enum phase {
	PH_IDLE = 0,
	PH_CONNECT,	/* TCP/HTTP: connect in progress */
	PH_SEND,	/* HTTP: request partly written */
	PH_READ,	/* HTTP: waiting for the status line */
	PH_UDP,		/* UDP: datagram sent, waiting for one back */
};

struct hc_target {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct cp_check check;
	void *user;

	int fd;				/* -1 when idle */
	enum phase phase;
	uint64_t started_us;		/* start of the running/last check */
	uint64_t due_us;		/* heap key */
	size_t heap_idx;
	size_t len, off;		/* buf: request length / bytes sent or read */

	struct hc_fsm fsm;
	int last_ok;
	uint32_t last_latency_us;
	uint64_t n_checks;
	char last_reason[HC_REASON_MAX];
	char buf[HC_HTTP_BUF];
};

struct hc_engine {
	int epfd;
	int tfd;
	uint64_t armed_us;		/* what tfd is armed to; 0: disarmed */
	struct hc_target **heap;
	size_t n, cap;
	struct hc_callbacks cb;
	unsigned int seed;
};

/* ---- the state machine ------------------------------------------------ */

int hc_fsm_step(struct hc_fsm *f, int ok, unsigned int rise, unsigned int fall)
{
	if (!rise)
		rise = 1;
	if (!fall)
		fall = 1;
	if (ok) {
		f->fail = 0;
		if (f->succ < 255)
			f->succ++;
		if (f->state != HC_UP && f->succ >= rise) {
			f->state = HC_UP;
			return 1;
		}
	} else {
		f->succ = 0;
		if (f->fail < 255)
			f->fail++;
		if (f->state != HC_DOWN && f->fail >= fall) {
			f->state = HC_DOWN;
			return 1;
		}
	}
	return 0;
}

const char *hc_state_name(enum hc_state s)
{
	return s == HC_UP ? "up" : s == HC_DOWN ? "down" : "unknown";
}

uint64_t hc_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- the min-heap of deadlines ---------------------------------------- */

static void heap_swap(struct hc_engine *e, size_t a, size_t b)
{
	struct hc_target *t = e->heap[a];

	e->heap[a] = e->heap[b];
	e->heap[b] = t;
	e->heap[a]->heap_idx = a;
	e->heap[b]->heap_idx = b;
}

static void heap_up(struct hc_engine *e, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (e->heap[p]->due_us <= e->heap[i]->due_us)
			break;
		heap_swap(e, i, p);
		i = p;
	}
}

static void heap_down(struct hc_engine *e, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < e->n && e->heap[l]->due_us < e->heap[m]->due_us)
			m = l;
		if (r < e->n && e->heap[r]->due_us < e->heap[m]->due_us)
			m = r;
		if (m == i)
			return;
		heap_swap(e, i, m);
		i = m;
	}
}

static void heap_fix(struct hc_engine *e, struct hc_target *t)
{
	heap_up(e, t->heap_idx);
	heap_down(e, t->heap_idx);
}

static void heap_remove(struct hc_engine *e, struct hc_target *t)
{
	size_t i = t->heap_idx;

	e->n--;
	if (i != e->n) {
		e->heap[i] = e->heap[e->n];
		e->heap[i]->heap_idx = i;
		heap_fix(e, e->heap[i]);
	}
}

static void arm_timer(struct hc_engine *e)
{
	struct itimerspec its = { 0 };
	uint64_t due = e->n ? e->heap[0]->due_us : 0;

	if (due == e->armed_us)
		return;
	if (due) {
		/* 0 would disarm: a due time of 0 cannot happen (boot + µs). */
		its.it_value.tv_sec = (time_t)(due / 1000000u);
		its.it_value.tv_nsec = (long)(due % 1000000u) * 1000;
	}
	if (!timerfd_settime(e->tfd, TFD_TIMER_ABSTIME, &its, NULL))
		e->armed_us = due;
}

/* ---- engine ----------------------------------------------------------- */

struct hc_engine *hc_engine_new(const struct hc_callbacks *cb)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct hc_engine *e = calloc(1, sizeof(*e));
	int err;

	if (!e)
		return NULL;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (e->epfd < 0 || e->tfd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->tfd, &ev)) {
		err = errno;
		if (e->epfd >= 0)
			close(e->epfd);
		if (e->tfd >= 0)
			close(e->tfd);
		free(e);
		errno = err;
		return NULL;
	}
	if (cb)
		e->cb = *cb;
	e->seed = (unsigned int)hc_now_us() ^ (unsigned int)getpid();
	return e;
}

static void close_check(struct hc_engine *e, struct hc_target *t)
{
	if (t->fd >= 0) {
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, t->fd, NULL);
		close(t->fd);
		t->fd = -1;
	}
	t->phase = PH_IDLE;
}

void hc_engine_free(struct hc_engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n; i++) {
		close_check(e, e->heap[i]);
		free(e->heap[i]);
	}
	free(e->heap);
	close(e->tfd);
	close(e->epfd);
	free(e);
}

size_t hc_engine_count(const struct hc_engine *e)
{
	return e->n;
}

/* A uniform value in [0, n). */
static uint64_t rnd(struct hc_engine *e, uint64_t n)
{
	return n ? (uint64_t)rand_r(&e->seed) % n : 0;
}

/* interval ±10%, in µs. */
static uint64_t jittered(struct hc_engine *e, uint32_t interval_ms)
{
	uint64_t iv = (uint64_t)interval_ms * 1000u, j = iv / 10;

	return iv - j + rnd(e, 2 * j + 1);
}

/* Ends the running check with a result, feeds the state machine and
 * schedules the next start. */
static void finish(struct hc_engine *e, struct hc_target *t, int ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void finish(struct hc_engine *e, struct hc_target *t, int ok, const char *fmt, ...)
{
	uint64_t now = hc_now_us(), next;
	va_list ap;

	close_check(e, t);
	va_start(ap, fmt);
	vsnprintf(t->last_reason, sizeof(t->last_reason), fmt, ap);
	va_end(ap);
	t->last_ok = ok;
	t->last_latency_us = (uint32_t)(now - t->started_us > UINT32_MAX ? UINT32_MAX
						: now - t->started_us);
	t->n_checks++;
	next = t->started_us + jittered(e, t->check.interval_ms);
	t->due_us = next > now ? next : now;
	heap_fix(e, t);
	if (e->cb.on_result)
		e->cb.on_result(e->cb.arg, t, ok, t->last_latency_us, t->last_reason);
	if (hc_fsm_step(&t->fsm, ok, t->check.rise, t->check.fall) && e->cb.on_transition)
		e->cb.on_transition(e->cb.arg, t, (enum hc_state)t->fsm.state,
				    t->last_latency_us, t->last_reason);
}

static int watch(struct hc_engine *e, struct hc_target *t, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = t };

	return epoll_ctl(e->epfd, op, t->fd, &ev) ? -errno : 0;
}

static void build_request(struct hc_target *t)
{
	const struct cp_check *c = &t->check;
	char host[CP_CHECK_PATH_MAX + 64];
	int n;

	if (c->host[0]) {
		snprintf(host, sizeof(host), "%s", c->host);
	} else {
		char a[INET6_ADDRSTRLEN];
		uint16_t port;

		if (t->addr.ss_family == AF_INET6) {
			const struct sockaddr_in6 *s6 = (const void *)&t->addr;

			inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
			port = ntohs(s6->sin6_port);
			n = snprintf(host, sizeof(host), "[%s]", a);
		} else {
			const struct sockaddr_in *s4 = (const void *)&t->addr;

			inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
			port = ntohs(s4->sin_port);
			n = snprintf(host, sizeof(host), "%s", a);
		}
		if (port != 80)
			snprintf(host + n, sizeof(host) - (size_t)n, ":%u", port);
	}
	n = snprintf(t->buf, sizeof(t->buf),
		     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sluice-healthd\r\n"
		     "Accept: */*\r\nConnection: close\r\n\r\n",
		     c->path[0] ? c->path : "/", host);
	t->len = n < (int)sizeof(t->buf) ? (size_t)n : sizeof(t->buf) - 1;
	t->off = 0;
}

/* HTTP: writes what is left of the request; then waits for the answer. */
static void http_send(struct hc_engine *e, struct hc_target *t)
{
	while (t->off < t->len) {
		ssize_t w = send(t->fd, t->buf + t->off, t->len - t->off, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				if (t->phase != PH_SEND) {
					t->phase = PH_SEND;
					watch(e, t, EPOLLOUT, EPOLL_CTL_MOD);
				}
				return;
			}
			finish(e, t, 0, "HTTP send: %s", strerror(errno));
			return;
		}
		t->off += (size_t)w;
	}
	t->phase = PH_READ;
	t->off = 0;
	watch(e, t, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
}

/* Parses "HTTP/1.x NNN ..." at the start of buf; -1 if malformed. */
static int status_code(const char *b, size_t n)
{
	if (n < 12 || memcmp(b, "HTTP/1.", 7) || b[8] != ' ')
		return -1;
	for (int i = 9; i < 12; i++)
		if (b[i] < '0' || b[i] > '9')
			return -1;
	if (n > 12 && b[12] != ' ' && b[12] != '\r' && b[12] != '\n')
		return -1;
	return (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
}

static void http_read(struct hc_engine *e, struct hc_target *t)
{
	for (;;) {
		ssize_t r = recv(t->fd, t->buf + t->off, sizeof(t->buf) - 1 - t->off, 0);
		char *eol;
		int code;

		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			finish(e, t, 0, "HTTP recv: %s", strerror(errno));
			return;
		}
		if (r == 0) {
			finish(e, t, 0, "HTTP: connection closed before the status line");
			return;
		}
		t->off += (size_t)r;
		t->buf[t->off] = '\0';
		eol = memchr(t->buf, '\n', t->off);
		if (!eol) {
			if (t->off >= sizeof(t->buf) - 1)
				finish(e, t, 0, "HTTP: status line longer than %zu bytes",
				       sizeof(t->buf) - 1);
			continue;
		}
		code = status_code(t->buf, (size_t)(eol - t->buf));
		if (code < 0)
			finish(e, t, 0, "HTTP: malformed status line");
		else
			finish(e, t, code == t->check.expect_status, "HTTP %d", code);
		return;
	}
}

/* The connect completed (err 0) or failed (err > 0). */
static void connected(struct hc_engine *e, struct hc_target *t, int err)
{
	if (err) {
		finish(e, t, 0, "connect: %s", strerror(err));
		return;
	}
	if (t->check.type == CP_CHECK_TCP) {
		finish(e, t, 1, "connect ok");
		return;
	}
	build_request(t);
	t->phase = PH_SEND;
	http_send(e, t);
}

static void start(struct hc_engine *e, struct hc_target *t)
{
	int udp = t->check.type == CP_CHECK_UDP;
	int fd, err;

	t->started_us = hc_now_us();
	/* Until it ends, the deadline is the timeout. */
	t->due_us = t->started_us + (uint64_t)t->check.timeout_ms * 1000u;
	heap_fix(e, t);

	fd = socket(t->addr.ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
	if (fd < 0) {
		finish(e, t, 0, "socket: %s", strerror(errno));
		return;
	}
	t->fd = fd;
	if (!udp) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) && errno != EINPROGRESS) {
		err = errno;
		t->phase = udp ? PH_UDP : PH_CONNECT;
		finish(e, t, 0, "connect: %s", strerror(err));
		return;
	}
	if (udp) {
		size_t n = strnlen(t->check.payload, sizeof(t->check.payload));

		t->phase = PH_UDP;
		if (send(fd, t->check.payload, n, MSG_NOSIGNAL) < 0) {
			finish(e, t, 0, "UDP send: %s", strerror(errno));
			return;
		}
		err = watch(e, t, EPOLLIN, EPOLL_CTL_ADD);
	} else {
		t->phase = PH_CONNECT;
		err = watch(e, t, EPOLLOUT, EPOLL_CTL_ADD);
	}
	if (err)
		finish(e, t, 0, "epoll: %s", strerror(-err));
}

static void on_event(struct hc_engine *e, struct hc_target *t, uint32_t events)
{
	int err = 0;
	socklen_t len = sizeof(err);

	switch (t->phase) {
	case PH_CONNECT:
		if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len))
			err = errno;
		if (!err && (events & (EPOLLERR | EPOLLHUP)))
			err = ECONNRESET;
		connected(e, t, err);
		break;
	case PH_SEND:
		http_send(e, t);
		break;
	case PH_READ:
		http_read(e, t);
		break;
	case PH_UDP: {
		char b[512];
		ssize_t r = recv(t->fd, b, sizeof(b), 0);

		if (r >= 0)
			finish(e, t, 1, "UDP reply");
		else if (errno != EAGAIN && errno != EINTR)
			finish(e, t, 0, "UDP recv: %s", strerror(errno));
		break;
	}
	case PH_IDLE:
		break;
	}
}

static const char *phase_what(enum phase p)
{
	switch (p) {
	case PH_CONNECT: return "connect";
	case PH_SEND: return "HTTP send";
	case PH_READ: return "HTTP";
	case PH_UDP: return "UDP";
	default: return "check";
	}
}

/* Handles every deadline that has passed. */
static void run_timers(struct hc_engine *e)
{
	uint64_t now = hc_now_us();

	while (e->n && e->heap[0]->due_us <= now) {
		struct hc_target *t = e->heap[0];

		if (t->phase == PH_IDLE)
			start(e, t);
		else
			finish(e, t, 0, "%s: timeout after %u ms", phase_what(t->phase),
			       t->check.timeout_ms);
	}
}

int hc_engine_poll(struct hc_engine *e, int max_wait_ms, const sigset_t *sigmask)
{
	struct epoll_event evs[256];
	int n, handled = 0;

	arm_timer(e);
	n = epoll_pwait(e->epfd, evs, 256, max_wait_ms, sigmask);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		if (!evs[i].data.ptr) {
			uint64_t x;

			/* Read even if nothing expired (a stale wake is harmless). */
			if (read(e->tfd, &x, sizeof(x)) < 0)
				(void)0;
			e->armed_us = 0;
			continue;
		}
		on_event(e, evs[i].data.ptr, evs[i].events);
		handled++;
	}
	run_timers(e);
	arm_timer(e);
	return handled;
}

/* ---- targets ---------------------------------------------------------- */

struct hc_target *hc_target_add(struct hc_engine *e, const struct sockaddr *addr,
				socklen_t addrlen, const struct cp_check *check, void *user)
{
	struct hc_target *t;

	if (!addr || addrlen > sizeof(t->addr) || !check ||
	    (addr->sa_family != AF_INET && addr->sa_family != AF_INET6) ||
	    (check->type != CP_CHECK_TCP && check->type != CP_CHECK_HTTP &&
	     check->type != CP_CHECK_UDP) ||
	    !check->interval_ms || !check->timeout_ms) {
		errno = EINVAL;
		return NULL;
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 64;
		struct hc_target **h = realloc(e->heap, cap * sizeof(*h));

		if (!h)
			return NULL;
		e->heap = h;
		e->cap = cap;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	memcpy(&t->addr, addr, addrlen);
	t->addrlen = addrlen;
	t->check = *check;
	t->check.path[sizeof(t->check.path) - 1] = '\0';
	t->check.host[sizeof(t->check.host) - 1] = '\0';
	t->user = user;
	t->fd = -1;
	t->due_us = hc_now_us() + rnd(e, (uint64_t)check->interval_ms * 100u);
	t->heap_idx = e->n;
	e->heap[e->n++] = t;
	heap_up(e, t->heap_idx);
	return t;
}

void hc_target_del(struct hc_engine *e, struct hc_target *t)
{
	if (!t)
		return;
	close_check(e, t);
	heap_remove(e, t);
	free(t);
}

void *hc_target_user(const struct hc_target *t)
{
	return t->user;
}

enum hc_state hc_target_state(const struct hc_target *t)
{
	return (enum hc_state)t->fsm.state;
}

int hc_target_last(const struct hc_target *t, uint32_t *latency_us, const char **reason)
{
	if (latency_us)
		*latency_us = t->last_latency_us;
	if (reason)
		*reason = t->n_checks ? t->last_reason : NULL;
	return t->last_ok;
}

uint64_t hc_target_checks(const struct hc_target *t)
{
	return t->n_checks;
}
