/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Placeholder while decap is written. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int sluice_decap(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
