/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * restore.bpf.c - the BPF_PROG_TEST_RUN harness of bench_xdp
 * (docs/measuring.md, method 1: restore and tail-call).
 *
 * With repeat = N the kernel runs a program N times on one buffer, so from
 * the second iteration on a forwarder would see its own IP-in-IP output.
 * restore_xdp undoes that before every iteration: if the frame is longer
 * than the original (orig_len), the forwarder prepended an outer header
 * behind the L2 header; the head moves forward past it and the original
 * L2 header is written back. The inner packet was never touched, so the
 * frame is then byte for byte the original. It then tail-calls slot 0 of
 * under_test: sluice_xdp, or drop_xdp for the floor.
 *
 * restore_vary_xdp does the same and then gives each iteration a new flow
 * (source address and port from a counter): the new-flow path with a cold
 * connection-table bucket, which repeat alone can never show, or, with
 * vary_mask, a cycle through many established flows.
 *
 * The globals are .bss, not .rodata: bench_xdp interleaves cases with
 * different frames and rewrites them between runs without reloading.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Longest L2 header: Ethernet and two VLAN tags. */
#define RESTORE_L2_MAX 22

/* Frame length of the case being run (L0). */
__u32 orig_len;
/* Its L2 header: l2_len bytes (14, 18 or 22) in l2_hdr. */
__u32 l2_len;
__u16 l2_hdr[RESTORE_L2_MAX / 2];
/* Frames put back (a cross-check: N - 1 per forwarded run). */
__u64 restored;
/* Length changes that were not one outer IPv4/IPv6 header. */
__u64 bad_delta;
/* restore_vary_xdp: next flow number, the mask that makes numbers cycle
 * (a set of established flows) and the source /16 they are numbered in. */
__u32 vary_seq;
__u32 vary_mask;
__be32 vary_net;

/* Slot 0: the program under test. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} under_test SEC(".maps");

/* 0: the frame is the original again; -1: it cannot be (counted). */
static __always_inline int restore_frame(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	int delta = (int)(data_end - data) - (int)orig_len;
	__u32 n = l2_len / 2;
	__u16 *d;
	int i;

	if (delta == 0)
		return 0;
	if (delta != 20 && delta != 40)
		goto bad;
	if (bpf_xdp_adjust_head(ctx, delta))
		goto bad;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + RESTORE_L2_MAX > data_end)
		goto bad;
	d = data;
#pragma unroll
	for (i = 0; i < RESTORE_L2_MAX / 2; i++)
		if (i < n)
			d[i] = l2_hdr[i];
	restored++;
	return 0;
bad:
	bad_delta++;
	return -1;
}

SEC("xdp")
int restore_xdp(struct xdp_md *ctx)
{
	if (restore_frame(ctx))
		return XDP_ABORTED;
	bpf_tail_call(ctx, &under_test, 0);
	return XDP_ABORTED;
}

/* For untagged IPv4/TCP frames without IP options only (bench_xdp's). */
SEC("xdp")
int restore_vary_xdp(struct xdp_md *ctx)
{
	void *data, *data_end;
	struct iphdr *ip;
	struct tcphdr *th;
	__u32 seq;

	if (restore_frame(ctx))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	ip = data + sizeof(struct ethhdr);
	th = (void *)(ip + 1);
	if ((void *)(th + 1) > data_end)
		return XDP_ABORTED;
	seq = vary_seq++ & vary_mask;
	ip->saddr = vary_net | bpf_htonl(seq >> 16);
	th->source = bpf_htons((__u16)seq);
	bpf_tail_call(ctx, &under_test, 0);
	return XDP_ABORTED;
}

/* The floor's program under test. */
SEC("xdp")
int drop_xdp(struct xdp_md *ctx)
{
	return XDP_DROP;
}

/* Restore-overhead probe: grows the head like an IPv4 encapsulation and
 * drops, so restore_xdp puts the frame back on every iteration. */
SEC("xdp")
int grow_drop_xdp(struct xdp_md *ctx)
{
	if (bpf_xdp_adjust_head(ctx, -20))
		return XDP_ABORTED;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
