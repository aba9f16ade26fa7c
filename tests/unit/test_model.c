// SPDX-License-Identifier: Apache-2.0
/*
 * test_model.c - controlplane/model.c against the mock fast path
 * (mock_driver.h): every refused change leaves the model and the fast
 * path exactly as they were; accepted changes reach the fast path in the
 * order it needs (the mock counts every breach, and every test asserts
 * there were none); rings are a function of the usable backends; save ->
 * load -> save is the identity; a SIGHUP diff touches only what changed;
 * a driver failure at any call leaves the fast path matching the model.
 *
 * Requests are written as sluicectl command lines (cmd.c parses them),
 * except where the parser itself would refuse the value: those are built
 * by hand so that the model's own check is what refuses them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "maglev.h"
#include "mock_driver.h"
#include "model.h"

#define T_VIPS 8
#define T_BACKENDS 16
#define T_RING 65537
#define T_SLOTS 64

#define V1 "10.100.0.1:80/tcp"
#define V2 "10.100.0.2:443/tcp"

struct fx {
	struct mock_driver md;
	struct cp_model m;
};

static struct fx *fx_new(__u32 vips, __u32 backends, __u32 slots)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	mock_init(&f->md, vips, backends, T_RING, slots);
	assert_int_equal(cp_model_init(&f->m, &f->md.params, &f->md.drv), 0);
	return f;
}

static void fx_free(struct fx *f)
{
	cp_model_free(&f->m);
	mock_free(&f->md);
	free(f);
}

static int setup(void **state)
{
	*state = fx_new(T_VIPS, T_BACKENDS, T_SLOTS);
	return 0;
}

static int teardown(void **state)
{
	fx_free(*state);
	return 0;
}

/* ---- requests as command lines ---------------------------------------- */

static void parse(const char *line, struct cp_request *r)
{
	char buf[8192], *w[64];
	struct cp_error e;
	int n;

	memset(&e, 0, sizeof(e));
	snprintf(buf, sizeof(buf), "%s", line);
	n = cp_cmd_split(buf, w, 64);
	if (n <= 0 || cp_cmd_parse(n, w, r, &e))
		fail_msg("cannot parse '%s': %s: %s", line, e.field, e.msg);
}

static int apply_line(struct cp_model *m, const char *line, struct cp_error *e)
{
	struct cp_request r;

	parse(line, &r);
	return cp_model_apply(m, &r, e);
}

static void ok_model(struct cp_model *m, const char *line)
{
	struct cp_error e;
	int err;

	memset(&e, 0, sizeof(e));
	err = apply_line(m, line, &e);
	if (err)
		fail_msg("'%s' refused (%d): %s: %s", line, err, e.field, e.msg);
}

/* Applies line; it must succeed without breaking the fast path's rules. */
static void ok(struct fx *f, const char *line)
{
	ok_model(&f->m, line);
	if (f->md.violations)
		fail_msg("after '%s': %s", line, f->md.violation);
}

static void ok_lines(struct fx *f, const char *const *lines)
{
	for (; *lines; lines++)
		ok(f, *lines);
}

/* ---- state dumps ------------------------------------------------------ */

/* Everything the model holds, ids and health included, as text. */
static char *dump_model(const struct cp_model *m)
{
	char *s = NULL, a[64];
	size_t len = 0;
	FILE *o = open_memstream(&s, &len);
	const struct cp_node *n = &m->node;

	assert_non_null(o);
	fprintf(o, "node %u:", n->n_interfaces);
	for (int i = 0; i < n->n_interfaces; i++)
		fprintf(o, " %s", n->interfaces[i]);
	fprintf(o, " %08x %08x%08x%08x%08x %s ttl %u/%u\n", n->encap_src4, n->encap_src6.w[0],
		n->encap_src6.w[1], n->encap_src6.w[2], n->encap_src6.w[3], n->metrics,
		n->flow_ttl_tcp, n->flow_ttl_udp);
	for (size_t i = 0; i < m->n_vips; i++) {
		const struct cp_vip *v = &m->vips[i];
		const struct cp_check *c = &v->spec.check;

		fprintf(o, "vip %s id %u affinity %u ring %u digest %016llx check %d %u %u %u %u %u %u '%s' '%s' '%s'\n",
			cp_format_vip(&v->key, a, sizeof(a)), v->id, v->spec.affinity, v->spec.ring_size,
			(unsigned long long)v->digest, c->type, c->port, c->expect_status,
			c->interval_ms, c->timeout_ms, c->rise, c->fall, c->path, c->host,
			c->payload);
		for (size_t j = 0; j < v->n_backends; j++) {
			const struct cp_backend *b = &v->backends[j];

			fprintf(o, "  be %s w %u dr %u h %d lat %u id %u gen %u\n",
				cp_format_addr(&b->addr, b->family, a, sizeof(a)), b->weight,
				b->draining, b->health, b->latency_us, b->id, b->gen);
		}
	}
	fprintf(o, "ids");
	for (__u32 i = 0; i < m->limits.max_vips; i++)
		if (m->vip_ids_used[i / 8] >> (i % 8) & 1)
			fprintf(o, " v%u", i);
	for (__u32 i = 0; i < m->limits.max_backends; i++)
		if (m->backend_ids_used[i / 8] >> (i % 8) & 1)
			fprintf(o, " b%u", i);
	fprintf(o, "\n");
	fclose(o);
	return s;
}

static __u64 fnv(const void *p, size_t n)
{
	const unsigned char *c = p;
	__u64 h = 1469598103934665603ull;

	while (n--)
		h = (h ^ *c++) * 1099511628211ull;
	return h;
}

static int entry_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct lb_vip_entry));
}

/* What a packet could see: config, VIP table, and the rings, flags and
 * backend entries reachable from it. */
static char *dump_fastpath(const struct mock_driver *md)
{
	struct lb_vip_entry *t = calloc(md->n_vips + 1, sizeof(*t));
	char *s = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&s, &len);

	assert_non_null(o);
	assert_non_null(t);
	fprintf(o, "config %08x %016llx flags %u\n", md->config.encap_src4,
		(unsigned long long)fnv(&md->config.encap_src6, 16), md->config.flags);
	if (md->n_vips)
		memcpy(t, md->vips, md->n_vips * sizeof(*t));
	qsort(t, md->n_vips, sizeof(*t), entry_cmp);
	for (size_t i = 0; i < md->n_vips; i++) {
		__u32 id = t[i].vip_id;

		fprintf(o, "key %016llx -> %d", (unsigned long long)fnv(&t[i].key, sizeof(t[i].key)),
			(int)id);
		if (id != LB_VIP_ID_ADDR)
			fprintf(o, " flags %u ring %u %016llx", md->vip_flags[id], md->ring_size[id],
				(unsigned long long)fnv(md->rings[id],
							(size_t)md->ring_size[id] * 4));
		fprintf(o, "\n");
	}
	for (__u32 id = 0; id < md->params.max_backends; id++) {
		const struct lb_backend *b = &md->backends[id];

		if (b->state != LB_BACKEND_UNUSED)
			fprintf(o, "be %u state %u fam %u gen %u %016llx\n", id, b->state, b->family,
				b->gen, (unsigned long long)fnv(b, sizeof(*b)));
	}
	fclose(o);
	free(t);
	return s;
}

/* The fast path holds exactly what a fresh one would after a full sync
 * of the model: nothing stale, nothing missing. */
static void assert_fastpath_matches(struct fx *f)
{
	struct mock_driver fresh;
	struct cp_driver *saved = f->m.driver;
	char *a, *b;

	mock_init(&fresh, f->md.params.max_vips, f->md.params.max_backends, T_RING,
		  f->md.params.vip_slots);
	f->m.driver = &fresh.drv;
	assert_int_equal(cp_model_sync(&f->m), 0);
	f->m.driver = saved;
	assert_int_equal(fresh.violations, 0);
	a = dump_fastpath(&f->md);
	b = dump_fastpath(&fresh);
	assert_string_equal(a, b);
	free(a);
	free(b);
	mock_free(&fresh);
}

/* ---- refusals --------------------------------------------------------- */

/* r must be refused with -err on field (and msg containing want, if
 * given), changing nothing in the model or on the fast path. */
static void expect_refused(struct fx *f, const struct cp_request *r, int err, const char *field,
			   const char *want)
{
	char *before = dump_model(&f->m), *after, *fp_before = dump_fastpath(&f->md), *fp_after;
	size_t calls = f->md.n_calls;
	__u32 gen = f->m.next_gen;
	__u64 rejected = f->m.stats.changes_rejected, applied = f->m.stats.changes_applied;
	struct cp_error e;

	memset(&e, 0, sizeof(e));
	assert_int_equal(cp_model_check(&f->m, r, &e), -err);
	assert_string_equal(e.field, field);
	memset(&e, 0, sizeof(e));
	assert_int_equal(cp_model_apply(&f->m, r, &e), -err);
	assert_string_equal(e.field, field);
	if (want && !strstr(e.msg, want))
		fail_msg("message '%s' lacks '%s'", e.msg, want);
	after = dump_model(&f->m);
	fp_after = dump_fastpath(&f->md);
	assert_string_equal(before, after);
	assert_string_equal(fp_before, fp_after);
	assert_int_equal(f->md.n_calls, calls);
	assert_int_equal(f->m.next_gen, gen);
	assert_int_equal(f->m.stats.changes_rejected, rejected + 1);
	assert_int_equal(f->m.stats.changes_applied, applied);
	free(before);
	free(after);
	free(fp_before);
	free(fp_after);
}

static void expect_refused_line(struct fx *f, const char *line, int err, const char *field,
				const char *want)
{
	struct cp_request r;

	parse(line, &r);
	expect_refused(f, &r, err, field, want);
}

static const char *const populated[] = {
	/* Up from the start: these tests are about rings, not checks. */
	"vip add " V1 " --ring 1009 --check tcp --initial-health up",
	"backend add " V1 " 10.0.0.11",
	"backend add " V1 " 10.0.0.12",
	NULL,
};

static void test_refuse_duplicate_vip(void **state)
{
	struct fx *f = *state;

	ok_lines(f, populated);
	expect_refused_line(f, "vip add " V1, EEXIST, "vip", "10.100.0.1:80/tcp exists");
	expect_refused_line(f, "vip add " V1 " --ring 1013", EEXIST, "vip", "exists");
}

static void test_refuse_unknown_vip(void **state)
{
	struct fx *f = *state;
	static const char *const lines[] = {
		"vip set " V2 " --ring 1009",
		"vip del " V2,
		"backend add " V2 " 10.0.0.11",
		"backend set " V2 " 10.0.0.11 --weight 5",
		"backend del " V2 " 10.0.0.11",
		"health report " V2 " 10.0.0.11 up",
	};

	ok_lines(f, populated);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		expect_refused_line(f, lines[i], ENOENT, "vip", "10.100.0.2:443/tcp: no such VIP");
}

static void test_refuse_backend_duplicate_unknown(void **state)
{
	struct fx *f = *state;

	ok_lines(f, populated);
	expect_refused_line(f, "backend add " V1 " 10.0.0.11", EEXIST, "backend",
			    "10.0.0.11 is already a backend of 10.100.0.1:80/tcp");
	expect_refused_line(f, "backend set " V1 " 10.0.0.99 --drain", ENOENT, "backend",
			    "10.0.0.99 is not a backend of 10.100.0.1:80/tcp");
	expect_refused_line(f, "backend del " V1 " 10.0.0.99", ENOENT, "backend", "not a backend");
	expect_refused_line(f, "backend add " V1 " 0.0.0.0", EINVAL, "backend", "is unspecified");
	expect_refused_line(f, "backend add " V1 " 224.0.0.5", EINVAL, "backend", "is multicast");
	expect_refused_line(f, "backend add " V1 " ::1", EINVAL, "backend", "is loopback");
}

static void test_refuse_weight(void **state)
{
	struct fx *f = *state;
	struct cp_request r;

	ok_lines(f, populated);
	/* The parser refuses 70000 itself; the model must too. */
	parse("backend add " V1 " 10.0.0.13", &r);
	r.weight = CP_MAX_WEIGHT + 1;
	r.fields |= CP_F_WEIGHT;
	expect_refused(f, &r, EINVAL, "weight", "weight 65536 out of range (0..65535)");
	parse("backend set " V1 " 10.0.0.11 --weight 1", &r);
	r.weight = 70000;
	expect_refused(f, &r, EINVAL, "weight", "70000");
}

static void test_refuse_ring(void **state)
{
	struct fx *f = *state;

	ok_lines(f, populated);
	expect_refused_line(f, "vip add " V2 " --ring 65536", EINVAL, "ring", "65536 is not prime");
	expect_refused_line(f, "vip add " V2 " --ring 2", EINVAL, "ring", "below 3");
	expect_refused_line(f, "vip add " V2 " --ring 65539", EINVAL, "ring",
			    "fast path's largest ring");
	expect_refused_line(f, "vip set " V1 " --ring 1000", EINVAL, "ring", "1000 is not prime");
}

static void test_refuse_too_many_vips(void **state)
{
	struct fx *f = *state;
	char line[128];

	for (int i = 0; i < T_VIPS; i++) {
		snprintf(line, sizeof(line), "vip add 10.100.1.%d:80/tcp --ring 1009", i + 1);
		ok(f, line);
	}
	expect_refused_line(f, "vip add 10.100.2.1:80/tcp --ring 1009", ENOSPC, "vip",
			    "too many VIPs");
}

static void test_refuse_vip_table_full(void **state)
{
	struct fx *f = fx_new(T_VIPS, T_BACKENDS, 8);	/* 4 keys fit */

	(void)state;
	/* One address: its VIPs share one ICMP entry. */
	ok(f, "vip add 10.100.0.1:80/tcp --ring 1009");
	ok(f, "vip add 10.100.0.1:81/tcp --ring 1009");
	ok(f, "vip add 10.100.0.1:82/tcp --ring 1009");
	expect_refused_line(f, "vip add 10.100.0.1:83/tcp --ring 1009", ENOSPC, "vip",
			    "VIP table full");
	assert_int_equal(f->md.n_vips, 4);
	fx_free(f);
}

static void test_refuse_too_many_backends(void **state)
{
	struct fx *f = *state;
	char line[128];

	ok(f, "vip add " V1 " --ring 1009");
	ok(f, "vip add " V2 " --ring 1009");
	/* The limit counts VIP-backend pairs: one address in two VIPs is two. */
	for (int i = 0; i < T_BACKENDS; i++) {
		snprintf(line, sizeof(line), "backend add %s 10.0.0.%d", i % 2 ? V1 : V2,
			 10 + i / 2);
		ok(f, line);
	}
	expect_refused_line(f, "backend add " V1 " 10.0.1.1", ENOSPC, "backend",
			    "too many backends");
}

static void test_refuse_checks(void **state)
{
	struct fx *f = *state;
	struct cp_request r;

	ok_lines(f, populated);
	expect_refused_line(f, "vip add " V2 " --check http", EINVAL, "check_path",
			    "path starting with '/'");
	expect_refused_line(f, "vip add " V2 " --check tcp --check-interval 1s --check-timeout 1s",
			    EINVAL, "check_timeout_ms", "below the interval");
	expect_refused_line(f, "vip add 10.100.0.2:*/tcp --check tcp", EINVAL, "check_port",
			    "port-wildcard");
	expect_refused_line(f, "vip add " V2 " --check udp", EINVAL, "check_payload", "payload");
	expect_refused_line(f, "vip add " V2 " --check tcp --check-path /x", EINVAL, "check_path",
			    "not used by a tcp check");
	expect_refused_line(f, "vip add " V2 " --check-path /x", EINVAL, "check_path",
			    "needs a health check");
	expect_refused_line(f, "vip add " V2 " --check http --check-path /x --check-payload hi",
			    EINVAL, "check_payload", "not used by an http check");
	/* A SET is checked as the check it leaves: 1000 ms timeout, 500 ms interval. */
	expect_refused_line(f, "vip set " V1 " --check-interval 500ms", EINVAL, "check_timeout_ms",
			    "below the interval (500 ms)");

	/* Values the parser refuses by itself, built by hand. */
	parse("vip add " V2 " --check http --check-path /h", &r);
	r.spec.check.interval_ms = 50;
	r.fields |= CP_F_CHECK_INTERVAL;
	expect_refused(f, &r, EINVAL, "check_interval_ms", "check_interval_ms 50ms out of range (100ms..3600000ms)");
	r.spec.check.interval_ms = 3600001;
	expect_refused(f, &r, EINVAL, "check_interval_ms", "out of range");
	parse("vip add " V2 " --check http --check-path /h", &r);
	r.spec.check.rise = 0;
	expect_refused(f, &r, EINVAL, "check_rise", "check_rise 0 out of range (1..100)");
	parse("vip add " V2 " --check http --check-path /h", &r);
	r.spec.check.fall = 101;
	expect_refused(f, &r, EINVAL, "check_fall", "101");
	parse("vip add " V2 " --check http --check-path /h", &r);
	snprintf(r.spec.check.path, sizeof(r.spec.check.path), "health");
	expect_refused(f, &r, EINVAL, "check_path", "'/'");
	snprintf(r.spec.check.path, sizeof(r.spec.check.path), "/a b");
	expect_refused(f, &r, EINVAL, "check_path", "no spaces");
	parse("vip add " V2 " --check http --check-path /h", &r);
	r.spec.check.expect_status = 99;
	expect_refused(f, &r, EINVAL, "check_status", "99");
	parse("vip add " V2 " --check http --check-path /h", &r);
	r.spec.check.timeout_ms = 0;
	expect_refused(f, &r, EINVAL, "check_timeout_ms", "0ms out of range (1ms..3600000ms)");
	parse("vip add " V2, &r);
	r.spec.affinity = 7;
	expect_refused(f, &r, EINVAL, "affinity", "affinity must be none or source");
}

static void test_refuse_node(void **state)
{
	struct fx *f = *state;
	struct cp_request r;

	ok(f, "node set --interface eth0 --encap-source 192.0.2.1");
	expect_refused_line(f, "node set --encap-source 0.0.0.0", EINVAL, "encap_source",
			    "0.0.0.0 is unspecified");
	expect_refused_line(f, "node set --encap-source 239.1.1.1", EINVAL, "encap_source",
			    "is multicast");
	expect_refused_line(f, "node set --encap-source 255.255.255.255", EINVAL, "encap_source",
			    "is the limited broadcast address");
	expect_refused_line(f, "node set --encap-source6 ::", EINVAL, "encap_source6",
			    ":: is unspecified");
	expect_refused_line(f, "node set --encap-source6 ff02::1", EINVAL, "encap_source6",
			    "is multicast");

	/* Interface names the parser refuses itself, built by hand. */
	parse("node set --interface eth1", &r);
	r.interfaces[0][0] = '\0';
	expect_refused(f, &r, EINVAL, "interfaces", "must be 1-15 bytes");
	memset(r.interfaces[0], 'x', IF_NAMESIZE);
	expect_refused(f, &r, EINVAL, "interfaces", "longer than 15");
	snprintf(r.interfaces[0], IF_NAMESIZE, "..");
	expect_refused(f, &r, EINVAL, "interfaces", "not an interface name");
	snprintf(r.interfaces[0], IF_NAMESIZE, "a/b");
	expect_refused(f, &r, EINVAL, "interfaces", "byte 0x2f not allowed");
	snprintf(r.interfaces[0], IF_NAMESIZE, "eth1");
	snprintf(r.interfaces[1], IF_NAMESIZE, "eth1");
	r.n_interfaces = 2;
	expect_refused(f, &r, EINVAL, "interfaces", "interface 'eth1' given twice");
	parse("node set --metrics 127.0.0.1:9109", &r);
	snprintf(r.metrics, sizeof(r.metrics), "127.0.0.1:0");
	expect_refused(f, &r, EINVAL, "metrics", "ADDR:PORT");
	/* TTLs the parsers refuse, built by hand. */
	parse("node set --flow-ttl-tcp 1s", &r);
	r.flow_ttl_tcp = LB_FLOW_TTL_MAX + 1;
	expect_refused(f, &r, EINVAL, "flow_ttl_tcp_s", "out of range (0s..604800s)");
	parse("node set --flow-ttl-udp 1s", &r);
	r.flow_ttl_udp = 0xffffffffu;
	expect_refused(f, &r, EINVAL, "flow_ttl_udp_s", "out of range (0s..604800s)");
}

static void test_refuse_health_unknown_backend(void **state)
{
	struct fx *f = *state;
	struct cp_request r;

	ok_lines(f, populated);
	/* healthd racing a delete: ENOENT, told apart from a bad report. */
	expect_refused_line(f, "health report " V1 " 10.0.0.99 down", ENOENT, "backend",
			    "10.0.0.99 is not a backend of 10.100.0.1:80/tcp");
	parse("health report " V1 " 10.0.0.11 down", &r);
	r.health = CP_HEALTH_UNKNOWN;
	expect_refused(f, &r, EINVAL, "health", "up or down");
}

static void test_refuse_other_requests(void **state)
{
	struct fx *f = *state;
	struct cp_request r;

	ok_lines(f, populated);
	parse("vip list", &r);
	expect_refused(f, &r, EINVAL, "op", "does not change");
	/* A SET that changes nothing, and fields an op does not take. */
	cp_request_init(&r, CP_OP_BACKEND_SET);
	parse("backend set " V1 " 10.0.0.11 --drain", &r);
	r.fields &= ~CP_F_DRAIN;
	expect_refused(f, &r, EINVAL, "backend.set", "changes nothing");
	parse("vip add " V2, &r);
	r.fields |= CP_F_WEIGHT;
	expect_refused(f, &r, EINVAL, "weight", "not used by vip.add");
	parse("vip add " V2, &r);
	r.vip.proto = IPPROTO_SCTP;
	expect_refused(f, &r, EINVAL, "vip", "only tcp and udp");
	parse("vip add 127.0.0.1:80/tcp", &r);
	expect_refused(f, &r, EINVAL, "vip", "is loopback");
}

/* ---- what reaches the fast path, in which order ------------------------ */

static struct cp_vip *find_vip(struct fx *f, const char *vip)
{
	struct lb_vip_key k;
	struct cp_error e;
	struct cp_vip *v;

	assert_int_equal(cp_parse_vip(vip, &k, &e), 0);
	v = cp_model_find_vip(&f->m, &k);
	assert_non_null(v);
	return v;
}

static struct cp_backend *find_backend(struct fx *f, const char *vip, const char *addr)
{
	struct lb_addr a;
	struct cp_backend *b;
	__u8 fam;

	assert_int_equal(cp_parse_addr(addr, &a, &fam), 0);
	b = cp_vip_find_backend(find_vip(f, vip), &a, fam);
	assert_non_null(b);
	return b;
}

static void test_vip_add_publishes(void **state)
{
	struct fx *f = *state;
	struct cp_vip *v;
	long flags, ring, table;

	ok(f, "vip add " V1 " --ring 1009 --affinity source");
	v = find_vip(f, V1);
	assert_int_equal(v->id, 0);
	flags = mock_find(&f->md, MOCK_SET_VIP_FLAGS, v->id, 0);
	ring = mock_find(&f->md, MOCK_SET_RING, v->id, 0);
	table = mock_find(&f->md, MOCK_SET_VIPS, -1, 0);
	/* Flags and ring are in place before the table leads packets there. */
	assert_true(flags >= 0 && ring > flags && table > ring);
	assert_int_equal(f->md.vip_flags[v->id], LB_VIP_F_AFFINITY);
	assert_int_equal(f->md.ring_size[v->id], 1009);
	assert_int_equal(mock_ring_count(&f->md, v->id, LB_BACKEND_NONE), 1009);
	/* The VIP key and its address's ICMP entry. */
	assert_int_equal(f->md.n_vips, 2);
	ok(f, "vip add 10.100.0.1:53/udp --ring 1009");
	ok(f, "vip add [2001:db8::1]:443/tcp --ring 1009");
	/* Three keys, two addresses: one ICMP and one ICMPv6 entry. */
	assert_int_equal(f->md.n_vips, 5);
	for (size_t i = 0, icmp = 0; i < f->md.n_vips; i++) {
		const struct lb_vip_entry *e = &f->md.vips[i];

		if (e->vip_id != LB_VIP_ID_ADDR)
			continue;
		assert_int_equal(e->key.port, 0);
		assert_int_equal(e->key.proto,
				 e->key.family == LB_FAMILY_V4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
		assert_true(++icmp <= 2);
	}
	assert_int_equal(find_vip(f, "[2001:db8::1]:443/tcp")->id, 2);
	assert_fastpath_matches(f);
}

static void test_backend_before_ring(void **state)
{
	struct fx *f = *state;
	struct cp_backend *b;
	__u32 vid;

	ok(f, "vip add " V1 " --ring 1009");
	vid = find_vip(f, V1)->id;
	mock_clear_calls(&f->md);
	ok(f, "backend add " V1 " 10.0.0.11");
	b = find_backend(f, V1, "10.0.0.11");
	assert_int_equal(b->id, 0);
	assert_true(b->gen > 0);
	/* Entry first, then the ring that names it; nothing else. */
	assert_int_equal(f->md.n_calls, 2);
	assert_int_equal(f->md.calls[0].op, MOCK_SET_BACKEND);
	assert_int_equal(f->md.calls[0].id, b->id);
	assert_int_equal(f->md.calls[0].arg, LB_BACKEND_UP);
	assert_int_equal(f->md.calls[1].op, MOCK_SET_RING);
	assert_int_equal(f->md.calls[1].id, vid);
	assert_int_equal(mock_ring_count(&f->md, vid, b->id), 1009);
	assert_int_equal(f->md.backends[b->id].gen, b->gen);
	assert_int_equal(f->md.backends[b->id].addr.w[0], htonl(0x0a00000b));
	assert_int_equal(f->m.stats.changes_applied, 2);
	assert_true(f->m.stats.ring_rebuilds >= 2);
	assert_true(f->m.stats.last_rebuild_ns > 0);
}

static void test_backend_del_ring_before_unused(void **state)
{
	struct fx *f = *state;
	__u32 vid, id, gen, other;
	long ring, unused;

	ok_lines(f, populated);
	vid = find_vip(f, V1)->id;
	id = find_backend(f, V1, "10.0.0.11")->id;
	gen = find_backend(f, V1, "10.0.0.11")->gen;
	other = find_backend(f, V1, "10.0.0.12")->id;
	mock_clear_calls(&f->md);
	ok(f, "backend del " V1 " 10.0.0.11");
	ring = mock_find(&f->md, MOCK_SET_RING, vid, 0);
	unused = mock_find_state(&f->md, id, LB_BACKEND_UNUSED);
	assert_true(ring >= 0 && unused > ring);
	assert_int_equal(f->md.n_calls, 2);
	assert_int_equal(mock_ring_count(&f->md, vid, id), 0);
	assert_int_equal(mock_ring_count(&f->md, vid, other), 1009);
	/* The id is free again, for a new incarnation. */
	ok(f, "backend add " V1 " 10.0.0.13");
	assert_int_equal(find_backend(f, V1, "10.0.0.13")->id, id);
	assert_true(find_backend(f, V1, "10.0.0.13")->gen > gen);
	assert_fastpath_matches(f);
}

static void test_vip_del_order(void **state)
{
	struct fx *f = *state;
	__u32 vid, b1, b2;
	long table, ring, u1, u2;

	ok_lines(f, populated);
	ok(f, "vip add " V2 " --ring 1009");
	vid = find_vip(f, V1)->id;
	b1 = find_backend(f, V1, "10.0.0.11")->id;
	b2 = find_backend(f, V1, "10.0.0.12")->id;
	mock_clear_calls(&f->md);
	ok(f, "vip del " V1);
	table = mock_find(&f->md, MOCK_SET_VIPS, -1, 0);
	ring = mock_find(&f->md, MOCK_SET_RING, vid, 0);
	u1 = mock_find_state(&f->md, b1, LB_BACKEND_UNUSED);
	u2 = mock_find_state(&f->md, b2, LB_BACKEND_UNUSED);
	assert_true(table >= 0 && ring > table && u1 > ring && u2 > ring);
	assert_int_equal(f->md.calls[ring].arg, 0);
	assert_int_equal(f->md.n_vips, 2);	/* V2 and its ICMP entry */
	assert_int_equal(f->m.n_vips, 1);
	/* Ids free again: the next VIP takes the lowest. */
	ok(f, "vip add 10.100.0.3:80/tcp --ring 1009");
	assert_int_equal(find_vip(f, "10.100.0.3:80/tcp")->id, vid);
	assert_fastpath_matches(f);
}

static void test_drain_keeps_id(void **state)
{
	struct fx *f = *state;
	__u32 vid, id, other, gen;

	ok_lines(f, populated);
	vid = find_vip(f, V1)->id;
	id = find_backend(f, V1, "10.0.0.11")->id;
	gen = find_backend(f, V1, "10.0.0.11")->gen;
	other = find_backend(f, V1, "10.0.0.12")->id;
	mock_clear_calls(&f->md);
	ok(f, "backend set " V1 " 10.0.0.11 --drain");
	assert_int_equal(find_backend(f, V1, "10.0.0.11")->id, id);
	assert_int_equal(find_backend(f, V1, "10.0.0.11")->gen, gen);
	assert_int_equal(f->md.backends[id].state, LB_BACKEND_DRAINING);
	assert_int_equal(f->md.backends[id].gen, gen);
	assert_int_equal(mock_ring_count(&f->md, vid, id), 0);
	assert_int_equal(mock_ring_count(&f->md, vid, other), 1009);
	assert_true(mock_find(&f->md, MOCK_SET_RING, vid, 0) <
		    mock_find_state(&f->md, id, LB_BACKEND_DRAINING));
	/* The entry is not rewritten (flows keep their gen). */
	assert_int_equal(mock_count(&f->md, MOCK_SET_BACKEND, -1), 0);

	mock_clear_calls(&f->md);
	ok(f, "backend set " V1 " 10.0.0.11 --undrain");
	assert_int_equal(f->md.backends[id].state, LB_BACKEND_UP);
	assert_true(mock_find_state(&f->md, id, LB_BACKEND_UP) <
		    mock_find(&f->md, MOCK_SET_RING, vid, 0));
	assert_true(mock_ring_count(&f->md, vid, id) > 0);

	/* Weight 0 drains as well. */
	ok(f, "backend set " V1 " 10.0.0.11 --weight 0");
	assert_int_equal(f->md.backends[id].state, LB_BACKEND_DRAINING);
	assert_int_equal(mock_ring_count(&f->md, vid, id), 0);
	ok(f, "backend add " V1 " 10.0.0.13 --weight 0");
	assert_int_equal(f->md.backends[find_backend(f, V1, "10.0.0.13")->id].state,
			 LB_BACKEND_DRAINING);
	assert_fastpath_matches(f);
}

/* A next hop that resolves to a MAC derived from the backend address. */
static int mac_from_addr_nexthop(void *arg, struct lb_backend *b)
{
	int *calls = arg;

	(*calls)++;
	b->flags = LB_BACKEND_F_NH_VALID;
	b->nh_ifindex = 2;
	b->nh_mtu = 1500;
	memset(b->nh_dmac, 0, sizeof(b->nh_dmac));
	memcpy(b->nh_dmac + 2, &b->addr.w[0], 4);
	return 0;
}

static void test_refresh_nexthops(void **state)
{
	struct fx *f = *state;
	__u32 vid, a, b;
	int calls = 0;

	ok_lines(f, populated);
	vid = find_vip(f, V1)->id;
	a = find_backend(f, V1, "10.0.0.11")->id;
	b = find_backend(f, V1, "10.0.0.12")->id;
	assert_false(f->md.backends[a].flags & LB_BACKEND_F_NH_VALID);
	f->m.nexthop = mac_from_addr_nexthop;
	f->m.nexthop_arg = &calls;
	mock_clear_calls(&f->md);
	assert_int_equal(cp_model_refresh_nexthops(&f->m), 0);
	assert_int_equal(calls, 2);
	assert_true(f->md.backends[a].flags & LB_BACKEND_F_NH_VALID);
	assert_memory_equal(f->md.backends[b].nh_dmac + 2, &f->md.backends[b].addr.w[0], 4);
	/* Identity untouched; no ring or table pushed. */
	assert_int_equal(f->md.backends[a].gen, find_backend(f, V1, "10.0.0.11")->gen);
	assert_int_equal(f->md.backends[a].vip_id, vid);
	assert_int_equal(mock_count(&f->md, MOCK_SET_RING, -1), 0);
	assert_int_equal(mock_count(&f->md, MOCK_SET_BACKEND, -1), 2);
	assert_fastpath_matches(f);

	/* In slices: one backend per step, then done. */
	{
		size_t cursor = 0;

		calls = 0;
		assert_int_equal(cp_model_refresh_nexthops_step(&f->m, &cursor, 1), 1);
		assert_int_equal(calls, 1);
		/* The last backend: nothing remains after it. */
		assert_int_equal(cp_model_refresh_nexthops_step(&f->m, &cursor, 1), 0);
		assert_int_equal(calls, 2);
		cursor = 0;
		assert_int_equal(cp_model_refresh_nexthops_step(&f->m, &cursor, 5), 0);
		assert_int_equal(calls, 4);
	}
}

/* A restarted model over a fast path that kept its entries takes the same
 * ids and gens, whatever the order and history of the new load. */
static void test_adopt_keeps_ids_and_gens(void **state)
{
	struct fx *f = *state, *g;
	__u32 vid, id11, id12, gen11, gen12;

	ok_lines(f, populated);
	/* A history a fresh load would not reproduce. */
	ok(f, "backend del " V1 " 10.0.0.11");
	ok(f, "vip add " V2);
	ok(f, "backend add " V1 " 10.0.0.11");
	vid = find_vip(f, V1)->id;
	id11 = find_backend(f, V1, "10.0.0.11")->id;
	id12 = find_backend(f, V1, "10.0.0.12")->id;
	gen11 = find_backend(f, V1, "10.0.0.11")->gen;
	gen12 = find_backend(f, V1, "10.0.0.12")->gen;

	/* The "restart": a new model over the same mock (what the pins kept). */
	g = calloc(1, sizeof(*g));
	assert_non_null(g);
	g->md = f->md;
	g->md.drv.ctx = &g->md;
	assert_int_equal(cp_model_init(&g->m, &g->md.params, &g->md.drv), 0);
	assert_int_equal(cp_model_adopt_begin(&g->m), 0);
	ok_model(&g->m, "vip add " V2);
	ok_model(&g->m, "vip add " V1 " --ring 1009 --check tcp --initial-health up");
	ok_model(&g->m, "backend add " V1 " 10.0.0.12");
	ok_model(&g->m, "backend add " V1 " 10.0.0.11");
	cp_model_adopt_end(&g->m);
	assert_int_equal(cp_model_find_vip(&g->m, &find_vip(f, V1)->key)->id, vid);
	assert_int_equal(find_backend(g, V1, "10.0.0.11")->id, id11);
	assert_int_equal(find_backend(g, V1, "10.0.0.12")->id, id12);
	assert_int_equal(find_backend(g, V1, "10.0.0.11")->gen, gen11);
	assert_int_equal(find_backend(g, V1, "10.0.0.12")->gen, gen12);
	/* New gens never repeat an adopted one. */
	ok_model(&g->m, "backend add " V1 " 10.0.0.13");
	assert_true(find_backend(g, V1, "10.0.0.13")->gen > gen11);
	assert_true(find_backend(g, V1, "10.0.0.13")->gen > gen12);
	cp_model_free(&g->m);
	f->md = g->md;		/* the mock's buffers may have moved */
	f->md.drv.ctx = &f->md;
	free(g);
}

static void test_health_down_up(void **state)
{
	struct fx *f = *state;
	__u32 vid, id, gen;
	__u64 digest;

	ok_lines(f, populated);
	vid = find_vip(f, V1)->id;
	id = find_backend(f, V1, "10.0.0.12")->id;
	gen = find_backend(f, V1, "10.0.0.12")->gen;
	digest = find_vip(f, V1)->digest;
	ok(f, "health report " V1 " 10.0.0.12 down --latency-us 1500");
	assert_int_equal(find_backend(f, V1, "10.0.0.12")->health, CP_HEALTH_DOWN);
	assert_int_equal(find_backend(f, V1, "10.0.0.12")->latency_us, 1500);
	assert_int_equal(f->md.backends[id].state, LB_BACKEND_DOWN);
	assert_int_equal(mock_ring_count(&f->md, vid, id), 0);
	assert_true(find_vip(f, V1)->digest != digest);

	/* A drained backend that goes down is DOWN; back up it is DRAINING. */
	ok(f, "backend set " V1 " 10.0.0.12 --drain");
	assert_int_equal(f->md.backends[id].state, LB_BACKEND_DOWN);
	ok(f, "health report " V1 " 10.0.0.12 up");
	assert_int_equal(f->md.backends[id].state, LB_BACKEND_DRAINING);
	ok(f, "backend set " V1 " 10.0.0.12 --undrain");

	/* Back in the ring with the same id and gen: the same ring as before. */
	assert_int_equal(f->md.backends[id].state, LB_BACKEND_UP);
	assert_int_equal(find_backend(f, V1, "10.0.0.12")->id, id);
	assert_int_equal(find_backend(f, V1, "10.0.0.12")->gen, gen);
	assert_true(mock_ring_count(&f->md, vid, id) > 0);
	assert_true(find_vip(f, V1)->digest == digest);
	assert_fastpath_matches(f);
}

static void test_ring_independent_of_order(void **state)
{
	static const char *const addrs[] = { "10.0.0.11", "10.0.0.12", "2001:db8::5",
					     "10.0.0.13", "10.0.0.14" };
	struct fx *a = *state, *b = fx_new(T_VIPS, T_BACKENDS, T_SLOTS);
	char line[128];

	ok(a, "vip add " V1 " --ring 1009");
	/* b's ids differ: a decoy VIP and backend shift them. */
	ok(b, "vip add " V2 " --ring 1009");
	ok(b, "backend add " V2 " 10.0.0.99");
	ok(b, "vip add " V1 " --ring 1009");
	for (int i = 0; i < 5; i++) {
		snprintf(line, sizeof(line), "backend add " V1 " %s --weight %d", addrs[i],
			 10 * (i + 1));
		ok(a, line);
		snprintf(line, sizeof(line), "backend add " V1 " %s --weight %d", addrs[4 - i],
			 10 * (5 - i));
		ok(b, line);
	}
	assert_true(find_vip(a, V1)->id != find_vip(b, V1)->id);
	assert_true(find_vip(a, V1)->digest != 0);
	assert_true(find_vip(a, V1)->digest == find_vip(b, V1)->digest);
	fx_free(b);
}

static void test_unchanged_ring_not_pushed(void **state)
{
	struct fx *f = *state;
	__u64 builds;

	ok(f, "vip add " V1 " --ring 1009");
	ok(f, "backend add " V1 " 10.0.0.11");
	/* One backend fills the ring whatever its weight. */
	mock_clear_calls(&f->md);
	ok(f, "backend set " V1 " 10.0.0.11 --weight 7");
	assert_int_equal(f->md.n_calls, 0);
	/* Nothing the fast path sees: no rebuild at all. */
	builds = f->m.stats.ring_rebuilds;
	ok(f, "health report " V1 " 10.0.0.11 up");
	ok(f, "vip set " V1 " --check tcp");
	assert_int_equal(f->md.n_calls, 0);
	assert_int_equal(f->m.stats.ring_rebuilds, builds);
	/* Flags alone: flags only. */
	ok(f, "vip set " V1 " --affinity source");
	assert_int_equal(f->md.n_calls, 1);
	assert_int_equal(f->md.calls[0].op, MOCK_SET_VIP_FLAGS);
	assert_int_equal(f->m.stats.ring_rebuilds, builds);
	/* A ring of another size is pushed. */
	ok(f, "vip set " V1 " --ring 1013");
	assert_int_equal(mock_count(&f->md, MOCK_SET_RING, -1), 1);
	assert_int_equal(f->md.ring_size[find_vip(f, V1)->id], 1013);
	assert_fastpath_matches(f);
}

static int nh_calls;

static int fake_nexthop(void *arg, struct lb_backend *b)
{
	nh_calls++;
	if (b->addr.w[0] == htonl(0x0a00000c))
		return -EAGAIN;	/* 10.0.0.12: unresolved */
	b->nh_ifindex = 7;
	b->nh_mtu = 1500;
	memset(b->nh_dmac, 0xaa, 6);
	memset(b->nh_smac, 0xbb, 6);
	b->flags = LB_BACKEND_F_NH_VALID;
	b->state = LB_BACKEND_DOWN;	/* not its business: ignored */
	(void)arg;
	return 0;
}

static void test_nexthop(void **state)
{
	struct fx *f = *state;
	const struct lb_backend *e;

	f->m.nexthop = fake_nexthop;
	ok_lines(f, populated);
	assert_int_equal(nh_calls, 2);
	e = &f->md.backends[find_backend(f, V1, "10.0.0.11")->id];
	assert_int_equal(e->flags, LB_BACKEND_F_NH_VALID);
	assert_int_equal(e->nh_ifindex, 7);
	assert_int_equal(e->nh_dmac[0], 0xaa);
	assert_int_equal(e->state, LB_BACKEND_UP);
	e = &f->md.backends[find_backend(f, V1, "10.0.0.12")->id];
	assert_int_equal(e->flags, 0);
	assert_int_equal(e->nh_ifindex, 0);
	assert_int_equal(e->state, LB_BACKEND_UP);
}

static void test_node_set(void **state)
{
	struct fx *f = *state;
	struct cp_request r;
	struct cp_error e;
	char *before, *after;

	ok(f, "node set --interface eth0 --interface eth1 --encap-source 192.0.2.10");
	assert_int_equal(f->md.n_ifaces, 2);
	assert_int_equal(mock_count(&f->md, MOCK_SET_CONFIG, -1), 1);
	assert_int_equal(f->md.config.encap_src4, htonl(0xc000020a));
	mock_clear_calls(&f->md);
	ok(f, "node set --interface eth1 --interface eth2 --metrics 127.0.0.1:9109");
	assert_int_equal(mock_count(&f->md, MOCK_SET_CONFIG, -1), 0);
	assert_int_equal(mock_count(&f->md, MOCK_ATTACH, -1), 1);
	assert_int_equal(mock_count(&f->md, MOCK_DETACH, -1), 1);
	assert_string_equal(f->md.calls[0].ifname, "eth2");
	assert_string_equal(f->md.calls[1].ifname, "eth0");
	assert_string_equal(f->m.node.metrics, "127.0.0.1:9109");
	ok(f, "node set --encap-source6 2001:db8::10");
	assert_int_equal(f->md.config.encap_src6.w[0], htonl(0x20010db8));
	assert_int_equal(f->md.config.encap_src4, htonl(0xc000020a));
	/* Flow TTLs: defaults pushed with the rest of the config, a change
	 * pushes the config (encap sources kept), an unchanged one does not. */
	assert_int_equal(f->md.config.flow_ttl_tcp, CP_DEFAULT_FLOW_TTL_TCP);
	assert_int_equal(f->md.config.flow_ttl_udp, CP_DEFAULT_FLOW_TTL_UDP);
	mock_clear_calls(&f->md);
	ok(f, "node set --flow-ttl-tcp 1h --flow-ttl-udp 0");
	assert_int_equal(mock_count(&f->md, MOCK_SET_CONFIG, -1), 1);
	assert_int_equal(f->md.config.flow_ttl_tcp, 3600);
	assert_int_equal(f->md.config.flow_ttl_udp, 0);
	assert_int_equal(f->md.config.encap_src4, htonl(0xc000020a));
	assert_int_equal(f->m.node.flow_ttl_tcp, 3600);
	mock_clear_calls(&f->md);
	ok(f, "node set --flow-ttl-tcp 3600s");
	assert_int_equal(mock_count(&f->md, MOCK_SET_CONFIG, -1), 0);
	ok(f, "node set --flow-ttl-tcp 900s --flow-ttl-udp 300s");
	assert_int_equal(f->md.config.flow_ttl_tcp, 900);
	assert_int_equal(f->md.config.flow_ttl_udp, 300);

	/* eth4 fails: eth3, attached a moment before, is detached again. */
	before = dump_model(&f->m);
	mock_clear_calls(&f->md);
	f->md.fail_at = 1;
	parse("node set --interface eth3 --interface eth4", &r);
	assert_int_equal(cp_model_apply(&f->m, &r, &e), -EIO);
	assert_string_equal(e.field, "interface");
	assert_non_null(strstr(e.msg, "eth4"));
	f->md.fail_at = -1;
	assert_int_equal(f->md.n_ifaces, 2);
	assert_string_equal(f->md.ifaces[0], "eth1");
	assert_string_equal(f->md.ifaces[1], "eth2");
	after = dump_model(&f->m);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* ---- driver failures ---------------------------------------------------- */

struct scenario {
	const char *const *setup;
	const char *change;
};

static const char *const two_vips[] = {
	"vip add " V1 " --ring 1009",
	"backend add " V1 " 10.0.0.11",
	"backend add " V1 " 10.0.0.12 --weight 50",
	"backend add " V1 " 10.0.0.14 --drain",
	"vip add " V2 " --ring 1013 --affinity source",
	"backend add " V2 " 10.0.0.21",
	NULL,
};

static const struct scenario scenarios[] = {
	{ two_vips, "backend add " V1 " 10.0.0.13" },
	{ two_vips, "backend del " V1 " 10.0.0.11" },
	{ two_vips, "backend set " V1 " 10.0.0.11 --drain" },
	{ two_vips, "backend set " V1 " 10.0.0.14 --undrain" },
	{ two_vips, "health report " V1 " 10.0.0.12 down" },
	{ two_vips, "vip add 10.100.0.3:80/tcp --ring 1009" },
	{ two_vips, "vip del " V1 },
	{ two_vips, "vip set " V2 " --ring 1009 --affinity none" },
};

/* Whichever driver call fails, the change is refused, the model is as
 * before, and the fast path is put back to match it. */
static void test_driver_failure_any_call(void **state)
{
	(void)state;
	for (size_t s = 0; s < sizeof(scenarios) / sizeof(scenarios[0]); s++) {
		const struct scenario *sc = &scenarios[s];
		struct fx *f = fx_new(T_VIPS, T_BACKENDS, T_SLOTS);
		size_t n;

		ok_lines(f, sc->setup);
		mock_clear_calls(&f->md);
		ok(f, sc->change);
		n = f->md.n_calls;
		assert_true(n > 0);
		fx_free(f);

		for (size_t k = 0; k < n; k++) {
			struct cp_error e;
			char *before, *after;

			f = fx_new(T_VIPS, T_BACKENDS, T_SLOTS);
			ok_lines(f, sc->setup);
			before = dump_model(&f->m);
			f->md.fail_at = (long)(f->md.n_calls + k);
			memset(&e, 0, sizeof(e));
			if (apply_line(&f->m, sc->change, &e) != -EIO)
				fail_msg("'%s' with call %zu failing: not refused", sc->change, k);
			assert_string_equal(e.field, "fastpath");
			f->md.fail_at = -1;
			after = dump_model(&f->m);
			assert_string_equal(before, after);
			if (f->md.violations)
				fail_msg("'%s', call %zu failing: %s", sc->change, k, f->md.violation);
			assert_fastpath_matches(f);
			/* And the same change goes through afterwards. */
			ok(f, sc->change);
			assert_fastpath_matches(f);
			free(before);
			free(after);
			fx_free(f);
		}
	}
}

/* ---- save / load ---------------------------------------------------------- */

static const char *const rich[] = {
	"node set --interface eth0 --interface eth1 --encap-source 192.0.2.10 "
	"--encap-source6 2001:db8::10 --metrics 127.0.0.1:9109 --flow-ttl-tcp 1h --flow-ttl-udp 0s",
	"vip add " V1 " --check http --check-path /health --check-host www.example.com "
	"--check-status 204 --check-interval 5s --check-timeout 2s --check-rise 3 --check-fall 4",
	"backend add " V1 " 10.0.0.12 --weight 50",
	"backend add " V1 " 10.0.0.11 --drain",
	"backend add " V1 " 2001:db8:1::11",
	"vip add [2001:db8::1]:443/tcp --affinity source --ring 1009 --check tcp",
	"backend add [2001:db8::1]:443/tcp 10.0.0.21 --weight 0",
	"vip add 10.100.0.1:*/udp --check udp --check-port 53 --check-payload \"ping me\"",
	"backend add 10.100.0.1:*/udp 10.0.0.31",
	"vip add 10.100.0.1:53/udp --ring 1013",
	"vip add 10.100.0.1:8080/tcp --check http --check-path /ok",
	"vip set 10.100.0.1:8080/tcp --check tcp",
	NULL,
};

static char *save_text(const struct cp_model *m)
{
	char *s = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&s, &len);

	assert_non_null(o);
	assert_int_equal(cp_model_save(m, o), 0);
	fclose(o);
	return s;
}

static int load_text(struct cp_model *m, const char *text, const char *name, struct cp_error *e)
{
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	int err;

	assert_non_null(in);
	err = cp_model_load(m, in, name, e);
	fclose(in);
	return err;
}

/* Two models hold the same desired state (ids and health aside). */
static void assert_models_equal(const struct cp_model *a, const struct cp_model *b)
{
	assert_memory_equal(&a->node, &b->node, sizeof(a->node));
	assert_int_equal(a->n_vips, b->n_vips);
	for (size_t i = 0; i < a->n_vips; i++) {
		const struct cp_vip *x = &a->vips[i], *y = cp_model_find_vip(b, &x->key);

		assert_non_null(y);
		assert_int_equal(x->spec.affinity, y->spec.affinity);
		assert_int_equal(x->spec.ring_size, y->spec.ring_size);
		assert_memory_equal(&x->spec.check, &y->spec.check, sizeof(x->spec.check));
		assert_int_equal(x->n_backends, y->n_backends);
		for (size_t j = 0; j < x->n_backends; j++) {
			const struct cp_backend *p = &x->backends[j];
			const struct cp_backend *q = cp_vip_find_backend(y, &p->addr, p->family);

			assert_non_null(q);
			assert_int_equal(p->weight, q->weight);
			assert_int_equal(p->draining, q->draining);
		}
	}
}

static void test_save_load_round_trip(void **state)
{
	struct fx *f = *state;
	struct cp_model loaded;
	struct cp_error e;
	char *first, *second;

	ok_lines(f, rich);
	/* Health is observed, not desired: not saved. */
	ok(f, "health report " V1 " 10.0.0.12 down");
	first = save_text(&f->m);
	assert_true(!strncmp(first, "# sluice state\n", 15));
	assert_non_null(strstr(first, "node set --interface eth0 --interface eth1"));
	assert_non_null(strstr(first, "backend add 10.100.0.1:80/tcp 10.0.0.11 --drain\n"));
	assert_non_null(strstr(first, "backend add 10.100.0.1:80/tcp 10.0.0.12 --weight 50\n"));
	/* The check left by "vip set --check tcp" keeps no HTTP path. */
	assert_non_null(strstr(first, "vip add 10.100.0.1:8080/tcp --check tcp\n"));
	/* Sorted: IPv4 before IPv6, by address, port, protocol. */
	assert_true(strstr(first, "10.100.0.1:*/udp") < strstr(first, "10.100.0.1:53/udp"));
	assert_true(strstr(first, "10.100.0.1:53/udp") < strstr(first, "10.100.0.1:80/tcp"));
	assert_true(strstr(first, "10.100.0.1:8080/tcp") < strstr(first, "[2001:db8::1]"));
	assert_true(strstr(first, " 10.0.0.11 ") < strstr(first, " 10.0.0.12 "));

	assert_int_equal(cp_model_init(&loaded, &f->md.params, NULL), 0);
	memset(&e, 0, sizeof(e));
	if (load_text(&loaded, first, "state", &e))
		fail_msg("load: %s: %s", e.field, e.msg);
	second = save_text(&loaded);
	assert_string_equal(first, second);
	assert_models_equal(&f->m, &loaded);
	assert_models_equal(&loaded, &f->m);
	assert_int_equal(cp_vip_find_backend(find_vip(f, V1), &find_backend(f, V1, "10.0.0.12")->addr,
					     LB_FAMILY_V4)->health, CP_HEALTH_DOWN);
	/* A driverless target is loaded without building rings. */
	assert_int_equal(loaded.stats.ring_rebuilds, 0);
	cp_model_free(&loaded);
	free(first);
	free(second);
}

static void expect_load_error(const char *text, const char *name, const char *field,
			      const char *want)
{
	struct cp_model m;
	struct cp_error e;

	assert_int_equal(cp_model_init(&m, NULL, NULL), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(load_text(&m, text, name, &e), -EINVAL);
	assert_string_equal(e.field, field);
	if (!strstr(e.msg, want))
		fail_msg("message '%s' lacks '%s'", e.msg, want);
	cp_model_free(&m);
}

static void test_load_errors(void **state)
{
	char *longline, *text;
	size_t n = 5000;

	(void)state;
	expect_load_error("# sluice\n\nvip add " V1 "\n  # indented comment\n"
			  "backend add " V1 " 10.0.0.11 --weight 70000\n",
			  "sluice.conf", "sluice.conf:5", "weight");
	expect_load_error("vip add " V1 "\nbackend add " V1 " 10.0.0.1\nvip add " V1 "\n",
			  "a.conf", "a.conf:3", "vip: 10.100.0.1:80/tcp exists");
	expect_load_error("vip add " V1 "\nvip list\n", "b", "b:2", "not a configuration command");
	expect_load_error("vip add " V1 " --ring 65536\n", "c", "c:1", "ring: 65536 is not prime");
	expect_load_error("vip add \"" V1 "\n", "d", "d:1", "unterminated quote");
	expect_load_error("node set --interface eth0\r\nvip add x\r\n", "e", "e:2", "vip");
	/* The whole path, however long: an operator must find the file. */
	expect_load_error("\n\n\nbogus\n",
			  "/etc/sluice/a/very/long/path/beyond/thirty-one/characters/sluiced.conf",
			  "/etc/sluice/a/very/long/path/beyond/thirty-one/characters/sluiced.conf:4",
			  "bogus");

	/* Lines up to 4096 bytes are fine; a longer one is an error, not cut. */
	longline = malloc(n + 64);
	assert_non_null(longline);
	memset(longline, ' ', n);
	longline[0] = '#';
	longline[4096] = '\n';
	snprintf(longline + 4097, 64, "vip add " V1 " # ok\n");
	{
		struct cp_model m;
		struct cp_error e;

		assert_int_equal(cp_model_init(&m, NULL, NULL), 0);
		assert_int_equal(load_text(&m, longline, "f", &e), 0);
		assert_int_equal(m.n_vips, 1);
		cp_model_free(&m);
	}
	text = malloc(n + 64);
	assert_non_null(text);
	memset(text, ' ', n);
	text[0] = '#';
	text[n] = '\0';
	strcat(text, "\n");
	expect_load_error(text, "g", "g:1", "longer than 4096");
	free(text);
	free(longline);
}

static void test_load_nul_byte(void **state)
{
	static const char text[] = "vip add " V1 "\nvip add 10.1.1.1:80/tcp\0junk\n";
	struct cp_model m;
	struct cp_error e;
	FILE *in;

	(void)state;
	assert_int_equal(cp_model_init(&m, NULL, NULL), 0);
	in = fmemopen((void *)text, sizeof(text) - 1, "r");
	assert_non_null(in);
	assert_int_equal(cp_model_load(&m, in, "n", &e), -EINVAL);
	assert_string_equal(e.field, "n:2");
	assert_non_null(strstr(e.msg, "NUL"));
	fclose(in);
	cp_model_free(&m);
}

/* ---- SIGHUP diff ------------------------------------------------------------ */

static const char live_script[] =
	"node set --interface eth0 --encap-source 192.0.2.10\n"
	"vip add " V1 " --ring 1009\n"
	"backend add " V1 " 10.0.0.11\n"
	"backend add " V1 " 10.0.0.12\n"
	"backend add " V1 " 10.0.0.13\n"
	"vip add " V2 " --ring 1013\n"
	"backend add " V2 " 10.0.0.21\n"
	"backend add " V2 " 10.0.0.22\n"
	"vip add 10.100.0.3:80/tcp --ring 1019\n"
	"backend add 10.100.0.3:80/tcp 10.0.0.31\n";

static void load_live(struct fx *f, const char *text)
{
	struct cp_model t;
	struct cp_error e;
	int n;

	assert_int_equal(cp_model_init(&t, &f->md.params, NULL), 0);
	if (load_text(&t, text, "live", &e))
		fail_msg("%s: %s", e.field, e.msg);
	n = cp_model_apply_diff(&f->m, &t, &e);
	if (n < 0)
		fail_msg("diff: %s: %s", e.field, e.msg);
	cp_model_free(&t);
	assert_int_equal(f->md.violations, 0);
}

static int diff_to(struct fx *f, const char *text, struct cp_model *t)
{
	struct cp_error e;
	int n;

	assert_int_equal(cp_model_init(t, &f->md.params, NULL), 0);
	if (load_text(t, text, "target", &e))
		fail_msg("%s: %s", e.field, e.msg);
	n = cp_model_apply_diff(&f->m, t, &e);
	if (n < 0)
		fail_msg("diff: %d %s: %s", n, e.field, e.msg);
	if (f->md.violations)
		fail_msg("diff: %s", f->md.violation);
	return n;
}

static char *replace(const char *s, const char *from, const char *to)
{
	const char *p = strstr(s, from);
	char *out = malloc(strlen(s) + strlen(to) + 1);

	assert_non_null(p);
	assert_non_null(out);
	memcpy(out, s, (size_t)(p - s));
	strcpy(out + (p - s), to);
	strcat(out, p + strlen(from));
	return out;
}

static void test_diff_from_empty(void **state)
{
	struct fx *f = *state;
	struct cp_model t;

	/* An empty live model takes the whole script: one ring per VIP, one
	 * VIP table, every backend entry once. */
	assert_int_equal(diff_to(f, live_script, &t), 10);
	assert_int_equal(mock_count(&f->md, MOCK_SET_RING, -1), 3);
	assert_int_equal(mock_count(&f->md, MOCK_SET_VIPS, -1), 1);
	assert_int_equal(mock_count(&f->md, MOCK_SET_BACKEND, -1), 6);
	assert_int_equal(mock_count(&f->md, MOCK_ATTACH, -1), 1);
	assert_int_equal(f->m.stats.ring_rebuilds, 3);
	assert_models_equal(&f->m, &t);
	assert_fastpath_matches(f);
	cp_model_free(&t);
}

/* A reload that changes a flow TTL pushes the config once and touches
 * nothing else; one that drops the setting goes back to the default. */
static void test_diff_flow_ttl(void **state)
{
	struct fx *f = *state;
	struct cp_model t;
	char *text;

	load_live(f, live_script);
	mock_clear_calls(&f->md);
	text = replace(live_script, "--encap-source 192.0.2.10\n",
		       "--encap-source 192.0.2.10 --flow-ttl-udp 30s\n");
	assert_int_equal(diff_to(f, text, &t), 1);
	assert_int_equal(f->md.n_calls, 1);
	assert_int_equal(f->md.calls[0].op, MOCK_SET_CONFIG);
	assert_int_equal(f->md.config.flow_ttl_udp, 30);
	assert_int_equal(f->md.config.flow_ttl_tcp, CP_DEFAULT_FLOW_TTL_TCP);
	assert_models_equal(&f->m, &t);
	cp_model_free(&t);
	free(text);

	mock_clear_calls(&f->md);
	assert_int_equal(diff_to(f, live_script, &t), 1);
	assert_int_equal(f->md.config.flow_ttl_udp, CP_DEFAULT_FLOW_TTL_UDP);
	assert_int_equal(f->m.node.flow_ttl_udp, CP_DEFAULT_FLOW_TTL_UDP);
	cp_model_free(&t);
}

static void test_diff_one_weight(void **state)
{
	struct fx *f = *state;
	struct cp_model t;
	char *before, *after, *text;
	__u32 vid;

	load_live(f, live_script);
	vid = find_vip(f, V2)->id;
	before = dump_model(&f->m);
	mock_clear_calls(&f->md);
	text = replace(live_script, "backend add " V2 " 10.0.0.22\n",
		       "backend add " V2 " 10.0.0.22 --weight 300\n");
	assert_int_equal(diff_to(f, text, &t), 1);
	/* Exactly one ring flip, for that VIP; no entry rewritten. */
	assert_int_equal(f->md.n_calls, 1);
	assert_int_equal(f->md.calls[0].op, MOCK_SET_RING);
	assert_int_equal(f->md.calls[0].id, vid);
	assert_int_equal(find_backend(f, V2, "10.0.0.22")->weight, 300);
	/* Only that weight changed in the model: ids, gens, the rest. */
	after = dump_model(&f->m);
	{
		char *expect = replace(before, "be 10.0.0.22 w 100", "be 10.0.0.22 w 300");
		char *d = strstr(expect, "vip 10.100.0.2:443/tcp");
		char *g = strstr(after, "vip 10.100.0.2:443/tcp");

		/* Digest of V2 changes; blank it on both sides. */
		memcpy(strstr(d, "digest ") + 7, "................", 16);
		memcpy(strstr(g, "digest ") + 7, "................", 16);
		assert_string_equal(expect, after);
		free(expect);
	}
	/* Applying the same target again changes nothing. */
	mock_clear_calls(&f->md);
	{
		struct cp_error e;

		assert_int_equal(cp_model_apply_diff(&f->m, &t, &e), 0);
	}
	assert_int_equal(f->md.n_calls, 0);
	assert_fastpath_matches(f);
	cp_model_free(&t);
	free(before);
	free(after);
	free(text);
}

static void test_diff_add_remove(void **state)
{
	static const char target[] =
		"node set --interface eth0 --interface eth1 --encap-source 192.0.2.10\n"
		"vip add " V1 " --ring 1009 --affinity source\n"
		"backend add " V1 " 10.0.0.11\n"
		"backend add " V1 " 10.0.0.13 --drain\n"
		"backend add " V1 " 10.0.0.14\n"
		"vip add 10.100.0.3:80/tcp --ring 1019\n"
		"backend add 10.100.0.3:80/tcp 10.0.0.31\n"
		"vip add 10.100.0.4:80/tcp --ring 1021 --check tcp\n"
		"backend add 10.100.0.4:80/tcp 10.0.0.41\n";
	struct fx *f = *state;
	struct cp_model t;
	__u32 id11, gen11, id13, id31, gen31, v2id, v3id;
	long v2ring;

	load_live(f, live_script);
	ok(f, "health report " V1 " 10.0.0.11 down");
	id11 = find_backend(f, V1, "10.0.0.11")->id;
	gen11 = find_backend(f, V1, "10.0.0.11")->gen;
	id13 = find_backend(f, V1, "10.0.0.13")->id;
	id31 = find_backend(f, "10.100.0.3:80/tcp", "10.0.0.31")->id;
	gen31 = find_backend(f, "10.100.0.3:80/tcp", "10.0.0.31")->gen;
	v2id = find_vip(f, V2)->id;
	v3id = find_vip(f, "10.100.0.3:80/tcp")->id;
	mock_clear_calls(&f->md);

	/* node, V2 del, V1 set, 10.0.0.12 del, 10.0.0.13 drain, 10.0.0.14
	 * add, V4 add, 10.0.0.41 add. */
	assert_int_equal(diff_to(f, target, &t), 8);
	assert_models_equal(&f->m, &t);
	/* Kept backends keep their ids, gens and health. */
	assert_int_equal(find_backend(f, V1, "10.0.0.11")->id, id11);
	assert_int_equal(find_backend(f, V1, "10.0.0.11")->gen, gen11);
	assert_int_equal(find_backend(f, V1, "10.0.0.11")->health, CP_HEALTH_DOWN);
	assert_int_equal(find_backend(f, V1, "10.0.0.13")->id, id13);
	assert_int_equal(find_backend(f, "10.100.0.3:80/tcp", "10.0.0.31")->id, id31);
	assert_int_equal(find_backend(f, "10.100.0.3:80/tcp", "10.0.0.31")->gen, gen31);
	assert_int_equal(find_vip(f, "10.100.0.3:80/tcp")->id, v3id);
	/* The untouched VIP saw nothing. */
	assert_int_equal(mock_count(&f->md, MOCK_SET_RING, v3id), 0);
	assert_int_equal(mock_count(&f->md, MOCK_SET_BACKEND_STATE, id31), 0);
	/* The removed VIP is gone from the table, then its ring emptied; the
	 * added one, in the second batch, gets the freed id. */
	v2ring = mock_find(&f->md, MOCK_SET_RING, v2id, 0);
	assert_true(v2ring > mock_find(&f->md, MOCK_SET_VIPS, -1, 0));
	assert_int_equal(f->md.calls[v2ring].arg, 0);
	assert_int_equal(find_vip(f, "10.100.0.4:80/tcp")->id, v2id);
	assert_int_equal(f->md.ring_size[v2id], 1021);
	assert_int_equal(f->md.n_ifaces, 2);
	assert_fastpath_matches(f);
	cp_model_free(&t);
}

static void test_diff_failure_keeps_fastpath_consistent(void **state)
{
	/* Same node settings: a failed detach is logged, not refused. */
	static const char target[] =
		"node set --interface eth0 --encap-source 192.0.2.10\n"
		"vip add " V1 " --ring 1009\n"
		"backend add " V1 " 10.0.0.11 --weight 5\n"
		"backend add " V1 " 10.0.0.15\n"
		"vip add 10.100.0.5:80/tcp --ring 1009\n"
		"backend add 10.100.0.5:80/tcp 10.0.0.51\n";
	size_t n;

	(void)state;
	{
		struct fx *f = fx_new(T_VIPS, T_BACKENDS, T_SLOTS);
		struct cp_model t;

		load_live(f, live_script);
		mock_clear_calls(&f->md);
		diff_to(f, target, &t);
		n = f->md.n_calls;
		cp_model_free(&t);
		fx_free(f);
	}
	for (size_t k = 0; k < n; k++) {
		struct fx *f = fx_new(T_VIPS, T_BACKENDS, T_SLOTS);
		struct cp_model t;
		struct cp_error e;

		load_live(f, live_script);
		assert_int_equal(cp_model_init(&t, &f->md.params, NULL), 0);
		assert_int_equal(load_text(&t, target, "t", &e), 0);
		f->md.fail_at = (long)(f->md.n_calls + k);
		assert_true(cp_model_apply_diff(&f->m, &t, &e) < 0);
		f->md.fail_at = -1;
		if (f->md.violations)
			fail_msg("diff, call %zu failing: %s", k, f->md.violation);
		assert_fastpath_matches(f);
		/* A retry completes it. */
		assert_true(cp_model_apply_diff(&f->m, &t, &e) > 0);
		assert_models_equal(&f->m, &t);
		assert_fastpath_matches(f);
		cp_model_free(&t);
		fx_free(f);
	}
}

static void test_sync_retires_stale(void **state)
{
	struct fx *f = *state;
	struct mock_driver *md = &f->md;

	ok_lines(f, populated);
	/* A pinned fast path from an earlier run holds an extra backend. */
	md->backends[9].state = LB_BACKEND_UP;
	md->backends[9].family = LB_FAMILY_V4;
	mock_clear_calls(md);
	assert_int_equal(cp_model_sync(&f->m), 0);
	assert_int_equal(md->backends[9].state, LB_BACKEND_UNUSED);
	assert_int_equal(mock_count(md, MOCK_SET_VIPS, -1), 1);
	assert_int_equal(mock_count(md, MOCK_SET_CONFIG, -1), 1);
	assert_int_equal(md->violations, 0);
	assert_fastpath_matches(f);
}

static void test_driverless(void **state)
{
	struct cp_model m;
	struct cp_error e;

	(void)state;
	assert_int_equal(cp_model_init(&m, NULL, NULL), 0);
	assert_int_equal(m.limits.max_vips, LB_DEFAULT_MAX_VIPS);
	ok_model(&m, "vip add " V1);
	ok_model(&m, "backend add " V1 " 10.0.0.11");
	/* Rings are built without a fast path too: `ring digest` works. */
	assert_non_null(m.vips[0].ring);
	assert_true(m.vips[0].digest != 0);
	assert_int_equal(m.vips[0].spec.ring_size, LB_DEFAULT_RING_SIZE);
	assert_int_equal(apply_line(&m, "vip add " V1, &e), -EEXIST);
	assert_int_equal(cp_model_sync(&m), 0);
	cp_model_free(&m);
}

static void quiet(int level, const char *fmt, va_list ap, void *arg)
{
	(void)level;
	(void)fmt;
	(void)ap;
	(void)arg;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refuse_duplicate_vip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refresh_nexthops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_keeps_ids_and_gens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_unknown_vip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_backend_duplicate_unknown, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refuse_weight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_too_many_vips, setup, teardown),
		cmocka_unit_test(test_refuse_vip_table_full),
		cmocka_unit_test_setup_teardown(test_refuse_too_many_backends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_node, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_health_unknown_backend, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refuse_other_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vip_add_publishes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_before_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_del_ring_before_unused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vip_del_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_keeps_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health_down_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_independent_of_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unchanged_ring_not_pushed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nexthop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_set, setup, teardown),
		cmocka_unit_test(test_driver_failure_any_call),
		cmocka_unit_test_setup_teardown(test_save_load_round_trip, setup, teardown),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_load_nul_byte),
		cmocka_unit_test_setup_teardown(test_diff_from_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diff_one_weight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diff_flow_ttl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diff_add_remove, setup, teardown),
		cmocka_unit_test(test_diff_failure_keeps_fastpath_consistent),
		cmocka_unit_test_setup_teardown(test_sync_retires_stale, setup, teardown),
		cmocka_unit_test(test_driverless),
	};

	/* Refusals and injected failures log by design; keep the output to
	 * cmocka's verdicts. */
	if (!getenv("SLUICE_TEST_LOG"))
		lb_log_set_sink(quiet, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
