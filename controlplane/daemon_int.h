/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon_int.h - the daemon core's own state, shared by its rooms and no
 * one else: daemon.c (options, loading, the event loop) and handlers.c
 * (what each API request answers). daemon.h is what a program that
 * embeds the core (sluiced, sluice-dpdk) sees.
 */
#ifndef SLUICE_CP_DAEMON_INT_H
#define SLUICE_CP_DAEMON_INT_H

#include <limits.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <jansson.h>

#include "cp_error.h"
#include "announce.h"
#include "api.h"
#include "driver.h"
#include "model.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif

/* Where the running state stands against the disk (persist.c). */
struct sluiced_persist {
	unsigned long long gen;		/* generation of the running state */
	unsigned long long failures;	/* failed writes of the state file */
	int unsaved;			/* the running state is not in the state file */
	int in_fallback;		/* ...but it is in the fallback file */
	time_t last_ok;			/* wall clock of the last write, 0: none yet */
	int backoff_s;			/* next retry after this many seconds */
	int timer_fd;			/* retry timer, valid when have_timer */
	int have_timer;
	char error[3 * PATH_MAX + 512];	/* why the state file is behind, for status */
	const char *loaded_from;	/* what sluiced_persist_load loaded */
	struct sluiced_preload *preload;	/* the state file parsed ahead */
};

/* The daemon's state: the desired state, the fast path it is pushed to,
 * and where it is kept and served. Owned by the control thread. */
struct sluiced {
	struct cp_model model;
	struct cp_driver driver;	/* ops NULL: no fast path (--no-fastpath) */
	int adopted;			/* the pinned program was adopted at start */
	char state_path[PATH_MAX];	/* "" : not persisted */
	char pending_path[PATH_MAX];	/* the fallback; "" : none */
	struct sluiced_persist persist;
	char config_path[PATH_MAX];
	char socket_path[PATH_MAX];
	/* The configuration last applied (apply.c): what differs from it
	 * in the running state was changed at runtime. Kept in applied_path,
	 * beside the state file. */
	struct cp_model applied;
	char applied_path[PATH_MAX + 16];
	char last_apply[512];		/* the last apply's outcome, for status */
	int started_from_state;		/* else from the config file, or empty */
	int loading;			/* the state is being loaded at start */
	struct cp_api *api;		/* its server: limits and counters for status */
	char health_path[PATH_MAX];	/* the health file; "" : not kept */
	int health_none;		/* --health-file none */
	__u64 health_saved;		/* model.health_changes last written */
	int healthd_silent;		/* said so in the log */
	/* The VIP routes of the announce table (announce.c): synced after
	 * anything that can move them, never before the state loaded. */
	struct cp_announce announce;
	int announce_on;		/* the state loaded: routes may be written */
	__u64 announce_seen[4];		/* what it depended on at the last sync */
	__u64 announce_pokes;		/* bumped by drain, undrain, detach */
	/* Interfaces `sluicectl detach` took the program off, until a
	 * node set drops them from the list (re-adding one attaches it). */
	char detached[CP_MAX_INTERFACES][IF_NAMESIZE];
	int n_detached;
	/* Forwarding ends with the process (sluice-dpdk): withdraw on exit. */
	int withdraw_on_exit;
};

/* 1 when the fast path forwards: a driver with an interface attached. */
int sluiced_attached(const struct sluiced *d);
/* Syncs the announce table if anything it depends on changed (force: even
 * if not, to retry a failed write). */
void sluiced_announce(struct sluiced *d, int force);

/* Makes the running state equal to the configuration in path as one
 * transaction (apply.c): validated whole, refused if it would undo
 * runtime changes or empty the running state unless forced, applied as
 * one diff, persisted once. why names the caller in the log ("reload").
 * Returns the reply: the changes, and whether they were applied. */
#define SLUICED_APPLY_DRY_RUN 1u
#define SLUICED_APPLY_FORCE 2u
json_t *sluiced_apply(struct sluiced *d, const char *path, unsigned int flags, const char *why);
/* After a start from the state file: the base (from applied_path, else
 * the config file), then a log line if the running state differs from
 * the config file. (A start from the config file takes it as the base.) */
void sluiced_load_base(struct sluiced *d);
void sluiced_tell_drift(struct sluiced *d);
/* sluiced --check-config: loads and validates path, says so on out. */
int sluiced_check_config(const char *path, const struct lb_params *limits, FILE *out);

/* The API socket's handler (cp_api_handler, handlers.c): decodes a
 * request, dispatches it over d's model and fast path, answers. */
json_t *sluiced_handle(void *arg, json_t *req, const struct ucred *peer);

/* Persists the running state after a change (any change path calls it
 * once per change or batch, after the model accepted it; health reports
 * need not). 0: durable in the state file (or no state file configured).
 * Else -errno with e set to "state file PATH: why (ENAME); retrying ...":
 * the change is live but not durable; answer it with sluiced_reply_applied
 * (persisted false). The running state then goes to the fallback file,
 * the state file is marked behind, and the write is retried with backoff
 * from the event loop until it succeeds (sluiced_persist_retry). Logged
 * once when it starts failing and once when it recovers. */
int sluiced_persist(struct sluiced *d, struct cp_error *e);

/* The answer to a change the model applied, given sluiced_persist's
 * outcome: {"ok": true, "persisted": true|false[, "error": {...}]}. */
json_t *sluiced_reply_applied(const struct sluiced *d, int persist_err,
			      const struct cp_error *e);

/* The retry timer's fd (-1 when no retry is due) and what it runs. */
int sluiced_persist_fd(struct sluiced *d);
void sluiced_persist_retry(struct sluiced *d);

/* The persistence fields of `status` added to reply. */
void sluiced_persist_status(const struct sluiced *d, json_t *reply);

/* At start, before anything is loaded: removes temporaries of killed
 * writers, then picks what to start from (the state file, a newer
 * fallback, or start_from when given) and loads it into *out. 1: loaded,
 * 0: nothing to load (use the config file), -errno: refuse to start
 * (logged, naming the files and the way out). */
int sluiced_persist_load(struct sluiced *d, const char *start_from, struct cp_model *out);

/* Starts parsing the state file on a helper thread with the limits the
 * options give (params), while the fast path opens: the BPF verifier
 * takes a few hundred milliseconds a restart need not wait for. Loading
 * the state file then takes that model if the limits came out the same
 * (an adopted fast path may have other sizes), else parses again. */
void sluiced_persist_preload(struct sluiced *d, const struct lb_params *params);

/* Frees the retry timer and whatever was preloaded and not taken. */
void sluiced_persist_close(struct sluiced *d);

#endif /* SLUICE_CP_DAEMON_INT_H */
