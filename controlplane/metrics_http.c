// SPDX-License-Identifier: Apache-2.0
/*
 * metrics_http.c - /metrics and /healthz on libmicrohttpd's internal
 * thread, from snapshots published by sluiced's control thread. See
 * metrics_http.h for the contract.
 *
 * Locking: h->lock guards h->cur (the snapshot pointer) and h->last_pub.
 * It is taken by publish (swap) and by the HTTP thread (take a
 * reference), and nothing else is ever done under it. A snapshot's text
 * is immutable once published and freed by whoever drops the last
 * reference: publish for an unscraped one, libmicrohttpd's free callback
 * after the last byte of a response went out.
 */
#define LB_LOG_PREFIX "metrics: "

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "address.h"

struct snapshot {
	unsigned int refs;	/* atomic */
	size_t len;
	char *text;
};

struct cp_metrics_http {
	struct MHD_Daemon *mhd;
	unsigned int port;
	pthread_mutex_t lock;
	struct snapshot *cur;	/* under lock; NULL before the first publish */
	struct timespec last_pub;	/* CLOCK_MONOTONIC; under lock */
	int published;		/* under lock */
	/* On demand (cp_metrics_http_on_demand): a scrape asks through efd
	 * and waits for the next publish (seq moves, fresh is signalled). */
	int efd;		/* -1: serve the latest snapshot at once */
	unsigned long seq;	/* publishes so far; under lock */
	pthread_cond_t fresh;
};

/* Waits use CLOCK_MONOTONIC, like last_pub: a clock step does not
 * stretch a scrape. */
static int fresh_init(pthread_cond_t *c)
{
	pthread_condattr_t a;
	int err = pthread_condattr_init(&a);

	if (!err)
		err = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (!err)
		err = pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
	return err;
}

static void snap_put(struct snapshot *s)
{
	if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		free(s->text);
		free(s);
	}
}

/* libmicrohttpd's free callback of a /metrics response. */
static void snap_release(void *cls)
{
	snap_put(cls);
}

/* "A.B.C.D:PORT" or "[V6]:PORT", port 0 for any (the tests' ephemeral
 * listeners), read by the one endpoint parser (address.h). */
static int parse_listen(const char *s, struct sockaddr_storage *ss, int *v6)
{
	struct lb_addr a;
	char why[128];
	__u16 port;
	__u8 fam;

	if (cp_parse_endpoint(s, 1, &a, &fam, &port, why, sizeof(why)))
		return -EINVAL;
	*v6 = fam == LB_FAMILY_V6;
	cp_sockaddr(&a, fam, port, ss);
	return 0;
}

static enum MHD_Result reply_static(struct MHD_Connection *c, unsigned int status,
				    const char *body, int allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Under h->lock: asks the control thread for a rendering and waits for
 * it, at most CP_METRICS_WAIT_MS (then the latest one is served). */
static void wait_fresh(struct cp_metrics_http *h)
{
	unsigned long seq = h->seq;
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += CP_METRICS_WAIT_MS / 1000;
	until.tv_nsec += (long)(CP_METRICS_WAIT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	if (eventfd_write(h->efd, 1))
		return;
	while (h->seq == seq)
		if (pthread_cond_timedwait(&h->fresh, &h->lock, &until) == ETIMEDOUT)
			break;
}

static enum MHD_Result reply_metrics(struct cp_metrics_http *h, struct MHD_Connection *c)
{
	struct MHD_Response *r;
	struct snapshot *s;
	enum MHD_Result ret;

	pthread_mutex_lock(&h->lock);
	if (h->efd >= 0)
		wait_fresh(h);
	s = h->cur;
	if (s)
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&h->lock);
	if (!s)
		return reply_static(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				    "no metrics published yet\n", 0);

	/* Zero copy: the response points into the snapshot, which stays
	 * alive until libmicrohttpd calls snap_release. */
	r = MHD_create_response_from_buffer_with_free_callback_cls(s->len, s->text,
								  snap_release, s);
	if (!r) {
		snap_put(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CP_METRICS_CONTENT_TYPE);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_healthz(struct cp_metrics_http *h, struct MHD_Connection *c)
{
	struct timespec now, last;
	int published;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&h->lock);
	last = h->last_pub;
	published = h->published;
	pthread_mutex_unlock(&h->lock);
	if (!published)
		return reply_static(c, MHD_HTTP_SERVICE_UNAVAILABLE, "starting\n", 0);
	if (now.tv_sec - last.tv_sec > CP_METRICS_STALE_S)
		return reply_static(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				    "stale: the control loop stopped publishing\n", 0);
	return reply_static(c, MHD_HTTP_OK, "ok\n", 0);
}

/* libmicrohttpd's thread. Answers on the first call, before any request
 * body is read: nothing here takes a body, so one is never waited for. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	struct cp_metrics_http *h = cls;
	int is_metrics = !strcmp(url, "/metrics"), is_health = !strcmp(url, "/healthz");

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (!is_metrics && !is_health)
		return reply_static(c, MHD_HTTP_NOT_FOUND, "not found\n", 0);
	/* HEAD is GET without a body (libmicrohttpd drops it). */
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_static(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", 1);
	return is_metrics ? reply_metrics(h, c) : reply_healthz(h, c);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[256];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	pr_warn("%s%s", buf,
		buf[0] && buf[strlen(buf) - 1] == '\n' ? "" : "\n");
}

struct cp_metrics_http *cp_metrics_http_start(const char *addr_port)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	struct cp_metrics_http *h;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	int v6, err;

	err = parse_listen(addr_port, &ss, &v6);
	if (err) {
		pr_warn("bad listen address '%s' (want A.B.C.D:PORT or [V6]:PORT)\n",
			addr_port ? addr_port : "(null)");
		errno = -err;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->efd = -1;
	err = pthread_mutex_init(&h->lock, NULL);
	if (!err)
		err = fresh_init(&h->fresh);
	if (err) {
		free(h);
		errno = err;
		return NULL;
	}
	if (v6)
		flags |= MHD_USE_IPv6;
	errno = 0;
	h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
				  /* first, so that it sees every message */
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  /* a scraper that stalls is dropped, and
				   * a crowd of them is capped */
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
				  MHD_OPTION_END);
	if (!h->mhd) {
		err = errno ? errno : EIO;
		pr_warn("cannot listen on %s: %s\n", addr_port, strerror(err));
		pthread_mutex_destroy(&h->lock);
		pthread_cond_destroy(&h->fresh);
		free(h);
		errno = err;
		return NULL;
	}
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : 0;
	return h;
}

unsigned int cp_metrics_http_port(const struct cp_metrics_http *h)
{
	return h ? h->port : 0;
}

void cp_metrics_http_publish(struct cp_metrics_http *h, char *text, size_t len)
{
	struct snapshot *s = NULL, *old = NULL;
	struct timespec now;

	if (!h) {
		free(text);
		return;
	}
	if (text) {
		s = malloc(sizeof(*s));
		if (!s) {
			/* Keep serving the previous one. */
			free(text);
			text = NULL;
		} else {
			s->refs = 1;
			s->text = text;
			s->len = len;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&h->lock);
	if (s) {
		old = h->cur;
		h->cur = s;
	}
	h->last_pub = now;
	h->published = 1;
	h->seq++;
	pthread_cond_broadcast(&h->fresh);
	pthread_mutex_unlock(&h->lock);
	snap_put(old);
}

void cp_metrics_http_alive(struct cp_metrics_http *h)
{
	struct timespec now;

	if (!h)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&h->lock);
	h->last_pub = now;
	pthread_mutex_unlock(&h->lock);
}

int cp_metrics_http_on_demand(struct cp_metrics_http *h)
{
	int fd;

	if (!h)
		return -EINVAL;
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&h->lock);
	h->efd = fd;
	pthread_mutex_unlock(&h->lock);
	return fd;
}

int cp_metrics_http_demand_fd(struct cp_metrics_http *h)
{
	return h ? h->efd : -1;
}

int cp_metrics_http_asked(struct cp_metrics_http *h)
{
	eventfd_t v;

	return h && h->efd >= 0 && eventfd_read(h->efd, &v) == 0 && v > 0;
}

void cp_metrics_http_stop(struct cp_metrics_http *h)
{
	if (!h)
		return;
	/* Joins the thread; responses still queued release their snapshot
	 * references on the way out. */
	MHD_stop_daemon(h->mhd);
	snap_put(h->cur);
	if (h->efd >= 0)
		close(h->efd);
	pthread_cond_destroy(&h->fresh);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
