/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * icmp.h - the ICMP and ICMPv6 the pipeline handles (lib/pipeline.h
 * includes it; as Katran keeps handle_icmp.h): echo requests to a VIP
 * address answered in place, frag-needed / packet-too-big sent back for a
 * packet too big to encapsulate, and the flow an incoming frag-needed /
 * packet-too-big quotes, which the pipeline then sends to that flow's
 * backend. Nothing here reads the tables.
 *
 * Runs in the environment pipeline.h describes (LB_ENV_CTX, lb_env_*).
 * Returns follow pipeline.h: LB_OK or the LB_R_* reason of the frame.
 */
#ifndef SLUICE_LIB_ICMP_H
#define SLUICE_LIB_ICMP_H

#include "fwd.h"
#include "parse.h"
#include "encap.h"

/* Smallest MTU we report in a too-big message (RFC 791's 68). */
#define LB_MIN_INNER_MTU 68

/* Turns an echo request to a VIP address into the reply, in place. */
static __always_inline int lb_echo_reply(void *data, void *data_end, const struct lb_pkt *pkt)
{
	if (data + sizeof(struct ethhdr) > data_end)
		return LB_R_DROP_BAD_L2;
	lb_eth_swap(data);
	if (pkt->key.family == LB_FAMILY_V4) {
		struct iphdr *ip = data + pkt->l3_off;
		struct lb_icmp_hdr *ic = data + pkt->l4_off;
		__u16 old, new;

		if ((void *)(ip + 1) > data_end || (void *)(ic + 1) > data_end)
			return LB_R_DROP_BAD_L4;
		ip->saddr = pkt->key.dst.w[0];
		ip->daddr = pkt->key.src.w[0];
		old = *(lb_alias_u16 *)&ip->ttl;
		ip->ttl = LB_ENCAP_TTL;
		new = *(lb_alias_u16 *)&ip->ttl;
		ip->check = lb_csum_replace16(ip->check, old, new);
		old = *(lb_alias_u16 *)ic;
		ic->type = LB_ICMP_ECHOREPLY;
		new = *(lb_alias_u16 *)ic;
		/* An ICMPv4 message may be all zero: a reply of id 0, seq 0
		 * and no payload sums to +0 and must carry 0xFFFF. */
		ic->checksum = lb_csum_replace16_nz(ic->checksum, old, new);
	} else {
		struct ipv6hdr *ip6 = data + pkt->l3_off;
		struct lb_icmp_hdr *ic = data + pkt->l4_off;
		__u16 old, new;

		if ((void *)(ip6 + 1) > data_end || (void *)(ic + 1) > data_end)
			return LB_R_DROP_BAD_L4;
		/* Swapping addresses leaves the pseudo-header sum unchanged. */
		__builtin_memcpy(&ip6->saddr, &pkt->key.dst, sizeof(ip6->saddr));
		__builtin_memcpy(&ip6->daddr, &pkt->key.src, sizeof(ip6->daddr));
		ip6->hop_limit = LB_ENCAP_TTL;
		/* The pseudo-header's next header (58) keeps ICMPv6's sum off
		 * +0: the plain update is exact, as for the IPv4 header. */
		old = *(lb_alias_u16 *)ic;
		ic->type = LB_ICMP6_ECHO_REPLY;
		new = *(lb_alias_u16 *)ic;
		ic->checksum = lb_csum_replace16(ic->checksum, old, new);
	}
	return LB_R_ICMP_ECHO_REPLY;
}

/* Replaces the packet with a frag-needed / packet-too-big message back to
 * the client quoting it; mtu is the largest inner packet that fits. */
static __always_inline int lb_send_too_big(LB_ENV_CTX *ctx, const struct lb_pkt *pkt,
					   __u32 mtu)
{
	int v4 = pkt->key.family == LB_FAMILY_V4;
	int hdrs = v4 ? sizeof(struct iphdr) + sizeof(struct lb_icmp_hdr)
		      : sizeof(struct ipv6hdr) + sizeof(struct lb_icmp_hdr);
	__u16 quote = pkt->l4_off - pkt->l3_off + 8;
	__u16 l2 = lb_l2_len(pkt->vlans);
	void *data, *data_end;
	int len;

	if (quote > LB_ICMP_QUOTE_MAX)
		quote = LB_ICMP_QUOTE_MAX;
	len = l2 + hdrs + quote;
	if (lb_env_adjust_head(ctx, -hdrs))
		return LB_R_DROP_NO_ROOM;
	data = lb_env_data(ctx);
	data_end = lb_env_data_end(ctx);
	if (lb_env_adjust_tail(ctx, len - (int)(data_end - data)))
		return LB_R_DROP_NO_ROOM;
	data = lb_env_data(ctx);
	data_end = lb_env_data_end(ctx);
	if (data + hdrs + lb_l2_len(LB_MAX_VLANS) > data_end)
		return LB_R_DROP_NO_ROOM;
	lb_l2_move_front(data, data + hdrs, pkt->vlans);
	lb_eth_swap(data);
	if (v4) {
		struct iphdr *ip = data + l2;

		if ((void *)ip + hdrs + quote > data_end)
			return LB_R_DROP_NO_ROOM;
		lb4_write_frag_needed(ip, data_end, pkt->key.dst.w[0], pkt->key.src.w[0], quote,
				      mtu);
	} else {
		struct ipv6hdr *ip6 = data + l2;

		if ((void *)ip6 + hdrs + quote > data_end)
			return LB_R_DROP_NO_ROOM;
		lb6_write_too_big(ip6, data_end, &pkt->key.dst, &pkt->key.src, quote, mtu);
	}
	return LB_R_ICMP_TOO_BIG_SENT;
}

/* A packet too big for a next hop of nh_mtu once overhead bytes of outer
 * header are added: a too-big message back to the client, except about
 * an ICMP error (is_icmp_err), for a packet that may be fragmented (we
 * cannot fragment here) or with a nonsense MTU; those drop. */
static __always_inline int lb_icmp_too_big(LB_ENV_CTX *ctx, const struct lb_pkt *pkt,
					   __u32 nh_mtu, __u16 overhead, int is_icmp_err)
{
	if (is_icmp_err || !pkt->df || nh_mtu < (__u32)overhead + LB_MIN_INNER_MTU)
		return LB_R_DROP_TOO_BIG;
	return lb_send_too_big(ctx, pkt, nh_mtu - overhead);
}

/* ICMP(v6) to a VIP address (the caller has checked that): an echo
 * request is answered in place (LB_R_ICMP_ECHO_REPLY); a frag-needed /
 * packet-too-big yields the flow it quotes, turned round to the
 * client->VIP direction, in *fk (LB_OK), for the pipeline to send to that
 * flow's backend, or LB_R_DROP_ICMP_QUOTE when it quotes no TCP/UDP
 * packet; any other type is the kernel's (LB_R_PASS_ICMP_OTHER). */
static __always_inline int lb_icmp_handle(LB_ENV_CTX *ctx, const struct lb_pkt *pkt,
					  struct lb_flow_key *fk)
{
	void *data = lb_env_data(ctx);
	void *data_end = lb_env_data_end(ctx);
	int v4 = pkt->key.family == LB_FAMILY_V4;

	if ((v4 && pkt->icmp_type == LB_ICMP_ECHO) ||
	    (!v4 && pkt->icmp_type == LB_ICMP6_ECHO_REQUEST))
		return lb_echo_reply(data, data_end, pkt);
	if (!((v4 && pkt->icmp_type == LB_ICMP_DEST_UNREACH &&
	       pkt->icmp_code == LB_ICMP_FRAG_NEEDED) ||
	      (!v4 && pkt->icmp_type == LB_ICMP6_PKT_TOOBIG)))
		return LB_R_PASS_ICMP_OTHER;
	return lb_parse_icmp_quote(data + pkt->l4_off + sizeof(struct lb_icmp_hdr),
				   data + pkt->l3_off + pkt->l3_len, data_end, pkt->key.family, fk);
}

#endif /* SLUICE_LIB_ICMP_H */
