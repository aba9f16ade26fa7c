// SPDX-License-Identifier: Apache-2.0
/*
 * test_batch.c - a batch is published with one grace period (lib/tables.c
 * batch_begin/end, the model's driver batch), a second write into a half
 * flipped in the batch waits for one first, a long batch yields to its
 * owner, a big batch leaves its new backends' next hops to a refresh
 * round when the fast path can forward without them, and the limits
 * (--max-vips and friends) are the real ones, refused with what fits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mock_driver.h"
#include "model.h"
#include "tables.h"

/* ---- lib/tables over plain memory, with a counting grace period ------- */

struct tfx {
	struct lb_tables t;
	unsigned int graces;
	/* What the grace period saw: the ring word of vip 5, backend 7. */
	__u32 seen_ring5;
	struct lb_backend seen_be7;
};

static int count_grace(void *arg)
{
	struct tfx *f = arg;

	f->graces++;
	f->seen_ring5 = f->t.vip_meta[5].ring;
	f->seen_be7 = f->t.backends[7];
	return 0;
}

static struct tfx *tfx_new(__u32 max_vips, __u32 max_backends)
{
	struct tfx *f = calloc(1, sizeof(*f));
	struct lb_params p = { .max_vips = max_vips, .max_backends = max_backends,
			       .max_ring = 7, .flow_buckets = 16, .nr_cpus = 1 };

	assert_non_null(f);
	assert_int_equal(lb_tables_params(&p), 0);
	f->t.cfg = calloc(1, sizeof(*f->t.cfg));
	f->t.vip_table = calloc(2 * (size_t)p.vip_slots, sizeof(*f->t.vip_table));
	f->t.vip_meta = calloc(p.max_vips, sizeof(*f->t.vip_meta));
	f->t.rings = malloc(lb_tables_rings_bytes(&p));
	f->t.backends = calloc(p.max_backends, sizeof(*f->t.backends));
	assert_true(f->t.cfg && f->t.vip_table && f->t.vip_meta && f->t.rings && f->t.backends);
	f->t.grace = count_grace;
	f->t.grace_arg = f;
	lb_tables_init(&f->t, &p, 1);
	return f;
}

static void tfx_free(struct tfx *f)
{
	lb_tables_fini(&f->t);
	free(f->t.cfg);
	free(f->t.vip_table);
	free(f->t.vip_meta);
	free(f->t.rings);
	free(f->t.backends);
	free(f);
}

static struct lb_backend be(__u32 addr, __u32 gen, __u8 state)
{
	struct lb_backend b;

	memset(&b, 0, sizeof(b));
	b.family = LB_FAMILY_V4;
	b.addr.w[0] = htonl(addr);
	b.gen = gen;
	b.state = state;
	return b;
}

/* VIP i on an address of its own, with that address's ICMP entry. */
static struct lb_vip_entry *vip_entries(size_t n)
{
	struct lb_vip_entry *v = calloc(2 * n, sizeof(*v));

	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		struct lb_addr a = { .w = { htonl(0x0a640000u + (__u32)i) } };

		lb_vip_key_set(&v[2 * i].key, &a, htons(80), IPPROTO_TCP, LB_FAMILY_V4);
		v[2 * i].vip_id = (__u32)i;
		lb_vip_key_set(&v[2 * i + 1].key, &a, 0, IPPROTO_ICMP, LB_FAMILY_V4);
		v[2 * i + 1].vip_id = LB_VIP_ID_ADDR;
	}
	return v;
}

/* 1,000 VIPs x 3 backends, every ring and the VIP table flipped in one
 * batch: one grace period, at the end. Without the batch, one per flip. */
static void test_tables_one_grace_per_batch(void **state)
{
	struct tfx *f = tfx_new(1000, 3000);
	struct lb_vip_entry *v = vip_entries(1000);
	__u32 id;

	(void)state;
	assert_int_equal(lb_tables_batch_begin(&f->t), 0);
	assert_int_equal(lb_tables_batch_begin(&f->t), -EBUSY);
	for (__u32 i = 0; i < 1000; i++) {
		__u32 ring[7];

		for (__u32 j = 0; j < 3; j++) {
			struct lb_backend b = be(0x0a000000u + 3 * i + j, 1, LB_BACKEND_UP);

			assert_int_equal(lb_tables_set_backend(&f->t, 3 * i + j, &b), 0);
		}
		for (__u32 k = 0; k < 7; k++)
			ring[k] = 3 * i + k % 3;
		assert_int_equal(lb_tables_set_ring(&f->t, i, ring, 7), 0);
	}
	assert_int_equal(lb_tables_set_vips(&f->t, v, 2000), 0);
	assert_int_equal(f->graces, 0);
	assert_int_equal(lb_tables_batch_end(&f->t), 0);
	assert_int_equal(f->graces, 1);
	/* Published: the last VIP is found, its ring live. */
	assert_int_equal(lb_tables_vip_find(&f->t, &v[2 * 999].key, &id), 0);
	assert_int_equal(id, 999);
	assert_int_equal(LB_RING_SIZE(f->t.vip_meta[999].ring), 7);

	/* An empty batch waits for nothing. */
	assert_int_equal(lb_tables_batch_begin(&f->t), 0);
	assert_int_equal(lb_tables_batch_end(&f->t), 0);
	assert_int_equal(f->graces, 1);
	/* Outside a batch, each flip waits its own. */
	for (__u32 i = 0; i < 10; i++)
		assert_int_equal(lb_tables_set_ring(&f->t, i, NULL, 0), 0);
	assert_int_equal(f->graces, 11);
	free(v);
	tfx_free(f);
}

/* A half flipped in this batch is rewritten only after a grace period:
 * the second set_ring of vip 5 waits for one, which sees the first
 * flip still published. */
static void test_tables_second_write_waits(void **state)
{
	struct tfx *f = tfx_new(16, 64);
	struct lb_backend b = be(0x0a000001u, 1, LB_BACKEND_UP);
	__u32 a[7] = { 1, 1, 1, 1, 1, 1, 1 }, c[5] = { 1, 1, 1, 1, 1 }, first;

	(void)state;
	assert_int_equal(lb_tables_set_backend(&f->t, 1, &b), 0);
	assert_int_equal(lb_tables_batch_begin(&f->t), 0);
	assert_int_equal(lb_tables_set_ring(&f->t, 5, a, 7), 0);
	assert_int_equal(lb_tables_set_ring(&f->t, 6, a, 7), 0);
	first = f->t.vip_meta[5].ring;
	assert_int_equal(f->graces, 0);
	assert_int_equal(lb_tables_set_ring(&f->t, 5, c, 5), 0);
	assert_int_equal(f->graces, 1);
	assert_int_equal(f->seen_ring5, first);
	assert_int_not_equal(f->t.vip_meta[5].ring, first);
	assert_int_equal(LB_RING_SIZE(f->t.vip_meta[5].ring), 5);
	/* That grace period covered vip 6 too: a write into it now waits
	 * for nothing more. */
	assert_int_equal(lb_tables_set_ring(&f->t, 6, c, 5), 0);
	assert_int_equal(f->graces, 1);
	assert_int_equal(lb_tables_batch_end(&f->t), 0);
	assert_int_equal(f->graces, 2);
	tfx_free(f);
}

/* A backend id changes identity only after it was unused and a grace
 * period passed: within the batch that retired it, the rewrite waits;
 * a batch later it does not. */
static void test_tables_backend_reuse(void **state)
{
	struct tfx *f = tfx_new(16, 64);
	struct lb_backend a = be(0x0a000001u, 1, LB_BACKEND_UP);
	struct lb_backend b = be(0x0a000002u, 2, LB_BACKEND_UP);
	struct lb_backend c = be(0x0a000003u, 3, LB_BACKEND_UP);

	(void)state;
	assert_int_equal(lb_tables_batch_begin(&f->t), 0);
	assert_int_equal(lb_tables_set_backend(&f->t, 7, &a), 0);
	assert_int_equal(lb_tables_batch_end(&f->t), 0);
	/* A first batch counts ids retired before it as just retired. */
	assert_int_equal(f->graces, 0);

	assert_int_equal(lb_tables_batch_begin(&f->t), 0);
	assert_int_equal(lb_tables_set_backend_state(&f->t, 7, LB_BACKEND_UNUSED), 0);
	assert_int_equal(lb_tables_set_backend(&f->t, 7, &b), 0);
	assert_int_equal(f->graces, 1);
	/* The grace period came before the rewrite: it saw A, unused. */
	assert_int_equal(f->seen_be7.addr.w[0], a.addr.w[0]);
	assert_int_equal(f->seen_be7.state, LB_BACKEND_UNUSED);
	assert_int_equal(f->t.backends[7].addr.w[0], b.addr.w[0]);
	assert_int_equal(lb_tables_batch_end(&f->t), 0);
	assert_int_equal(f->graces, 1);

	/* Retired in one batch, reused in the next: its end's grace
	 * period is the one the rewrite needs. */
	assert_int_equal(lb_tables_batch_begin(&f->t), 0);
	assert_int_equal(lb_tables_set_backend_state(&f->t, 7, LB_BACKEND_UNUSED), 0);
	assert_int_equal(lb_tables_batch_end(&f->t), 0);
	assert_int_equal(f->graces, 2);
	assert_int_equal(lb_tables_batch_begin(&f->t), 0);
	assert_int_equal(lb_tables_set_backend(&f->t, 7, &c), 0);
	assert_int_equal(lb_tables_batch_end(&f->t), 0);
	assert_int_equal(f->graces, 2);
	assert_int_equal(f->t.backends[7].addr.w[0], c.addr.w[0]);

	/* In use and given another identity in a batch: out of use, a
	 * grace period, then the rewrite. */
	assert_int_equal(lb_tables_batch_begin(&f->t), 0);
	assert_int_equal(lb_tables_set_backend(&f->t, 7, &a), 0);
	assert_int_equal(f->graces, 3);
	assert_int_equal(f->seen_be7.addr.w[0], c.addr.w[0]);
	assert_int_equal(f->seen_be7.state, LB_BACKEND_UNUSED);
	assert_int_equal(lb_tables_batch_end(&f->t), 0);
	tfx_free(f);
}

/* ---- the model over the mock driver ----------------------------------- */

struct fx {
	struct mock_driver md;
	struct cp_model m;
};

static struct fx *fx_new(__u32 vips, __u32 backends)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	mock_init(&f->md, vips, backends, 65537, lb_viptable_slots(vips));
	assert_int_equal(cp_model_init(&f->m, &f->md.params, &f->md.drv), 0);
	return f;
}

static void fx_free(struct fx *f)
{
	cp_model_free(&f->m);
	mock_free(&f->md);
	free(f);
}

/* A config script of n VIPs (from VIP number first, each on an address
 * of its own) with nb backends each. */
static char *script(size_t first, size_t n, size_t nb)
{
	char *s = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&s, &len);

	assert_non_null(o);
	for (size_t x = first; x < first + n; x++) {
		fprintf(o, "vip add 10.100.%zu.%zu:80/tcp --ring 1009\n", x / 250, x % 250 + 1);
		for (size_t b = 0; b < nb; b++)
			fprintf(o, "backend add 10.100.%zu.%zu:80/tcp 10.%zu.%zu.%zu\n", x / 250,
				x % 250 + 1, x / 250 + 1, x % 250, b + 1);
	}
	fclose(o);
	return s;
}

static int load(struct cp_model *t, const struct lb_params *limits, const char *text,
		struct cp_error *e)
{
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	int err;

	assert_non_null(in);
	assert_int_equal(cp_model_init(t, limits, NULL), 0);
	err = cp_model_load(t, in, "test.conf", e);
	fclose(in);
	return err;
}

static void apply_script(struct fx *f, const char *text)
{
	struct cp_model t;
	struct cp_error e = { "", "" };

	if (load(&t, &f->m.limits, text, &e))
		fail_msg("load: %s: %s", e.field, e.msg);
	if (cp_model_apply_diff(&f->m, &t, &e) < 0)
		fail_msg("diff: %s: %s", e.field, e.msg);
	cp_model_free(&t);
	if (f->md.violations)
		fail_msg("%s", f->md.violation);
}

/* A file of 1,000 VIPs x 3 backends: one ring flip per VIP, one VIP
 * table, one grace period for it all. Replacing half of them: one per
 * batch of the diff (removals, then additions). */
static void test_model_batch_one_grace(void **state)
{
	struct fx *f = fx_new(1000, 3000);
	char *all = script(0, 1000, 3), *half;

	(void)state;
	apply_script(f, all);
	assert_int_equal(f->m.n_vips, 1000);
	assert_int_equal(mock_count(&f->md, MOCK_SET_RING, -1), 1000);
	assert_int_equal(mock_count(&f->md, MOCK_SET_VIPS, -1), 1);
	assert_int_equal(mock_count(&f->md, MOCK_SET_BACKEND, -1), 3000);
	assert_int_equal(f->md.graces, 1);
	assert_int_equal(f->md.n_vips, 2000);	/* every address's ICMP entry too */

	/* VIPs 500..1499: 500 removed, 500 added on the freed ids. */
	half = script(500, 1000, 3);
	mock_clear_calls(&f->md);
	apply_script(f, half);
	assert_int_equal(f->m.n_vips, 1000);
	assert_int_equal(mock_count(&f->md, MOCK_SET_VIPS, -1), 2);
	assert_int_equal(f->md.graces, 3);
	assert_int_equal(f->md.in_batch, 0);
	free(all);
	free(half);
	fx_free(f);
}

static int count_nexthop(void *arg, struct lb_backend *b)
{
	(*(unsigned int *)arg)++;
	b->flags |= LB_BACKEND_F_NH_VALID;
	b->nh_ifindex = 2;
	b->nh_mtu = 1500;
	return 0;
}

static unsigned int resolved_in_fastpath(const struct fx *f)
{
	unsigned int n = 0;

	for (__u32 id = 0; id < f->md.params.max_backends; id++)
		n += f->md.backends[id].state != LB_BACKEND_UNUSED &&
		     (f->md.backends[id].flags & LB_BACKEND_F_NH_VALID);
	return n;
}

/* With a FIB fallback in the fast path, a batch of more than
 * CP_NEXTHOP_DEFER_MIN new backends pushes them unresolved and asks its
 * owner for a refresh round; a small batch, or a fast path without the
 * fallback, resolves every one before it is pushed. */
static void test_nexthops_deferred_for_big_batches(void **state)
{
	struct fx *f = fx_new(64, 4096);
	char *big = script(0, 11, 100), *small = script(11, 1, 10);
	unsigned int calls = 0;
	size_t cursor = 0;

	(void)state;
	f->md.ops.fib_fallback = 1;
	f->m.nexthop = count_nexthop;
	f->m.nexthop_arg = &calls;
	apply_script(f, big);
	assert_int_equal(calls, 0);
	assert_int_equal(f->m.nexthops_deferred, 1);
	assert_int_equal(resolved_in_fastpath(f), 0);
	/* The owner's round resolves them all. */
	f->m.nexthops_deferred = 0;
	while (cp_model_refresh_nexthops_step(&f->m, &cursor, 64))
		;
	assert_int_equal(resolved_in_fastpath(f), 1100);

	calls = 0;
	apply_script(f, small);
	assert_int_equal(calls, 10);
	assert_int_equal(f->m.nexthops_deferred, 0);
	fx_free(f);

	/* No fallback: the cache is the only way out, so all are resolved. */
	f = fx_new(64, 4096);
	f->m.nexthop = count_nexthop;
	f->m.nexthop_arg = &calls;
	calls = 0;
	apply_script(f, big);
	assert_int_equal(calls, 1100);
	assert_int_equal(f->m.nexthops_deferred, 0);
	assert_int_equal(resolved_in_fastpath(f), 1100);
	free(big);
	free(small);
	fx_free(f);
}

struct yields {
	struct cp_model *m;
	unsigned int between, waiting;
	size_t saved;		/* bytes of the model read mid-batch */
};

/* The daemon's side: reads the model (as `save` and `status` do), and
 * waits on the grace period's fd. */
static void on_yield(void *arg, int fd)
{
	struct yields *y = arg;
	char *s = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&s, &len);

	assert_non_null(o);
	assert_int_equal(cp_model_save(y->m, o), 0);
	fclose(o);
	y->saved += len;
	free(s);
	if (fd < 0) {
		y->between++;
	} else {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		y->waiting++;
		poll(&p, 1, 100);
	}
}

/* A long batch hands over to its owner between VIPs and while its grace
 * period runs, with a model that can be read throughout. */
static void test_model_batch_yields(void **state)
{
	struct fx *f = fx_new(1000, 3000);
	struct yields y = { .m = &f->m };
	char *all = script(0, 1000, 3);

	(void)state;
	f->m.yield = on_yield;
	f->m.yield_arg = &y;
	apply_script(f, all);
	assert_int_equal(f->m.n_vips, 1000);
	assert_true(y.between > 0);
	assert_true(y.waiting > 0);
	assert_true(y.saved > 0);
	assert_int_equal(f->md.graces, 1);
	free(all);
	fx_free(f);
}

/* ---- limits ----------------------------------------------------------- */

static void expect_load_refused(const struct lb_params *limits, const char *text,
				const char *field, const char *msg)
{
	struct cp_model t;
	struct cp_error e = { "", "" };

	assert_int_equal(load(&t, limits, text, &e), -EINVAL);
	cp_model_free(&t);
	if (strcmp(e.field, field) || !strstr(e.msg, msg))
		fail_msg("refused as %s: %s; expected %s: ...%s...", e.field, e.msg, field, msg);
}

/* A file asking for more than fits is refused whole, before anything
 * moves, with what it asks and what fits. */
static void test_limits_refused_with_what_fits(void **state)
{
	struct lb_params lim = { .max_vips = 512, .max_backends = 1000, .max_ring = 65537 };
	char *vips = script(0, 1000, 0), *bes = script(0, 20, 75);

	(void)state;
	expect_load_refused(&lim, vips, "test.conf:513",
			    "1000 VIPs requested, 512 fit (--max-vips 512)");
	expect_load_refused(&lim, bes, "test.conf:1015",
			    "1500 backends requested, 1000 fit (--max-backends 1000)");
	lim.max_ring = 97;
	expect_load_refused(&lim, "vip add 10.100.0.1:80/tcp --ring 101\n", "test.conf:1",
			    "(--max-ring 97)");
	free(vips);
	free(bes);
}

/* The VIP table holds --max-vips VIPs on as many addresses (each with
 * its ICMP entry), and the next one is refused for the VIP count. */
static void test_limits_vip_table_holds_max_vips(void **state)
{
	struct fx *f = fx_new(600, 64);
	char *text = script(0, 600, 0), *more = script(0, 601, 0);
	struct cp_model t;
	struct cp_error e = { "", "" };

	(void)state;
	assert_true(f->m.limits.vip_slots >= 4 * 600);
	apply_script(f, text);
	assert_int_equal(f->m.n_vips, 600);
	assert_int_equal(f->md.n_vips, 1200);
	assert_int_equal(load(&t, &f->m.limits, more, &e), -EINVAL);
	cp_model_free(&t);
	assert_non_null(strstr(e.msg, "601 VIPs requested, 600 fit (--max-vips 600)"));
	free(text);
	free(more);
	fx_free(f);
}

/* The sizes lib/tables derives: the default holds its 256 VIPs, a
 * larger --max-vips gets a table to match. */
static void test_limits_vip_slots_follow_max_vips(void **state)
{
	struct lb_params p = { .nr_cpus = 1 };

	(void)state;
	assert_int_equal(lb_tables_params(&p), 0);
	assert_true(p.vip_slots >= 4 * p.max_vips);
	memset(&p, 0, sizeof(p));
	p.nr_cpus = 1;
	p.max_vips = 5000;
	assert_int_equal(lb_tables_params(&p), 0);
	assert_int_equal(p.vip_slots, 32768);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_one_grace_per_batch),
		cmocka_unit_test(test_tables_second_write_waits),
		cmocka_unit_test(test_tables_backend_reuse),
		cmocka_unit_test(test_model_batch_one_grace),
		cmocka_unit_test(test_model_batch_yields),
		cmocka_unit_test(test_nexthops_deferred_for_big_batches),
		cmocka_unit_test(test_limits_refused_with_what_fits),
		cmocka_unit_test(test_limits_vip_table_holds_max_vips),
		cmocka_unit_test(test_limits_vip_slots_follow_max_vips),
	};

	lb_log_set_level(LB_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
