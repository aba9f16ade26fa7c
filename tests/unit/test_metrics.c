// SPDX-License-Identifier: Apache-2.0
/*
 * test_metrics.c - controlplane/metrics.c and metrics_http.c.
 *
 * Rendering: a small model (built from sluicectl command lines, no fast
 * path) and counters from a stats-only fake driver, against expected text
 * for several families; label escaping; every family has exactly one HELP
 * and one TYPE before its samples and its samples together; no series
 * twice; the output does not depend on the order changes came in.
 *
 * HTTP: the server on 127.0.0.1 with an ephemeral port, driven by a plain
 * socket client. Runs unprivileged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cmd.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "model.h"

#define V1 "10.100.0.1:80/tcp"
#define V2 "10.100.0.2:443/tcp"
#define V6 "[2001:db8::1]:53/udp"

/* ---- a fast path that only has counters ------------------------------- */

#define FAKE_IDS 64

struct fake {
	struct cp_driver drv;
	struct cp_driver_ops ops;
	struct lb_vip_stats vip[FAKE_IDS];
	struct lb_backend_stats backend[FAKE_IDS];
	struct lb_reason_stats reason[LB_R_MAX];
	int fail;		/* every call fails with -EIO */
};

static int fake_vip_stats(void *ctx, __u32 id, struct lb_vip_stats *out)
{
	struct fake *f = ctx;

	if (f->fail || id >= FAKE_IDS)
		return -EIO;
	*out = f->vip[id];
	return 0;
}

static int fake_backend_stats(void *ctx, __u32 id, struct lb_backend_stats *out)
{
	struct fake *f = ctx;

	if (f->fail || id >= FAKE_IDS)
		return -EIO;
	*out = f->backend[id];
	return 0;
}

static int fake_reason_stats(void *ctx, struct lb_reason_stats out[LB_R_MAX])
{
	struct fake *f = ctx;

	if (f->fail)
		return -EIO;
	memcpy(out, f->reason, sizeof(f->reason));
	return 0;
}

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	f->ops.name = "fake";
	f->ops.vip_stats = fake_vip_stats;
	f->ops.backend_stats = fake_backend_stats;
	f->ops.reason_stats = fake_reason_stats;
	f->drv.ops = &f->ops;
	f->drv.ctx = f;
}

/* ---- the model, from command lines ---------------------------------- */

static void apply(struct cp_model *m, const char *line)
{
	char buf[1024], *w[32];
	struct cp_request r;
	struct cp_error e;
	int n;

	memset(&e, 0, sizeof(e));
	snprintf(buf, sizeof(buf), "%s", line);
	n = cp_cmd_split(buf, w, 32);
	if (n <= 0 || cp_cmd_parse(n, w, &r, &e))
		fail_msg("cannot parse '%s': %s: %s", line, e.field, e.msg);
	if (cp_model_apply(m, &r, &e))
		fail_msg("'%s' refused: %s: %s", line, e.field, e.msg);
}

/* The same state whatever the order: VIPs and backends are added in
 * reverse when reverse is set. */
static void build(struct cp_model *m, int reverse)
{
	static const char *const lines[] = {
		"vip add " V1 "",
		"vip add " V2 "",
		"vip add " V6 "",
		"backend add " V1 " 10.0.0.2",
		"backend add " V1 " 10.0.0.10 --drain",
		"backend add " V1 " 10.0.0.3",
		"backend add " V2 " 10.0.0.2 --weight 0",
		"backend add " V6 " 2001:db8::10",
	};
	size_t n = sizeof(lines) / sizeof(lines[0]);

	assert_int_equal(cp_model_init(m, NULL, NULL), 0);
	/* VIPs before their backends either way. */
	for (size_t i = 0; i < 3; i++)
		apply(m, lines[reverse ? 2 - i : i]);
	for (size_t i = 3; i < n; i++)
		apply(m, lines[reverse ? n - 1 - (i - 3) : i]);
	apply(m, "health report " V1 " 10.0.0.3 down --latency-us 1500 --reason 'HTTP 503'");
	apply(m, "health report " V1 " 10.0.0.2 up --latency-us 250");
}

static __u32 vip_id(const struct cp_model *m, const char *name)
{
	char buf[96];

	for (size_t i = 0; i < m->n_vips; i++)
		if (!strcmp(cp_format_vip(&m->vips[i].key, buf, sizeof(buf)), name))
			return m->vips[i].id;
	fail_msg("no VIP %s", name);
	return 0;
}

static __u32 backend_id(const struct cp_model *m, const char *vip, const char *addr)
{
	char buf[96];

	for (size_t i = 0; i < m->n_vips; i++) {
		const struct cp_vip *v = &m->vips[i];

		if (strcmp(cp_format_vip(&v->key, buf, sizeof(buf)), vip))
			continue;
		for (size_t j = 0; j < v->n_backends; j++)
			if (!strcmp(cp_format_addr(&v->backends[j].addr, v->backends[j].family,
						   buf, sizeof(buf)), addr))
				return v->backends[j].id;
	}
	fail_msg("no backend %s %s", vip, addr);
	return 0;
}

/* noinline: inlined, gcc 12 at -O2 and up takes the returned buffer for
 * a pointer to the local `text` (a false -Wdangling-pointer). */
static __attribute__((noinline)) char *render(const struct cp_model *m, struct cp_driver *drv,
					      const char *version)
{
	char *text;
	size_t len;

	assert_int_equal(cp_metrics_render(m, drv, version, &text, &len), 0);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

/* The lines of family name: its HELP line up to the next HELP (or end). */
static char *family_block(const char *text, const char *name)
{
	char key[128];
	const char *start, *end;

	snprintf(key, sizeof(key), "# HELP %s ", name);
	start = strstr(text, key);
	if (!start) {
		fail_msg("no family %s", name);
		return NULL;
	}
	end = strstr(start + 1, "# HELP ");
	if (!end)
		end = start + strlen(start);
	return strndup(start, (size_t)(end - start));
}

static void expect_family(const char *text, const char *name, const char *want)
{
	char *got = family_block(text, name);

	if (strcmp(got, want))
		fail_msg("family %s:\n--- got\n%s--- want\n%s", name, got, want);
	free(got);
}

/* ---- rendering -------------------------------------------------------- */

#define STR2(x) #x
#define STR(x) STR2(x)
#define ABI_TEXT STR(LB_ABI_VERSION)

static void test_render_families(void **state)
{
	struct cp_model m;
	struct fake f;
	char *text;

	(void)state;
	build(&m, 0);
	fake_init(&f);
	f.vip[vip_id(&m, V1)] = (struct lb_vip_stats){ 100, 15000, 7, 9, 3, 2 };
	f.vip[vip_id(&m, V2)] = (struct lb_vip_stats){ 1, 60, 1, 1 };
	f.backend[backend_id(&m, V1, "10.0.0.2")] = (struct lb_backend_stats){ 60, 9000 };
	f.backend[backend_id(&m, V1, "10.0.0.3")] = (struct lb_backend_stats){ 40, 6000 };
	f.backend[backend_id(&m, V1, "10.0.0.3")].dropped[LB_R_DROP_FIB - LB_BACKEND_DROP_FIRST] = 4;
	f.backend[backend_id(&m, V1, "10.0.0.3")].dropped[LB_R_DROP_NO_SOURCE - LB_BACKEND_DROP_FIRST] = 1;
	f.reason[LB_R_FWD_TX] = (struct lb_reason_stats){ 101, 15060 };
	f.reason[LB_R_DROP_NO_BACKEND] = (struct lb_reason_stats){ 2, 120 };
	text = render(&m, &f.drv, "0.4.0");

	/* First family, then sorted by VIP address (v4 before v6). */
	assert_int_equal(strncmp(text, "# HELP sluice_build_info ", 25), 0);
	expect_family(text, "sluice_build_info",
		"# HELP sluice_build_info Sluice build, fast path (xdp, dpdk, none) and map ABI; the value is always 1.\n"
		"# TYPE sluice_build_info gauge\n"
		"sluice_build_info{version=\"0.4.0\",fastpath=\"fake\",abi=\"" ABI_TEXT "\"} 1\n");
	expect_family(text, "sluice_vip_packets_total",
		"# HELP sluice_vip_packets_total Packets received for the VIP.\n"
		"# TYPE sluice_vip_packets_total counter\n"
		"sluice_vip_packets_total{vip=\"10.100.0.1:80/tcp\"} 100\n"
		"sluice_vip_packets_total{vip=\"10.100.0.2:443/tcp\"} 1\n"
		"sluice_vip_packets_total{vip=\"[2001:db8::1]:53/udp\"} 0\n");
	expect_family(text, "sluice_vip_ring_picks_total",
		"# HELP sluice_vip_ring_picks_total Maglev ring lookups for the VIP: new flows and re-picks.\n"
		"# TYPE sluice_vip_ring_picks_total counter\n"
		"sluice_vip_ring_picks_total{vip=\"10.100.0.1:80/tcp\"} 9\n"
		"sluice_vip_ring_picks_total{vip=\"10.100.0.2:443/tcp\"} 1\n"
		"sluice_vip_ring_picks_total{vip=\"[2001:db8::1]:53/udp\"} 0\n");
	expect_family(text, "sluice_vip_flow_misses_total",
		"# HELP sluice_vip_flow_misses_total Connection-table lookups for the VIP that found no entry, TCP SYNs excepted (TCP: a live connection the table lost; UDP: a new flow).\n"
		"# TYPE sluice_vip_flow_misses_total counter\n"
		"sluice_vip_flow_misses_total{vip=\"10.100.0.1:80/tcp\"} 3\n"
		"sluice_vip_flow_misses_total{vip=\"10.100.0.2:443/tcp\"} 0\n"
		"sluice_vip_flow_misses_total{vip=\"[2001:db8::1]:53/udp\"} 0\n");
	expect_family(text, "sluice_vip_flow_evictions_total",
		"# HELP sluice_vip_flow_evictions_total New flows of the VIP stored over another flow that had not expired (the least recently seen of a full connection-table set).\n"
		"# TYPE sluice_vip_flow_evictions_total counter\n"
		"sluice_vip_flow_evictions_total{vip=\"10.100.0.1:80/tcp\"} 2\n"
		"sluice_vip_flow_evictions_total{vip=\"10.100.0.2:443/tcp\"} 0\n"
		"sluice_vip_flow_evictions_total{vip=\"[2001:db8::1]:53/udp\"} 0\n");
	expect_family(text, "sluice_vip_backends",
		"# HELP sluice_vip_backends Backends of the VIP by state (up, down by health check, draining).\n"
		"# TYPE sluice_vip_backends gauge\n"
		"sluice_vip_backends{vip=\"10.100.0.1:80/tcp\",state=\"up\"} 1\n"
		"sluice_vip_backends{vip=\"10.100.0.1:80/tcp\",state=\"down\"} 1\n"
		"sluice_vip_backends{vip=\"10.100.0.1:80/tcp\",state=\"draining\"} 1\n"
		"sluice_vip_backends{vip=\"10.100.0.2:443/tcp\",state=\"up\"} 0\n"
		"sluice_vip_backends{vip=\"10.100.0.2:443/tcp\",state=\"down\"} 0\n"
		"sluice_vip_backends{vip=\"10.100.0.2:443/tcp\",state=\"draining\"} 1\n"
		"sluice_vip_backends{vip=\"[2001:db8::1]:53/udp\",state=\"up\"} 1\n"
		"sluice_vip_backends{vip=\"[2001:db8::1]:53/udp\",state=\"down\"} 0\n"
		"sluice_vip_backends{vip=\"[2001:db8::1]:53/udp\",state=\"draining\"} 0\n");
	/* Backends sorted by address bytes: .2 < .3 < .10. */
	expect_family(text, "sluice_backend_bytes_total",
		"# HELP sluice_backend_bytes_total Bytes forwarded to the backend (frames as received, before encapsulation).\n"
		"# TYPE sluice_backend_bytes_total counter\n"
		"sluice_backend_bytes_total{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.2\"} 9000\n"
		"sluice_backend_bytes_total{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.3\"} 6000\n"
		"sluice_backend_bytes_total{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.10\"} 0\n"
		"sluice_backend_bytes_total{vip=\"10.100.0.2:443/tcp\",backend=\"10.0.0.2\"} 0\n"
		"sluice_backend_bytes_total{vip=\"[2001:db8::1]:53/udp\",backend=\"2001:db8::10\"} 0\n");
	/* Every reason after the pick, per backend; the drops where they were. */
	assert_non_null(strstr(text,
		"# HELP sluice_backend_dropped_packets_total Packets dropped after the backend was picked (no route, neighbour, room or encap source; too big), by reason as in sluice_packets_total.\n"
		"# TYPE sluice_backend_dropped_packets_total counter\n"
		"sluice_backend_dropped_packets_total{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.2\",reason=\"drop_fib\"} 0\n"));
	assert_non_null(strstr(text,
		"sluice_backend_dropped_packets_total{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.3\",reason=\"drop_fib\"} 4\n"
		"sluice_backend_dropped_packets_total{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.3\",reason=\"drop_no_neigh\"} 0\n"
		"sluice_backend_dropped_packets_total{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.3\",reason=\"drop_too_big\"} 0\n"
		"sluice_backend_dropped_packets_total{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.3\",reason=\"drop_no_room\"} 0\n"
		"sluice_backend_dropped_packets_total{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.3\",reason=\"drop_no_source\"} 1\n"));
	assert_non_null(strstr(text,
		"sluice_backend_dropped_packets_total{vip=\"[2001:db8::1]:53/udp\",backend=\"2001:db8::10\",reason=\"drop_no_source\"} 0\n"));
	expect_family(text, "sluice_backend_up",
		"# HELP sluice_backend_up 1 if the backend takes new flows (not down, not draining), else 0.\n"
		"# TYPE sluice_backend_up gauge\n"
		"sluice_backend_up{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.2\"} 1\n"
		"sluice_backend_up{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.3\"} 0\n"
		"sluice_backend_up{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.10\"} 0\n"
		"sluice_backend_up{vip=\"10.100.0.2:443/tcp\",backend=\"10.0.0.2\"} 0\n"
		"sluice_backend_up{vip=\"[2001:db8::1]:53/udp\",backend=\"2001:db8::10\"} 1\n");
	assert_non_null(strstr(text,
		"sluice_backend_health{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.3\",health=\"unknown\"} 0\n"
		"sluice_backend_health{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.3\",health=\"up\"} 0\n"
		"sluice_backend_health{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.3\",health=\"down\"} 1\n"));
	assert_non_null(strstr(text,
		"sluice_backend_health{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.10\",health=\"unknown\"} 1\n"));
	/* Only backends healthd reported on have a latency. */
	expect_family(text, "sluice_backend_check_latency_seconds",
		"# HELP sluice_backend_check_latency_seconds Latency of the last health check reported for the backend.\n"
		"# TYPE sluice_backend_check_latency_seconds gauge\n"
		"sluice_backend_check_latency_seconds{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.2\"} 0.000250\n"
		"sluice_backend_check_latency_seconds{vip=\"10.100.0.1:80/tcp\",backend=\"10.0.0.3\"} 0.001500\n");
	assert_non_null(strstr(text,
		"# HELP sluice_packets_total Packets seen by the fast path, by verdict reason (each packet counted once).\n"
		"# TYPE sluice_packets_total counter\n"
		"sluice_packets_total{reason=\"fwd_tx\"} 101\n"
		"sluice_packets_total{reason=\"fwd_redirect\"} 0\n"));
	assert_non_null(strstr(text, "sluice_bytes_total{reason=\"drop_no_backend\"} 120\n"));
	assert_non_null(strstr(text, "sluice_bytes_total{reason=\"drop_no_vip_meta\"} 0\n"));
	/* 5 vip/backend adds + 2 health reports = 10 changes. */
	expect_family(text, "sluice_config_changes_total",
		"# HELP sluice_config_changes_total Configuration changes by result (applied, or rejected by validation).\n"
		"# TYPE sluice_config_changes_total counter\n"
		"sluice_config_changes_total{result=\"applied\"} 10\n"
		"sluice_config_changes_total{result=\"rejected\"} 0\n");
	/* Ends with a newline, as the format wants. */
	assert_int_equal(text[strlen(text) - 1], '\n');
	free(text);
	cp_model_free(&m);
}

static void test_render_counts_rejected(void **state)
{
	struct cp_model m;
	struct cp_request r;
	struct cp_error e;
	char *w[4] = { "vip", "del", V1, NULL }, *text;

	(void)state;
	assert_int_equal(cp_model_init(&m, NULL, NULL), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(cp_cmd_parse(3, w, &r, &e), 0);
	assert_int_not_equal(cp_model_apply(&m, &r, &e), 0);
	text = render(&m, NULL, "x");
	assert_non_null(strstr(text, "sluice_config_changes_total{result=\"rejected\"} 1\n"));
	free(text);
	cp_model_free(&m);
}

/* No driver, or one that fails: zeros, same series. */
/* A clock that stands still: two renderings a few ms apart must not
 * differ in healthd's heartbeat age. */
static __u64 still_clock(void *arg)
{
	(void)arg;
	return 5000;
}

static void test_render_no_driver(void **state)
{
	struct cp_model m;
	struct fake f;
	char *a, *b;

	(void)state;
	build(&m, 0);
	m.clock = still_clock;
	m.healthd.since_ms = 0;
	fake_init(&f);
	f.fail = 1;
	f.vip[vip_id(&m, V1)].packets = 5;
	a = render(&m, NULL, "1");
	b = render(&m, &f.drv, "1");
	/* Only build_info's fastpath label differs. */
	assert_non_null(strstr(b, "fastpath=\"fake\""));
	assert_string_equal(strstr(a, "# HELP sluice_vip_packets_total"),
			    strstr(b, "# HELP sluice_vip_packets_total"));
	assert_non_null(strstr(a, "sluice_vip_packets_total{vip=\"10.100.0.1:80/tcp\"} 0\n"));
	assert_non_null(strstr(a, "sluice_packets_total{reason=\"fwd_tx\"} 0\n"));
	free(a);
	free(b);
	cp_model_free(&m);

	/* An empty model still declares every family. */
	assert_int_equal(cp_model_init(&m, NULL, NULL), 0);
	a = render(&m, NULL, "1");
	assert_non_null(strstr(a, "# TYPE sluice_vip_packets_total counter\n"
				  "# HELP sluice_vip_bytes_total "));
	assert_non_null(strstr(a, "sluice_ring_rebuilds_total 0\n"));
	assert_non_null(strstr(a, "sluice_ring_last_rebuild_seconds 0.000000000\n"));
	free(a);
	cp_model_free(&m);
}

static char *escape(const char *s)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	assert_non_null(f);
	assert_int_equal(cp_metrics_write_label(f, s), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_escaping(void **state)
{
	struct cp_model m;
	char *s, *text;

	(void)state;
	s = escape("a\"b\\c\nd");
	assert_string_equal(s, "a\\\"b\\\\c\\nd");
	free(s);
	s = escape("plain 1.2.3-rc1 ünï");
	assert_string_equal(s, "plain 1.2.3-rc1 ünï");
	free(s);
	s = escape("");
	assert_string_equal(s, "");
	free(s);

	assert_int_equal(cp_model_init(&m, NULL, NULL), 0);
	text = render(&m, NULL, "1.0 \"quoted\" \\path\nline2");
	assert_non_null(strstr(text,
		"sluice_build_info{version=\"1.0 \\\"quoted\\\" \\\\path\\nline2\",fastpath=\"none\",abi=\"" ABI_TEXT "\"} 1\n"));
	free(text);
	text = render(&m, NULL, NULL);
	assert_non_null(strstr(text, "sluice_build_info{version=\"\",fastpath=\"none\",abi=\"" ABI_TEXT "\"} 1\n"));
	free(text);
	cp_model_free(&m);
}

/* ---- structure: HELP/TYPE once, families together, series unique ---- */

#define MAX_SEEN 1024

struct seen {
	char *s[MAX_SEEN];
	size_t n;
};

static int seen_add(struct seen *t, const char *s, size_t len)
{
	for (size_t i = 0; i < t->n; i++)
		if (strlen(t->s[i]) == len && !strncmp(t->s[i], s, len))
			return 0;
	assert_true(t->n < MAX_SEEN);
	t->s[t->n++] = strndup(s, len);
	return 1;
}

static void seen_free(struct seen *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->s[i]);
}

/* The model's families; cp_metrics_render_daemon adds 6 (sluice_state_*,
 * sluice_announced_addresses, sluice_node_drained). */
#define T_FAMILIES 25
#define T_DAEMON_FAMILIES 6

static void check_structure_n(const char *text, size_t families)
{
	struct seen helps = { 0 }, types = { 0 }, series = { 0 };
	char cur[128] = "";
	const char *line = text;
	int have_type = 0;

	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t len;

		assert_non_null(nl);
		len = (size_t)(nl - line);
		if (!strncmp(line, "# HELP ", 7)) {
			const char *name = line + 7, *sp = memchr(name, ' ', len - 7);

			assert_non_null(sp);
			if (!seen_add(&helps, name, (size_t)(sp - name)))
				fail_msg("second HELP: %.*s", (int)len, line);
			snprintf(cur, sizeof(cur), "%.*s", (int)(sp - name), name);
			have_type = 0;
		} else if (!strncmp(line, "# TYPE ", 7)) {
			const char *name = line + 7, *sp = memchr(name, ' ', len - 7);

			assert_non_null(sp);
			/* TYPE right after its own HELP, once. */
			assert_true(strlen(cur) == (size_t)(sp - name) && !strncmp(cur, name, strlen(cur)));
			if (!seen_add(&types, name, (size_t)(sp - name)))
				fail_msg("second TYPE: %.*s", (int)len, line);
			assert_true(!strncmp(sp + 1, "counter\n", 8) || !strncmp(sp + 1, "gauge\n", 6));
			if (!strncmp(sp + 1, "counter", 7))
				assert_true(strlen(cur) > 6 && !strcmp(cur + strlen(cur) - 6, "_total"));
			have_type = 1;
		} else {
			const char *end = line + strcspn(line, "{ ");
			const char *val = memchr(line, ' ', len);

			assert_true(line[0] != '#');
			/* Sample of the family declared just above. */
			assert_true(have_type);
			if ((size_t)(end - line) != strlen(cur) || strncmp(line, cur, strlen(cur)))
				fail_msg("sample outside its family (%s): %.*s", cur, (int)len, line);
			assert_true(!strncmp(line, "sluice_", 7));
			/* Labels (escaped: no raw newline can be here) then a value. */
			assert_non_null(val);
			if (*end == '{') {
				const char *close = strstr(end, "\"} ");

				assert_true(close && close < nl);
				val = close + 2;
			}
			assert_true(val[1] >= '0' && val[1] <= '9');
			if (!seen_add(&series, line, (size_t)(val - line)))
				fail_msg("series twice: %.*s", (int)len, line);
		}
		line = nl + 1;
	}
	assert_int_equal(helps.n, types.n);
	assert_int_equal(helps.n, families);
	seen_free(&helps);
	seen_free(&types);
	seen_free(&series);
}

static void check_structure(const char *text)
{
	check_structure_n(text, T_FAMILIES);
}

static void test_structure(void **state)
{
	struct cp_model m;
	char *text;

	(void)state;
	build(&m, 0);
	text = render(&m, NULL, "0.4.0");
	check_structure(text);
	free(text);
	cp_model_free(&m);

	assert_int_equal(cp_model_init(&m, NULL, NULL), 0);
	text = render(&m, NULL, "0.4.0");
	check_structure(text);
	free(text);
	cp_model_free(&m);
}

/* The API socket's families follow the rest, well formed, with every
 * reason a client is closed for. */
static void test_api_families(void **state)
{
	const struct cp_api_stats st = { .clients = 7, .max_clients = 256, .idle = 3,
					 .stalled = 2, .evicted = 44, .refused = 1, .denied = 5,
					 .read_only = 9 };
	static const char *const want[] = {
		"sluice_api_clients 7\n", "sluice_api_max_clients 256\n",
		"sluice_api_clients_closed_total{reason=\"idle\"} 3\n",
		"sluice_api_clients_closed_total{reason=\"stalled\"} 2\n",
		"sluice_api_clients_closed_total{reason=\"evicted\"} 44\n",
		"sluice_api_clients_closed_total{reason=\"refused\"} 1\n",
		"sluice_api_clients_closed_total{reason=\"denied\"} 5\n",
		"sluice_api_requests_denied_total 9\n",
	};
	struct cp_model m;
	size_t len, before;
	char *text;

	(void)state;
	build(&m, 0);
	assert_int_equal(cp_metrics_render(&m, NULL, "1", &text, &len), 0);
	before = len;
	assert_int_equal(cp_metrics_append_api(&text, &len, &st), 0);
	assert_true(len > before);
	assert_int_equal(strlen(text), len);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_non_null(strstr(text + before, want[i]));
	check_structure_n(text, T_FAMILIES + 4);
	free(text);
	cp_model_free(&m);
}

/* Same state reached in another order: the same text, up to the model's
 * own build counters (ring builds and their duration differ). */
static void test_stable_order(void **state)
{
	struct cp_model a, b;
	char *ta, *tb, *ca, *cb;

	(void)state;
	build(&a, 0);
	build(&b, 1);
	ta = render(&a, NULL, "v");
	tb = render(&b, NULL, "v");
	ca = strstr(ta, "# HELP sluice_ring_rebuilds_total ");
	cb = strstr(tb, "# HELP sluice_ring_rebuilds_total ");
	assert_non_null(ca);
	assert_non_null(cb);
	*ca = *cb = '\0';
	assert_string_equal(ta, tb);
	free(ta);
	free(tb);
	cp_model_free(&a);
	cp_model_free(&b);
}

/* ---- HTTP ------------------------------------------------------------ */

struct http_reply {
	int status;
	char head[2048];
	char *body;
	size_t body_len;
};

static int http(unsigned int port, const char *request, struct http_reply *r)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	struct timeval tv = { .tv_sec = 5 };
	char *buf = NULL, *sep;
	size_t n = 0, cap = 0;
	int fd, err = 0;

	memset(r, 0, sizeof(*r));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin))) {
		err = -errno;
		close(fd);
		return err;
	}
	assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	for (;;) {
		ssize_t got;

		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0)
			fail_msg("read: %s", strerror(errno));
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	buf[n] = '\0';
	assert_int_equal(sscanf(buf, "HTTP/1.%*d %d", &r->status), 1);
	sep = strstr(buf, "\r\n\r\n");
	assert_non_null(sep);
	snprintf(r->head, sizeof(r->head), "%.*s", (int)(sep - buf), buf);
	r->body_len = n - (size_t)(sep + 4 - buf);
	r->body = malloc(r->body_len + 1);
	assert_non_null(r->body);
	memcpy(r->body, sep + 4, r->body_len);
	r->body[r->body_len] = '\0';
	free(buf);
	return 0;
}

static int get(unsigned int port, const char *method, const char *path, struct http_reply *r)
{
	const char *tail = strcmp(method, "POST") ? "\r\n" : "Content-Length: 3\r\n\r\na=b";
	char req[512];

	snprintf(req, sizeof(req),
		 "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s",
		 method, path, tail);
	return http(port, req, r);
}

static int has_header(const struct http_reply *r, const char *line)
{
	/* Case-insensitive on the whole "Name: value". */
	for (const char *p = r->head; (p = strstr(p, "\r\n")); p += 2)
		if (!strncasecmp(p + 2, line, strlen(line)))
			return 1;
	return 0;
}

struct scrape {
	unsigned int port;
	struct http_reply r;
	int err;
};

static void *scrape_thread(void *arg)
{
	struct scrape *sc = arg;

	sc->err = get(sc->port, "GET", "/metrics", &sc->r);
	return NULL;
}

/* On demand: a scrape asks (the fd becomes readable) and is answered with
 * the rendering published after it asked, not the older one; with no one
 * rendering it gets the older one after CP_METRICS_WAIT_MS. */
static void test_http_on_demand(void **state)
{
	struct scrape sc = { 0 };
	struct cp_metrics_http *h;
	struct pollfd p;
	pthread_t th;
	char *text;
	int fd;

	(void)state;
	h = cp_metrics_http_start("127.0.0.1:0");
	if (!h) {
		print_message("skipped: cannot listen on 127.0.0.1: %s\n", strerror(errno));
		skip();
	}
	sc.port = cp_metrics_http_port(h);
	text = strdup("sluice_x 1\n");
	cp_metrics_http_publish(h, text, strlen(text));
	fd = cp_metrics_http_on_demand(h);
	assert_true(fd >= 0);
	assert_int_equal(cp_metrics_http_demand_fd(h), fd);
	assert_int_equal(cp_metrics_http_asked(h), 0);

	assert_int_equal(pthread_create(&th, NULL, scrape_thread, &sc), 0);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(cp_metrics_http_asked(h), 1);
	text = strdup("sluice_x 2\n");
	cp_metrics_http_publish(h, text, strlen(text));
	pthread_join(th, NULL);
	assert_int_equal(sc.err, 0);
	assert_int_equal(sc.r.status, 200);
	assert_string_equal(sc.r.body, "sluice_x 2\n");
	free(sc.r.body);

	/* Nobody renders: the last one, after the wait. */
	memset(&sc.r, 0, sizeof(sc.r));
	assert_int_equal(pthread_create(&th, NULL, scrape_thread, &sc), 0);
	pthread_join(th, NULL);
	assert_int_equal(sc.r.status, 200);
	assert_string_equal(sc.r.body, "sluice_x 2\n");
	free(sc.r.body);
	cp_metrics_http_stop(h);
}

static void test_http(void **state)
{
	struct cp_metrics_http *h;
	struct http_reply r;
	unsigned int port;
	char *text;

	(void)state;
	h = cp_metrics_http_start("127.0.0.1:0");
	if (!h) {
		print_message("skipped: cannot listen on 127.0.0.1: %s\n", strerror(errno));
		skip();
	}
	port = cp_metrics_http_port(h);
	assert_true(port > 0 && port < 65536);

	/* Nothing published yet. */
	assert_int_equal(get(port, "GET", "/metrics", &r), 0);
	assert_int_equal(r.status, 503);
	free(r.body);
	assert_int_equal(get(port, "GET", "/healthz", &r), 0);
	assert_int_equal(r.status, 503);
	free(r.body);

	text = strdup("# HELP sluice_x X.\n# TYPE sluice_x gauge\nsluice_x 1\n");
	cp_metrics_http_publish(h, text, strlen(text));
	assert_int_equal(get(port, "GET", "/metrics", &r), 0);
	assert_int_equal(r.status, 200);
	assert_true(has_header(&r, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
	assert_string_equal(r.body, "# HELP sluice_x X.\n# TYPE sluice_x gauge\nsluice_x 1\n");
	free(r.body);

	/* A new snapshot replaces the old one (which publish frees). */
	text = strdup("sluice_y 2\n");
	cp_metrics_http_publish(h, text, strlen(text));
	assert_int_equal(get(port, "GET", "/metrics", &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "sluice_y 2\n");
	free(r.body);

	assert_int_equal(get(port, "GET", "/healthz", &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "ok\n");
	free(r.body);

	assert_int_equal(get(port, "GET", "/nope", &r), 0);
	assert_int_equal(r.status, 404);
	free(r.body);
	assert_int_equal(get(port, "GET", "/metrics/extra", &r), 0);
	assert_int_equal(r.status, 404);
	free(r.body);

	assert_int_equal(get(port, "POST", "/metrics", &r), 0);
	assert_int_equal(r.status, 405);
	assert_true(has_header(&r, "Allow: GET, HEAD"));
	free(r.body);
	assert_int_equal(get(port, "DELETE", "/healthz", &r), 0);
	assert_int_equal(r.status, 405);
	free(r.body);

	/* HEAD: the headers of GET, no body. */
	assert_int_equal(get(port, "HEAD", "/metrics", &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 0);
	free(r.body);

	/* A NULL publish is a heartbeat: the snapshot stays. */
	cp_metrics_http_publish(h, NULL, 0);
	assert_int_equal(get(port, "GET", "/metrics", &r), 0);
	assert_string_equal(r.body, "sluice_y 2\n");
	free(r.body);

	cp_metrics_http_stop(h);
	cp_metrics_http_stop(NULL);
	/* Gone: the port refuses. */
	assert_int_equal(get(port, "GET", "/metrics", &r), -ECONNREFUSED);
}

/* A real render served as is, several scrapes in a row. */
static void test_http_render(void **state)
{
	struct cp_metrics_http *h;
	struct http_reply r;
	struct cp_model m;
	char *text;
	size_t len;

	(void)state;
	h = cp_metrics_http_start("127.0.0.1:0");
	if (!h)
		skip();
	build(&m, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cp_metrics_render(&m, NULL, "t", &text, &len), 0);
		cp_metrics_http_publish(h, text, len);
		assert_int_equal(get(cp_metrics_http_port(h), "GET", "/metrics", &r), 0);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.body_len, len);
		check_structure(r.body);
		free(r.body);
	}
	cp_metrics_http_stop(h);
	cp_model_free(&m);
}

/* Every VIP with a ring has its digest, as `sluicectl ring digest`
 * prints it, and no VIP has two. */
static void test_ring_info(void **state)
{
	struct cp_model m;
	char *text, line[256], name[96];
	size_t len, rings = 0, samples = 0;

	(void)state;
	build(&m, 0);
	apply(&m, "vip add 10.100.0.9:80/tcp");
	assert_int_equal(cp_metrics_render(&m, NULL, "t", &text, &len), 0);
	for (size_t i = 0; i < m.n_vips; i++) {
		const struct cp_vip *v = &m.vips[i];

		snprintf(line, sizeof(line), "\nsluice_vip_ring_info{vip=\"%s\",digest=\"%016llx\"} 1\n",
			 cp_format_vip(&v->key, name, sizeof(name)), (unsigned long long)v->digest);
		if (v->ring) {
			rings++;
			if (!strstr(text, line))
				fail_msg("no %s", line + 1);
		}
	}
	for (const char *p = text; (p = strstr(p, "\nsluice_vip_ring_info{")); p++)
		samples++;
	assert_true(rings > 0);
	assert_int_equal(samples, rings);
	free(text);
	cp_model_free(&m);
}

/* The daemon's persistence families: after the model's, with the
 * values given; absent from a plain render. */
static void test_daemon_families(void **state)
{
	const struct cp_metrics_daemon dm = {
		.state_write_failures = 3, .state_unsaved = 1,
		.state_last_write = 1700000000, .state_generation = 42,
		.announced_addresses = 3, .node_drained = 1,
	};
	struct cp_model m;
	char *text;
	size_t len;

	(void)state;
	build(&m, 0);
	assert_int_equal(cp_metrics_render_daemon(&m, NULL, "t", &dm, &text, &len), 0);
	check_structure_n(text, T_FAMILIES + T_DAEMON_FAMILIES);
	assert_non_null(strstr(text, "\nsluice_state_write_failures_total 3\n"));
	assert_non_null(strstr(text, "\nsluice_state_unsaved 1\n"));
	assert_non_null(strstr(text, "\nsluice_state_last_write_timestamp_seconds 1700000000\n"));
	assert_non_null(strstr(text, "\nsluice_state_generation 42\n"));
	assert_non_null(strstr(text, "\nsluice_announced_addresses 3\n"));
	assert_non_null(strstr(text, "\nsluice_node_drained 1\n"));
	assert_non_null(strstr(text, "# TYPE sluice_state_unsaved gauge\n"));
	free(text);
	assert_int_equal(cp_metrics_render(&m, NULL, "t", &text, &len), 0);
	assert_null(strstr(text, "sluice_state_"));
	free(text);
	cp_model_free(&m);
}

/* Expected warnings stay out of the test's output. */
static void quiet(int level, const char *fmt, va_list ap, void *arg)
{
	(void)level;
	(void)fmt;
	(void)ap;
	(void)arg;
}

static void test_http_listen(void **state)
{
	static const char *const bad[] = {
		"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:65536",
		"127.0.0.1:-1", "127.0.0.1: 80", "localhost:9109", "::1:9109", "[::1]9109", "[::1]:",
		"[127.0.0.1]:80", "1.2.3.4.5:80", NULL,
	};
	struct cp_metrics_http *h;

	(void)state;
	lb_log_set_sink(quiet, NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		h = cp_metrics_http_start(bad[i]);
		if (h)
			fail_msg("'%s' accepted", bad[i] ? bad[i] : "(null)");
		assert_int_equal(errno, EINVAL);
	}
	lb_log_reset_sink();

	/* IPv6 loopback, where the host has it. */
	h = cp_metrics_http_start("[::1]:0");
	if (h) {
		assert_true(cp_metrics_http_port(h) > 0);
		cp_metrics_http_stop(h);
	} else {
		print_message("note: no [::1] here (%s)\n", strerror(errno));
	}

	/* A port in use is refused with a reason. */
	h = cp_metrics_http_start("127.0.0.1:0");
	assert_non_null(h);
	{
		char addr[32];
		struct cp_metrics_http *h2;

		snprintf(addr, sizeof(addr), "127.0.0.1:%u", cp_metrics_http_port(h));
		lb_log_set_sink(quiet, NULL);
		h2 = cp_metrics_http_start(addr);
		lb_log_reset_sink();
		assert_null(h2);
	}
	cp_metrics_http_stop(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_families),
		cmocka_unit_test(test_render_counts_rejected),
		cmocka_unit_test(test_render_no_driver),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_api_families),
		cmocka_unit_test(test_stable_order),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_http_on_demand),
		cmocka_unit_test(test_http_render),
		cmocka_unit_test(test_daemon_families),
		cmocka_unit_test(test_ring_info),
		cmocka_unit_test(test_http_listen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
