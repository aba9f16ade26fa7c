/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state.h - the persisted state file: the model as a config script,
 * replaced atomically (write a temporary, fsync, rename, fsync the
 * directory) so that a crash leaves either the old file or the new one.
 */
#ifndef SLUICE_CP_STATE_H
#define SLUICE_CP_STATE_H

#include "model.h"

#define CP_DEFAULT_STATE "/var/lib/sluice/state.conf"
#define CP_DEFAULT_CONFIG "/etc/sluice/sluice.conf"

/* Writes m to path atomically (mode 0600). 0 or -errno, logged. */
int cp_state_save(const char *path, const struct cp_model *m);

/* Loads path into a fresh model with the given limits (no driver).
 * -ENOENT if the file does not exist (not logged: a first start); other
 * errors leave *out freed and e set ("path:line" and why). */
int cp_state_load(const char *path, const struct lb_params *limits, struct cp_model *out,
		  struct cp_error *e);

#endif /* SLUICE_CP_STATE_H */
