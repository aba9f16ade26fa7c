/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lcore.c - bursts through the worker pipeline and the poll loop
 * (lcore.h), in the shape of DPDK's l3fwd: prefetch ahead, buffered TX
 * drained on a TSC threshold, nothing that blocks.
 */
#include <errno.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include "lcore.h"

#define PREFETCH_OFFSET 3
#define DRAIN_US 100	/* a lone packet waits at most this long in a TX buffer */

int dp_lcore_ports_init(struct dp_runtime *d, struct dp_lcore *lc)
{
	int socket = (int)rte_lcore_to_socket_id(lc->lcore_id);
	struct lb_dp_worker *w = &lc->worker;

	w->n_ifindex = 0;
	for (unsigned int i = 0; i < d->n_ports; i++) {
		struct rte_eth_dev_tx_buffer *b;

		b = rte_zmalloc_socket("sl_txb", RTE_ETH_TX_BUFFER_SIZE(LB_DP_BURST), 0, socket);
		if (!b)
			return -ENOMEM;
		rte_eth_tx_buffer_init(b, LB_DP_BURST);
		/* A full TX ring frees the rest and counts it: never wait. */
		rte_eth_tx_buffer_set_err_callback(b, rte_eth_tx_buffer_count_callback,
						   &lc->st.tx_full);
		lc->txb[i] = b;
		/* Redirect targets: fast-path ports with a kernel ifindex,
		 * the ones a resolved next hop can name. */
		if (d->ports[i].ifindex && !d->ports[i].exception &&
		    w->n_ifindex < sizeof(w->ifindex) / sizeof(w->ifindex[0]))
			w->ifindex[w->n_ifindex++] = d->ports[i].ifindex;
	}
	return 0;
}

static void send_port(struct dp_lcore *lc, unsigned int pi, struct rte_mbuf *m)
{
	rte_eth_tx_buffer(lc->d->ports[pi].id, lc->queue, lc->txb[pi], m);
}

static int port_of_ifindex(const struct dp_runtime *d, uint32_t ifindex)
{
	for (unsigned int i = 0; i < d->n_ports; i++)
		if (d->ports[i].ifindex == ifindex && !d->ports[i].exception)
			return (int)i;
	return -1;
}

/* The kernel's packets (ARP, ND, not a VIP): to the exception port if
 * there is one; without one they cannot be delivered. */
static void pass(struct dp_lcore *lc, struct rte_mbuf *m)
{
	if (lc->d->exc < 0) {
		lc->st.no_port++;
		rte_pktmbuf_free(m);
		return;
	}
	lc->st.exc_out++;
	send_port(lc, (unsigned int)lc->d->exc, m);
}

/* The frame of an mbuf: the pipeline grows it at the front into the
 * headroom, as XDP does. */
static void frame_of(const struct rte_mbuf *m, uint32_t ifindex, struct lb_dp_frame *f)
{
	f->head = (uint8_t *)m->buf_addr;
	f->end = f->head + m->buf_len;
	f->data = rte_pktmbuf_mtod(m, uint8_t *);
	f->data_end = f->data + m->data_len;
	f->ingress_ifindex = ifindex;
	f->out_ifindex = 0;
}

/* Out where the pipeline's reason says; the mbuf's data window follows
 * the frame's. */
static void dispatch(struct dp_lcore *lc, unsigned int in, struct rte_mbuf *m,
		     const struct lb_dp_frame *f, int reason)
{
	int out;

	m->data_off = (uint16_t)(f->data - f->head);
	m->data_len = (uint16_t)(f->data_end - f->data);
	m->pkt_len = m->data_len;

	switch (lb_reason_action(reason)) {
	case LB_ACT_TX:
		send_port(lc, in, m);
		return;
	case LB_ACT_REDIRECT:
		out = port_of_ifindex(lc->d, f->out_ifindex);
		if (out >= 0) {
			send_port(lc, (unsigned int)out, m);
			return;
		}
		lc->st.no_port++;
		break;
	case LB_ACT_PASS:
		pass(lc, m);
		return;
	case LB_ACT_DROP:
		break;
	}
	rte_pktmbuf_free(m);
}

/* From the kernel's exception port to the wire: the first fast-path port. */
static uint16_t from_kernel(struct dp_lcore *lc, struct rte_mbuf **pkts, uint16_t n)
{
	int out = lc->d->first_fp;

	for (uint16_t i = 0; i < n; i++) {
		if (out < 0) {
			lc->st.no_port++;
			rte_pktmbuf_free(pkts[i]);
			continue;
		}
		lc->st.exc_in++;
		send_port(lc, (unsigned int)out, pkts[i]);
	}
	return n;
}

uint16_t dp_burst(struct dp_lcore *lc, unsigned int in, struct rte_mbuf **pkts, uint16_t n)
{
	struct dp_port *p = &lc->d->ports[in];
	struct lb_dp_frame f[LB_DP_BURST];
	struct rte_mbuf *mine[LB_DP_BURST];
	int reasons[LB_DP_BURST];
	uint16_t i, nf = 0;

	if (n > LB_DP_BURST)	/* the arrays above hold one burst */
		return dp_burst(lc, in, pkts, LB_DP_BURST) +
		       dp_burst(lc, in, pkts + LB_DP_BURST, n - LB_DP_BURST);
	if (p->exception)
		return from_kernel(lc, pkts, n);
	/* A port no `node set --interface` names is not ours to balance:
	 * its frames go to the kernel as they would without us. */
	if (!lc->d->pcap && !__atomic_load_n(&p->attached, __ATOMIC_ACQUIRE)) {
		for (i = 0; i < n; i++) {
			lc->st.unattached++;
			pass(lc, pkts[i]);
		}
		return n;
	}
	lc->worker.now = lb_dp_clock();
	/* The pipeline parses every frame before it looks any flow up:
	 * prefetch ahead of that first pass. */
	for (i = 0; i < PREFETCH_OFFSET && i < n; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];

		if (i + PREFETCH_OFFSET < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + PREFETCH_OFFSET], void *));
		if (m->nb_segs > 1) {
			/* The pipeline needs the headers contiguous; jumbo
			 * chains are not for a load balancer's MTU anyway. */
			lc->st.multiseg++;
			rte_pktmbuf_free(m);
			continue;
		}
		frame_of(m, p->ifindex, &f[nf]);
		mine[nf++] = m;
	}
	lb_dp_process_burst(&lc->worker, f, reasons, nf);
	for (i = 0; i < nf; i++)
		dispatch(lc, in, mine[i], &f[i], reasons[i]);
	return n;
}

void dp_flush(struct dp_lcore *lc)
{
	for (unsigned int i = 0; i < lc->d->n_ports; i++)
		rte_eth_tx_buffer_flush(lc->d->ports[i].id, lc->queue, lc->txb[i]);
}

int dp_lcore_main(void *arg)
{
	struct dp_lcore *lc = arg;
	struct dp_runtime *d = lc->d;
	const uint64_t drain = (rte_get_tsc_hz() + 1000000 - 1) / 1000000 * DRAIN_US;
	uint64_t prev = rte_rdtsc();
	struct rte_mbuf *pkts[LB_DP_BURST];

	rte_rcu_qsbr_thread_register(d->qsbr, lc->idx);
	rte_rcu_qsbr_thread_online(d->qsbr, lc->idx);
	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now;

		for (unsigned int i = 0; i < d->n_ports; i++) {
			uint16_t n = rte_eth_rx_burst(d->ports[i].id, lc->queue, pkts, LB_DP_BURST);

			if (n)
				dp_burst(lc, i, pkts, n);
		}
		now = rte_rdtsc();
		if (now - prev > drain) {
			dp_flush(lc);
			prev = now;
		}
		/* Nothing of the tables is held across rounds. */
		rte_rcu_qsbr_quiescent(d->qsbr, lc->idx);
	}
	dp_flush(lc);
	rte_rcu_qsbr_thread_offline(d->qsbr, lc->idx);
	rte_rcu_qsbr_thread_unregister(d->qsbr, lc->idx);
	return 0;
}
