/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_backends.h - the backends both fast-path benchmarks forward to,
 * so that bench_xdp and bench_dpdk measure the same tables.
 */
#ifndef SLUICE_BENCH_BACKENDS_H
#define SLUICE_BENCH_BACKENDS_H

#include <arpa/inet.h>
#include <string.h>

#include "fwd.h"
#include "maglev.h"

/* Backend i: 10.1.0.(i + 1), up, with a cached next hop out nh_ifindex
 * to a MAC of its own; and its entry of the Maglev input (weight 1). */
static inline void bench_backend(unsigned int i, __u32 nh_ifindex, struct lb_backend *be,
				 struct lb_maglev_backend *mb)
{
	memset(be, 0, sizeof(*be));
	be->addr.w[0] = htonl(0x0a010000u | (__u32)(i + 1));
	be->family = LB_FAMILY_V4;
	be->state = LB_BACKEND_UP;
	be->flags = LB_BACKEND_F_NH_VALID;
	be->gen = 1;
	be->nh_ifindex = nh_ifindex;
	be->nh_mtu = 1500;
	memcpy(be->nh_dmac, "\x02\x00\x00\x00\x01\x00", 6);
	be->nh_dmac[5] = (__u8)i;
	memcpy(be->nh_smac, "\x02\x00\x00\x00\x00\x01", 6);
	memset(mb, 0, sizeof(*mb));
	mb->addr = be->addr;
	mb->family = LB_FAMILY_V4;
	mb->weight = 1;
	mb->id = (__u32)i;
}

#endif /* SLUICE_BENCH_BACKENDS_H */
