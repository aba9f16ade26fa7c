// SPDX-License-Identifier: Apache-2.0
/*
 * test_xdp_fib.c - the forwarder without a cached next hop: it asks the
 * kernel FIB (bpf_fib_lookup) in a private network namespace this test
 * builds (veth pair, addresses, a permanent neighbour, a route with an
 * MTU). Checks the MACs the FIB gives, XDP_TX vs XDP_REDIRECT, the
 * unresolved-neighbour and no-route drops, and the FIB's MTU answer
 * turning into a frag-needed to the client.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "hash.h"
#include "loader.h"
#include "maglev.h"
#include "pktbuild.h"

#define VIP "10.100.0.1"
#define CLIENT "192.0.2.7"
#define BACKEND_NEAR "10.0.0.11"	/* on veth-a, neighbour permanent */
#define BACKEND_GW "10.9.0.5"		/* via 10.0.0.2 on veth-a, route MTU 1400 */
#define BACKEND_UNRESOLVED "10.0.0.77"	/* on veth-a, no neighbour */
#define BACKEND_FAR "10.0.1.11"		/* on veth-b: another interface */
#define BACKEND_NOROUTE "203.0.113.9"

static const uint8_t mac_near[6] = { 0x02, 0xbb, 0, 0, 0, 0x11 };
static const uint8_t mac_gw[6] = { 0x02, 0xbb, 0, 0, 0, 0x02 };
static const uint8_t mac_far[6] = { 0x02, 0xbb, 0, 0, 1, 0x11 };

struct world {
	struct lb_xdp *x;
	int ifa, ifb;
	uint8_t mac_a[6], mac_b[6];
};

static int sh(const char *cmd)
{
	int rc = system(cmd);

	if (rc)
		print_error("command failed (%d): %s\n", rc, cmd);
	return rc;
}

/* sysfs still shows the namespace we left: ask the socket layer. */
static int read_mac(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM, 0), err;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	err = ioctl(fd, SIOCGIFHWADDR, &ifr);
	close(fd);
	if (err)
		return -1;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

/* The namespace: veth-a (10.0.0.1/24, neighbours of the backends and the
 * gateway) and veth-b (10.0.1.1/24), forwarding on. */
static int build_netns(struct world *w)
{
	static const char *const cmds[] = {
		"ip link set lo up",
		"ip link add veth-a type veth peer name veth-a-peer",
		"ip link add veth-b type veth peer name veth-b-peer",
		"ip link set veth-a up", "ip link set veth-a-peer up",
		"ip link set veth-b up", "ip link set veth-b-peer up",
		"ip addr add 10.0.0.1/24 dev veth-a",
		"ip addr add 10.0.1.1/24 dev veth-b",
		"ip neigh replace 10.0.0.11 lladdr 02:bb:00:00:00:11 nud permanent dev veth-a",
		"ip neigh replace 10.0.0.2 lladdr 02:bb:00:00:00:02 nud permanent dev veth-a",
		"ip neigh replace 10.0.1.11 lladdr 02:bb:00:00:01:11 nud permanent dev veth-b",
		/* Forwarding honours a route MTU only when locked
		 * (ip_mtu_from_fib_result): as a router would. */
		"ip route add 10.9.0.0/24 via 10.0.0.2 dev veth-a mtu lock 1400",
		"sysctl -qw net.ipv4.ip_forward=1",
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (sh(cmds[i]))
			return -1;
	w->ifa = if_nametoindex("veth-a");
	w->ifb = if_nametoindex("veth-b");
	if (!w->ifa || !w->ifb || read_mac("veth-a", w->mac_a) || read_mac("veth-b", w->mac_b))
		return -1;
	return 0;
}

static void addr_of(const char *s, struct lb_addr *a)
{
	memset(a, 0, sizeof(*a));
	assert_int_equal(inet_pton(AF_INET, s, &a->w[0]), 1);
}

/* VIP 10.100.0.1:80/tcp with one backend (no cached next hop), id 1. */
static void publish(struct world *w, const char *backend)
{
	struct lb_vip_entry v[2] = { 0 };
	struct lb_backend b = { 0 };
	struct lb_maglev_backend mb = { 0 };
	struct lb_config cfg = { 0 };
	__u32 ring[13];

	addr_of(VIP, &v[0].key.addr);
	v[0].key.port = htons(80);
	v[0].key.proto = IPPROTO_TCP;
	v[0].key.family = LB_FAMILY_V4;
	v[0].vip_id = 0;
	v[1].key = v[0].key;
	v[1].key.port = 0;
	v[1].key.proto = IPPROTO_ICMP;
	v[1].vip_id = LB_VIP_ID_ADDR;
	assert_int_equal(lb_xdp_set_vips(w->x, v, 2), 0);

	addr_of(backend, &b.addr);
	b.family = LB_FAMILY_V4;
	b.state = LB_BACKEND_UP;
	b.gen = 7;
	assert_int_equal(lb_xdp_set_backend(w->x, 1, &b), 0);
	mb.addr = b.addr;
	mb.family = LB_FAMILY_V4;
	mb.weight = 1;
	mb.id = 1;
	assert_int_equal(lb_maglev_build(&mb, 1, ring, 13), 0);
	assert_int_equal(lb_xdp_set_ring(w->x, 0, ring, 13), 0);

	inet_pton(AF_INET, "10.0.0.1", &cfg.encap_src4);
	assert_int_equal(lb_xdp_set_config(w->x, &cfg), 0);
}

static int setup(void **state)
{
	struct lb_params p = {
		.vip_slots = 64, .max_vips = 4, .max_ring = 13,
		.max_backends = 8, .flow_buckets = 64,
	};
	struct world *w = calloc(1, sizeof(*w));

	if (geteuid() != 0) {
		printf("test_xdp_fib: skipped: needs root (network namespace, BPF)\n");
		exit(77);
	}
	if (!w || unshare(CLONE_NEWNET)) {
		print_error("unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	if (build_netns(w)) {
		print_error("cannot build the test namespace\n");
		return -1;
	}
	w->x = lb_xdp_open(&p);
	if (!w->x) {
		print_error("lb_xdp_open: %s\n", strerror(errno));
		return -1;
	}
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	lb_xdp_close(w->x);
	free(w);
	return 0;
}

struct run {
	int action;
	uint8_t out[2048];
	__u32 out_len;
};

static struct run run_on(struct world *w, const uint8_t *in, size_t len, int ifindex)
{
	struct xdp_md ctx = { .data_end = len, .ingress_ifindex = ifindex };
	struct run r = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = in, .data_size_in = len,
		.data_out = r.out, .data_size_out = sizeof(r.out),
		.ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
		.repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(lb_xdp_prog_fd(w->x), &opts), 0);
	r.action = opts.retval;
	r.out_len = opts.data_size_out;
	return r;
}

static size_t syn_frame(uint8_t *buf, size_t cap, size_t payload)
{
	static uint8_t data[1600];
	struct pb_pkt p = {
		.dmac = { 0x02, 0xaa, 0, 0, 0, 1 }, .smac = { 0x02, 0xcc, 0, 0, 0, 7 },
		.src = CLIENT, .dst = VIP, .df = 1, .proto = PB_P_TCP,
		.sport = 40000, .dport = 80, .tcp_flags = PB_TCP_SYN, .seq = 1,
		.payload = data, .payload_len = payload,
	};

	return pb_frame(buf, cap, &p);
}

static __u64 reason(struct world *w, int r)
{
	struct lb_reason_stats rs[LB_R_MAX];

	assert_int_equal(lb_xdp_reason_stats(w->x, rs), 0);
	return rs[r].packets;
}

/* Backend 1's drops of reason r (fwd.h LB_BACKEND_DROP_FIRST..). */
static __u64 backend_dropped(struct world *w, int r)
{
	struct lb_backend_stats bs;

	assert_int_equal(lb_xdp_backend_stats(w->x, 1, &bs), 0);
	return bs.dropped[r - LB_BACKEND_DROP_FIRST];
}

/* The outer header names the backend, the MACs are the FIB's. */
static void assert_forwarded(const struct run *r, const uint8_t *in, size_t len,
			     const uint8_t dmac[6], const uint8_t smac[6], const char *backend)
{
	struct lb_addr a;

	addr_of(backend, &a);
	assert_int_equal(r->out_len, len + 20);
	assert_memory_equal(r->out, dmac, 6);
	assert_memory_equal(r->out + 6, smac, 6);
	assert_memory_equal(r->out + 14 + 16, &a.w[0], 4);
	assert_memory_equal(r->out + 34, in + 14, len - 14);
}

static void test_fib_same_interface_tx(void **state)
{
	struct world *w = *state;
	uint8_t in[256];
	size_t len = syn_frame(in, sizeof(in), 0);
	struct run r;

	publish(w, BACKEND_NEAR);
	r = run_on(w, in, len, w->ifa);
	assert_int_equal(r.action, XDP_TX);
	assert_forwarded(&r, in, len, mac_near, w->mac_a, BACKEND_NEAR);
	assert_int_equal(reason(w, LB_R_FWD_TX), 1);
}

static void test_fib_gateway(void **state)
{
	struct world *w = *state;
	uint8_t in[256];
	size_t len = syn_frame(in, sizeof(in), 0);
	struct run r;

	publish(w, BACKEND_GW);
	r = run_on(w, in, len, w->ifa);
	assert_int_equal(r.action, XDP_TX);
	assert_forwarded(&r, in, len, mac_gw, w->mac_a, BACKEND_GW);
}

static void test_fib_other_interface_redirect(void **state)
{
	struct world *w = *state;
	uint8_t in[256];
	size_t len = syn_frame(in, sizeof(in), 0);
	struct run r;

	publish(w, BACKEND_FAR);
	r = run_on(w, in, len, w->ifa);
	assert_int_equal(r.action, XDP_REDIRECT);
	assert_forwarded(&r, in, len, mac_far, w->mac_b, BACKEND_FAR);
	assert_int_equal(reason(w, LB_R_FWD_REDIRECT), 1);
}

static void test_fib_no_neighbour(void **state)
{
	struct world *w = *state;
	uint8_t in[256];
	size_t len = syn_frame(in, sizeof(in), 0);
	struct run r;

	publish(w, BACKEND_UNRESOLVED);
	r = run_on(w, in, len, w->ifa);
	assert_int_equal(r.action, XDP_DROP);
	assert_int_equal(reason(w, LB_R_DROP_NO_NEIGH), 1);
	/* ... and against the backend it was for. */
	assert_int_equal(backend_dropped(w, LB_R_DROP_NO_NEIGH), 1);
	assert_int_equal(backend_dropped(w, LB_R_DROP_FIB), 0);
}

static void test_fib_no_route(void **state)
{
	struct world *w = *state;
	uint8_t in[256];
	size_t len = syn_frame(in, sizeof(in), 0);
	struct run r;

	publish(w, BACKEND_NOROUTE);
	r = run_on(w, in, len, w->ifa);
	assert_int_equal(r.action, XDP_DROP);
	assert_int_equal(reason(w, LB_R_DROP_FIB), 1);
	assert_int_equal(backend_dropped(w, LB_R_DROP_FIB), 1);
	assert_int_equal(backend_dropped(w, LB_R_DROP_NO_NEIGH), 0);
}

/* Route MTU 1400: a 1400-byte DF packet does not fit with 20 bytes of
 * outer header; the client gets frag-needed with MTU 1380. */
static void test_fib_mtu_frag_needed(void **state)
{
	struct world *w = *state;
	uint8_t in[1600];
	size_t len = syn_frame(in, sizeof(in), 1400 - 40);
	struct run r;

	publish(w, BACKEND_GW);
	r = run_on(w, in, len, w->ifa);
	assert_int_equal(r.action, XDP_TX);
	assert_int_equal(reason(w, LB_R_ICMP_TOO_BIG_SENT), 1);
	assert_int_equal(r.out[14 + 9], PB_P_ICMP);
	assert_int_equal(r.out[34], 3);
	assert_int_equal(r.out[35], 4);
	assert_int_equal(pb_get16(r.out + 40), 1380);
	assert_int_equal(pb_csum(r.out + 14, 20), 0);
	assert_int_equal(pb_csum(r.out + 34, r.out_len - 34), 0);
	/* One byte less fits: forwarded. */
	len = syn_frame(in, sizeof(in), 1380 - 40);
	r = run_on(w, in, len, w->ifa);
	assert_int_equal(r.action, XDP_TX);
	assert_int_equal(reason(w, LB_R_FWD_TX), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fib_same_interface_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fib_gateway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fib_other_interface_redirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fib_no_neighbour, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fib_no_route, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fib_mtu_frag_needed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
