/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon.h - sluice-healthd's logic above the check engine: follows
 * sluiced's `health.targets`, reports transitions with `health.report`,
 * keeps checking while sluiced is away (retrying with exponential
 * backoff) and re-sends its full known view at start and after every
 * reconnect. main() (healthd.c) only parses options and handles signals;
 * the tests drive this against a fake sluiced.
 *
 * API calls are short blocking exchanges on the local Unix socket
 * (cp_api_call, bounded by api_timeout_ms); everything else runs from the
 * engine's epoll loop. Threads: one healthd belongs to the thread that
 * calls hd_poll().
 */
#ifndef SLUICE_HEALTHD_DAEMON_H
#define SLUICE_HEALTHD_DAEMON_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"

struct hd_config {
	const char *socket;	/* sluiced's API socket */
	int refresh_ms;		/* health.targets every refresh_ms (> 0) */
	int api_timeout_ms;	/* one API exchange; 0: 1000 */
	int backoff_min_ms;	/* first retry after a failed call; 0: 100 */
	int backoff_max_ms;	/* retry cap; 0: 5000 */
};

struct healthd;

/* NULL with errno on failure. cfg is copied (socket string included). */
struct healthd *hd_new(const struct hd_config *cfg);
void hd_free(struct healthd *d);

/* One turn of the loop: talks to sluiced if a refresh or retry is due,
 * sends queued reports, then waits at most max_wait_ms (and no longer
 * than the next API deadline) for checks. sigmask as in
 * hc_engine_poll(). 0, or -EINTR when a signal came. */
int hd_poll(struct healthd *d, int max_wait_ms, const sigset_t *sigmask);

/* Whether the last exchange with sluiced succeeded. */
int hd_connected(const struct healthd *d);
size_t hd_target_count(const struct healthd *d);
/* The state of one target, HC_UNKNOWN if unknown or absent. */
enum hc_state hd_target_state(const struct healthd *d, const char *vip, const char *backend);

#endif /* SLUICE_HEALTHD_DAEMON_H */
