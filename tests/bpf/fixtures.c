/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fixtures.c - the world and the fixture packets of fixtures.h.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/bpf.h>

#include "maglev.h"
#include "loader.h"
#include "fixtures.h"

/* --- the world ---------------------------------------------------------- */

const uint8_t lb_mac[6] = { 0x02, 0x1b, 0x00, 0x00, 0x00, 0x01 };
const uint8_t client_mac[6] = { 0x02, 0xc1, 0x00, 0x00, 0x00, 0x07 };

const struct vip_def vip_defs[N_VIPS] = {
	{ "10.1.0.1", 80, PB_P_TCP, 0, 251, 4, 1 },
	{ "10.1.0.1", 53, PB_P_UDP, 0, RING_BIG, 4, 1 },
	{ "2001:db8:1::1", 443, PB_P_TCP, 0, 251, 6, 1 },
	{ "10.1.0.3", 443, PB_P_TCP, 0, 251, 6, 1 },	/* v4 VIP, v6 backends */
	{ "2001:db8:1::4", 80, PB_P_TCP, 0, 251, 4, 1 },	/* v6 VIP, v4 backends */
	{ "10.1.0.5", 0, PB_P_TCP, 0, 251, 4, 1 },	/* port wildcard */
	{ "10.1.0.5", 22, PB_P_TCP, LB_VIP_F_AFFINITY, 251, 4, 1 },	/* exact, affinity */
	{ "10.1.0.7", 80, PB_P_TCP, 0, 251, 4, 0 },	/* no usable backend */
};

const __u32 be_weights[BE_PER_VIP] = { 1, 2, 1, 3, 1 };

static int xdp_set_config(void *arg, const struct lb_config *c)
{
	return lb_xdp_set_config(arg, c);
}

static int xdp_set_vips(void *arg, const struct lb_vip_entry *v, size_t n)
{
	return lb_xdp_set_vips(arg, v, n);
}

static int xdp_set_vip_flags(void *arg, __u32 vip_id, __u32 flags)
{
	return lb_xdp_set_vip_flags(arg, vip_id, flags);
}

static int xdp_set_ring(void *arg, __u32 vip_id, const __u32 *ring, __u32 m)
{
	return lb_xdp_set_ring(arg, vip_id, ring, m);
}

static int xdp_set_backend(void *arg, __u32 id, const struct lb_backend *b)
{
	return lb_xdp_set_backend(arg, id, b);
}

static int xdp_set_backend_state(void *arg, __u32 id, __u8 state)
{
	return lb_xdp_set_backend_state(arg, id, state);
}

const struct fx_ops fx_xdp_ops = {
	.set_config = xdp_set_config,
	.set_vips = xdp_set_vips,
	.set_vip_flags = xdp_set_vip_flags,
	.set_ring = xdp_set_ring,
	.set_backend = xdp_set_backend,
	.set_backend_state = xdp_set_backend_state,
};

void fx_params(struct lb_params *p, __u32 flow_buckets)
{
	memset(p, 0, sizeof(*p));
	p->vip_slots = 64;
	p->max_vips = N_VIPS;
	p->max_ring = RING_BIG;
	p->max_backends = N_BACKENDS;
	p->flow_buckets = flow_buckets;
}

void fx_publish_ring(struct fx_world *w, int v)
{
	struct lb_maglev_backend mb[BE_PER_VIP];
	int i;

	memset(mb, 0, sizeof(mb));
	for (i = 0; i < BE_PER_VIP; i++) {
		__u32 id = (__u32)(v * BE_PER_VIP + i);

		mb[i].addr = w->be[id].addr;
		mb[i].family = w->be[id].family;
		mb[i].weight = vip_defs[v].usable && w->be[id].state == LB_BACKEND_UP ?
			       be_weights[i] : 0;
		mb[i].id = id;
	}
	assert_int_equal(lb_maglev_build(mb, BE_PER_VIP, w->ring[v], vip_defs[v].m), 0);
	assert_int_equal(w->ops->set_ring(w->arg, (__u32)v, w->ring[v], vip_defs[v].m), 0);
}

void fx_set_backend(struct fx_world *w, __u32 id)
{
	assert_int_equal(w->ops->set_backend(w->arg, id, &w->be[id]), 0);
}

void fx_set_state(struct fx_world *w, __u32 id, __u8 state)
{
	assert_int_equal(w->ops->set_backend_state(w->arg, id, state), 0);
	w->be[id].state = state;
}

void fx_set_config(struct fx_world *w, __u32 flags, __u32 mask4)
{
	memset(&w->cfg, 0, sizeof(w->cfg));
	assert_int_equal(inet_pton(AF_INET, ENCAP4, &w->cfg.encap_src4), 1);
	assert_int_equal(inet_pton(AF_INET6, ENCAP6, &w->cfg.encap_src6), 1);
	w->cfg.flags = flags;
	w->cfg.entropy_mask4 = mask4;
	/* The control plane's defaults (CP_DEFAULT_FLOW_TTL_*): far longer
	 * than a run, so no fixture expires on either fast path's clock. */
	w->cfg.flow_ttl_tcp = 900;
	w->cfg.flow_ttl_udp = 300;
	assert_int_equal(w->ops->set_config(w->arg, &w->cfg), 0);
}

size_t fx_vip_entry(struct lb_vip_entry *e, size_t n, const char *addr, uint16_t port,
		    uint8_t proto, __u32 vip_id)
{
	int fam;

	memset(&e[n], 0, sizeof(e[n]));
	fam = pb_addr(addr, (uint8_t *)&e[n].key.addr);
	e[n].key.port = htons(port);
	e[n].key.proto = proto;
	e[n].key.family = fam == 4 ? LB_FAMILY_V4 : LB_FAMILY_V6;
	e[n].vip_id = vip_id;
	return n + 1;
}

size_t fx_vip_addr_entry(struct lb_vip_entry *e, size_t n, const char *addr)
{
	struct lb_vip_key k;
	int fam;

	memset(&k, 0, sizeof(k));
	fam = pb_addr(addr, (uint8_t *)&k.addr);
	k.proto = fam == 4 ? PB_P_ICMP : PB_P_ICMPV6;
	k.family = fam == 4 ? LB_FAMILY_V4 : LB_FAMILY_V6;
	for (size_t j = 0; j < n; j++)
		if (!memcmp(&e[j].key, &k, sizeof(k)))
			return n;
	memset(&e[n], 0, sizeof(e[n]));
	e[n].key = k;
	e[n].vip_id = LB_VIP_ID_ADDR;
	return n + 1;
}

void fx_publish_vips(struct fx_world *w)
{
	struct lb_vip_entry e[2 * N_VIPS];
	size_t n = 0;
	int v;

	for (v = 0; v < N_VIPS; v++)
		n = fx_vip_entry(e, n, vip_defs[v].addr, vip_defs[v].port, vip_defs[v].proto,
				 (__u32)v);
	for (v = 0; v < N_VIPS; v++)
		n = fx_vip_addr_entry(e, n, vip_defs[v].addr);
	assert_int_equal(w->ops->set_vips(w->arg, e, n), 0);
}

/* Backend id of VIP v's i-th backend: distinct address, MACs and gen. */
static void init_backend(struct fx_world *w, int v, int i, __u32 nh_ifindex)
{
	__u32 id = (__u32)(v * BE_PER_VIP + i);
	struct lb_backend *b = &w->be[id];

	if (vip_defs[v].be_family == 4)
		snprintf(w->be_addr[id], sizeof(w->be_addr[id]), "192.168.%d.%d", 10 * (v + 1),
			 i + 1);
	else
		snprintf(w->be_addr[id], sizeof(w->be_addr[id]), "2001:db8:be%d::%d", v, i + 1);
	pb_addr(w->be_addr[id], (uint8_t *)&b->addr);
	b->family = vip_defs[v].be_family == 4 ? LB_FAMILY_V4 : LB_FAMILY_V6;
	b->state = vip_defs[v].usable ? LB_BACKEND_UP : LB_BACKEND_DOWN;
	b->flags = LB_BACKEND_F_NH_VALID;
	b->gen = 1000 + id;
	b->nh_ifindex = nh_ifindex;
	b->nh_mtu = NH_MTU;
	memcpy(b->nh_dmac, (uint8_t[6]){ 0x02, 0xbe, 0x00, 0x00, (uint8_t)v, (uint8_t)(i + 1) }, 6);
	memcpy(b->nh_smac, (uint8_t[6]){ 0x02, 0x5e, 0x00, 0x00, 0x00, (uint8_t)id }, 6);
}

void fx_world_init(struct fx_world *w, const struct fx_ops *ops, void *arg, __u32 nh_ifindex)
{
	int v, i;

	memset(w, 0, sizeof(*w));
	w->ops = ops;
	w->arg = arg;
	fx_set_config(w, 0, 0);
	for (v = 0; v < N_VIPS; v++) {
		for (i = 0; i < BE_PER_VIP; i++) {
			init_backend(w, v, i, nh_ifindex);
			fx_set_backend(w, (__u32)(v * BE_PER_VIP + i));
		}
		w->ring[v] = calloc(vip_defs[v].m, sizeof(__u32));
		assert_non_null(w->ring[v]);
		fx_publish_ring(w, v);
		assert_int_equal(ops->set_vip_flags(arg, (__u32)v, vip_defs[v].flags), 0);
	}
	fx_publish_vips(w);
}

void fx_world_fini(struct fx_world *w)
{
	int v;

	for (v = 0; v < N_VIPS; v++) {
		free(w->ring[v]);
		w->ring[v] = NULL;
	}
}

/* --- packets ------------------------------------------------------------ */

/* Payload bytes: a pattern, so a shifted or truncated copy shows. */
static uint8_t fx_pattern[1600];

void fx_base(struct pb_pkt *p, const char *src, const char *dst, uint8_t proto, uint16_t sport,
	     uint16_t dport)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->dmac, lb_mac, 6);
	memcpy(p->smac, client_mac, 6);
	p->src = src;
	p->dst = dst;
	p->proto = proto;
	p->sport = sport;
	p->dport = dport;
	p->tos = 0x28;
	p->ttl = 57;
	p->ip_id = 0x4d2e;
	p->df = 1;
	p->flow_label = 0x9abcd;
	p->seq = 0x1a2b3c4d;
	p->window = 64240;
	p->payload = fx_pattern;
}

void fx_tcp(struct pb_pkt *p, const char *src, const char *dst, uint16_t sport, uint16_t dport,
	    uint8_t flags, size_t paylen)
{
	fx_base(p, src, dst, PB_P_TCP, sport, dport);
	p->tcp_flags = flags;
	if (flags & PB_TCP_ACK)
		p->ack = 0x0badf00d;
	p->payload_len = paylen;
}

void fx_syn(struct pb_pkt *p, const char *src, const char *dst, uint16_t sport, uint16_t dport)
{
	fx_tcp(p, src, dst, sport, dport, PB_TCP_SYN, 0);
}

void fx_ack(struct pb_pkt *p, const char *src, const char *dst, uint16_t sport, uint16_t dport)
{
	fx_tcp(p, src, dst, sport, dport, PB_TCP_ACK | PB_TCP_PSH, 100);
}

static void icmp(struct pb_pkt *p, const char *src, const char *dst, uint8_t type,
		 uint8_t code, uint32_t rest)
{
	fx_base(p, src, dst, strchr(src, ':') ? PB_P_ICMPV6 : PB_P_ICMP, 0, 0);
	p->icmp_type = type;
	p->icmp_code = code;
	p->icmp_rest = rest;
}

void fx_pkt_syn4(struct pb_pkt *p) { fx_syn(p, CLIENT4, VIP_A, 40000, 80); }
static void pkt_ack4(struct pb_pkt *p) { fx_ack(p, CLIENT4, VIP_A, 40000, 80); }
void fx_pkt_udp4(struct pb_pkt *p)
{
	fx_base(p, CLIENT4, VIP_A, PB_P_UDP, 5353, 53);
	p->df = 0;
	p->tos = 0;
	p->payload_len = 37;	/* odd: the checksum pads */
}
void fx_pkt_syn6(struct pb_pkt *p) { fx_syn(p, CLIENT6, VIP6_A, 40000, 443); }
static void pkt_ack6(struct pb_pkt *p) { fx_ack(p, CLIENT6, VIP6_A, 40000, 443); }
void fx_pkt_syn4_to6(struct pb_pkt *p) { fx_syn(p, CLIENT4, VIP_C, 40000, 443); }
static void pkt_syn6_to4(struct pb_pkt *p) { fx_syn(p, CLIENT6, VIP6_D, 40000, 80); }
static void pkt_wildcard(struct pb_pkt *p) { fx_syn(p, CLIENT4, VIP_E, 40000, 8443); }
static void pkt_exact_before_wildcard(struct pb_pkt *p) { fx_syn(p, CLIENT4, VIP_E, 40000, 22); }
static void pkt_udp_wildcard_addr(struct pb_pkt *p)
{
	fx_base(p, CLIENT4, VIP_E, PB_P_UDP, 5353, 8443);
	p->payload_len = 20;
}
static void pkt_ack_no_flow(struct pb_pkt *p) { fx_ack(p, CLIENT4, VIP_A, 40001, 80); }
static void pkt_synack(struct pb_pkt *p)
{
	fx_tcp(p, CLIENT4, VIP_A, 40002, 80, PB_TCP_SYN | PB_TCP_ACK, 0);
}

static void pkt_not_vip4(struct pb_pkt *p) { fx_syn(p, CLIENT4, OTHER4, 40000, 80); }
static void pkt_not_vip_port(struct pb_pkt *p) { fx_syn(p, CLIENT4, VIP_A, 40000, 81); }
static void pkt_not_vip6(struct pb_pkt *p) { fx_syn(p, CLIENT6, OTHER6, 40000, 443); }
static void pkt_udp_to_tcp_vip(struct pb_pkt *p)
{
	fx_base(p, CLIENT4, VIP_A, PB_P_UDP, 5353, 80);
	p->payload_len = 8;
}
static void pkt_gre(struct pb_pkt *p)
{
	fx_base(p, CLIENT4, VIP_A, 47, 0, 0);
	p->payload_len = 24;
}

static const uint8_t arp_body[28] = {
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,	/* Ethernet/IPv4, request */
	0x02, 0xc1, 0x00, 0x00, 0x00, 0x07, 198, 51, 100, 7,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 1, 0, 1,
};

static void pkt_arp(struct pb_pkt *p)
{
	memset(p, 0, sizeof(*p));
	memset(p->dmac, 0xff, 6);
	memcpy(p->smac, client_mac, 6);
	p->ethertype = PB_ETH_ARP;
	p->payload = arp_body;
	p->payload_len = sizeof(arp_body);
	p->pad_to = 60;
}

static void pkt_frag4_first(struct pb_pkt *p)
{
	fx_ack(p, CLIENT4, VIP_A, 40000, 80);
	p->df = 0;
	p->mf = 1;
	p->payload_len = 64;
}

/* A later fragment: protocol TCP, no TCP header, offset 1480 bytes. */
static void pkt_frag4_last(struct pb_pkt *p)
{
	fx_base(p, CLIENT4, VIP_A, PB_P_TCP, 0, 0);
	p->df = 0;
	p->frag_off = 185;
	p->payload_len = 40;
}

/* The same for IPv6: fragment header with an offset, no TCP header. */
static void pkt_frag6_later(struct pb_pkt *p)
{
	fx_base(p, CLIENT6, VIP6_A, PB_P_TCP, 0, 0);
	p->frag6 = 1;
	p->frag6_id = 0xdeadbeef;
	p->frag_off = 181;
	p->payload_len = 40;
}

static void pkt_frag6(struct pb_pkt *p)
{
	fx_ack(p, CLIENT6, VIP6_A, 40000, 443);
	p->frag6 = 1;
	p->frag6_id = 0xdeadbeef;
	p->mf = 1;
	p->payload_len = 64;
}

static void pkt_frag4_not_vip(struct pb_pkt *p)
{
	pkt_frag4_first(p);
	p->dst = OTHER4;
}

static void pkt_frag6_not_vip(struct pb_pkt *p)
{
	pkt_frag6(p);
	p->dst = OTHER6;
}

static void pkt_vlan1(struct pb_pkt *p)
{
	fx_pkt_syn4(p);
	p->tags = 1;
	p->tci[0] = 100;
}

void fx_pkt_vlan2(struct pb_pkt *p)
{
	fx_pkt_syn4(p);
	p->tags = 2;
	p->tci[0] = 100;
	p->tci[1] = 0x2000 | 200;	/* PCP 1 */
}

void fx_pkt_vlan2_6to4(struct pb_pkt *p)
{
	pkt_syn6_to4(p);
	p->tags = 2;
	p->tci[0] = 100;
	p->tci[1] = 200;
}

static void pkt_vlan3(struct pb_pkt *p)
{
	fx_pkt_syn4(p);
	p->tags = 3;
	p->tci[0] = 100;
	p->tci[1] = 200;
	p->tci[2] = 300;
}

void fx_pkt_echo4(struct pb_pkt *p)
{
	icmp(p, CLIENT4, VIP_A, 8, 0, 0x1234u << 16 | 7);
	p->payload_len = 56;
}

static void pkt_echo6(struct pb_pkt *p)
{
	icmp(p, CLIENT6, VIP6_A, 128, 0, 0x4321u << 16 | 9);
	p->payload_len = 56;
}

/* ICMP bytes that sum to zero but for the type: `0800 f7ff 0000 0000`.
 * The reply's sum is +0, so its checksum is 0xFFFF; the expected frame's
 * comes from pktbuild.h's full sum, not from an incremental update. */
static void pkt_echo4_zero_sum(struct pb_pkt *p)
{
	icmp(p, CLIENT4, VIP_A, 8, 0, 0);
}

static const uint8_t zeros[56];

static void pkt_echo4_zero_payload(struct pb_pkt *p)
{
	pkt_echo4_zero_sum(p);
	p->payload = zeros;
	p->payload_len = sizeof(zeros);
}

static void pkt_echo4_vlan(struct pb_pkt *p)
{
	fx_pkt_echo4(p);
	p->dst = VIP_G;		/* any VIP address answers, even with no backend */
	p->tags = 1;
	p->tci[0] = 100;
}

static void pkt_echo4_not_vip(struct pb_pkt *p)
{
	fx_pkt_echo4(p);
	p->dst = OTHER4;
}

static void pkt_timestamp4(struct pb_pkt *p)
{
	icmp(p, CLIENT4, VIP_A, 13, 0, 0x1234u << 16 | 1);
	p->payload_len = 12;
}

/* IPv6 next header 1 (ICMP for IPv4) carrying an "echo request" type 128:
 * not ICMPv6, just another protocol for IPv6. */
static void pkt_icmp4_in_ip6(struct pb_pkt *p)
{
	pkt_echo6(p);
	p->proto = PB_P_ICMP;
}

/* The same the other way round: next header 58 in IPv4, type 8. */
static void pkt_icmp6_in_ip4(struct pb_pkt *p)
{
	fx_pkt_echo4(p);
	p->proto = PB_P_ICMPV6;
}

/* ICMP errors from a router about a VIP -> client packet. */
static struct pb_pkt quoted;

static void frag_needed4(struct pb_pkt *p, const char *vip, uint16_t vport, uint16_t cport)
{
	fx_tcp(&quoted, vip, CLIENT4, vport, cport, PB_TCP_ACK, 1400);
	icmp(p, ROUTER4, vip, 3, 4, 1400);
	p->tos = 0xc0;
	p->df = 0;
	p->ttl = 254;
	p->quote = &quoted;	/* IP header + 8 bytes */
}

static void too_big6(struct pb_pkt *p, const char *vip, uint16_t vport, uint16_t cport)
{
	fx_tcp(&quoted, vip, CLIENT6, vport, cport, PB_TCP_ACK, 64);
	icmp(p, ROUTER6, vip, 2, 0, 1280);
	p->tos = 0xe0;
	p->quote = &quoted;
	p->quote_len = PB_QUOTE_ALL;
}

void fx_pkt_frag_needed4(struct pb_pkt *p) { frag_needed4(p, VIP_A, 80, 40000); }
void fx_pkt_frag_needed4_noflow(struct pb_pkt *p) { frag_needed4(p, VIP_A, 80, 40123); }
void fx_pkt_too_big6(struct pb_pkt *p) { too_big6(p, VIP6_A, 443, 40000); }
void fx_pkt_too_big6_noflow(struct pb_pkt *p) { too_big6(p, VIP6_A, 443, 40123); }
static void pkt_frag_needed4_bad_quote(struct pb_pkt *p) { frag_needed4(p, VIP_A, 9999, 40000); }

/* Oversize packets: IP length ip_len. */
static void big(struct pb_pkt *p, const char *src, const char *dst, uint16_t dport, size_t ip_len)
{
	size_t hdr = strchr(src, ':') ? 40 + 20 : 20 + 20;

	fx_ack(p, src, dst, 40000, dport);
	p->payload_len = ip_len - hdr;
}

static void pkt_big4(struct pb_pkt *p) { big(p, CLIENT4, VIP_A, 80, 1500); }
static void pkt_fits4(struct pb_pkt *p) { big(p, CLIENT4, VIP_A, 80, NH_MTU - 20); }
static void pkt_big4_nodf(struct pb_pkt *p)
{
	pkt_big4(p);
	p->df = 0;
}
static void pkt_big6(struct pb_pkt *p) { big(p, CLIENT6, VIP6_A, 443, 1500); }
static void pkt_fits6(struct pb_pkt *p) { big(p, CLIENT6, VIP6_A, 443, NH_MTU - 40); }
static void pkt_big4_to6(struct pb_pkt *p) { big(p, CLIENT4, VIP_C, 443, NH_MTU - 39); }
static void pkt_big6_to4(struct pb_pkt *p) { big(p, CLIENT6, VIP6_D, 80, NH_MTU - 19); }
static void pkt_big4_vlan(struct pb_pkt *p)
{
	pkt_big4(p);
	p->tags = 1;
	p->tci[0] = 100;
}

/* Record route (7), length 11, pointer 4, two empty slots; then EOL. */
static const uint8_t ip_opts_rr[12] = { 7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0 };

void fx_pkt_opts4(struct pb_pkt *p)
{
	pkt_ack4(p);
	p->ip_opts = ip_opts_rr;
	p->ip_opts_len = sizeof(ip_opts_rr);
}

static void pkt_big4_opts(struct pb_pkt *p)
{
	pkt_big4(p);
	p->ip_opts = ip_opts_rr;
	p->ip_opts_len = sizeof(ip_opts_rr);
	p->payload_len -= sizeof(ip_opts_rr);
}

/* A 40-byte IPv4 TCP packet in a 60-byte frame. */
static void pkt_padded(struct pb_pkt *p)
{
	fx_pkt_syn4(p);
	p->pad_to = 60;
	p->pad_byte = 0;
}

static void pkt_padded_junk(struct pb_pkt *p)
{
	pkt_padded(p);
	p->pad_byte = 0xa5;
}

static void pkt_empty_ring(struct pb_pkt *p) { fx_syn(p, CLIENT4, VIP_G, 40000, 80); }

/* Malformed inputs (built valid, then broken). */
static size_t mut_ihl4(uint8_t *f, size_t len)
{
	f[14] = 0x44;
	return len;
}

static size_t mut_tot_len_short(uint8_t *f, size_t len)
{
	pb_put16(f + 14 + 2, 19);	/* less than the header */
	return len;
}

static size_t mut_version(uint8_t *f, size_t len)
{
	f[14] = (uint8_t)(0x60 | (f[14] & 0xf));
	return len;
}

static size_t mut_doff4(uint8_t *f, size_t len)
{
	f[14 + 20 + 12] = 4 << 4;
	return len;
}

/* IP length ends inside the TCP header; the frame still holds it all. */
static size_t mut_tcp_cut_by_ip_len(uint8_t *f, size_t len)
{
	pb_put16(f + 14 + 2, 20 + 12);
	f[14 + 10] = f[14 + 11] = 0;
	pb_put16(f + 14 + 10, pb_csum(f + 14, 20));
	return len;
}

static size_t mut_v6_version(uint8_t *f, size_t len)
{
	f[14] = (uint8_t)(0x40 | (f[14] & 0xf));
	return len;
}

static size_t mut_v6_udp_cut(uint8_t *f, size_t len)
{
	pb_put16(f + 14 + 4, 4);	/* payload length: half a UDP header */
	return len;
}

static void pkt_udp6(struct pb_pkt *p)
{
	fx_base(p, CLIENT6, VIP6_A, PB_P_UDP, 5353, 443);
	p->payload_len = 16;
}

/* --- the table ------------------------------------------------------------ */

#define FX_SYN4 { "v4 TCP SYN to a VIP", fx_pkt_syn4, XDP_TX, FX_FORWARD, LB_R_FWD_TX, \
		  .check = FX_CHECK_STORED }
#define FX_SYN6 { "v6 TCP SYN to a VIP", fx_pkt_syn6, XDP_TX, FX_FORWARD, LB_R_FWD_TX, \
		  .check = FX_CHECK_STORED }

const struct fixture fx_fixture_syn4 = FX_SYN4;
const struct fixture fx_fixture_syn6 = FX_SYN6;

/* --- the table ------------------------------------------------------------ */

const struct fixture fx_table[] = {
	FX_SYN4,
	{ "v4 TCP ACK of the established flow: same backend, no new flow, no ring pick",
	  pkt_ack4, XDP_TX, FX_FORWARD, LB_R_FWD_TX, .prep = &fx_fixture_syn4,
	  .check = FX_CHECK_STORED },
	{ "v4 TCP ACK with no flow entry: ring pick, inserted", pkt_ack_no_flow, XDP_TX,
	  FX_FORWARD, LB_R_FWD_TX, .check = FX_CHECK_STORED },
	{ "v4 TCP SYN+ACK is not a new connection: ring pick as a miss", pkt_synack, XDP_TX,
	  FX_FORWARD, LB_R_FWD_TX, .check = FX_CHECK_STORED },
	{ "v4 UDP to a VIP, M = 65537, no DF (outer ID from the hash)", fx_pkt_udp4, XDP_TX,
	  FX_FORWARD, LB_R_FWD_TX, .check = FX_CHECK_STORED },
	FX_SYN6,
	{ "v6 TCP ACK of the established flow", pkt_ack6, XDP_TX, FX_FORWARD, LB_R_FWD_TX,
	  .prep = &fx_fixture_syn6 },
	{ "v6 UDP to a TCP-only v6 VIP: not a VIP", pkt_udp6, XDP_PASS, FX_SAME,
	  LB_R_PASS_NOT_VIP },
	{ "v4 VIP, v6 backends", fx_pkt_syn4_to6, XDP_TX, FX_FORWARD, LB_R_FWD_TX },
	{ "v6 VIP, v4 backends", pkt_syn6_to4, XDP_TX, FX_FORWARD, LB_R_FWD_TX },
	{ "port wildcard VIP: any port", pkt_wildcard, XDP_TX, FX_FORWARD, LB_R_FWD_TX },
	{ "exact port before the wildcard (affinity VIP)", pkt_exact_before_wildcard, XDP_TX,
	  FX_FORWARD, LB_R_FWD_TX, .check = FX_CHECK_STORED },
	{ "UDP to a TCP-wildcard address: not a VIP", pkt_udp_wildcard_addr, XDP_PASS, FX_SAME,
	  LB_R_PASS_NOT_VIP },
	{ "v4 TCP to a non-VIP address: passed", pkt_not_vip4, XDP_PASS, FX_SAME,
	  LB_R_PASS_NOT_VIP },
	{ "v4 TCP to a VIP address, port not a VIP: passed", pkt_not_vip_port, XDP_PASS, FX_SAME,
	  LB_R_PASS_NOT_VIP },
	{ "v4 UDP to a TCP VIP's port: passed", pkt_udp_to_tcp_vip, XDP_PASS, FX_SAME,
	  LB_R_PASS_NOT_VIP },
	{ "v6 TCP to a non-VIP address: passed", pkt_not_vip6, XDP_PASS, FX_SAME,
	  LB_R_PASS_NOT_VIP },
	{ "GRE to a VIP address: other protocol, passed", pkt_gre, XDP_PASS, FX_SAME,
	  LB_R_PASS_NOT_VIP },
	{ "ICMPv4 protocol (1) in IPv6 to a v6 VIP, type 128: other protocol, passed",
	  pkt_icmp4_in_ip6, XDP_PASS, FX_SAME, LB_R_PASS_NOT_VIP },
	{ "ICMPv6 protocol (58) in IPv4 to a v4 VIP, type 8: other protocol, passed",
	  pkt_icmp6_in_ip4, XDP_PASS, FX_SAME, LB_R_PASS_NOT_VIP },
	{ "ARP: passed", pkt_arp, XDP_PASS, FX_SAME, LB_R_PASS_NOT_IP },
	{ "v4 first fragment (MF) to a VIP: dropped", pkt_frag4_first, XDP_DROP, FX_SAME,
	  LB_R_DROP_FRAGMENT },
	{ "v4 last fragment (offset) to a VIP: dropped", pkt_frag4_last, XDP_DROP, FX_SAME,
	  LB_R_DROP_FRAGMENT },
	{ "v6 later fragment (offset) to a VIP: dropped", pkt_frag6_later, XDP_DROP, FX_SAME,
	  LB_R_DROP_FRAGMENT },
	{ "v6 first fragment (fragment header, M) to a VIP: dropped", pkt_frag6, XDP_DROP, FX_SAME,
	  LB_R_DROP_FRAGMENT },
	{ "v4 fragment to a non-VIP address: passed", pkt_frag4_not_vip, XDP_PASS, FX_SAME,
	  LB_R_PASS_NOT_VIP },
	{ "v6 fragment to a non-VIP address: passed", pkt_frag6_not_vip, XDP_PASS, FX_SAME,
	  LB_R_PASS_NOT_VIP },
	{ "1 VLAN tag: forwarded, tag kept", pkt_vlan1, XDP_TX, FX_FORWARD, LB_R_FWD_TX },
	{ "2 VLAN tags: forwarded, tags kept", fx_pkt_vlan2, XDP_TX, FX_FORWARD, LB_R_FWD_TX },
	{ "2 VLAN tags, v6 VIP to v4 backend: inner ethertype rewritten", fx_pkt_vlan2_6to4,
	  XDP_TX, FX_FORWARD, LB_R_FWD_TX },
	{ "3 VLAN tags: dropped", pkt_vlan3, XDP_DROP, FX_SAME, LB_R_DROP_BAD_L2 },
	{ "ICMP echo to a v4 VIP: answered", fx_pkt_echo4, XDP_TX, FX_ECHO_REPLY,
	  LB_R_ICMP_ECHO_REPLY },
	{ "ICMPv6 echo to a v6 VIP: answered", pkt_echo6, XDP_TX, FX_ECHO_REPLY,
	  LB_R_ICMP_ECHO_REPLY },
	{ "ICMP echo of id 0, seq 0, no payload: reply checksum 0xFFFF, not 0x0000",
	  pkt_echo4_zero_sum, XDP_TX, FX_ECHO_REPLY, LB_R_ICMP_ECHO_REPLY },
	{ "ICMP echo of id 0, seq 0, 56 zero bytes: reply checksum 0xFFFF, not 0x0000",
	  pkt_echo4_zero_payload, XDP_TX, FX_ECHO_REPLY, LB_R_ICMP_ECHO_REPLY },
	{ "ICMP echo, VLAN tag, VIP without backends: answered", pkt_echo4_vlan, XDP_TX,
	  FX_ECHO_REPLY, LB_R_ICMP_ECHO_REPLY },
	{ "ICMP echo to a non-VIP address: passed", pkt_echo4_not_vip, XDP_PASS, FX_SAME,
	  LB_R_PASS_NOT_VIP },
	{ "ICMP timestamp to a VIP address: passed", pkt_timestamp4, XDP_PASS, FX_SAME,
	  LB_R_PASS_ICMP_OTHER },
	{ "frag-needed about a VIP flow with no entry: ring pick, not inserted",
	  fx_pkt_frag_needed4_noflow, XDP_TX, FX_ICMP_FORWARD, LB_R_FWD_TX,
	  .check = FX_CHECK_NOT_STORED },
	{ "packet-too-big about a VIP flow with no entry: ring pick, not inserted",
	  fx_pkt_too_big6_noflow, XDP_TX, FX_ICMP_FORWARD, LB_R_FWD_TX,
	  .check = FX_CHECK_NOT_STORED },
	{ "frag-needed quoting no VIP: dropped", pkt_frag_needed4_bad_quote, XDP_DROP, FX_SAME,
	  LB_R_DROP_ICMP_QUOTE },
	{ "oversize v4 DF: frag-needed back", pkt_big4, XDP_TX, FX_TOO_BIG,
	  LB_R_ICMP_TOO_BIG_SENT },
	{ "oversize v4 DF with a VLAN tag: frag-needed back, tag kept", pkt_big4_vlan, XDP_TX,
	  FX_TOO_BIG, LB_R_ICMP_TOO_BIG_SENT },
	{ "oversize v4 DF with options: quote has the options", pkt_big4_opts, XDP_TX,
	  FX_TOO_BIG, LB_R_ICMP_TOO_BIG_SENT },
	{ "oversize v6: packet-too-big back", pkt_big6, XDP_TX, FX_TOO_BIG,
	  LB_R_ICMP_TOO_BIG_SENT },
	{ "oversize v4 DF to v6 backends: MTU - 40", pkt_big4_to6, XDP_TX, FX_TOO_BIG,
	  LB_R_ICMP_TOO_BIG_SENT },
	{ "oversize v6 to v4 backends: MTU - 20", pkt_big6_to4, XDP_TX, FX_TOO_BIG,
	  LB_R_ICMP_TOO_BIG_SENT },
	{ "oversize v4 without DF: dropped", pkt_big4_nodf, XDP_DROP, FX_VIP_UNSPECIFIED,
	  LB_R_DROP_TOO_BIG },
	{ "v4 DF exactly at the MTU: forwarded", pkt_fits4, XDP_TX, FX_FORWARD, LB_R_FWD_TX },
	{ "v6 exactly at the MTU: forwarded", pkt_fits6, XDP_TX, FX_FORWARD, LB_R_FWD_TX },
	{ "IPv4 with options: forwarded", fx_pkt_opts4, XDP_TX, FX_FORWARD, LB_R_FWD_TX },
	{ "Ethernet padding kept after the outer packet (60-byte frame, 40-byte packet)", pkt_padded, XDP_TX,
	  FX_FORWARD, LB_R_FWD_TX },
	{ "Ethernet padding of non-zero bytes kept as it was", pkt_padded_junk, XDP_TX, FX_FORWARD,
	  LB_R_FWD_TX },
	{ "VIP with no usable backend (empty ring): dropped", pkt_empty_ring, XDP_DROP,
	  FX_NO_BACKEND, LB_R_DROP_NO_BACKEND },
	{ "IPv4 ihl 4: dropped", fx_pkt_syn4, XDP_DROP, FX_SAME, LB_R_DROP_BAD_L3,
	  .mutate = mut_ihl4 },
	{ "IPv4 total length below the header: dropped", fx_pkt_syn4, XDP_DROP, FX_SAME,
	  LB_R_DROP_BAD_L3, .mutate = mut_tot_len_short },
	{ "version 6 under ethertype IPv4: dropped", fx_pkt_syn4, XDP_DROP, FX_SAME,
	  LB_R_DROP_BAD_L3, .mutate = mut_version },
	{ "version 4 under ethertype IPv6: dropped", fx_pkt_syn6, XDP_DROP, FX_SAME,
	  LB_R_DROP_BAD_L3, .mutate = mut_v6_version },
	{ "TCP data offset 4: dropped", fx_pkt_syn4, XDP_DROP, FX_SAME, LB_R_DROP_BAD_L4,
	  .mutate = mut_doff4 },
	{ "TCP header cut by the IPv4 length: dropped", fx_pkt_syn4, XDP_DROP, FX_SAME,
	  LB_R_DROP_BAD_L4, .mutate = mut_tcp_cut_by_ip_len },
	{ "UDP header cut by the IPv6 payload length: dropped", pkt_udp6, XDP_DROP, FX_SAME,
	  LB_R_DROP_BAD_L4, .mutate = mut_v6_udp_cut },
};

const size_t fx_count = sizeof(fx_table) / sizeof(fx_table[0]);

void fx_init(void)
{
	size_t i;

	for (i = 0; i < sizeof(fx_pattern); i++)
		fx_pattern[i] = (uint8_t)(i * 7 + 3);
}

size_t fx_frame(const struct fixture *f, struct pb_pkt *p, uint8_t *buf, size_t cap)
{
	size_t len;

	memset(p, 0, sizeof(*p));
	f->pkt(p);
	len = pb_frame(buf, cap, p);
	assert_true(len > 0);
	if (f->mutate)
		len = f->mutate(buf, len);
	return len;
}
