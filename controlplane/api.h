/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api.h - sluiced's API socket: a Unix stream socket speaking
 * newline-delimited JSON, root only (mode 0600 and SO_PEERCRED), or root
 * and the members of a read group, who may only read (mode 0660).
 *
 * The server owns an epoll instance of its own; the daemon's main loop
 * polls cp_api_fd() and calls cp_api_dispatch() when it is readable. All
 * sockets are non-blocking: a slow or stuck client never stalls the
 * daemon. A client is closed when it sends no request for the idle
 * timeout, when a request line it started or the replies it does not
 * read make no progress for the stall timeout, and when its unread
 * replies exceed CP_API_MAX_OUT. At the client cap a newcomer is served
 * by closing the client idle longest; it is refused only when every
 * client is in the middle of a request. A timer in the same epoll
 * instance drives the timeouts. Single-threaded: everything runs on
 * sluiced's control thread.
 */
#ifndef SLUICE_CP_API_H
#define SLUICE_CP_API_H

#include <sys/socket.h>
#include <sys/types.h>
#include <linux/types.h>
#include <jansson.h>

#define CP_API_DEFAULT_SOCKET "/run/sluice/sluiced.sock"
#define CP_API_MAX_LINE (1u << 20)	/* one request: 1 MiB */
#define CP_API_MAX_OUT (64u << 20)	/* unread replies per client */
#define CP_API_DEFAULT_MAX_CLIENTS 256
#define CP_API_DEFAULT_IDLE_MS 60000	/* no request for a minute: closed */
#define CP_API_DEFAULT_STALL_MS 10000	/* a request or reply stuck for 10 s: closed */

struct cp_api;

/* What the server accepts (cp_api_set_limits). */
struct cp_api_limits {
	unsigned int max_clients;	/* connections at once, >= 1 */
	unsigned int idle_ms;		/* 0: idle clients are never closed */
	unsigned int stall_ms;		/* 0: never */
	int read_group;			/* 0: root only; 1: members of read_gid may read */
	gid_t read_gid;
	char read_group_name[64];	/* for messages */
};

/* Why clients were closed, and how many are connected. */
struct cp_api_stats {
	unsigned int clients;		/* connected now */
	unsigned int max_clients;
	__u64 accepted;
	__u64 idle;			/* closed: no request within the idle timeout */
	__u64 stalled;			/* closed: a request or replies stuck past the stall timeout,
					 * or more than CP_API_MAX_OUT unread */
	__u64 evicted;			/* closed at the cap for a newcomer (the idle longest) */
	__u64 refused;			/* newcomers closed at the cap: every client was busy */
	__u64 denied;			/* peers neither root nor in the read group */
	__u64 read_only;		/* requests refused to a read-group member: not a read */
};

/* Handles one decoded JSON request from an authorised peer; returns the
 * reply object (a new reference, never NULL: use cp_reply_error). */
typedef json_t *(*cp_api_handler)(void *arg, json_t *req, const struct ucred *peer);

/* Creates the socket at path (its directory is created 0755 if missing;
 * a stale socket file is replaced, a live one -- another sluiced -- is an
 * error: -EADDRINUSE), with the default limits (CP_API_DEFAULT_*, root
 * only). NULL with errno set on failure. */
struct cp_api *cp_api_open(const char *path, cp_api_handler handler, void *arg);
void cp_api_close(struct cp_api *api);

/* Sets the limits (before the first dispatch; -EBUSY once a client is
 * connected). With a read group the socket becomes root:group 0660. Raises
 * the soft limit of open files to fit max_clients when it must (-EMFILE
 * when the hard limit does not allow it). 0 or -errno, logged. */
int cp_api_set_limits(struct cp_api *api, const struct cp_api_limits *lim);
void cp_api_get_limits(const struct cp_api *api, struct cp_api_limits *lim);

/* Counters since cp_api_open. */
void cp_api_stats(const struct cp_api *api, struct cp_api_stats *st);

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

/* Client side, for sluicectl, sluice-healthd and tests: connects, sends
 * req (one line), reads one reply line, returns it (new reference) or
 * NULL with errno: ENOENT, ECONNREFUSED, EACCES (connect), ETIMEDOUT,
 * ECONNRESET (sluiced closed the connection before answering), EPROTO (a
 * reply that is not JSON). timeout_ms bounds the whole exchange. Never
 * raises SIGPIPE. */
json_t *cp_api_call(const char *path, json_t *req, int timeout_ms);

#endif /* SLUICE_CP_API_H */
