/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fixtures.h - the world and the fixture table of the XDP fixture suite,
 * shared by tests/bpf/test_xdp_lb.c (which checks each fixture against its
 * own model) and tests/parity/test_parity.c (which runs the same packets
 * through XDP and the DPDK worker and compares them). One table, so the
 * parity corpus cannot drift from the fixtures.
 *
 * The world: 8 VIPs (struct vip_def), 5 backends each with distinct
 * addresses and next-hop MACs, all with a cached next hop on the ingress
 * interface. It is written through struct fx_ops, so the same sequence of
 * table writes can reach one fast path (fx_xdp_ops) or several at once.
 *
 * The helpers assert with cmocka; call them from cmocka tests or setups.
 * Single-threaded.
 */
#ifndef SLUICE_TESTS_FIXTURES_H
#define SLUICE_TESTS_FIXTURES_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include "fwd.h"
#include "viptable.h"
#include "pktbuild.h"

#define PKT_MAX 2048
#define N_VIPS 8
#define BE_PER_VIP 5
#define N_BACKENDS 48
#define RING_BIG 65537
#define NH_MTU 1500

#define CLIENT4 "198.51.100.7"
#define CLIENT6 "2001:db8:c1::7"
#define ROUTER4 "203.0.113.1"
#define ROUTER6 "2001:db8:ff::1"
#define OTHER4 "10.9.9.9"
#define OTHER6 "2001:db8:9::9"
#define ENCAP4 "172.16.0.1"
#define ENCAP6 "fc00::1"

#define VIP_A "10.1.0.1"
#define VIP6_A "2001:db8:1::1"
#define VIP_C "10.1.0.3"
#define VIP6_D "2001:db8:1::4"
#define VIP_E "10.1.0.5"
#define VIP_G "10.1.0.7"

extern const uint8_t lb_mac[6];
extern const uint8_t client_mac[6];

struct vip_def {
	const char *addr;
	uint16_t port;		/* 0: port wildcard */
	uint8_t proto;
	uint32_t flags;		/* LB_VIP_F_* */
	uint32_t m;		/* ring size, prime */
	int be_family;		/* of its 5 backends, ids vip * 5 .. vip * 5 + 4 */
	int usable;		/* 0: every backend has weight 0 (empty ring) */
};

extern const struct vip_def vip_defs[N_VIPS];
extern const __u32 be_weights[BE_PER_VIP];

/* The table writes of one or more fast paths, each returning 0 or -errno
 * like lib/tables.h; arg is the caller's. */
struct fx_ops {
	int (*set_config)(void *arg, const struct lb_config *c);
	int (*set_vips)(void *arg, const struct lb_vip_entry *v, size_t n);
	int (*set_vip_flags)(void *arg, __u32 vip_id, __u32 flags);
	int (*set_ring)(void *arg, __u32 vip_id, const __u32 *ring, __u32 m);
	int (*set_backend)(void *arg, __u32 id, const struct lb_backend *b);
	int (*set_backend_state)(void *arg, __u32 id, __u8 state);
};

/* The loader's API; arg is the struct lb_xdp *. */
extern const struct fx_ops fx_xdp_ops;

/* The world as last written through ops. */
struct fx_world {
	const struct fx_ops *ops;
	void *arg;
	struct lb_config cfg;
	struct lb_backend be[N_BACKENDS];
	char be_addr[N_BACKENDS][INET6_ADDRSTRLEN];
	__u32 *ring[N_VIPS];		/* as last published */
};

/* The sizes the world needs (flow_buckets: the caller's choice). */
void fx_params(struct lb_params *p, __u32 flow_buckets);

/* Writes the whole world through ops: config, backends (next hop on
 * nh_ifindex), rings, VIP flags, VIP table. fx_world_fini frees rings. */
void fx_world_init(struct fx_world *w, const struct fx_ops *ops, void *arg, __u32 nh_ifindex);
void fx_world_fini(struct fx_world *w);

/* Rebuilds a VIP's ring over its backends that are UP (draining, down and
 * unused ones get weight 0) and publishes it. */
void fx_publish_ring(struct fx_world *w, int v);
void fx_set_backend(struct fx_world *w, __u32 id);
void fx_set_state(struct fx_world *w, __u32 id, __u8 state);
/* Encap sources ENCAP4/ENCAP6 with these flags and v4 entropy mask. */
void fx_set_config(struct fx_world *w, __u32 flags, __u32 mask4);
/* Every VIP key, and per VIP address the ICMP entry that marks it. */
void fx_publish_vips(struct fx_world *w);
/* Appends VIP (addr, port, proto) as vip_id to e[0..n); returns the new n. */
size_t fx_vip_entry(struct lb_vip_entry *e, size_t n, const char *addr, uint16_t port,
		    uint8_t proto, __u32 vip_id);
/* Appends addr's per-address (ICMP) entry unless e already has it. */
size_t fx_vip_addr_entry(struct lb_vip_entry *e, size_t n, const char *addr);

/* Fills the payload pattern; call once before building packets. */
void fx_init(void);

/* --- packets -------------------------------------------------------------- */

void fx_base(struct pb_pkt *p, const char *src, const char *dst, uint8_t proto, uint16_t sport,
	     uint16_t dport);
void fx_tcp(struct pb_pkt *p, const char *src, const char *dst, uint16_t sport, uint16_t dport,
	    uint8_t flags, size_t paylen);
void fx_syn(struct pb_pkt *p, const char *src, const char *dst, uint16_t sport, uint16_t dport);
void fx_ack(struct pb_pkt *p, const char *src, const char *dst, uint16_t sport, uint16_t dport);

/* Packets the scenarios of test_xdp_lb use beside the table. */
void fx_pkt_syn4(struct pb_pkt *p);
void fx_pkt_syn6(struct pb_pkt *p);
void fx_pkt_udp4(struct pb_pkt *p);
void fx_pkt_syn4_to6(struct pb_pkt *p);
void fx_pkt_opts4(struct pb_pkt *p);
void fx_pkt_vlan2(struct pb_pkt *p);
void fx_pkt_vlan2_6to4(struct pb_pkt *p);
void fx_pkt_echo4(struct pb_pkt *p);
void fx_pkt_frag_needed4(struct pb_pkt *p);
void fx_pkt_frag_needed4_noflow(struct pb_pkt *p);
void fx_pkt_too_big6(struct pb_pkt *p);
void fx_pkt_too_big6_noflow(struct pb_pkt *p);

/* --- the fixture table ---------------------------------------------------- */

/* What a fixture expects of the output; each test program turns it into
 * bytes and counters its own way. */
enum fx_expect {
	FX_SAME,		/* output == input; no VIP or backend counter moves */
	FX_FORWARD,		/* encapsulated toward the flow's backend */
	FX_ICMP_FORWARD,	/* ICMP error sent to the quoted flow's backend */
	FX_ECHO_REPLY,		/* echo answered in place */
	FX_TOO_BIG,		/* frag-needed / packet-too-big back to the client */
	FX_VIP_UNSPECIFIED,	/* as FX_SAME, VIP counters not asserted */
	FX_NO_BACKEND,		/* VIP counted, ring consulted, nothing found */
};

/* What to assert of the connection table afterwards. */
enum fx_check {
	FX_CHECK_NONE,
	FX_CHECK_STORED,	/* the flow's entry names the chosen backend */
	FX_CHECK_NOT_STORED,	/* no entry for the flow */
};

struct fixture {
	const char *name;
	void (*pkt)(struct pb_pkt *p);	/* the input packet */
	__u32 action;			/* XDP_* */
	enum fx_expect expect;
	__u32 reason;			/* LB_R_* */
	size_t (*mutate)(uint8_t *frame, size_t len);	/* malformed inputs */
	const struct fixture *prep;	/* run first, on the same world */
	enum fx_check check;
};

extern const struct fixture fx_fixture_syn4;
extern const struct fixture fx_fixture_syn6;
extern const struct fixture fx_table[];
extern const size_t fx_count;

/* Builds fixture f's input frame (mutated) into buf; returns its length
 * (asserted non-zero). p gets the description. */
size_t fx_frame(const struct fixture *f, struct pb_pkt *p, uint8_t *buf, size_t cap);

#endif /* SLUICE_TESTS_FIXTURES_H */
