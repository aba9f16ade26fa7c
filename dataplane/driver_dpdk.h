/* SPDX-License-Identifier: Apache-2.0 */
/*
 * driver_dpdk.h - the DPDK fast path's runtime (struct dp_runtime: shared
 * tables in rte_malloc memory, the rte_rcu_qsbr its worker lcores report
 * to, the lcores and the ports) and its struct cp_driver (driver.h), the
 * "dpdk" driver the daemon core drives as it drives the XDP one. Names:
 * the dp_* layer of worker.h's rule.
 *
 * Threads: the cp_driver operations and every dp_runtime_* call run on the
 * control thread (the EAL main lcore). Worker lcores only read the tables
 * and write their own struct dp_lcore; the control thread reads their
 * counters and flows without locks (a racy snapshot, as XDP's mmap read).
 *
 * Nothing survives a restart (the memory is the process's), so the driver
 * has no backend_get/vip_find: the daemon writes the whole model afresh.
 */
#ifndef SLUICE_DP_DRIVER_DPDK_H
#define SLUICE_DP_DRIVER_DPDK_H

#include <net/if.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_ethdev.h>
#include <rte_rcu_qsbr.h>

#include "driver.h"
#include "tables.h"
#include "worker.h"

#define DP_MAX_PORTS 8		/* lb_dp_worker.ifindex[] holds 8 */
#define DP_MAX_LCORES 64	/* worker lcores */

/* A port with no kernel interface behind it (a NIC bound to vfio-pci)
 * still needs an ifindex of its own: next hops and the pipeline's
 * redirects name ports by ifindex. No kernel ifindex is this large. */
#define DP_IFINDEX_NO_KERNEL 0x80000000u

/* What a worker counts besides the LB_R_* reasons: packets that never
 * reached the pipeline or never left. Read racily by the control thread. */
struct dp_lcore_stats {
	uint64_t tx_full;	/* TX ring full: freed */
	uint64_t multiseg;	/* multi-segment mbufs: dropped */
	uint64_t unattached;	/* from a port no `node set --interface` names */
	uint64_t no_port;	/* redirect or pass with nowhere to go */
	uint64_t exc_out;	/* PASS frames sent to the exception port */
	uint64_t exc_in;	/* frames from the exception port to the wire */
};

struct dp_port {
	uint16_t id;				/* ethdev port id */
	uint32_t ifindex;			/* kernel interface behind it, or
						 * DP_IFINDEX_NO_KERNEL | port id */
	char ifname[IF_NAMESIZE];		/* its name, or "" */
	char name[RTE_ETH_NAME_MAX_LEN];	/* ethdev name ("net_af_packet0") */
	struct rte_ether_addr mac;
	int exception;				/* the net_tap exception port */
	int attached;				/* forwarded (atomic: workers read it) */
};

struct dp_runtime;

/* A worker lcore: its pipeline (the lb_dp_* layer's state) and what the
 * DPDK process adds around it. */
struct dp_lcore {
	struct lb_dp_worker worker;
	struct dp_runtime *d;
	unsigned int idx;	/* in dp_runtime.lcores: its qsbr thread id */
	unsigned int lcore_id;
	uint16_t queue;		/* its RX and TX queue on every port */
	struct rte_eth_dev_tx_buffer *txb[DP_MAX_PORTS];
	struct dp_lcore_stats st;
} __rte_cache_aligned;

struct dp_runtime {
	struct lb_tables t;
	struct rte_rcu_qsbr *qsbr;	/* one thread id per worker lcore: its index */
	struct dp_lcore *lcores;	/* the worker lcores */
	unsigned int n_lcores;
	struct dp_port ports[DP_MAX_PORTS];
	unsigned int n_ports;
	int exc;			/* index of the exception port, or -1 */
	int first_fp;			/* first fast-path port, or -1 */
	struct rte_mempool *pool;
	int stop;			/* set by close: workers return */
	int launched;			/* workers run on remote lcores */
	/* pcap mode: every port counts as attached. */
	int pcap;
	/* Backends get this next hop instead of a netlink neighbour
	 * (--gateway-mac, pcap mode's --pcap-nexthop). */
	int nh_set;
	uint8_t nh_dmac[RTE_ETHER_ADDR_LEN];
	uint32_t nh_ifindex;
	uint16_t nh_mtu;
	uint8_t nh_smac[RTE_ETHER_ADDR_LEN];
};

/* Fills p's zero fields with fwd.h's defaults (nr_cpus: n_lcores) and
 * checks the rest; -EINVAL with a message naming the field. */
int dp_runtime_params(struct lb_params *p, unsigned int n_lcores);

/* Allocates the tables for p (checked by dp_runtime_params) with
 * rte_zmalloc, the qsbr for n_lcores threads and the workers' flow
 * tables and counters (on their lcores' sockets when lcore_ids is not
 * NULL). The grace callback is rte_rcu_qsbr_synchronize. 0 or -errno,
 * logged; on failure nothing stays allocated. */
int dp_runtime_alloc(struct dp_runtime *d, const struct lb_params *p, unsigned int n_lcores,
		     const unsigned int *lcore_ids);

/* Stops workers launched on remote lcores (waits for them) and frees
 * what dp_runtime_alloc allocated. Ports are the caller's. */
void dp_runtime_free(struct dp_runtime *d);

/* The tables' grace callback; arg is the struct dp_runtime. Exported for
 * tests. Always 0: workers poll, so every one reaches a quiescent
 * point within a burst. */
int dp_runtime_grace(void *arg);

/* The "dpdk" cp_driver over d (allocated, ports probed). d stays the
 * caller's; close() stops the workers and frees the tables (dp_runtime_free). */
void cp_driver_dpdk_init(struct cp_driver *drv, struct dp_runtime *d);

/* Removes the directory tree at path: an EAL run directory, which
 * rte_eal_cleanup() leaves behind, of a prefix the caller chose. */
void dp_remove_run_dir(const char *path);

/* Sums the worker lcores' dp_lcore_stats into *out. */
void dp_runtime_lcore_stats(const struct dp_runtime *d, struct dp_lcore_stats *out);

#endif /* SLUICE_DP_DRIVER_DPDK_H */
