// SPDX-License-Identifier: Apache-2.0
/*
 * metrics.c - Prometheus text exposition of the model and the fast
 * path's counters (see metrics.h for the families). Runs on sluiced's
 * control thread: it reads the model, which only that thread changes.
 *
 * All counters are read first into one table, then written family by
 * family: every family sees the same reading, and the driver is asked
 * once per VIP and backend, not once per family.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "request.h"

struct vip_row {
	const struct cp_vip *v;
	char name[96];			/* cp_format_vip */
	struct lb_vip_stats st;
	size_t first;			/* its backends: rows[first, first + n) */
	size_t n;
	__u32 n_state[3];		/* backends up, down, draining */
};

struct backend_row {
	const struct cp_backend *b;
	char addr[64];			/* cp_format_addr */
	struct lb_backend_stats st;
};

struct table {
	struct vip_row *vips;
	size_t n_vips;
	struct backend_row *backends;
	struct lb_reason_stats reasons[LB_R_MAX];
};

static const char *const reason_names[LB_R_MAX] = LB_REASON_NAMES;

enum { ST_UP, ST_DOWN, ST_DRAINING };
static const char *const state_names[] = { "up", "down", "draining" };

/* As `sluicectl backend list` says it (handlers.c). */
static int backend_state(const struct cp_backend *b)
{
	if (cp_backend_health(b) == CP_HEALTH_DOWN)
		return ST_DOWN;
	if (b->draining || b->weight == 0)
		return ST_DRAINING;
	return ST_UP;
}

static int cmp_addr(const struct lb_addr *a, __u8 fa, const struct lb_addr *b, __u8 fb)
{
	if (fa != fb)
		return fa < fb ? -1 : 1;
	/* Network order compares as bytes. */
	return memcmp(a, b, sizeof(*a));
}

static int cmp_vip(const void *pa, const void *pb)
{
	const struct lb_vip_key *a = &((const struct vip_row *)pa)->v->key;
	const struct lb_vip_key *b = &((const struct vip_row *)pb)->v->key;
	int c = cmp_addr(&a->addr, a->family, &b->addr, b->family);

	if (c)
		return c;
	if (a->port != b->port)
		return ntohs(a->port) < ntohs(b->port) ? -1 : 1;
	return (a->proto > b->proto) - (a->proto < b->proto);
}

static int cmp_backend(const void *pa, const void *pb)
{
	const struct cp_backend *a = ((const struct backend_row *)pa)->b;
	const struct cp_backend *b = ((const struct backend_row *)pb)->b;

	return cmp_addr(&a->addr, a->family, &b->addr, b->family);
}

static const struct cp_driver_ops *ops_of(const struct cp_driver *drv)
{
	return drv ? drv->ops : NULL;
}

/* Reads the model's rows and the counters into t, sorted. */
static int table_fill(struct table *t, const struct cp_model *m, struct cp_driver *drv)
{
	const struct cp_driver_ops *ops = ops_of(drv);
	size_t nb = 0, k = 0;

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < m->n_vips; i++)
		nb += m->vips[i].n_backends;
	t->vips = calloc(m->n_vips ? m->n_vips : 1, sizeof(*t->vips));
	t->backends = calloc(nb ? nb : 1, sizeof(*t->backends));
	if (!t->vips || !t->backends)
		return -ENOMEM;
	t->n_vips = m->n_vips;

	for (size_t i = 0; i < m->n_vips; i++)
		t->vips[i].v = &m->vips[i];
	qsort(t->vips, t->n_vips, sizeof(*t->vips), cmp_vip);

	for (size_t i = 0; i < t->n_vips; i++) {
		struct vip_row *r = &t->vips[i];
		const struct cp_vip *v = r->v;

		cp_format_vip(&v->key, r->name, sizeof(r->name));
		if (ops && ops->vip_stats && ops->vip_stats(drv->ctx, v->id, &r->st))
			memset(&r->st, 0, sizeof(r->st));
		r->first = k;
		r->n = v->n_backends;
		for (size_t j = 0; j < v->n_backends; j++, k++) {
			struct backend_row *b = &t->backends[k];

			b->b = &v->backends[j];
			cp_format_addr(&b->b->addr, b->b->family, b->addr, sizeof(b->addr));
			if (ops && ops->backend_stats &&
			    ops->backend_stats(drv->ctx, b->b->id, &b->st))
				memset(&b->st, 0, sizeof(b->st));
			r->n_state[backend_state(b->b)]++;
		}
		qsort(&t->backends[r->first], r->n, sizeof(*t->backends), cmp_backend);
	}
	if (ops && ops->reason_stats && ops->reason_stats(drv->ctx, t->reasons))
		memset(t->reasons, 0, sizeof(t->reasons));
	return 0;
}

static void table_free(struct table *t)
{
	free(t->vips);
	free(t->backends);
}

int cp_metrics_write_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		int err;

		switch (*s) {
		case '\\': err = fputs("\\\\", f); break;
		case '"': err = fputs("\\\"", f); break;
		case '\n': err = fputs("\\n", f); break;
		default: err = fputc(*s, f); break;
		}
		if (err == EOF)
			return -EIO;
	}
	return 0;
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{vip="..."[,backend="..."] (the brace is left open). */
static void series_open(FILE *f, const char *name, const struct vip_row *v,
			const struct backend_row *b)
{
	fprintf(f, "%s{vip=\"", name);
	cp_metrics_write_label(f, v->name);
	if (b) {
		fputs("\",backend=\"", f);
		cp_metrics_write_label(f, b->addr);
	}
	fputc('"', f);
}

/* Offsets into the stats structs, so that one loop writes each family. */
#define VIP_FIELD(field) offsetof(struct lb_vip_stats, field)
#define BACKEND_FIELD(field) offsetof(struct lb_backend_stats, field)

static void vip_counter(FILE *f, const struct table *t, const char *name, size_t off,
			const char *help)
{
	family(f, name, "counter", help);
	for (size_t i = 0; i < t->n_vips; i++) {
		const struct vip_row *v = &t->vips[i];
		__u64 val;

		memcpy(&val, (const char *)&v->st + off, sizeof(val));
		series_open(f, name, v, NULL);
		fprintf(f, "} %llu\n", (unsigned long long)val);
	}
}

static void backend_counter(FILE *f, const struct table *t, const char *name, size_t off,
			    const char *help)
{
	family(f, name, "counter", help);
	for (size_t i = 0; i < t->n_vips; i++) {
		const struct vip_row *v = &t->vips[i];

		for (size_t j = v->first; j < v->first + v->n; j++) {
			const struct backend_row *b = &t->backends[j];
			__u64 val;

			memcpy(&val, (const char *)&b->st + off, sizeof(val));
			series_open(f, name, v, b);
			fprintf(f, "} %llu\n", (unsigned long long)val);
		}
	}
}

static void write_vips(FILE *f, const struct table *t)
{
	vip_counter(f, t, "sluice_vip_packets_total", VIP_FIELD(packets),
		    "Packets received for the VIP.");
	vip_counter(f, t, "sluice_vip_bytes_total", VIP_FIELD(bytes),
		    "Bytes received for the VIP (frames as received, L2 header included).");
	vip_counter(f, t, "sluice_vip_new_flows_total", VIP_FIELD(new_flows),
		    "Connection-table entries created for the VIP.");
	vip_counter(f, t, "sluice_vip_ring_picks_total", VIP_FIELD(ring_picks),
		    "Maglev ring lookups for the VIP: new flows and re-picks.");
	vip_counter(f, t, "sluice_vip_flow_misses_total", VIP_FIELD(flow_misses),
		    "Connection-table lookups for the VIP that found no entry, TCP SYNs excepted "
		    "(TCP: a live connection the table lost; UDP: a new flow).");
	vip_counter(f, t, "sluice_vip_flow_evictions_total", VIP_FIELD(flow_evictions),
		    "New flows of the VIP stored over another flow that had not expired "
		    "(the least recently seen of a full connection-table set).");

	family(f, "sluice_vip_backends", "gauge",
	       "Backends of the VIP by state (up, down by health check, draining).");
	for (size_t i = 0; i < t->n_vips; i++)
		for (int s = 0; s < 3; s++) {
			series_open(f, "sluice_vip_backends", &t->vips[i], NULL);
			fprintf(f, ",state=\"%s\"} %u\n", state_names[s], t->vips[i].n_state[s]);
		}

	/* What `sluicectl ring digest` prints: nodes of a fleet that agree
	 * on a VIP's backends, weights and health have the same digest, so a
	 * monitor compares one label across nodes. */
	family(f, "sluice_vip_ring_info", "gauge",
	       "The VIP's Maglev ring digest as `sluicectl ring digest` prints it (equal on "
	       "nodes that agree); the value is always 1. Only VIPs with a ring.");
	for (size_t i = 0; i < t->n_vips; i++) {
		if (!t->vips[i].v->ring)
			continue;
		series_open(f, "sluice_vip_ring_info", &t->vips[i], NULL);
		fprintf(f, ",digest=\"%016llx\"} 1\n", (unsigned long long)t->vips[i].v->digest);
	}
}

static void write_backends(FILE *f, const struct table *t)
{
	static const char *const health[] = { "unknown", "up", "down" };

	backend_counter(f, t, "sluice_backend_packets_total", BACKEND_FIELD(packets),
			"Packets forwarded to the backend.");
	backend_counter(f, t, "sluice_backend_bytes_total", BACKEND_FIELD(bytes),
			"Bytes forwarded to the backend (frames as received, before encapsulation).");

	family(f, "sluice_backend_dropped_packets_total", "counter",
	       "Packets dropped after the backend was picked (no route, neighbour, room or "
	       "encap source; too big), by reason as in sluice_packets_total.");
	for (size_t i = 0; i < t->n_vips; i++) {
		const struct vip_row *v = &t->vips[i];

		for (size_t j = v->first; j < v->first + v->n; j++)
			for (int r = 0; r < LB_BACKEND_DROPS; r++) {
				series_open(f, "sluice_backend_dropped_packets_total", v,
					    &t->backends[j]);
				fprintf(f, ",reason=\"%s\"} %llu\n", reason_names[LB_BACKEND_DROP_FIRST + r],
					(unsigned long long)t->backends[j].st.dropped[r]);
			}
	}

	family(f, "sluice_backend_up", "gauge",
	       "1 if the backend takes new flows (not down, not draining), else 0.");
	for (size_t i = 0; i < t->n_vips; i++) {
		const struct vip_row *v = &t->vips[i];

		for (size_t j = v->first; j < v->first + v->n; j++) {
			series_open(f, "sluice_backend_up", v, &t->backends[j]);
			fprintf(f, "} %d\n", backend_state(t->backends[j].b) == ST_UP);
		}
	}

	family(f, "sluice_backend_health", "gauge",
	       "Health reported by sluice-healthd (an operator's override aside): 1 for the "
	       "current state, 0 for the others.");
	for (size_t i = 0; i < t->n_vips; i++) {
		const struct vip_row *v = &t->vips[i];

		for (size_t j = v->first; j < v->first + v->n; j++) {
			const struct backend_row *b = &t->backends[j];

			for (int h = CP_HEALTH_UNKNOWN; h <= CP_HEALTH_DOWN; h++) {
				series_open(f, "sluice_backend_health", v, b);
				fprintf(f, ",health=\"%s\"} %d\n", health[h], (int)b->b->health == h);
			}
		}
	}

	family(f, "sluice_backend_check_latency_seconds", "gauge",
	       "Latency of the last health check reported for the backend.");
	for (size_t i = 0; i < t->n_vips; i++) {
		const struct vip_row *v = &t->vips[i];

		for (size_t j = v->first; j < v->first + v->n; j++) {
			const struct backend_row *b = &t->backends[j];

			/* No report yet: no sample rather than a made-up 0. */
			if (b->b->health == CP_HEALTH_UNKNOWN)
				continue;
			series_open(f, "sluice_backend_check_latency_seconds", v, b);
			fprintf(f, "} %u.%06u\n", b->b->latency_us / 1000000u,
				b->b->latency_us % 1000000u);
		}
	}
}

static void write_reasons(FILE *f, const struct table *t)
{
	family(f, "sluice_packets_total", "counter",
	       "Packets seen by the fast path, by verdict reason (each packet counted once).");
	for (int i = 0; i < LB_R_MAX; i++)
		fprintf(f, "sluice_packets_total{reason=\"%s\"} %llu\n", reason_names[i],
			(unsigned long long)t->reasons[i].packets);
	family(f, "sluice_bytes_total", "counter",
	       "Bytes seen by the fast path, by verdict reason.");
	for (int i = 0; i < LB_R_MAX; i++)
		fprintf(f, "sluice_bytes_total{reason=\"%s\"} %llu\n", reason_names[i],
			(unsigned long long)t->reasons[i].bytes);
}

static void write_model(FILE *f, const struct cp_model_stats *s)
{
	family(f, "sluice_ring_rebuilds_total", "counter", "Maglev ring builds.");
	fprintf(f, "sluice_ring_rebuilds_total %llu\n", (unsigned long long)s->ring_rebuilds);
	family(f, "sluice_ring_last_rebuild_seconds", "gauge",
	       "Duration of the last Maglev ring build.");
	fprintf(f, "sluice_ring_last_rebuild_seconds %llu.%09llu\n",
		(unsigned long long)(s->last_rebuild_ns / 1000000000ull),
		(unsigned long long)(s->last_rebuild_ns % 1000000000ull));
	family(f, "sluice_config_changes_total", "counter",
	       "Configuration changes by result (applied, or rejected by validation).");
	fprintf(f, "sluice_config_changes_total{result=\"applied\"} %llu\n",
		(unsigned long long)s->changes_applied);
	fprintf(f, "sluice_config_changes_total{result=\"rejected\"} %llu\n",
		(unsigned long long)s->changes_rejected);
	family(f, "sluice_config_applies_total", "counter",
	       "Whole configurations (sluicectl apply, reload, SIGHUP) by result: applied, "
	       "or rejected (invalid, or refused because it would undo runtime changes).");
	fprintf(f, "sluice_config_applies_total{result=\"applied\"} %llu\n",
		(unsigned long long)s->applies_applied);
	fprintf(f, "sluice_config_applies_total{result=\"rejected\"} %llu\n",
		(unsigned long long)s->applies_rejected);
	family(f, "sluice_config_last_apply_successful", "gauge",
	       "1 if the last apply or reload was applied (or none was tried), 0 if rejected.");
	fprintf(f, "sluice_config_last_apply_successful %d\n", !s->last_apply_failed);
}

static void write_daemon(FILE *f, const struct cp_metrics_daemon *dm)
{
	family(f, "sluice_state_write_failures_total", "counter",
	       "Failed writes of the state file (each retry counts).");
	fprintf(f, "sluice_state_write_failures_total %llu\n", dm->state_write_failures);
	family(f, "sluice_state_unsaved", "gauge",
	       "1 while the running state is not in the state file (a restart may lose it).");
	fprintf(f, "sluice_state_unsaved %d\n", dm->state_unsaved ? 1 : 0);
	family(f, "sluice_state_last_write_timestamp_seconds", "gauge",
	       "Unix time of the last successful write of the state file (0: none yet).");
	fprintf(f, "sluice_state_last_write_timestamp_seconds %lld\n", dm->state_last_write);
	family(f, "sluice_state_generation", "gauge", "Generation of the running state.");
	fprintf(f, "sluice_state_generation %llu\n", dm->state_generation);
	family(f, "sluice_announced_addresses", "gauge",
	       "VIP addresses whose route is in the announce table now (announced over BGP "
	       "by bird).");
	fprintf(f, "sluice_announced_addresses %llu\n", dm->announced_addresses);
	family(f, "sluice_node_drained", "gauge",
	       "1 while the node is drained (sluicectl node drain): nothing announced.");
	fprintf(f, "sluice_node_drained %d\n", dm->node_drained ? 1 : 0);
}

static void seconds(FILE *f, __u64 ms)
{
	fprintf(f, "%llu.%03llu\n", (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000));
}

/* After the model's counters: ages move with the clock, and everything
 * before stays byte-identical for one state (the tests compare it). */
static void write_health(FILE *f, const struct table *t, const struct cp_model *m)
{
	__u64 now = cp_model_now_ms(m);

	family(f, "sluice_healthd_up", "gauge",
	       "1 if sluice-healthd sent a heartbeat within sluiced's --healthd-timeout, else 0 "
	       "(health then stays as last known); no sample while no VIP has a check.");
	if (cp_model_has_checks(m))
		fprintf(f, "sluice_healthd_up %d\n", cp_model_healthd_up(m));
	family(f, "sluice_healthd_heartbeat_age_seconds", "gauge",
	       "Time since sluice-healthd's last heartbeat (since sluiced started if none came).");
	fputs("sluice_healthd_heartbeat_age_seconds ", f);
	seconds(f, cp_model_healthd_age_ms(m));
	family(f, "sluice_backend_check_age_seconds", "gauge",
	       "Time since sluice-healthd last reported on the backend or confirmed it with a "
	       "heartbeat; only backends it has reported on.");
	for (size_t i = 0; i < t->n_vips; i++) {
		const struct vip_row *v = &t->vips[i];

		for (size_t j = v->first; j < v->first + v->n; j++) {
			const struct cp_backend *b = t->backends[j].b;

			if (!b->check_ms)
				continue;
			series_open(f, "sluice_backend_check_age_seconds", v, &t->backends[j]);
			fputs("} ", f);
			seconds(f, now > b->check_ms ? now - b->check_ms : 0);
		}
	}
}

int cp_metrics_render(const struct cp_model *m, struct cp_driver *drv, const char *version,
		      char **out, size_t *len)
{
	return cp_metrics_render_daemon(m, drv, version, NULL, out, len);
}

int cp_metrics_render_daemon(const struct cp_model *m, struct cp_driver *drv, const char *version,
			     const struct cp_metrics_daemon *dm, char **out, size_t *len)
{
	struct table t;
	char *buf = NULL;
	size_t n = 0;
	FILE *f;
	int err;

	*out = NULL;
	*len = 0;
	err = table_fill(&t, m, drv);
	if (err)
		goto out;
	f = open_memstream(&buf, &n);
	if (!f) {
		err = -ENOMEM;
		goto out;
	}
	family(f, "sluice_build_info", "gauge",
	       "Sluice build, fast path (xdp, dpdk, none) and map ABI; the value is always 1.");
	fputs("sluice_build_info{version=\"", f);
	cp_metrics_write_label(f, version ? version : "");
	fprintf(f, "\",fastpath=\"%s\",abi=\"%d\"} 1\n",
		drv && drv->ops && drv->ops->name ? drv->ops->name : "none", LB_ABI_VERSION);
	write_vips(f, &t);
	write_backends(f, &t);
	write_reasons(f, &t);
	write_model(f, &m->stats);
	if (dm)
		write_daemon(f, dm);
	write_health(f, &t, m);
	/* The fast path's own families (DPDK's ports); a failure there
	 * loses them, not the rest. */
	if (drv && drv->ops && drv->ops->write_metrics)
		drv->ops->write_metrics(drv->ctx, f);
	/* memstream errors are sticky: one check covers every write. */
	err = ferror(f) ? -ENOMEM : 0;
	if (fclose(f) && !err)
		err = -ENOMEM;
	if (err) {
		free(buf);
		goto out;
	}
	*out = buf;
	*len = n;
out:
	table_free(&t);
	return err;
}

/* The API socket's clients (api.h): how many, and why some were closed. */
static void write_api(FILE *f, const struct cp_api_stats *st)
{
	const struct { const char *reason; __u64 n; } closed[] = {
		{ "idle", st->idle }, { "stalled", st->stalled }, { "evicted", st->evicted },
		{ "refused", st->refused }, { "denied", st->denied },
	};

	family(f, "sluice_api_clients", "gauge", "Clients connected to the API socket.");
	fprintf(f, "sluice_api_clients %u\n", st->clients);
	family(f, "sluice_api_max_clients", "gauge", "The API's client cap (--api-max-clients).");
	fprintf(f, "sluice_api_max_clients %u\n", st->max_clients);
	family(f, "sluice_api_clients_closed_total", "counter",
	       "API clients closed by sluiced: idle (no request within --api-idle-timeout), "
	       "stalled (a request or replies stuck past --api-stall-timeout), evicted (the "
	       "idle longest, for a newcomer at the cap), refused (a newcomer at the cap, "
	       "every client busy), denied (neither root nor in --api-read-group).");
	for (size_t i = 0; i < sizeof(closed) / sizeof(closed[0]); i++)
		fprintf(f, "sluice_api_clients_closed_total{reason=\"%s\"} %llu\n",
			closed[i].reason, (unsigned long long)closed[i].n);
	family(f, "sluice_api_requests_denied_total", "counter",
	       "Requests refused to --api-read-group members because they are not reads.");
	fprintf(f, "sluice_api_requests_denied_total %llu\n", (unsigned long long)st->read_only);
}

int cp_metrics_append_api(char **text, size_t *len, const struct cp_api_stats *st)
{
	char *buf = NULL, *both;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	int err;

	if (!f)
		return -ENOMEM;
	write_api(f, st);
	err = ferror(f) ? -ENOMEM : 0;
	if (fclose(f) && !err)
		err = -ENOMEM;
	both = err ? NULL : realloc(*text, *len + n + 1);
	if (both) {
		memcpy(both + *len, buf, n + 1);
		*text = both;
		*len += n;
	}
	free(buf);
	return both ? 0 : -ENOMEM;
}
