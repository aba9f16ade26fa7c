/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.h - the model's state and the fast path's counters as
 * Prometheus text exposition (format 0.0.4).
 *
 * Families, in this order (one HELP and one TYPE line each; series sorted
 * by VIP key, then backend address, so that two renders of the same state
 * are byte-identical whatever order changes came in):
 *
 *   sluice_build_info{version,fastpath,abi}             gauge, always 1
 *   sluice_vip_packets_total{vip}                       counter
 *   sluice_vip_bytes_total{vip}                         counter
 *   sluice_vip_new_flows_total{vip}                     counter (connection-table inserts)
 *   sluice_vip_ring_picks_total{vip}                    counter (new flows and re-picks)
 *   sluice_vip_flow_misses_total{vip}                   counter (lookups without entry, SYNs excepted)
 *   sluice_vip_flow_evictions_total{vip}                counter (live flows a full set evicted)
 *   sluice_vip_backends{vip,state="up|down|draining"}   gauge
 *   sluice_vip_ring_info{vip,digest}                    gauge, always 1: the ring digest
 *                                                       (`sluicectl ring digest`), only
 *                                                       VIPs with a ring
 *   sluice_backend_packets_total{vip,backend}           counter
 *   sluice_backend_bytes_total{vip,backend}             counter
 *   sluice_backend_dropped_packets_total{vip,backend,reason}  counter, every reason
 *                                         after the pick (fwd.h LB_BACKEND_DROP_FIRST)
 *   sluice_backend_up{vip,backend}                      gauge 1/0 (state "up")
 *   sluice_backend_health{vip,backend,health}           gauge, state set: one of
 *                                                       unknown/up/down is 1, the others 0
 *   sluice_backend_check_latency_seconds{vip,backend}   gauge, only backends healthd reported on
 *   sluice_packets_total{reason}                        counter, every LB_R_* reason
 *   sluice_bytes_total{reason}                          counter
 *   sluice_ring_rebuilds_total                          counter
 *   sluice_ring_last_rebuild_seconds                    gauge, duration of the last build
 *   sluice_config_changes_total{result="applied|rejected"} counter
 *   sluice_state_write_failures_total                   counter, failed writes of the state file
 *   sluice_state_unsaved                                gauge 1 while the running state is
 *                                                       not in the state file
 *   sluice_state_last_write_timestamp_seconds           gauge, unix time of the last write (0: none)
 *   sluice_state_generation                             gauge, generation of the running state
 *   sluice_announced_addresses                          gauge, VIP addresses announced now
 *   sluice_node_drained                                 gauge 1/0 (sluicectl node drain)
 *   (the four sluice_state_* and these two only from sluiced: cp_metrics_render_daemon)
 *   sluice_healthd_up                                   gauge 1/0 (heartbeat within the bound;
 *                                                       no sample while no VIP has a check)
 *   sluice_healthd_heartbeat_age_seconds                gauge
 *   sluice_backend_check_age_seconds{vip,backend}       gauge, only backends healthd reported on
 *   then the fast path's own families, if it has any (cp_driver_ops
 *   .write_metrics: DPDK's sluice_dpdk_*)
 *   then the API socket's (cp_metrics_append_api):
 *   sluice_api_clients                                  gauge
 *   sluice_api_max_clients                              gauge (--api-max-clients)
 *   sluice_api_clients_closed_total{reason="idle|stalled|evicted|refused|denied"} counter
 *   sluice_api_requests_denied_total                    counter (non-reads of the read group)
 *
 * vip is "address:port/proto" as sluicectl writes it, backend the address.
 * A backend's state follows `sluicectl backend list`: down if its health
 * is (override, else healthd's view, else its initial state), else
 * draining if drained or weight 0, else up.
 */
#ifndef SLUICE_CP_METRICS_H
#define SLUICE_CP_METRICS_H

#include <stddef.h>
#include "api.h"
#include "driver.h"
#include "model.h"

/* Content-Type of what cp_metrics_render() writes. */
#define CP_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Renders m and the counters of drv into a new buffer: *out (NUL
 * terminated, owned by the caller, free()) and *len (without the NUL).
 * drv may be NULL, or have no ops: every fast-path counter is then 0 and
 * the output is still complete and valid; a driver call that fails counts
 * as 0 too. version is the sluice_build_info label (any bytes; escaped).
 * Reads m and calls drv's stats ops only: call it on the thread that owns
 * the model (sluiced's control thread). Returns 0, or -ENOMEM with *out
 * NULL. */
int cp_metrics_render(const struct cp_model *m, struct cp_driver *drv, const char *version,
		      char **out, size_t *len);

/* The daemon's persistence, as sluiced knows it (persist.c). */
struct cp_metrics_daemon {
	unsigned long long state_write_failures;
	int state_unsaved;
	long long state_last_write;	/* unix seconds; 0: never */
	unsigned long long state_generation;
	unsigned long long announced_addresses;	/* routes in the announce table */
	int node_drained;
};

/* cp_metrics_render plus the daemon's own families (dm NULL: none). */
int cp_metrics_render_daemon(const struct cp_model *m, struct cp_driver *drv, const char *version,
			     const struct cp_metrics_daemon *dm, char **out, size_t *len);
/* Appends the API socket's families to what cp_metrics_render wrote
 * (*text and *len as it left them; *text is reallocated). 0, or -ENOMEM
 * with *text and *len unchanged. */
int cp_metrics_append_api(char **text, size_t *len, const struct cp_api_stats *st);

/* Writes s as a label value (without the quotes) with \, " and newline
 * escaped as the exposition format wants. Returns 0 or -EIO. */
int cp_metrics_write_label(FILE *f, const char *s);

#endif /* SLUICE_CP_METRICS_H */
