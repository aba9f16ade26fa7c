/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Placeholder while the forwarder is written: passes everything. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "lb_maps.h"

SEC("xdp")
int sluice_xdp(struct xdp_md *ctx)
{
	__u32 k = 0;
	void *p;

	p = bpf_map_lookup_elem(&lb_config, &k);
	p = p ?: bpf_map_lookup_elem(&vip_table, &k);
	p = p ?: bpf_map_lookup_elem(&vip_meta, &k);
	p = p ?: bpf_map_lookup_elem(&rings, &k);
	p = p ?: bpf_map_lookup_elem(&backends, &k);
	p = p ?: bpf_map_lookup_elem(&flows, &k);
	p = p ?: bpf_map_lookup_elem(&vip_stats, &k);
	p = p ?: bpf_map_lookup_elem(&backend_stats, &k);
	p = p ?: bpf_map_lookup_elem(&reason_stats, &k);
	return p && lb_params.max_ring ? XDP_PASS : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
