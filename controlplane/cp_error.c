/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cp_error.c - see cp_error.h. No state; any thread.
 */
#include <stdarg.h>
#include <stdio.h>

#include "cp_error.h"

int cp_error_set(struct cp_error *e, int err, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (e) {
		snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return err;
}
