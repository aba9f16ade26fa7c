/* SPDX-License-Identifier: Apache-2.0 */
/*
 * numparse.h - numbers from command-line arguments, read one way by
 * every program that takes them (sluiced, sluice-dpdk's pcap mode).
 */
#ifndef SLUICE_LIB_NUMPARSE_H
#define SLUICE_LIB_NUMPARSE_H

#include <linux/types.h>

/* A whole decimal number 0..2^32-1 into *out: digits only, no sign,
 * blank, base prefix ("0x10" is refused, not 0) or anything after them.
 * Returns 0, or -EINVAL with *out untouched. Thread-safe. */
int lb_numparse_u32(const char *s, __u32 *out);

#endif /* SLUICE_LIB_NUMPARSE_H */
