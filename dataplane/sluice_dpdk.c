// SPDX-License-Identifier: Apache-2.0
/*
 * sluice-dpdk - the Sluice control plane over the DPDK fast path: the
 * daemon core (controlplane/daemon.c) with the "dpdk" driver, worker
 * lcores polling every ethdev port the EAL found, and a pcap mode that
 * runs the same burst function over a capture (as glb-director's).
 *
 * Arguments before "--" are the daemon's, after it the EAL's. The main
 * lcore runs the control plane; every other lcore is a worker with one
 * RX and one TX queue on every port.
 */
#define LB_LOG_PREFIX "sluice-dpdk: "

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "daemon.h"
#include "driver_dpdk.h"
#include "lcore.h"
#include "log.h"
#include "model.h"
#include "numparse.h"
#include "state.h"

#define PROG "sluice-dpdk"
#define NB_RXD 1024
#define NB_TXD 1024
#define POOL_CACHE 256
#define PCAP_PORT "net_pcap_sluice"
#define DEFAULT_PREFIX "sluice"

enum { OPT_PCAP_IN = 256, OPT_PCAP_OUT, OPT_PCAP_NEXTHOP, OPT_GATEWAY_MAC };

struct dpdk_opts {
	const char *pcap_in;
	const char *pcap_out;
	const char *nexthop;
};

static struct dp_runtime g_dp = { .exc = -1, .first_fp = -1 };
static struct dpdk_opts g_opts;

static const struct option dpdk_longopts[] = {
	{ "pcap-in", required_argument, 0, OPT_PCAP_IN },
	{ "pcap-out", required_argument, 0, OPT_PCAP_OUT },
	{ "pcap-nexthop", required_argument, 0, OPT_PCAP_NEXTHOP },
	{ "gateway-mac", required_argument, 0, OPT_GATEWAY_MAC },
	{ 0, 0, 0, 0 },
};

static const char options_help[] =
"      --gateway-mac MAC  every backend's next hop is this MAC (one router in\n"
"                         front of all backends), out the first fast-path port;\n"
"                         default: the kernel's neighbour for each backend,\n"
"                         resolved on the exception port's interface (or the\n"
"                         interface of an af_packet/af_xdp port)\n"
"      --pcap-in FILE     pcap mode: run the worker pipeline over every packet\n"
"                         of FILE with the tables --config describes, write what\n"
"                         would be sent (forwarded, ICMP replies; not what the\n"
"                         kernel would get, not drops) to --pcap-out, print one\n"
"                         line of counts per reason and exit. No API socket, no\n"
"                         state file; --no-fastpath is refused.\n"
"      --pcap-out FILE    pcap mode: where the sent packets go (required)\n"
"      --pcap-nexthop MAC pcap mode: the next hop of every backend (there is no\n"
"                         neighbour table to resolve one); without it packets\n"
"                         to backends drop as drop_no_neigh\n"
;

/* ---- ports ----------------------------------------------------------- */

/* The kernel interface behind a port: the PMD's if_index, else the
 * vdev's iface= argument. */
static void port_iface(struct dp_port *p, const struct rte_eth_dev_info *info)
{
	const struct rte_devargs *da = info->device ? rte_dev_devargs(info->device) : NULL;
	const char *s;

	p->ifindex = info->if_index;
	if (p->ifindex && if_indextoname(p->ifindex, p->ifname))
		return;
	p->ifname[0] = 0;
	s = da && da->args ? strstr(da->args, "iface=") : NULL;
	if (s) {
		size_t n = strcspn(s + 6, ",");

		if (n < sizeof(p->ifname)) {
			memcpy(p->ifname, s + 6, n);
			p->ifname[n] = 0;
			p->ifindex = if_nametoindex(p->ifname);
		}
	}
	if (!p->ifindex)
		p->ifindex = DP_IFINDEX_NO_KERNEL | p->id;
}

/* Records the ports the EAL found (only the one named only, if given). */
static int ports_probe(struct dp_runtime *d, const char *only)
{
	uint16_t pid;

	RTE_ETH_FOREACH_DEV(pid) {
		struct rte_eth_dev_info info;
		struct dp_port *p;
		char name[RTE_ETH_NAME_MAX_LEN];

		if (rte_eth_dev_get_name_by_port(pid, name) || (only && strcmp(name, only)))
			continue;
		if (d->n_ports == DP_MAX_PORTS) {
			pr_warn("more than %d ports; ignoring %s\n", DP_MAX_PORTS, name);
			continue;
		}
		if (rte_eth_dev_info_get(pid, &info))
			continue;
		p = &d->ports[d->n_ports];
		memset(p, 0, sizeof(*p));
		p->id = pid;
		snprintf(p->name, sizeof(p->name), "%s", name);
		port_iface(p, &info);
		rte_eth_macaddr_get(pid, &p->mac);
		p->exception = info.driver_name && !strcmp(info.driver_name, "net_tap");
		if (p->exception && d->exc < 0)
			d->exc = (int)d->n_ports;
		else if (p->exception)
			p->exception = 0;	/* only one exception port */
		if (!p->exception && d->first_fp < 0)
			d->first_fp = (int)d->n_ports;
		pr_info("port %u %s%s%s%s\n", pid, name, p->ifname[0] ? " iface " : "",
			p->ifname, p->exception ? " (exception port)" : "");
		d->n_ports++;
	}
	if (!d->n_ports) {
		pr_warn("the EAL found no port; give it one, e.g. "
			"--vdev=net_af_packet0,iface=eth0\n");
		return -ENODEV;
	}
	return 0;
}

static int port_conf(struct dp_port *p, uint16_t nq, struct rte_eth_conf *conf,
		     struct rte_eth_dev_info *info)
{
	memset(conf, 0, sizeof(*conf));
	if (rte_eth_dev_info_get(p->id, info))
		return -ENODEV;
	if (nq > info->max_rx_queues || nq > info->max_tx_queues) {
		pr_warn("port %s has %u RX/%u TX queues, %u workers need one each "
			"(net_af_packet/net_af_xdp: qpairs=%u/queue_count=%u; or fewer lcores)\n",
			p->name, info->max_rx_queues, info->max_tx_queues, nq, nq, nq);
		return -EINVAL;
	}
	/* RSS on what the port can hash: a flow stays on one worker,
	 * whose connection table then knows it. */
	conf->rx_adv_conf.rss_conf.rss_hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) &
					    info->flow_type_rss_offloads;
	if (nq > 1 && conf->rx_adv_conf.rss_conf.rss_hf)
		conf->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
	else if (nq > 1)
		pr_warn("port %s has no RSS: flows land on queues as the PMD likes\n",
			p->name);
	return 0;
}

static int port_start(struct dp_runtime *d, struct dp_port *p, uint16_t nq)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	uint16_t rxd = NB_RXD, txd = NB_TXD;
	int sock = rte_eth_dev_socket_id(p->id), err;

	err = port_conf(p, nq, &conf, &info);
	if (err)
		return err;
	err = rte_eth_dev_configure(p->id, nq, nq, &conf);
	if (!err)
		err = rte_eth_dev_adjust_nb_rx_tx_desc(p->id, &rxd, &txd);
	for (uint16_t q = 0; !err && q < nq; q++) {
		err = rte_eth_rx_queue_setup(p->id, q, rxd, sock < 0 ? SOCKET_ID_ANY : sock, NULL,
					     d->pool);
		if (!err)
			err = rte_eth_tx_queue_setup(p->id, q, txd,
						     sock < 0 ? SOCKET_ID_ANY : sock, NULL);
	}
	if (!err)
		err = rte_eth_dev_start(p->id);
	if (err)
		pr_warn("port %s: cannot start: %s\n", p->name, strerror(-err));
	return err;
}

/* The exception port is the kernel's face of the first fast-path port:
 * with that port's MAC, the kernel's ARP and ND answers name the address
 * the wire reaches us at. */
static void exception_mac(struct dp_runtime *d)
{
	struct dp_port *exc, *fp;
	char mac[RTE_ETHER_ADDR_FMT_SIZE];
	int err;

	if (d->exc < 0 || d->first_fp < 0)
		return;
	exc = &d->ports[d->exc];
	fp = &d->ports[d->first_fp];
	rte_ether_format_addr(mac, sizeof(mac), &fp->mac);
	err = rte_eth_dev_default_mac_addr_set(exc->id, &fp->mac);
	if (err) {
		pr_warn("exception port %s: cannot take %s's MAC %s: %s; the kernel's "
			"ARP/ND answers will name the wrong address\n", exc->ifname, fp->name, mac,
			strerror(-err));
		return;
	}
	exc->mac = fp->mac;
	pr_info("exception port %s stands for %s (MAC %s)\n", exc->ifname[0] ? exc->ifname : exc->name,
		fp->ifname[0] ? fp->ifname : fp->name, mac);
}

static int ports_start(struct dp_runtime *d, uint16_t nq)
{
	unsigned int n = d->n_ports * nq * (NB_RXD + NB_TXD + 2 * LB_DP_BURST) +
			 rte_lcore_count() * POOL_CACHE;

	d->pool = rte_pktmbuf_pool_create("sl_mbufs", n < 8191 ? 8191 : n, POOL_CACHE, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (!d->pool) {
		pr_warn("cannot create a pool of %u mbufs: %s (raise EAL -m)\n", n,
			rte_strerror(rte_errno));
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < d->n_ports; i++) {
		int err = port_start(d, &d->ports[i], nq);

		if (err)
			return err;
	}
	exception_mac(d);
	return 0;
}

static void ports_close(struct dp_runtime *d)
{
	for (unsigned int i = 0; i < d->n_ports; i++) {
		rte_eth_dev_stop(d->ports[i].id);
		rte_eth_dev_close(d->ports[i].id);
	}
	d->n_ports = 0;
	rte_mempool_free(d->pool);
	d->pool = NULL;
}

/* ---- the fast path the daemon opens ----------------------------------- */

static int parse_mac(const char *s, uint8_t mac[RTE_ETHER_ADDR_LEN]);

static int dpdk_option(void *arg, int val, const char *optarg)
{
	struct dp_runtime *d = arg;

	if (val == OPT_GATEWAY_MAC) {
		if (parse_mac(optarg, d->nh_dmac)) {
			fprintf(stderr, PROG ": --gateway-mac %s: not a MAC address "
				"(aa:bb:cc:dd:ee:ff)\n", optarg);
			return -EINVAL;
		}
		d->nh_set = 1;
		return 0;
	}
	if (val == OPT_PCAP_IN || val == OPT_PCAP_OUT || val == OPT_PCAP_NEXTHOP) {
		/* main() saw no --pcap-in: the others make no sense alone. */
		fprintf(stderr, PROG ": --pcap-out and --pcap-nexthop need --pcap-in\n");
		return -EINVAL;
	}
	return -EINVAL;
}

static int workers_setup(struct dp_runtime *d, const struct lb_params *req)
{
	unsigned int lcores[DP_MAX_LCORES], n = 0, l;
	struct lb_params p = *req;
	int err;

	RTE_LCORE_FOREACH_WORKER(l) {
		if (n < DP_MAX_LCORES)
			lcores[n++] = l;
	}
	if (!n) {
		pr_warn("no worker lcore: give the EAL two or more (-l 0-1); the main "
			"lcore runs the control plane\n");
		return -EINVAL;
	}
	err = dp_runtime_params(&p, n);
	if (!err)
		err = ports_probe(d, NULL);
	if (!err)
		err = ports_start(d, (uint16_t)n);
	if (!err)
		err = dp_runtime_alloc(d, &p, n, lcores);
	for (unsigned int i = 0; !err && i < n; i++)
		err = dp_lcore_ports_init(d, &d->lcores[i]);
	return err;
}

/* --gateway-mac (and pcap mode's --pcap-nexthop): every backend is behind
 * that MAC, out port p, from p's MAC, at p's MTU. */
static void gateway_nexthop(struct dp_runtime *d, const struct dp_port *p)
{
	uint16_t mtu = RTE_ETHER_MTU;

	if (rte_eth_dev_get_mtu(p->id, &mtu) || !mtu)
		mtu = RTE_ETHER_MTU;
	d->nh_ifindex = p->ifindex;
	d->nh_mtu = mtu;
	memcpy(d->nh_smac, p->mac.addr_bytes, sizeof(d->nh_smac));
}

static int dpdk_fixed_nexthop(void *arg)
{
	return ((const struct dp_runtime *)arg)->nh_set;
}

/* The exception TAP dies with us: routes announced out of it go with the
 * process, a crash included. 0 without one (routes are then blackholes,
 * withdrawn on every orderly exit only). */
static int dpdk_announce_ifindex(void *arg)
{
	const struct dp_runtime *d = arg;

	if (d->exc < 0 || (d->ports[d->exc].ifindex & DP_IFINDEX_NO_KERNEL))
		return 0;
	return (int)d->ports[d->exc].ifindex;
}

static int dpdk_open(void *arg, struct cp_driver *drv, const struct lb_params *req, int *adopted)
{
	struct dp_runtime *d = arg;
	int err;

	*adopted = 0;
	err = workers_setup(d, req);
	if (err) {
		dp_runtime_free(d);
		return err;
	}
	if (d->nh_set)
		gateway_nexthop(d, &d->ports[d->first_fp < 0 ? 0 : d->first_fp]);
	for (unsigned int i = 0; i < d->n_lcores; i++) {
		err = rte_eal_remote_launch(dp_lcore_main, &d->lcores[i], d->lcores[i].lcore_id);
		if (err) {
			pr_warn("cannot launch lcore %u: %s\n", d->lcores[i].lcore_id,
				strerror(-err));
			d->launched = 1;	/* dp_runtime_free stops those that run */
			dp_runtime_free(d);
			return err;
		}
		d->launched = 1;
	}
	cp_driver_dpdk_init(drv, d);
	pr_info("%u workers on %u ports%s\n", d->n_lcores, d->n_ports,
		d->exc >= 0 ? " with an exception port" : "");
	return 0;
}

/* ---- pcap mode ---------------------------------------------------------- */

static int parse_mac(const char *s, uint8_t mac[RTE_ETHER_ADDR_LEN])
{
	unsigned int b[6];
	char end;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

struct pcap_args {
	const char *config;
	struct lb_params params;
	int verbose;
};

/* pcap mode's options: the capture, the config and the sizes. */
static int pcap_parse(int argc, char **argv, struct pcap_args *a)
{
	static const struct option lo[] = {
		{ "pcap-in", required_argument, 0, OPT_PCAP_IN },
		{ "pcap-out", required_argument, 0, OPT_PCAP_OUT },
		{ "pcap-nexthop", required_argument, 0, OPT_PCAP_NEXTHOP },
		{ "config", required_argument, 0, 'c' },
		{ "max-vips", required_argument, 0, 'V' },
		{ "max-backends", required_argument, 0, 'B' },
		{ "max-ring", required_argument, 0, 'R' },
		{ "flow-buckets", required_argument, 0, 'F' },
		{ "foreground", no_argument, 0, 'f' },
		{ "verbose", no_argument, 0, 'v' },
		{ 0, 0, 0, 0 },
	};
	int c, err = 0;

	optind = 0;
	while (!err && (c = getopt_long(argc, argv, "c:fv", lo, NULL)) != -1) {
		switch (c) {
		case OPT_PCAP_IN: g_opts.pcap_in = optarg; break;
		case OPT_PCAP_OUT: g_opts.pcap_out = optarg; break;
		case OPT_PCAP_NEXTHOP: g_opts.nexthop = optarg; break;
		case 'c': a->config = optarg; break;
		case 'V': err = lb_numparse_u32(optarg, &a->params.max_vips); break;
		case 'B': err = lb_numparse_u32(optarg, &a->params.max_backends); break;
		case 'R': err = lb_numparse_u32(optarg, &a->params.max_ring); break;
		case 'F': err = lb_numparse_u32(optarg, &a->params.flow_buckets); break;
		case 'f': break;
		case 'v': a->verbose++; break;
		default: err = -EINVAL; break;
		}
	}
	if (!err && optind < argc)
		err = -EINVAL;
	if (!err && (!g_opts.pcap_out || !a->config)) {
		fprintf(stderr, PROG ": pcap mode needs --pcap-out and --config\n");
		err = -EINVAL;
	}
	if (!err && g_opts.nexthop && parse_mac(g_opts.nexthop, g_dp.nh_dmac)) {
		fprintf(stderr, PROG ": --pcap-nexthop %s: not a MAC address\n", g_opts.nexthop);
		err = -EINVAL;
	}
	if (err)
		fprintf(stderr, PROG ": pcap mode takes --pcap-in, --pcap-out, --pcap-nexthop, "
			"--config, --max-* and --flow-buckets only. Try '" PROG " --help'.\n");
	return err;
}

/* The config, through the same model the daemon uses, into the tables. */
static int pcap_load(struct cp_model *m, struct cp_driver *drv, const char *path)
{
	struct cp_error e = { "", "" };
	struct cp_model loaded;
	int err;

	err = cp_model_init(m, drv->ops->params(drv->ctx), drv);
	if (err)
		return err;
	err = cp_state_load(path, &m->limits, &loaded, NULL, &e);
	if (err) {
		pr_warn("%s: %s\n", e.field[0] ? e.field : path,
			e.msg[0] ? e.msg : strerror(-err));
		return err;
	}
	err = cp_model_apply_diff(m, &loaded, &e);
	cp_model_free(&loaded);
	if (err < 0) {
		pr_warn("applying %s: %s: %s\n", path, e.field, e.msg);
		return err;
	}
	return 0;
}

static void pcap_summary(struct dp_runtime *d, uint64_t rx)
{
	static const char *const names[LB_R_MAX] = LB_REASON_NAMES;
	struct lb_reason_stats rs[LB_R_MAX];
	struct dp_lcore_stats ls;
	struct rte_eth_stats es;
	struct cp_driver drv;

	cp_driver_dpdk_init(&drv, d);
	drv.ops->reason_stats(d, rs);
	dp_runtime_lcore_stats(d, &ls);
	if (rte_eth_stats_get(d->ports[0].id, &es))
		memset(&es, 0, sizeof(es));
	printf(PROG ": %" PRIu64 " packets:", rx);
	for (int r = 0; r < LB_R_MAX; r++)
		if (rs[r].packets)
			printf(" %s=%llu", names[r], (unsigned long long)rs[r].packets);
	if (ls.multiseg)
		printf(" multiseg=%" PRIu64, ls.multiseg);
	printf("; written %" PRIu64 "\n", es.opackets);
}

static int pcap_run(struct dp_runtime *d)
{
	struct dp_lcore *lc = &d->lcores[0];
	struct rte_mbuf *pkts[LB_DP_BURST];
	uint64_t rx = 0;
	uint16_t n;

	/* net_pcap returns 0 at the end of the file. The main thread is
	 * the only reader and writes no table from here on: no qsbr. */
	while ((n = rte_eth_rx_burst(d->ports[0].id, 0, pkts, LB_DP_BURST)) > 0) {
		rx += n;
		dp_burst(lc, 0, pkts, n);
	}
	dp_flush(lc);
	pcap_summary(d, rx);
	return 0;
}

static int pcap_main(int argc, char **argv)
{
	struct pcap_args a = { 0 };
	struct dp_runtime *d = &g_dp;
	struct cp_model m = { 0 };
	struct cp_driver drv;
	unsigned int lc = rte_lcore_id();
	int err;

	err = pcap_parse(argc, argv, &a);
	if (err)
		return 2;
	lb_log_set_level(LB_LOG_INFO + a.verbose);
	d->pcap = 1;
	err = ports_probe(d, PCAP_PORT);
	if (!err)
		err = ports_start(d, 1);
	if (!err)
		err = dp_runtime_params(&a.params, 1);
	if (!err)
		err = dp_runtime_alloc(d, &a.params, 1, &lc);
	if (!err)
		err = dp_lcore_ports_init(d, &d->lcores[0]);
	if (!err) {
		if (g_opts.nexthop) {
			d->nh_set = 1;
			gateway_nexthop(d, &d->ports[0]);
		}
		cp_driver_dpdk_init(&drv, d);
		err = pcap_load(&m, &drv, a.config);
	}
	if (!err)
		err = pcap_run(d);
	cp_model_free(&m);
	dp_runtime_free(d);
	ports_close(d);	/* closing net_pcap completes the output file */
	return err ? 1 : 0;
}

/* ---- main ----------------------------------------------------------------- */

static int has_arg(int argc, char **argv, const char *a)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], a) || (!strncmp(argv[i], a, strlen(a)) && argv[i][strlen(a)] == '='))
			return 1;
	return 0;
}

struct eal_argv {
	char *v[256];
	int n;
	char prefix[64];
	char vdev[3 * PATH_MAX];
	int own_prefix;		/* we chose the prefix: remove its run dir */
};

/* argv[0] and what follows "--", plus a --file-prefix and, in pcap mode,
 * the net_pcap port. */
static int eal_args(int argc, char **argv, int sep, int pcap, struct eal_argv *e)
{
	e->v[e->n++] = argv[0];
	for (int i = sep + 1; i < argc && e->n < 250; i++)
		e->v[e->n++] = argv[i];
	if (!has_arg(e->n, e->v, "--file-prefix")) {
		if (pcap)
			snprintf(e->prefix, sizeof(e->prefix), "--file-prefix=sluice-pcap-%d",
				 (int)getpid());
		else
			snprintf(e->prefix, sizeof(e->prefix), "--file-prefix=%s", DEFAULT_PREFIX);
		e->v[e->n++] = e->prefix;
		/* DPDK 22.11 leaves the run dir (config, fbarrays, about
		 * 6 MB) after a clean exit; only tools attached while we
		 * run need it. */
		e->own_prefix = 1;
	}
	if (pcap) {
		/* ',' separates vdev arguments: a path holding one cannot
		 * be passed. */
		if (strchr(g_opts.pcap_in, ',') || strchr(g_opts.pcap_out, ',')) {
			fprintf(stderr, PROG ": pcap file names must not contain ','\n");
			return -EINVAL;
		}
		snprintf(e->vdev, sizeof(e->vdev), "--vdev=" PCAP_PORT ",rx_pcap=%s,tx_pcap=%s",
			 g_opts.pcap_in, g_opts.pcap_out);
		e->v[e->n++] = e->vdev;
	}
	e->v[e->n] = NULL;
	return 0;
}

/* The pcap file given to --pcap-in/--pcap-out before the EAL parses its
 * arguments (it needs them as a vdev). */
static void prescan_pcap(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char **dst = !strcmp(argv[i], "--pcap-in")  ? &g_opts.pcap_in :
				   !strcmp(argv[i], "--pcap-out") ? &g_opts.pcap_out : NULL;

		if (dst && i + 1 < argc)
			*dst = argv[++i];
		else if (!strncmp(argv[i], "--pcap-in=", 10))
			g_opts.pcap_in = argv[i] + 10;
		else if (!strncmp(argv[i], "--pcap-out=", 11))
			g_opts.pcap_out = argv[i] + 11;
	}
}

int main(int argc, char **argv)
{
	static const struct cp_fastpath fp = {
		.prog = PROG,
		.summary =
"The Sluice control plane over the DPDK fast path: keeps the worker lcores'\n"
"tables in step with the desired state and serves sluicectl and\n"
"sluice-healthd, as sluiced does for XDP.\n",
		.options_help = options_help,
		.exit_log = "forwarding stops with the process",
		.signals_help =
"exit; forwarding stops with the process (DPDK keeps nothing across a restart:\n"
"the next start writes the state file's model afresh), and so the VIP routes\n"
"of the announce table are withdrawn first (a crash cannot: they stay until\n"
"the next start reconciles them).\n"
"\n"
"EAL options follow \"--\". Every ethdev port is a fast-path port, except a\n"
"net_tap port, which becomes the exception port: what the pipeline passes\n"
"goes there (to the kernel), and what the kernel sends there goes out the\n"
"first fast-path port. `node set --interface IF` names a port by the iface=\n"
"of its net_af_packet/net_af_xdp vdev or by its ethdev name; frames of ports\n"
"it does not name go to the exception port untouched. Without --file-prefix,\n"
"the daemon uses --file-prefix=" DEFAULT_PREFIX " (so a DPDK application with the\n"
"default prefix can run beside it) and pcap mode a per-process prefix; either\n"
"removes its run directory under /var/run/dpdk at exit. Workers: every lcore\n"
"but the main one (EAL -l 0-N). Example:\n"
"  " PROG " -f -c sluice.conf -- -l 0-1 --no-huge -m 512 --no-pci \\\n"
"      --vdev=net_af_packet0,iface=eth0 --vdev=net_tap0,iface=sl-exc\n"
"  " PROG " --pcap-in in.pcap --pcap-out out.pcap -c sluice.conf \\\n"
"      --pcap-nexthop 02:00:00:00:00:01 -- --no-huge -m 512 --no-pci\n",
		.options = dpdk_longopts,
		.option = dpdk_option,
		.open = dpdk_open,
		.fixed_nexthop = dpdk_fixed_nexthop,
		.no_daemon = 1,
		/* Nothing forwards once we are gone: peers must stop sending. */
		.withdraw_on_exit = 1,
		.announce_ifindex = dpdk_announce_ifindex,
		.arg = &g_dp,
	};
	struct eal_argv e = { .n = 0 };
	int sep = argc, rc, pcap;
	sigset_t set;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			sep = i;
			break;
		}
	}
	/* --help and --version need no EAL. */
	if (has_arg(sep, argv, "--help") || has_arg(sep, argv, "-h") ||
	    has_arg(sep, argv, "--version"))
		return cp_daemon_main(sep, argv, &fp);
	prescan_pcap(sep, argv);
	pcap = g_opts.pcap_in != NULL;
	if (pcap && has_arg(sep, argv, "--no-fastpath")) {
		fprintf(stderr, PROG ": --no-fastpath makes no sense with --pcap-in\n");
		return 2;
	}
	if (pcap && !g_opts.pcap_out) {
		fprintf(stderr, PROG ": --pcap-in needs --pcap-out\n");
		return 2;
	}
	if (eal_args(argc, argv, sep, pcap, &e))
		return 2;

	/* EAL threads inherit the mask: the daemon's signalfd sees SIGTERM
	 * only if no thread takes it by default action. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (!pcap)
		pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (rte_eal_init(e.n, e.v) < 0) {
		fprintf(stderr, PROG ": EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	optind = 0;	/* the EAL ran getopt over its own argv */
	if (pcap) {
		rc = pcap_main(sep, argv);
	} else {
		rc = cp_daemon_main(sep, argv, &fp);
		dp_runtime_free(&g_dp);	/* --no-fastpath or a failed start */
		ports_close(&g_dp);
	}
	if (e.own_prefix) {
		const char *dir = rte_eal_get_runtime_dir();
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s", dir);
		rte_eal_cleanup();
		dp_remove_run_dir(path);
	} else {
		rte_eal_cleanup();
	}
	return rc;
}
