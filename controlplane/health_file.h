/* SPDX-License-Identifier: Apache-2.0 */
/*
 * health_file.h - the last known health of every backend, kept across a
 * restart of the daemon: healthd's view, the initial state, the
 * operator's override with its expiry (wall-clock time in the file), the
 * last check's latency and words. One line per backend:
 *
 *   VIP ADDR init=up|down health=up|down|unknown [latency_us=N]
 *       [reason=TEXT] [override=up|down until=EPOCH_MS|0 [override_reason=TEXT]]
 *
 * It is runtime state, not configuration: under /run (tmpfs) by default,
 * gone at a reboot like the pinned fast path, written whole and replaced
 * atomically at most once a second after a change (the daemon's tick).
 * The XDP fast path's entries say the same about down backends, so a
 * crash between a change and the write loses nothing that matters there;
 * DPDK keeps nothing else across a restart.
 */
#ifndef SLUICE_CP_HEALTH_FILE_H
#define SLUICE_CP_HEALTH_FILE_H

#include "model.h"

#define CP_DEFAULT_HEALTH_FILE "/run/sluice/health"

/* Writes every backend of m to path atomically (mode 0600). 0 or -errno,
 * logged. */
int cp_health_save(const char *path, const struct cp_model *m);

/* Reads path into a new array (*out, *n; free() it), sorted by
 * cp_health_saved_cmp as cp_model.saved wants it. Times are turned
 * into m's clock. A bad line is logged with its number and skipped: the
 * file only makes a restart better informed. -ENOENT (not logged) when
 * there is no file, other -errno when it cannot be read. */
int cp_health_load(const char *path, const struct cp_model *m, struct cp_health_saved **out,
		   size_t *n);

#endif /* SLUICE_CP_HEALTH_FILE_H */
