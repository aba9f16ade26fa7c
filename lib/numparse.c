/* SPDX-License-Identifier: Apache-2.0 */
/*
 * numparse.c - numbers from command-line arguments (numparse.h).
 */
#include <errno.h>
#include <stdlib.h>

#include "numparse.h"

int lb_numparse_u32(const char *s, __u32 *out)
{
	unsigned long long v;
	char *end;

	/* A digit first: strtoull would skip blanks and take a sign (and
	 * read "-1" as 2^64 - 1). */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > 0xffffffffULL)
		return -EINVAL;
	*out = (__u32)v;
	return 0;
}
