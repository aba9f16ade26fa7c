/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state.h - the persisted state file: the model as a config script,
 * replaced atomically (write a temporary, fsync, rename, fsync the
 * directory) so that a crash leaves either the old file or the new one.
 *
 * A state file (format 2) frames the script so that damage is seen:
 *
 *   # sluice state v2 generation 42
 *   # unsaved generation 00000000000000000000
 *   ...the script...
 *   # end: N lines
 *
 * The generation counts the daemon's writes; the unsaved generation is
 * overwritten in place (same bytes, no new blocks: it works on a full
 * disk) when a newer running state could not be written, so a restart
 * knows the file is behind. N counts the lines before the trailer: a
 * file without it, or with another count, was truncated. A file without
 * the header is a legacy state file or a config file: loaded as it is.
 */
#ifndef SLUICE_CP_STATE_H
#define SLUICE_CP_STATE_H

#include "cp_error.h"
#include "model.h"

#define CP_DEFAULT_STATE "/var/lib/sluice/state.conf"
#define CP_DEFAULT_CONFIG "/etc/sluice/sluice.conf"
/* Where the running state goes when the state file cannot be written:
 * another file system (tmpfs), so a full or read-only disk does not stop
 * it; it survives a daemon restart, not a reboot. */
#define CP_DEFAULT_PENDING "/run/sluice/state.pending"
#define CP_STATE_FORMAT 2

/* What a state file's frame says. */
struct cp_state_info {
	unsigned long long gen;		/* 0: no header (legacy or config file) */
	unsigned long long unsaved;	/* a newer generation that was never written, or 0 */
	int framed;			/* has the format-2 header and trailer */
};

/* Writes m to path atomically as generation gen (mode 0600). keep_prev:
 * the file it replaces stays as "path.prev" (the previous good copy).
 * 0, or -errno with e set to "state file PATH: why (ENAME)". Not logged:
 * the caller knows whether this failure is news. */
int cp_state_write(const char *path, const struct cp_model *m, unsigned long long gen,
		   int keep_prev, struct cp_error *e);

/* Records in path's header, in place, that generation gen is running
 * but not in the file. 0, or -errno (no format-2 header, unwritable). */
int cp_state_mark_unsaved(const char *path, unsigned long long gen);

/* Loads path into a fresh model with the given limits (no driver).
 * -ENOENT if the file does not exist (not logged: a first start); other
 * errors leave *out freed and e set ("path:line" and why). info NULL: a
 * config file (no frame needed); else a state file: a frame that is cut
 * short is refused, and info says what the frame holds. */
int cp_state_load(const char *path, const struct lb_params *limits, struct cp_model *out,
		  struct cp_state_info *info, struct cp_error *e);

/* The same, checking backends against this host's addresses as a live
 * model does (model.h is_local): for a file about to be applied, so that
 * a dry run, a diff and --check-config refuse what the apply would. */
int cp_state_load_checked(const char *path, const struct lb_params *limits,
			  cp_is_local_fn is_local, void *is_local_arg, struct cp_model *out,
			  struct cp_state_info *info, struct cp_error *e);

/* Removes the temporaries ("NAME.tmp.*") that writers of path killed
 * mid-write left in its directory, logging each. Returns how many. */
int cp_state_clean_tmp(const char *path);

/* "ENOSPC" for -ENOSPC (or err); "E?" when unknown. */
const char *cp_errno_name(int err);

#endif /* SLUICE_CP_STATE_H */
