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

/* Sets up wk's TX buffers (one per port, DP_BURST deep, overflow freed
 * and counted in tx_full) and the redirect targets (ports' ifindexes).
 * Control thread, before the worker runs. 0 or -ENOMEM. */
int dp_worker_ports_init(struct lb_dpdk *d, struct dp_worker *wk);

/* Handles n mbufs received on d->ports[in] (DP_BURST at a time): each is
 * forwarded, passed to the exception port or freed; none is left to the
 * caller. Buffered TX leaves with dp_flush(). Runs on wk's lcore only.
 * Returns n. */
uint16_t dp_burst(struct dp_worker *wk, unsigned int in, struct rte_mbuf **pkts, uint16_t n);

/* Sends what wk's TX buffers hold. wk's lcore only. */
void dp_flush(struct dp_worker *wk);

/* A worker lcore's loop (rte_eal_remote_launch, arg: struct dp_worker):
 * polls its queue of every port until lb_dpdk.stop, reporting a quiescent
 * state to the qsbr after every round. Returns 0. */
int dp_lcore_main(void *arg);

#endif /* SLUICE_DP_LCORE_H */
