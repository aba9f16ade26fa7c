/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cp_error.h - a refusal the control plane can explain: which field and
 * why. Every parser and validator fills one; the API sends it back as
 * {"field": ..., "message": ...}.
 */
#ifndef SLUICE_CP_ERROR_H
#define SLUICE_CP_ERROR_H

#include <limits.h>

/* Room for a full path: a field may be "/any/path/sluice.conf:12" and a
 * message may name files; neither is ever cut to fit. */
struct cp_error {
	char field[PATH_MAX + 32];	/* "vip", "weight", "/etc/sluice/sluice.conf:12", ... */
	char msg[2 * PATH_MAX + 256];
};

/* Sets e (if not NULL) and returns err, a -errno value, so that a refusal
 * is one statement: return cp_error_set(e, -EINVAL, "weight", ...). */
int cp_error_set(struct cp_error *e, int err, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* SLUICE_CP_ERROR_H */
