// SPDX-License-Identifier: Apache-2.0
/*
 * test_validate.c - what the model refuses because it cannot forward
 * (controlplane/model_check.c, address.c): every address class no VIP,
 * backend or encap source can have, one address in two roles, a backend
 * on the balancer itself (the is_local hook), a ring smaller than its
 * backends; the same refusals through a config script, JSON and a
 * reload diff; the read requests' hint for an IPv4-mapped VIP; and the
 * netlink lookup behind the hook. Valid neighbours of each class pass.
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
#include <jansson.h>

#include "cmd.h"
#include "mock_driver.h"
#include "model.h"
#include "nl.h"
#include "request_json.h"

#define T_RING 65537

struct fx {
	struct mock_driver md;
	struct cp_model m;
	int local_calls;
};

/* The test's "host": 192.0.2.2 and 2001:db8:ff::2 are its addresses,
 * 192.0.2.255 the broadcast of its subnet. */
static int fake_is_local(void *arg, __u8 family, const struct lb_addr *a)
{
	struct fx *f = arg;
	struct lb_addr l4 = { { htonl(0xc0000202), 0, 0, 0 } };
	struct lb_addr b4 = { { htonl(0xc00002ff), 0, 0, 0 } };
	struct lb_addr l6 = { { htonl(0x20010db8), htonl(0x00ff0000), 0, htonl(2) } };

	f->local_calls++;
	if (family == LB_FAMILY_V4 && !memcmp(a, &l4, sizeof(*a)))
		return CP_LOCAL_ADDR;
	if (family == LB_FAMILY_V4 && !memcmp(a, &b4, sizeof(*a)))
		return CP_LOCAL_BROADCAST;
	if (family == LB_FAMILY_V6 && !memcmp(a, &l6, sizeof(*a)))
		return CP_LOCAL_ADDR;
	return CP_LOCAL_NO;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	mock_init(&f->md, 32, 64, T_RING, 128);
	assert_int_equal(cp_model_init(&f->m, &f->md.params, &f->md.drv), 0);
	f->m.is_local = fake_is_local;
	f->m.is_local_arg = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cp_model_free(&f->m);
	mock_free(&f->md);
	free(f);
	return 0;
}

static void parse(const char *line, struct cp_request *r)
{
	char buf[1024], *w[64];
	struct cp_error e = { "", "" };
	int n;

	snprintf(buf, sizeof(buf), "%s", line);
	n = cp_cmd_split(buf, w, 64);
	if (n <= 0 || cp_cmd_parse(n, w, r, &e))
		fail_msg("cannot parse '%s': %s: %s", line, e.field, e.msg);
}

static void ok(struct fx *f, const char *line)
{
	struct cp_error e = { "", "" };
	struct cp_request r;

	parse(line, &r);
	if (cp_model_apply(&f->m, &r, &e))
		fail_msg("'%s' refused: %s: %s", line, e.field, e.msg);
	if (f->md.violations)
		fail_msg("after '%s': %s", line, f->md.violation);
}

static size_t n_backends(const struct cp_model *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_vips; i++)
		n += m->vips[i].n_backends;
	return n;
}

/* line must be refused with EINVAL on field, the message containing
 * want, and change nothing: no VIP, backend or node setting, no call to
 * the fast path. */
static void refused(struct fx *f, const char *line, const char *field, const char *want)
{
	struct cp_error e = { "", "" };
	struct cp_request r;
	struct cp_node node = f->m.node;
	size_t vips = f->m.n_vips, bes = n_backends(&f->m), calls = f->md.n_calls;

	parse(line, &r);
	assert_int_equal(cp_model_check(&f->m, &r, &e), -EINVAL);
	memset(&e, 0, sizeof(e));
	assert_int_equal(cp_model_apply(&f->m, &r, &e), -EINVAL);
	if (strcmp(e.field, field) || !strstr(e.msg, want))
		fail_msg("'%s': got '%s: %s', want '%s: ...%s...'", line, e.field, e.msg, field,
			 want);
	assert_int_equal(f->m.n_vips, vips);
	assert_int_equal(n_backends(&f->m), bes);
	assert_memory_equal(&f->m.node, &node, sizeof(node));
	assert_int_equal(f->md.n_calls, calls);
}

/* Every class, as a VIP, a backend and an encap source, with the
 * address's class as the message says it. */
struct bad {
	const char *addr;
	const char *why;
};

static const struct bad bad4[] = {
	{ "0.0.0.0", "0.0.0.0 is unspecified" },
	{ "127.0.0.1", "127.0.0.1 is loopback" },
	{ "127.255.0.9", "127.255.0.9 is loopback" },
	{ "169.254.1.1", "169.254.1.1 is link-local" },
	{ "169.254.255.255", "is link-local" },
	{ "224.0.0.5", "224.0.0.5 is multicast" },
	{ "239.255.255.250", "is multicast" },
	{ "255.255.255.255", "255.255.255.255 is the limited broadcast address" },
};

static const struct bad bad6[] = {
	{ "::", ":: is unspecified" },
	{ "::1", "::1 is loopback" },
	{ "fe80::1", "fe80::1 is link-local" },
	{ "febf:ffff::1", "is link-local" },
	{ "ff02::1", "ff02::1 is multicast" },
	{ "ff0e::1:3", "is multicast" },
	{ "::ffff:10.100.0.9", "::ffff:10.100.0.9 is IPv4-mapped IPv6: use 10.100.0.9" },
};

/* The neighbours of every class above, which are plain unicast. */
static const char *const good4[] = {
	"10.100.0.9", "1.0.0.0", "126.255.255.255", "128.0.0.1", "169.253.255.255",
	"169.255.0.1", "223.255.255.255", "240.0.0.1", "255.255.255.254",
};

static const char *const good6[] = {
	"2001:db8::9", "::2", "fe7f::1", "fec0::1", "feff::1", "fd00::10", "::fffe:a64:9",
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_vip_classes(void **state)
{
	struct fx *f = *state;
	char line[128];

	for (size_t i = 0; i < N(bad4); i++) {
		snprintf(line, sizeof(line), "vip add %s:80/tcp", bad4[i].addr);
		refused(f, line, "vip", bad4[i].why);
	}
	for (size_t i = 0; i < N(bad6); i++) {
		snprintf(line, sizeof(line), "vip add [%s]:80/tcp", bad6[i].addr);
		refused(f, line, "vip", bad6[i].why);
	}
	refused(f, "vip add 169.254.1.1:80/tcp", "vip", "not usable as a VIP");
	for (size_t i = 0; i < N(good4); i++) {
		snprintf(line, sizeof(line), "vip add %s:80/tcp --ring 3", good4[i]);
		ok(f, line);
	}
	for (size_t i = 0; i < N(good6); i++) {
		snprintf(line, sizeof(line), "vip add [%s]:80/tcp --ring 3", good6[i]);
		ok(f, line);
	}
}

static void test_backend_classes(void **state)
{
	struct fx *f = *state;
	char line[128];

	ok(f, "vip add 10.100.0.1:80/tcp");
	for (size_t i = 0; i < N(bad4); i++) {
		snprintf(line, sizeof(line), "backend add 10.100.0.1:80/tcp %s", bad4[i].addr);
		refused(f, line, "backend", bad4[i].why);
	}
	for (size_t i = 0; i < N(bad6); i++) {
		snprintf(line, sizeof(line), "backend add 10.100.0.1:80/tcp %s", bad6[i].addr);
		refused(f, line, "backend", bad6[i].why);
	}
	/* The words, whole. */
	refused(f, "backend add 10.100.0.1:80/tcp 169.254.1.1", "backend",
		"169.254.1.1 is link-local: not routable to a backend");
	refused(f, "backend add 10.100.0.1:80/tcp ::ffff:10.200.0.11", "backend",
		"::ffff:10.200.0.11 is IPv4-mapped IPv6: use 10.200.0.11");
	for (size_t i = 0; i < N(good4); i++) {
		snprintf(line, sizeof(line), "backend add 10.100.0.1:80/tcp %s", good4[i]);
		ok(f, line);
	}
	for (size_t i = 0; i < N(good6); i++) {
		snprintf(line, sizeof(line), "backend add 10.100.0.1:80/tcp %s", good6[i]);
		ok(f, line);
	}
}

static void test_encap_classes(void **state)
{
	struct fx *f = *state;
	char line[128];

	for (size_t i = 0; i < N(bad4); i++) {
		snprintf(line, sizeof(line), "node set --encap-source %s", bad4[i].addr);
		refused(f, line, "encap_source", bad4[i].why);
	}
	for (size_t i = 0; i < N(bad6); i++) {
		snprintf(line, sizeof(line), "node set --encap-source6 %s", bad6[i].addr);
		refused(f, line, "encap_source6", bad6[i].why);
	}
	refused(f, "node set --encap-source 169.254.0.1", "encap_source",
		"not usable as an encap source");
	for (size_t i = 0; i < N(good4); i++) {
		snprintf(line, sizeof(line), "node set --encap-source %s", good4[i]);
		ok(f, line);
	}
	for (size_t i = 0; i < N(good6); i++) {
		snprintf(line, sizeof(line), "node set --encap-source6 %s", good6[i]);
		ok(f, line);
	}
}

/* A VIP as a backend sends the balancer's packets back to itself; any
 * VIP at that address counts, whatever its port and protocol. */
static void test_vip_and_backend_exclusive(void **state)
{
	struct fx *f = *state;

	ok(f, "vip add 10.100.0.1:80/tcp");
	ok(f, "vip add 10.100.0.2:53/udp");
	ok(f, "vip add [2001:db8::100]:80/tcp");
	refused(f, "backend add 10.100.0.1:80/tcp 10.100.0.2", "backend",
		"10.100.0.2 is the address of VIP 10.100.0.2:53/udp: a VIP cannot also be a backend");
	refused(f, "backend add 10.100.0.1:80/tcp 10.100.0.1", "backend",
		"is the address of VIP 10.100.0.1:80/tcp");
	refused(f, "backend add [2001:db8::100]:80/tcp 2001:db8::100", "backend",
		"is the address of VIP [2001:db8::100]:80/tcp");
	ok(f, "backend add 10.100.0.1:80/tcp 10.0.0.11");
	/* The same server behind two services is fine. */
	ok(f, "backend add 10.100.0.2:53/udp 10.0.0.11");
	refused(f, "vip add 10.0.0.11:443/tcp", "vip",
		"10.0.0.11 is a backend of VIP 10.100.0.1:80/tcp: a backend cannot also be a VIP");
	/* Another port of an existing VIP's address is still a VIP. */
	ok(f, "vip add 10.100.0.1:443/tcp");
	/* Gone as a backend, free as a VIP. */
	ok(f, "backend del 10.100.0.1:80/tcp 10.0.0.11");
	ok(f, "backend del 10.100.0.2:53/udp 10.0.0.11");
	ok(f, "vip add 10.0.0.11:443/tcp");
}

static void test_encap_source_exclusive(void **state)
{
	struct fx *f = *state;

	ok(f, "node set --encap-source 192.0.2.1 --encap-source6 2001:db8:ff::1");
	ok(f, "vip add 10.100.0.1:80/tcp");
	ok(f, "backend add 10.100.0.1:80/tcp 10.0.0.11");
	refused(f, "vip add 192.0.2.1:80/tcp", "vip",
		"192.0.2.1 is the node's encap source (encap_source)");
	refused(f, "vip add [2001:db8:ff::1]:80/tcp", "vip",
		"is the node's encap source (encap_source6)");
	refused(f, "backend add 10.100.0.1:80/tcp 192.0.2.1", "backend",
		"192.0.2.1 is the node's encap source");
	refused(f, "backend add 10.100.0.1:80/tcp 2001:db8:ff::1", "backend",
		"node's encap source");
	refused(f, "node set --encap-source 10.100.0.1", "encap_source",
		"10.100.0.1 is the address of VIP 10.100.0.1:80/tcp: a VIP cannot also be the encap source");
	refused(f, "node set --encap-source 10.0.0.11", "encap_source",
		"10.0.0.11 is a backend of VIP 10.100.0.1:80/tcp: a backend cannot also be the encap source");
	ok(f, "vip add [2001:db8::100]:80/tcp");
	refused(f, "node set --encap-source6 2001:db8::100", "encap_source6",
		"is the address of VIP [2001:db8::100]:80/tcp");
	/* Setting the same source again is no conflict with itself. */
	ok(f, "node set --encap-source 192.0.2.1");
}

static void test_backend_on_this_host(void **state)
{
	struct fx *f = *state;

	ok(f, "vip add 10.100.0.1:80/tcp");
	f->local_calls = 0;
	refused(f, "backend add 10.100.0.1:80/tcp 192.0.2.2", "backend",
		"192.0.2.2 is this host's own address (route is local)");
	refused(f, "backend add 10.100.0.1:80/tcp 2001:db8:ff::2", "backend",
		"route is local");
	refused(f, "backend add 10.100.0.1:80/tcp 192.0.2.255", "backend",
		"192.0.2.255 is the broadcast address of a connected subnet (route is broadcast)");
	assert_true(f->local_calls >= 3);
	ok(f, "backend add 10.100.0.1:80/tcp 192.0.2.3");
	/* Without the hook (a model that only keeps state) nothing asks. */
	f->m.is_local = NULL;
	ok(f, "backend add 10.100.0.1:80/tcp 192.0.2.2");
}

/* Maglev gives every backend a slot only when the ring has as many. */
static void test_ring_holds_backends(void **state)
{
	struct fx *f = *state;

	ok(f, "vip add 10.100.0.1:80/tcp --ring 3");
	ok(f, "backend add 10.100.0.1:80/tcp 10.0.0.1");
	ok(f, "backend add 10.100.0.1:80/tcp 10.0.0.2");
	ok(f, "backend add 10.100.0.1:80/tcp 10.0.0.3 --drain");
	refused(f, "backend add 10.100.0.1:80/tcp 10.0.0.4", "backend",
		"VIP 10.100.0.1:80/tcp has a ring of 3 slots and 3 backends: a backend more needs a ring of at least 4");
	ok(f, "vip set 10.100.0.1:80/tcp --ring 7");
	ok(f, "backend add 10.100.0.1:80/tcp 10.0.0.4");
	ok(f, "backend add 10.100.0.1:80/tcp 10.0.0.5");
	refused(f, "vip set 10.100.0.1:80/tcp --ring 3", "ring",
		"3 slots for 5 backends: every backend needs a slot, so the ring needs at least 5");
	ok(f, "vip set 10.100.0.1:80/tcp --ring 5");
	/* The older rules stand. */
	refused(f, "vip set 10.100.0.1:80/tcp --ring 9", "ring", "9 is not prime");
	refused(f, "vip set 10.100.0.1:80/tcp --ring 65539", "ring", "fast path's largest ring");
}

/* A config script is the same requests: the file and line, then the
 * model's reason. */
static void test_config_script(void **state)
{
	static const struct {
		const char *text;
		const char *field;
		const char *msg;
	} cases[] = {
		{ "vip add [::ffff:10.100.0.9]:80/tcp\n", "t.conf:1",
		  "vip: ::ffff:10.100.0.9 is IPv4-mapped IPv6: use 10.100.0.9" },
		{ "vip add 10.100.0.1:80/tcp --ring 3\n"
		  "backend add 10.100.0.1:80/tcp 10.0.0.1\n"
		  "backend add 10.100.0.1:80/tcp 10.0.0.2\n"
		  "backend add 10.100.0.1:80/tcp 10.0.0.3\n"
		  "backend add 10.100.0.1:80/tcp 10.0.0.4\n", "t.conf:5", "ring of 3 slots and 3 backends" },
		{ "node set --encap-source 10.100.0.1\nvip add 10.100.0.1:80/tcp\n", "t.conf:2",
		  "encap source" },
		{ "vip add 10.100.0.1:80/tcp\nvip add 10.100.0.2:80/tcp\n"
		  "backend add 10.100.0.1:80/tcp 10.100.0.2\n", "t.conf:3", "address of VIP" },
		{ "vip add 10.100.0.1:80/tcp\nbackend add 10.100.0.1:80/tcp fe80::1\n", "t.conf:2",
		  "fe80::1 is link-local" },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		FILE *in = fmemopen((void *)cases[i].text, strlen(cases[i].text), "r");
		struct cp_error e = { "", "" };
		struct cp_model t;

		assert_non_null(in);
		assert_int_equal(cp_model_init(&t, NULL, NULL), 0);
		assert_int_equal(cp_model_load(&t, in, "t.conf", &e), -EINVAL);
		assert_string_equal(e.field, cases[i].field);
		if (!strstr(e.msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg, cases[i].msg);
		cp_model_free(&t);
		fclose(in);
	}
}

/* JSON requests reach the same checks. */
static void test_json(void **state)
{
	static const char *const reqs[] = {
		"{\"v\":1,\"op\":\"vip.add\",\"vip\":\"[fe80::1]:80/tcp\"}",
		"{\"v\":1,\"op\":\"backend.add\",\"vip\":\"10.100.0.1:80/tcp\",\"backend\":\"::ffff:10.200.0.11\"}",
		"{\"v\":1,\"op\":\"backend.add\",\"vip\":\"10.100.0.1:80/tcp\",\"backend\":\"192.0.2.2\"}",
		"{\"v\":1,\"op\":\"node.set\",\"encap_source\":\"10.100.0.1\"}",
	};
	static const char *const why[] = { "is link-local", "use 10.200.0.11", "route is local",
					   "address of VIP" };
	struct fx *f = *state;

	ok(f, "vip add 10.100.0.1:80/tcp");
	for (size_t i = 0; i < N(reqs); i++) {
		json_t *o = json_loads(reqs[i], 0, NULL);
		struct cp_error e = { "", "" };
		struct cp_request r;

		assert_non_null(o);
		if (cp_request_from_json(o, &r, &e))
			fail_msg("%s: %s: %s", reqs[i], e.field, e.msg);
		assert_int_equal(cp_model_apply(&f->m, &r, &e), -EINVAL);
		if (!strstr(e.msg, why[i]))
			fail_msg("%s: '%s' lacks '%s'", reqs[i], e.msg, why[i]);
		json_decref(o);
	}
	assert_int_equal(f->m.vips[0].n_backends, 0);
}

static struct cp_model *load_text(const char *text)
{
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	struct cp_model *t = calloc(1, sizeof(*t));
	struct cp_error e = { "", "" };

	assert_non_null(in);
	assert_non_null(t);
	assert_int_equal(cp_model_init(t, NULL, NULL), 0);
	if (cp_model_load(t, in, "target", &e))
		fail_msg("%s: %s", e.field, e.msg);
	fclose(in);
	return t;
}

static void apply_diff_ok(struct fx *f, const char *text)
{
	struct cp_model *t = load_text(text);
	struct cp_error e = { "", "" };

	if (cp_model_apply_diff(&f->m, t, &e) < 0)
		fail_msg("diff refused: %s: %s", e.field, e.msg);
	assert_int_equal(f->md.violations, 0);
	cp_model_free(t);
	free(t);
}

/* A reload to a valid file is never refused for the order it is
 * applied in: backends leave before a ring shrinks, and the encap source
 * moves between the VIPs removed and the VIPs added. */
static void test_diff_order(void **state)
{
	struct fx *f = *state;

	ok(f, "node set --encap-source 192.0.2.1");
	ok(f, "vip add 10.100.0.1:80/tcp --ring 7");
	ok(f, "vip add 10.100.0.5:80/tcp");
	for (int i = 1; i <= 5; i++) {
		char line[96];

		snprintf(line, sizeof(line), "backend add 10.100.0.1:80/tcp 10.0.0.%d", i);
		ok(f, line);
	}
	apply_diff_ok(f, "node set --encap-source 10.100.0.5\n"
			 "vip add 10.100.0.1:80/tcp --ring 3\n"
			 "backend add 10.100.0.1:80/tcp 10.0.0.1\n"
			 "backend add 10.100.0.1:80/tcp 10.0.0.2\n"
			 "vip add 192.0.2.1:80/tcp\n");
	assert_int_equal(f->m.n_vips, 2);
	assert_int_equal(f->m.vips[0].spec.ring_size, 3);
	assert_int_equal(f->m.vips[0].n_backends, 2);
	assert_int_equal(f->m.node.encap_src4, htonl(0x0a640005));
	assert_int_equal(f->m.vips[1].key.addr.w[0], htonl(0xc0000201));
}

/* Requests that only read name a VIP too: a mapped one gets the hint. */
static void test_vip_named_hint(void **state)
{
	struct fx *f = *state;
	struct cp_error e = { "", "" };
	struct cp_request r;

	ok(f, "vip add 10.100.0.9:80/tcp");
	parse("stats --vip [::ffff:10.100.0.9]:80/tcp", &r);
	assert_null(cp_model_vip_named(&f->m, &r.vip, -ENOENT, &e));
	assert_string_equal(e.field, "vip");
	assert_string_equal(e.msg,
			    "[::ffff:10.100.0.9]:80/tcp: no such VIP (IPv4-mapped: use 10.100.0.9:80/tcp)");
	parse("flows 10.100.0.8:80/tcp", &r);
	assert_null(cp_model_vip_named(&f->m, &r.vip, -ENOENT, &e));
	assert_string_equal(e.msg, "10.100.0.8:80/tcp: no such VIP");
	parse("health report 10.100.0.9:80/tcp ::ffff:10.0.0.1 up", &r);
	assert_int_equal(cp_model_apply(&f->m, &r, &e), -ENOENT);
	parse("health report [::ffff:10.100.0.9]:80/tcp 10.0.0.1 up", &r);
	assert_int_equal(cp_model_apply(&f->m, &r, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "use 10.100.0.9:80/tcp"));
}

/* The hook sluiced installs asks the kernel: 127.0.0.1 and ::1 route
 * locally in every network namespace; a documentation address does not. */
static void test_nl_is_local(void **state)
{
	struct lb_addr a;
	__u8 fam;

	(void)state;
	assert_int_equal(cp_parse_addr("127.0.0.1", &a, &fam), 0);
	assert_int_equal(cp_nl_is_local(NULL, fam, &a), CP_LOCAL_ADDR);
	assert_int_equal(cp_parse_addr("198.51.100.77", &a, &fam), 0);
	assert_int_equal(cp_nl_is_local(NULL, fam, &a), CP_LOCAL_NO);
	assert_int_equal(cp_parse_addr("::1", &a, &fam), 0);
	assert_int_equal(cp_nl_is_local(NULL, fam, &a), CP_LOCAL_ADDR);
	assert_int_equal(cp_nl_is_local(NULL, 9, &a), CP_LOCAL_NO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vip_classes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_classes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encap_classes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vip_and_backend_exclusive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encap_source_exclusive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_on_this_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_holds_backends, setup, teardown),
		cmocka_unit_test(test_config_script),
		cmocka_unit_test_setup_teardown(test_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diff_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vip_named_hint, setup, teardown),
		cmocka_unit_test(test_nl_is_local),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
