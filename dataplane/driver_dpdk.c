/* SPDX-License-Identifier: Apache-2.0 */
/*
 * driver_dpdk.c - the DPDK fast path's tables, workers' memory and
 * struct cp_driver (driver_dpdk.h). The table writes are lib/tables.c's,
 * as for XDP; what is DPDK's here is where the memory comes from and the
 * grace period (rte_rcu_qsbr over the worker lcores).
 */
#define LB_LOG_PREFIX "driver_dpdk: "

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "driver_dpdk.h"
#include "log.h"
#include "metrics.h"

/* ---- parameters and memory ------------------------------------------ */

int dp_runtime_params(struct lb_params *p, unsigned int n_lcores)
{
	int err;

	p->nr_cpus = n_lcores;
	/* The same limits as the XDP loader's, so one config fits both. */
	err = lb_tables_params(p);
	if (err)
		return err;
	if (!n_lcores || n_lcores > DP_MAX_LCORES) {
		pr_warn("%u workers: need 1 to %d\n", n_lcores, DP_MAX_LCORES);
		return -EINVAL;
	}
	return 0;
}

int dp_runtime_grace(void *arg)
{
	struct dp_runtime *d = arg;

	/* The caller (control thread) is no reader: THRID_INVALID. */
	rte_rcu_qsbr_synchronize(d->qsbr, RTE_QSBR_THRID_INVALID);
	return 0;
}

/* A worker's flows and counters on its lcore's socket (lb_dp_worker_init
 * does the same with malloc, which knows nothing of NUMA). */
static int worker_mem(struct lb_dp_worker *w, const struct lb_tables *t, int socket)
{
	const struct lb_params *p = &t->params;

	memset(w, 0, sizeof(*w));
	w->t = t;
	w->flows = rte_zmalloc_socket("sl_flows", (size_t)p->flow_buckets * sizeof(*w->flows),
				      RTE_CACHE_LINE_SIZE, socket);
	w->c.vip = rte_zmalloc_socket("sl_vip_stats", (size_t)p->max_vips * sizeof(*w->c.vip),
				      RTE_CACHE_LINE_SIZE, socket);
	w->c.backend = rte_zmalloc_socket("sl_be_stats",
					  (size_t)p->max_backends * sizeof(*w->c.backend),
					  RTE_CACHE_LINE_SIZE, socket);
	w->now = lb_dp_clock();
	return w->flows && w->c.vip && w->c.backend ? 0 : -ENOMEM;
}

static void worker_mem_free(struct lb_dp_worker *w)
{
	rte_free(w->flows);
	rte_free(w->c.vip);
	rte_free(w->c.backend);
	w->flows = NULL;
	w->c.vip = NULL;
	w->c.backend = NULL;
}

static int tables_alloc(struct lb_tables *t, const struct lb_params *p)
{
	memset(t, 0, sizeof(*t));
	t->cfg = rte_zmalloc("sl_cfg", sizeof(*t->cfg), RTE_CACHE_LINE_SIZE);
	t->vip_table = rte_zmalloc("sl_vip_table", 2 * (size_t)p->vip_slots * sizeof(*t->vip_table),
				   RTE_CACHE_LINE_SIZE);
	t->vip_meta = rte_zmalloc("sl_vip_meta", (size_t)p->max_vips * sizeof(*t->vip_meta),
				  RTE_CACHE_LINE_SIZE);
	t->rings = rte_malloc("sl_rings", lb_tables_rings_bytes(p), RTE_CACHE_LINE_SIZE);
	t->backends = rte_zmalloc("sl_backends", (size_t)p->max_backends * sizeof(*t->backends),
				  RTE_CACHE_LINE_SIZE);
	if (!t->cfg || !t->vip_table || !t->vip_meta || !t->rings || !t->backends)
		return -ENOMEM;
	lb_tables_init(t, p, 1);	/* fills the rings with LB_BACKEND_NONE */
	return 0;
}

static void tables_free(struct lb_tables *t)
{
	rte_free(t->cfg);
	rte_free(t->vip_table);
	rte_free(t->vip_meta);
	rte_free(t->rings);
	rte_free(t->backends);
	lb_tables_fini(t);
	memset(t, 0, sizeof(*t));
}

int dp_runtime_alloc(struct dp_runtime *d, const struct lb_params *p, unsigned int n_lcores,
		     const unsigned int *lcore_ids)
{
	size_t qsz;
	int err;

	err = tables_alloc(&d->t, p);
	if (err)
		goto fail;
	qsz = rte_rcu_qsbr_get_memsize(n_lcores);
	d->qsbr = rte_zmalloc("sl_qsbr", qsz, RTE_CACHE_LINE_SIZE);
	d->lcores = rte_zmalloc("sl_lcores", n_lcores * sizeof(*d->lcores),
				RTE_CACHE_LINE_SIZE);
	if (!d->qsbr || !d->lcores) {
		err = -ENOMEM;
		goto fail;
	}
	if (rte_rcu_qsbr_init(d->qsbr, n_lcores)) {
		err = -rte_errno;
		goto fail;
	}
	d->t.grace = dp_runtime_grace;
	d->t.grace_arg = d;
	d->n_lcores = n_lcores;
	for (unsigned int i = 0; i < n_lcores; i++) {
		int socket = lcore_ids ? (int)rte_lcore_to_socket_id(lcore_ids[i]) : SOCKET_ID_ANY;

		err = worker_mem(&d->lcores[i].worker, &d->t, socket);
		if (err)
			goto fail;
		d->lcores[i].d = d;
		d->lcores[i].idx = i;
		d->lcores[i].lcore_id = lcore_ids ? lcore_ids[i] : rte_lcore_id();
		d->lcores[i].queue = (uint16_t)i;
	}
	return 0;

fail:
	pr_warn("cannot allocate the tables (%zu MiB of rings) and %u workers' "
		"flows: %s; lower --max-vips/--max-ring/--flow-buckets or raise EAL -m\n",
		lb_tables_rings_bytes(p) >> 20, n_lcores, strerror(-err));
	dp_runtime_free(d);
	return err;
}

void dp_runtime_free(struct dp_runtime *d)
{
	if (d->launched) {
		__atomic_store_n(&d->stop, 1, __ATOMIC_RELEASE);
		rte_eal_mp_wait_lcore();
		d->launched = 0;
	}
	for (unsigned int i = 0; d->lcores && i < d->n_lcores; i++) {
		worker_mem_free(&d->lcores[i].worker);
		for (unsigned int j = 0; j < DP_MAX_PORTS; j++)
			rte_free(d->lcores[i].txb[j]);
	}
	rte_free(d->lcores);
	rte_free(d->qsbr);
	tables_free(&d->t);
	d->lcores = NULL;
	d->qsbr = NULL;
	d->n_lcores = 0;
}

void dp_runtime_lcore_stats(const struct dp_runtime *d, struct dp_lcore_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned int i = 0; i < d->n_lcores; i++) {
		const struct dp_lcore_stats *s = &d->lcores[i].st;

		out->tx_full += __atomic_load_n(&s->tx_full, __ATOMIC_RELAXED);
		out->multiseg += __atomic_load_n(&s->multiseg, __ATOMIC_RELAXED);
		out->unattached += __atomic_load_n(&s->unattached, __ATOMIC_RELAXED);
		out->no_port += __atomic_load_n(&s->no_port, __ATOMIC_RELAXED);
		out->exc_out += __atomic_load_n(&s->exc_out, __ATOMIC_RELAXED);
		out->exc_in += __atomic_load_n(&s->exc_in, __ATOMIC_RELAXED);
	}
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void dp_remove_run_dir(const char *path)
{
	nftw(path, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---- operations ------------------------------------------------------ */

static const struct lb_params *dpdk_params(void *ctx)
{
	return &((struct dp_runtime *)ctx)->t.params;
}

/* The fast-path port an interface name stands for: its kernel interface
 * (af_packet, af_xdp: the vdev's iface=) or its ethdev name. */
static struct dp_port *port_by_name(struct dp_runtime *d, const char *ifname)
{
	for (unsigned int i = 0; i < d->n_ports; i++) {
		struct dp_port *p = &d->ports[i];

		if (p->exception)
			continue;
		if ((p->ifname[0] && !strcmp(p->ifname, ifname)) || !strcmp(p->name, ifname))
			return p;
	}
	return NULL;
}

static int set_attached(struct dp_runtime *d, const char *ifname, int on)
{
	struct dp_port *p;

	if (!ifname || !*ifname)
		return -EINVAL;
	/* pcap mode: the capture stands for whatever the config names. */
	if (d->pcap)
		return 0;
	p = port_by_name(d, ifname);
	if (!p) {
		pr_warn("%s %s: no DPDK port stands for it; give the EAL "
			"--vdev=net_af_packet0,iface=%s (or net_af_xdp) or name a port\n",
			on ? "attach" : "detach", ifname, ifname);
		return -ENODEV;
	}
	__atomic_store_n(&p->attached, on, __ATOMIC_RELEASE);
	pr_info("%s port %u (%s)\n", on ? "forwarding on" : "stopped forwarding on",
		p->id, ifname);
	return 0;
}

static int dpdk_attach(void *ctx, const char *ifname)
{
	return set_attached(ctx, ifname, 1);
}

static int dpdk_detach(void *ctx, const char *ifname)
{
	return set_attached(ctx, ifname, 0);
}

static int dpdk_set_config(void *ctx, const struct lb_config *cfg)
{
	return lb_tables_set_config(&((struct dp_runtime *)ctx)->t, cfg);
}

static int dpdk_set_vips(void *ctx, const struct lb_vip_entry *v, size_t n)
{
	return lb_tables_set_vips(&((struct dp_runtime *)ctx)->t, v, n);
}

static int dpdk_set_vip_flags(void *ctx, __u32 vip_id, __u32 flags)
{
	return lb_tables_set_vip_flags(&((struct dp_runtime *)ctx)->t, vip_id, flags);
}

static int dpdk_batch_begin(void *ctx)
{
	return lb_tables_batch_begin(&((struct dp_runtime *)ctx)->t);
}

static int dpdk_batch_end(void *ctx)
{
	return lb_tables_batch_end(&((struct dp_runtime *)ctx)->t);
}

static int dpdk_set_ring(void *ctx, __u32 vip_id, const __u32 *ring, __u32 m)
{
	return lb_tables_set_ring(&((struct dp_runtime *)ctx)->t, vip_id, ring, m);
}

/* The next hop the control plane resolved names a kernel interface. The
 * exception port's is the kernel's face of the first fast-path port (on a
 * NIC bound to DPDK the kernel has no other): a neighbour found there is
 * reached out that port, from its MAC. --gateway-mac (pcap mode:
 * --pcap-nexthop, there being no neighbour table) puts every backend
 * behind one MAC instead. */
static void dpdk_nexthop(const struct dp_runtime *d, struct lb_backend *b)
{
	const struct dp_port *fp;

	if (d->nh_set) {
		memcpy(b->nh_dmac, d->nh_dmac, sizeof(b->nh_dmac));
		memcpy(b->nh_smac, d->nh_smac, sizeof(b->nh_smac));
		b->nh_ifindex = d->nh_ifindex;
		b->nh_mtu = d->nh_mtu;
		b->flags |= LB_BACKEND_F_NH_VALID;
		return;
	}
	if (!(b->flags & LB_BACKEND_F_NH_VALID) || d->exc < 0 || d->first_fp < 0 ||
	    b->nh_ifindex != d->ports[d->exc].ifindex)
		return;
	fp = &d->ports[d->first_fp];
	b->nh_ifindex = fp->ifindex;
	memcpy(b->nh_smac, fp->mac.addr_bytes, sizeof(b->nh_smac));
}

static int dpdk_set_backend(void *ctx, __u32 id, const struct lb_backend *b)
{
	struct dp_runtime *d = ctx;
	struct lb_backend nb;

	if (!b || b->state == LB_BACKEND_UNUSED)
		return lb_tables_set_backend(&d->t, id, b);
	nb = *b;
	dpdk_nexthop(d, &nb);
	return lb_tables_set_backend(&d->t, id, &nb);
}

static int dpdk_set_backend_state(void *ctx, __u32 id, __u8 state)
{
	return lb_tables_set_backend_state(&((struct dp_runtime *)ctx)->t, id, state);
}

static int dpdk_vip_stats(void *ctx, __u32 vip_id, struct lb_vip_stats *out)
{
	struct dp_runtime *d = ctx;

	if (vip_id >= d->t.params.max_vips || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	for (unsigned int i = 0; i < d->n_lcores; i++) {
		const struct lb_vip_stats *s = &d->lcores[i].worker.c.vip[vip_id];

		out->packets += __atomic_load_n(&s->packets, __ATOMIC_RELAXED);
		out->bytes += __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
		out->new_flows += __atomic_load_n(&s->new_flows, __ATOMIC_RELAXED);
		out->ring_picks += __atomic_load_n(&s->ring_picks, __ATOMIC_RELAXED);
		out->flow_misses += __atomic_load_n(&s->flow_misses, __ATOMIC_RELAXED);
		out->flow_evictions += __atomic_load_n(&s->flow_evictions, __ATOMIC_RELAXED);
	}
	return 0;
}

static int dpdk_backend_stats(void *ctx, __u32 id, struct lb_backend_stats *out)
{
	struct dp_runtime *d = ctx;

	if (id >= d->t.params.max_backends || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	for (unsigned int i = 0; i < d->n_lcores; i++) {
		const struct lb_backend_stats *s = &d->lcores[i].worker.c.backend[id];

		out->packets += __atomic_load_n(&s->packets, __ATOMIC_RELAXED);
		out->bytes += __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
		for (int r = 0; r < LB_BACKEND_DROPS; r++)
			out->dropped[r] += __atomic_load_n(&s->dropped[r], __ATOMIC_RELAXED);
	}
	return 0;
}

static int dpdk_reason_stats(void *ctx, struct lb_reason_stats out[LB_R_MAX])
{
	struct dp_runtime *d = ctx;

	if (!out)
		return -EINVAL;
	memset(out, 0, LB_R_MAX * sizeof(*out));
	for (unsigned int i = 0; i < d->n_lcores; i++) {
		const struct lb_reason_stats *s = d->lcores[i].worker.c.reason;

		for (int r = 0; r < LB_R_MAX; r++) {
			out[r].packets += __atomic_load_n(&s[r].packets, __ATOMIC_RELAXED);
			out[r].bytes += __atomic_load_n(&s[r].bytes, __ATOMIC_RELAXED);
		}
	}
	return 0;
}

static int dpdk_flow_foreach(void *ctx,
			     int (*fn)(const struct lb_flow_key *key, __u32 backend_id,
				       __u32 idle_ms, void *arg),
			     void *arg)
{
	struct dp_runtime *d = ctx;
	__u32 now = lb_dp_clock();
	int ret = 0;

	for (unsigned int i = 0; i < d->n_lcores && !ret; i++)
		ret = lb_flows_foreach(d->lcores[i].worker.flows, d->t.params.flow_buckets, now,
				       LB_DP_HZ, fn, arg);
	return ret;
}

/* ---- DPDK's own metrics ------------------------------------------------ */

static int family(FILE *f, const char *name, const char *type, const char *help)
{
	return fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type) < 0 ? -EIO : 0;
}

static const char *port_label(const struct dp_port *p)
{
	return p->ifname[0] ? p->ifname : p->name;
}

/* One sample of a family labelled by port (and one more label). */
static int port_sample(FILE *f, const char *name, const struct dp_port *p, const char *label,
		       const char *value, uint64_t v)
{
	fprintf(f, "%s{port=\"", name);
	if (cp_metrics_write_label(f, port_label(p)))
		return -EIO;
	return fprintf(f, "\",%s=\"%s\"} %" PRIu64 "\n", label, value, v) < 0 ? -EIO : 0;
}

static int port_metrics(FILE *f, const struct dp_runtime *d)
{
	struct rte_eth_stats st[DP_MAX_PORTS];
	int err = 0;

	for (unsigned int i = 0; i < d->n_ports; i++)
		if (rte_eth_stats_get(d->ports[i].id, &st[i]))
			memset(&st[i], 0, sizeof(st[i]));
	err |= family(f, "sluice_dpdk_port_packets_total", "counter",
		      "Packets the port received (rx) and sent (tx), as its PMD counts them.");
	for (unsigned int i = 0; i < d->n_ports; i++) {
		err |= port_sample(f, "sluice_dpdk_port_packets_total", &d->ports[i], "direction",
				   "rx", st[i].ipackets);
		err |= port_sample(f, "sluice_dpdk_port_packets_total", &d->ports[i], "direction",
				   "tx", st[i].opackets);
	}
	err |= family(f, "sluice_dpdk_port_bytes_total", "counter",
		      "Bytes the port received (rx) and sent (tx).");
	for (unsigned int i = 0; i < d->n_ports; i++) {
		err |= port_sample(f, "sluice_dpdk_port_bytes_total", &d->ports[i], "direction",
				   "rx", st[i].ibytes);
		err |= port_sample(f, "sluice_dpdk_port_bytes_total", &d->ports[i], "direction",
				   "tx", st[i].obytes);
	}
	err |= family(f, "sluice_dpdk_port_drops_total", "counter",
		      "Packets the port lost before a worker saw them or after it sent them: "
		      "missed (RX ring full), rx_nombuf (mbuf pool empty), rx_errors, tx_errors.");
	for (unsigned int i = 0; i < d->n_ports; i++) {
		const struct dp_port *p = &d->ports[i];

		err |= port_sample(f, "sluice_dpdk_port_drops_total", p, "reason", "missed",
				   st[i].imissed);
		err |= port_sample(f, "sluice_dpdk_port_drops_total", p, "reason", "rx_nombuf",
				   st[i].rx_nombuf);
		err |= port_sample(f, "sluice_dpdk_port_drops_total", p, "reason", "rx_errors",
				   st[i].ierrors);
		err |= port_sample(f, "sluice_dpdk_port_drops_total", p, "reason", "tx_errors",
				   st[i].oerrors);
	}
	return err ? -EIO : 0;
}

static int worker_metrics(FILE *f, const struct dp_runtime *d)
{
	struct dp_lcore_stats s;
	int err = 0;

	dp_runtime_lcore_stats(d, &s);
	err |= family(f, "sluice_dpdk_worker_drops_total", "counter",
		      "Packets the workers freed outside the pipeline's reasons: tx_full (TX "
		      "queue full), multiseg (chained mbuf), no_port (no port to send out of).");
	err |= fprintf(f, "sluice_dpdk_worker_drops_total{reason=\"tx_full\"} %" PRIu64 "\n"
		       "sluice_dpdk_worker_drops_total{reason=\"multiseg\"} %" PRIu64 "\n"
		       "sluice_dpdk_worker_drops_total{reason=\"no_port\"} %" PRIu64 "\n",
		       s.tx_full, s.multiseg, s.no_port) < 0;
	err |= family(f, "sluice_dpdk_exception_packets_total", "counter",
		      "Frames through the exception port: to_kernel (not for a VIP, or from a "
		      "port no `node set --interface` names), from_kernel (out to the wire).");
	err |= fprintf(f, "sluice_dpdk_exception_packets_total{direction=\"to_kernel\"} %" PRIu64
		       "\nsluice_dpdk_exception_packets_total{direction=\"from_kernel\"} %" PRIu64
		       "\n", s.exc_out, s.exc_in) < 0;
	err |= family(f, "sluice_dpdk_unattached_packets_total", "counter",
		      "Frames from ports no `node set --interface` names, handed to the kernel "
		      "untouched.");
	err |= fprintf(f, "sluice_dpdk_unattached_packets_total %" PRIu64 "\n", s.unattached) < 0;
	return err ? -EIO : 0;
}

static int dpdk_write_metrics(void *ctx, FILE *f)
{
	const struct dp_runtime *d = ctx;
	int err;

	err = port_metrics(f, d);
	return err ? err : worker_metrics(f, d);
}

/* The daemon is exiting: nothing forwards without its process. */
static void dpdk_close(void *ctx)
{
	dp_runtime_free(ctx);
}

static const struct cp_driver_ops dpdk_ops = {
	.name = "dpdk",
	.params = dpdk_params,
	.attach = dpdk_attach,
	.detach = dpdk_detach,
	.set_config = dpdk_set_config,
	.set_vips = dpdk_set_vips,
	.set_vip_flags = dpdk_set_vip_flags,
	.set_ring = dpdk_set_ring,
	.batch_begin = dpdk_batch_begin,
	.batch_end = dpdk_batch_end,
	.set_backend = dpdk_set_backend,
	.set_backend_state = dpdk_set_backend_state,
	.vip_stats = dpdk_vip_stats,
	.backend_stats = dpdk_backend_stats,
	.reason_stats = dpdk_reason_stats,
	.flow_foreach = dpdk_flow_foreach,
	/* Process memory: a restart finds nothing to adopt or read back. */
	.backend_get = NULL,
	.vip_find = NULL,
	.write_metrics = dpdk_write_metrics,
	.close = dpdk_close,
};

void cp_driver_dpdk_init(struct cp_driver *drv, struct dp_runtime *d)
{
	drv->ops = &dpdk_ops;
	drv->ctx = d;
}
