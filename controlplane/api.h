/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api.h - sluiced's API socket: a Unix stream socket speaking
 * newline-delimited JSON, root only (mode 0600 and SO_PEERCRED).
 *
 * The server owns an epoll instance of its own; the daemon's main loop
 * polls cp_api_fd() and calls cp_api_dispatch() when it is readable. All
 * sockets are non-blocking: a slow or stuck client never stalls the
 * daemon, and a client whose unread replies exceed CP_API_MAX_OUT is
 * dropped. Single-threaded: everything runs on sluiced's control thread.
 */
#ifndef SLUICE_CP_API_H
#define SLUICE_CP_API_H

#include <sys/socket.h>
#include <jansson.h>

#define CP_API_DEFAULT_SOCKET "/run/sluice/sluiced.sock"
#define CP_API_MAX_LINE (1u << 20)	/* one request: 1 MiB */
#define CP_API_MAX_OUT (64u << 20)	/* unread replies per client */
#define CP_API_MAX_CLIENTS 256

struct cp_api;

/* Handles one decoded JSON request from an authorised peer; returns the
 * reply object (a new reference, never NULL: use cp_reply_error). */
typedef json_t *(*cp_api_handler)(void *arg, json_t *req, const struct ucred *peer);

/* Creates the socket at path (its directory is created 0755 if missing;
 * a stale socket file is replaced, a live one -- another sluiced -- is an
 * error: -EADDRINUSE). allow_uid: the uid accepted besides root (tests run
 * clients as root too; pass 0). NULL with errno set on failure. */
struct cp_api *cp_api_open(const char *path, cp_api_handler handler, void *arg);
void cp_api_close(struct cp_api *api);

/* The fd to poll for readability. */
int cp_api_fd(const struct cp_api *api);

/* Accepts, reads, answers and writes whatever is ready; never blocks.
 * Requests held back by cp_api_dispatch_readonly are answered first.
 * Returns 0, or -errno for a failure of the server itself. */
int cp_api_dispatch(struct cp_api *api);

/* 1 if the request on this line must wait until the batch ends. */
typedef int (*cp_api_defer_fn)(void *arg, const char *line, size_t len);

/* The same from inside a long change (a batch), re-entrantly: requests
 * defer() refuses are answered now, the first one it holds back and
 * everything after it on that connection wait, as does the connection
 * whose request started the batch, until the next cp_api_dispatch. */
int cp_api_dispatch_readonly(struct cp_api *api, cp_api_defer_fn defer);

/* Client side, for sluicectl and tests: connects, sends req (one line),
 * reads one reply line, returns it (new reference) or NULL with errno.
 * timeout_ms bounds the whole exchange. */
json_t *cp_api_call(const char *path, json_t *req, int timeout_ms);

#endif /* SLUICE_CP_API_H */
