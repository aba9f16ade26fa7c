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

/* Unroll a loop with a constant trip count: the BPF verifier then sees
 * straight-line code, and gcc builds of the same headers stay quiet. */
#if defined(__clang__)
#define LB_UNROLL _Pragma("unroll")
#else
#define LB_UNROLL _Pragma("GCC unroll 16")
#endif

/* Word views of headers and keys for checksums and compares. may_alias
 * tells the compiler the same bytes are also written as struct fields, so
 * it may not reorder those stores past our reads (strict aliasing). */
typedef __u16 __attribute__((__may_alias__)) lb_alias_u16;
typedef __u32 __attribute__((__may_alias__)) lb_alias_u32;
typedef __u64 __attribute__((__may_alias__)) lb_alias_u64;

/* Words built from narrower fields in memory order, for keys that are
 * written with one store and then read a word at a time: on x86 a load
 * that spans several narrower stores still in the store buffer cannot be
 * forwarded from them and waits until they retire (about 12 cycles). */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LB_HALF_OF(b0, b1) ((__u16)((__u16)(b0) | (__u16)(b1) << 8))
#define LB_WORD_OF(h0, h1) ((__u32)(h0) | (__u32)(h1) << 16)
#define LB_DWORD_OF(w0, w1) ((__u64)(w0) | (__u64)(w1) << 32)
#else
#define LB_HALF_OF(b0, b1) ((__u16)((__u16)(b0) << 8 | (__u16)(b1)))
#define LB_WORD_OF(h0, h1) ((__u32)(h0) << 16 | (__u32)(h1))
#define LB_DWORD_OF(w0, w1) ((__u64)(w0) << 32 | (__u64)(w1))
#endif

#ifndef LB_UNUSED
#define LB_UNUSED __attribute__((unused))
#endif

#endif /* SLUICE_LIB_COMPAT_H */
