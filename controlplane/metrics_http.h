/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics_http.h - serves /metrics and /healthz over HTTP (libmicrohttpd)
 * without ever touching the model or the driver from the HTTP thread.
 *
 * sluiced renders the exposition text on its own thread
 * (cp_metrics_render(), e.g. once a second from its timer) and hands it
 * over with cp_metrics_http_publish(). libmicrohttpd's own thread answers
 * scrapes from the latest published snapshot: a snapshot is reference
 * counted, and the one mutex is held only to swap or take a reference to
 * the current pointer -- never while rendering, copying or writing to a
 * socket. A slow or stuck scraper therefore delays neither sluiced's
 * loop nor, a fortiori, the packet path (which takes no lock of ours).
 *
 *   GET /metrics  200 the latest snapshot, text/plain; version=0.0.4;
 *                 503 until the first publish
 *   GET /healthz  200 "ok" while snapshots keep coming (one in the last
 *                 CP_METRICS_STALE_S seconds), else 503: a wedged control
 *                 loop shows up here
 *   other paths   404;  a method other than GET (or HEAD)  405
 */
#ifndef SLUICE_CP_METRICS_HTTP_H
#define SLUICE_CP_METRICS_HTTP_H

#include <stddef.h>

#define CP_METRICS_DEFAULT_LISTEN "127.0.0.1:9109"
#define CP_METRICS_STALE_S 30
#define CP_METRICS_WAIT_MS 2000

struct cp_metrics_http;

/* Listens on addr_port: "A.B.C.D:PORT" or "[IPv6]:PORT", numeric only;
 * port 0 takes an ephemeral port (cp_metrics_http_port() tells which).
 * Starts libmicrohttpd's internal polling thread. Returns NULL with errno
 * set: EINVAL for a malformed address, else the bind/start failure
 * (EADDRINUSE, EACCES, ... where libmicrohttpd tells; EIO otherwise).
 * Call from one thread (sluiced's control thread). */
struct cp_metrics_http *cp_metrics_http_start(const char *addr_port);

/* The port actually bound (host order), or 0 if h is NULL. */
unsigned int cp_metrics_http_port(const struct cp_metrics_http *h);

/* Replaces the served snapshot by text[0..len) and takes ownership of
 * text (malloc'ed; freed when the last scrape using it is done). text
 * NULL keeps the current snapshot but still counts as a sign of life for
 * /healthz. Never blocks beyond a pointer swap; any thread. */
void cp_metrics_http_publish(struct cp_metrics_http *h, char *text, size_t len);

/* Sign of life for /healthz without a new snapshot. Any thread. */
void cp_metrics_http_alive(struct cp_metrics_http *h);

/* Renders on demand: from now on a scrape asks for a fresh snapshot
 * (the returned fd, an eventfd, becomes readable) and waits for the next
 * publish, at most CP_METRICS_WAIT_MS, before it is answered. Rendering
 * 100,000 backends takes most of a second of the control thread: done
 * once a second, that is half its time; on demand, it costs one
 * rendering per scrape. Returns the fd (h owns it) or -errno. */
int cp_metrics_http_on_demand(struct cp_metrics_http *h);
/* The fd cp_metrics_http_on_demand returned, or -1. */
int cp_metrics_http_demand_fd(struct cp_metrics_http *h);
/* 1 if a scrape asked since the last call (and clears it). */
int cp_metrics_http_asked(struct cp_metrics_http *h);

/* Stops the server (waits for its thread, which finishes the requests in
 * progress) and frees everything. NULL is a no-op. Not concurrently with
 * publish. */
void cp_metrics_http_stop(struct cp_metrics_http *h);

#endif /* SLUICE_CP_METRICS_HTTP_H */
