/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lcore.h - the DPDK fast path's packet loop: a burst of mbufs through
 * lb_dp_process() and out where the verdict says, and the worker lcore's
 * poll loop around it. pcap mode runs the same dp_burst() on the main
 * lcore, so what a capture shows is what the poll loop does.
 */
#ifndef SLUICE_DP_LCORE_H
#define SLUICE_DP_LCORE_H

#include <rte_mbuf.h>

#include "driver_dpdk.h"

/* Sets up lc's TX buffers (one per port, LB_DP_BURST deep, overflow freed
 * and counted in tx_full) and the redirect targets (ports' ifindexes).
 * Control thread, before the worker runs. 0 or -ENOMEM. */
int dp_lcore_ports_init(struct dp_runtime *d, struct dp_lcore *lc);

/* Handles n mbufs received on d->ports[in] (LB_DP_BURST at a time): each is
 * forwarded, passed to the exception port or freed; none is left to the
 * caller. Buffered TX leaves with dp_flush(). Runs on lc's lcore only.
 * Returns n. */
uint16_t dp_burst(struct dp_lcore *lc, unsigned int in, struct rte_mbuf **pkts, uint16_t n);

/* Sends what lc's TX buffers hold. lc's lcore only. */
void dp_flush(struct dp_lcore *lc);

/* A worker lcore's loop (rte_eal_remote_launch, arg: struct dp_lcore):
 * polls its queue of every port until dp_runtime.stop, reporting a quiescent
 * state to the qsbr after every round. Returns 0. */
int dp_lcore_main(void *arg);

#endif /* SLUICE_DP_LCORE_H */
