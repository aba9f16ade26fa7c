/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compat.h - what the header-only code in lib/ needs to compile both with
 * clang -target bpf (the XDP programs) and with gcc/clang for the host
 * (DPDK fast path, control plane, tests).
 */
#ifndef SLUICE_LIB_COMPAT_H
#define SLUICE_LIB_COMPAT_H

#include <linux/types.h>
#include <bpf/bpf_endian.h>

#ifdef __bpf__
#include <bpf/bpf_helpers.h>
#else
#include <string.h>
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#endif

#ifndef LB_UNUSED
#define LB_UNUSED __attribute__((unused))
#endif

#endif /* SLUICE_LIB_COMPAT_H */
