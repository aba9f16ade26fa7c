/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lb_maps.h - the maps of sluice.bpf.c. Layouts are in lib/fwd.h; sizes
 * here are placeholders the loader replaces (bpf_map__set_max_entries)
 * from struct lb_params before load.
 */
#ifndef SLUICE_XDP_LB_MAPS_H
#define SLUICE_XDP_LB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "fwd.h"

/* Sizes, frozen at load: the verifier treats them as constants. */
const volatile struct lb_params lb_params = {
	.vip_slots = LB_DEFAULT_VIP_SLOTS,
	.max_vips = LB_DEFAULT_MAX_VIPS,
	.max_ring = LB_DEFAULT_RING_SIZE,
	.max_backends = LB_DEFAULT_MAX_BACKENDS,
	.flow_buckets = LB_DEFAULT_FLOW_BUCKETS,
	.nr_cpus = 1,
};

/* Node settings and the VIP table's flip word; one entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct lb_config);
	__uint(max_entries, 1);
} lb_config SEC(".maps");

/* Open-addressed VIP table, two halves of vip_slots slots. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct lb_vip_slot);
	__uint(max_entries, 2 * LB_DEFAULT_VIP_SLOTS);
} vip_table SEC(".maps");

/* Per-VIP flags and ring flip word, by vip_id. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct lb_vip_meta);
	__uint(max_entries, LB_DEFAULT_MAX_VIPS);
} vip_meta SEC(".maps");

/* Maglev rings: max_vips * 2 rows of LB_RING_STRIDE(max_ring) ids. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct lb_ring_pair);
	__uint(max_entries, 1);
} rings SEC(".maps");

/* Backends by id. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct lb_backend);
	__uint(max_entries, LB_DEFAULT_MAX_BACKENDS);
} backends SEC(".maps");

/* Connection table: nr_cpus slices of flow_buckets 4-way buckets. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct lb_flow_bucket);
	__uint(max_entries, 1);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_vip_stats);
	__uint(max_entries, LB_DEFAULT_MAX_VIPS);
} vip_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_backend_stats);
	__uint(max_entries, LB_DEFAULT_MAX_BACKENDS);
} backend_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_reason_stats);
	__uint(max_entries, LB_R_MAX);
} reason_stats SEC(".maps");

#endif /* SLUICE_XDP_LB_MAPS_H */
