/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check.h - sluice-healthd's check engine: every active check (TCP
 * connect, HTTP/1.1 GET, UDP send-and-expect) of every target driven from
 * one epoll instance, with one timerfd armed to the earliest deadline of a
 * min-heap (next check or running check's timeout). Sockets are
 * non-blocking; no thread per check. Thousands of targets on one core.
 *
 * State machine, HAProxy's `check inter 2s rise 2 fall 3` with consecutive
 * counts: a target is reported down after `fall` consecutive failures and
 * up after `rise` consecutive successes. It starts unknown; its first
 * transition comes after rise successes or fall failures.
 *
 * Threads: an engine and its targets belong to the thread that calls
 * hc_engine_poll(); nothing here locks.
 */
#ifndef SLUICE_HEALTHD_CHECK_H
#define SLUICE_HEALTHD_CHECK_H

#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>

#include "request.h"

enum hc_state {
	HC_UNKNOWN = 0,		/* not yet rise successes or fall failures */
	HC_UP,
	HC_DOWN,
};

/* Consecutive-result counter of one target. Zero-initialised = unknown. */
struct hc_fsm {
	uint8_t state;		/* enum hc_state */
	uint8_t succ;		/* consecutive successes (saturates at 255) */
	uint8_t fail;		/* consecutive failures (saturates at 255) */
};

/* Feeds one result (ok != 0: success). rise and fall are >= 1 (0 is
 * taken as 1). Returns 1 when the state changed (the new state is in
 * f->state), else 0. Pure; any thread. */
int hc_fsm_step(struct hc_fsm *f, int ok, unsigned int rise, unsigned int fall);

const char *hc_state_name(enum hc_state s);

struct hc_engine;
struct hc_target;

#define HC_REASON_MAX 96
#define HC_HTTP_BUF 2048	/* request out, then the response head in: read cap */

/* What the engine tells its owner. Both callbacks run inside
 * hc_engine_poll(); they may not add or delete targets. */
struct hc_callbacks {
	/* Every finished check (optional: tests and debug logging). */
	void (*on_result)(void *arg, struct hc_target *t, int ok, uint32_t latency_us,
			  const char *reason);
	/* A state change of the rise/fall machine. */
	void (*on_transition)(void *arg, struct hc_target *t, enum hc_state state,
			      uint32_t latency_us, const char *reason);
	void *arg;
};

/* A new engine (epoll instance + timerfd). NULL with errno on failure. */
struct hc_engine *hc_engine_new(const struct hc_callbacks *cb);
/* Frees the engine and every target still in it. NULL is a no-op. */
void hc_engine_free(struct hc_engine *e);

/* Waits at most max_wait_ms (-1: until something happens) for socket
 * events and due timers, then handles everything ready: finished checks,
 * timeouts, checks to start. sigmask (may be NULL) is installed for the
 * wait as by epoll_pwait, so a caller that blocks SIGTERM otherwise gets
 * it race-free. Returns the number of events handled, or -errno (-EINTR
 * when a signal came). */
int hc_engine_poll(struct hc_engine *e, int max_wait_ms, const sigset_t *sigmask);

size_t hc_engine_count(const struct hc_engine *e);

/* Adds a target: addr is the backend address with the check port (IPv4
 * or IPv6), check its spec (type TCP/HTTP/UDP; interval and timeout in
 * ms > 0; rise, fall >= 1; an empty host means the backend address).
 * The first check starts within 10% of the interval (spreads a crowd
 * started at once). user is the owner's, returned by hc_target_user().
 * NULL with errno (EINVAL: bad spec or family; ENOMEM). */
struct hc_target *hc_target_add(struct hc_engine *e, const struct sockaddr *addr,
				socklen_t addrlen, const struct cp_check *check, void *user);
/* Stops a target (closes a running check's socket) and frees it. */
void hc_target_del(struct hc_engine *e, struct hc_target *t);

void *hc_target_user(const struct hc_target *t);
enum hc_state hc_target_state(const struct hc_target *t);
/* The last finished check: latency (µs) and reason text ("connect ok",
 * "HTTP 503", "connect: Connection refused", "UDP: timeout"); NULL reason
 * before the first check. Returns whether it succeeded. */
int hc_target_last(const struct hc_target *t, uint32_t *latency_us, const char **reason);
/* Number of checks finished on this target. */
uint64_t hc_target_checks(const struct hc_target *t);

/* Monotonic time in µs, the clock every deadline uses. */
uint64_t hc_now_us(void);

#endif /* SLUICE_HEALTHD_CHECK_H */
