/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cmd.c - controlplane/cmd.c (the sluicectl command language) and
 * the request.c helpers it stands on: every command form parses to the
 * expected request, every refused input names the expected field,
 * cp_cmd_split follows shell quoting, cp_cmd_format writes canonical
 * lines, and format -> split -> parse gives back an equal request for
 * thousands of random requests.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "cmd.h"
#include "cp_gen.h"

#define MAX_WORDS 64

/* Splits a copy of line and parses it. */
static int parse_line(const char *line, struct cp_request *r, struct cp_error *e)
{
	char buf[4096], *words[MAX_WORDS];
	int n;

	snprintf(buf, sizeof(buf), "%s", line);
	n = cp_cmd_split(buf, words, MAX_WORDS);
	if (n < 0)
		fail_msg("split '%s': %d", line, n);
	return cp_cmd_parse(n, words, r, e);
}

static struct cp_request ok(const char *line)
{
	struct cp_error e = { "", "" };
	struct cp_request r;

	if (parse_line(line, &r, &e))
		fail_msg("'%s' refused: %s: %s", line, e.field, e.msg);
	return r;
}

/* The line is refused, naming field, with msg containing want. r must
 * stay as it was. */
static void refused(const char *line, const char *field, const char *want)
{
	struct cp_error e = { "", "" };
	struct cp_request r, before;

	memset(&r, 0xa5, sizeof(r));
	before = r;
	if (!parse_line(line, &r, &e))
		fail_msg("'%s' accepted", line);
	if (strcmp(e.field, field))
		fail_msg("'%s': field '%s', expected '%s' (%s)", line, e.field, field, e.msg);
	if (!strstr(e.msg, want))
		fail_msg("'%s': message '%s' lacks '%s'", line, e.msg, want);
	assert_memory_equal(&r, &before, sizeof(r));
}

static __be32 v4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static struct lb_addr v6(const char *s)
{
	struct lb_addr a;

	assert_int_equal(inet_pton(AF_INET6, s, a.w), 1);
	return a;
}

static void assert_vip(const struct cp_request *r, const char *want)
{
	char buf[64];

	assert_non_null(cp_format_vip(&r->vip, buf, sizeof(buf)));
	assert_string_equal(buf, want);
}

/* --- request.c --------------------------------------------------------- */

static void test_op_names(void **state)
{
	struct cp_op_fields f;
	int op;

	(void)state;
	for (op = CP_OP_NONE + 1; op < CP_OP_MAX; op++) {
		assert_non_null(cp_op_name(op));
		assert_int_equal(cp_op_from_name(cp_op_name(op)), op);
		assert_int_equal(cp_op_fields(op, &f), 0);
	}
	assert_null(cp_op_name(CP_OP_NONE));
	assert_null(cp_op_name(CP_OP_MAX));
	assert_int_equal(cp_op_fields(CP_OP_NONE, &f), -EINVAL);
	assert_string_equal(cp_op_name(CP_OP_BACKEND_ADD), "backend.add");
	assert_string_equal(cp_op_name(CP_OP_RING_DIGEST), "ring.digest");
	assert_int_equal(cp_op_from_name("vip.ad"), CP_OP_NONE);
	assert_int_equal(cp_op_from_name(""), CP_OP_NONE);
	assert_int_equal(cp_op_from_name(NULL), CP_OP_NONE);
}

static void test_request_defaults(void **state)
{
	struct cp_request r;

	(void)state;
	cp_request_init(&r, CP_OP_VIP_ADD);
	assert_int_equal(r.op, CP_OP_VIP_ADD);
	assert_int_equal(r.fields, 0);
	assert_int_equal(r.weight, CP_DEFAULT_WEIGHT);
	assert_int_equal(r.spec.ring_size, LB_DEFAULT_RING_SIZE);
	assert_int_equal(r.spec.check.type, CP_CHECK_NONE);
	assert_int_equal(r.spec.check.interval_ms, CP_CHECK_DEFAULT_INTERVAL_MS);
	assert_int_equal(r.spec.check.timeout_ms, CP_CHECK_DEFAULT_TIMEOUT_MS);
	assert_int_equal(r.spec.check.rise, CP_CHECK_DEFAULT_RISE);
	assert_int_equal(r.spec.check.fall, CP_CHECK_DEFAULT_FALL);
	assert_int_equal(r.spec.check.expect_status, CP_CHECK_DEFAULT_STATUS);
	assert_int_equal(r.health, CP_HEALTH_UNKNOWN);
	assert_int_equal(cp_request_nondefault(&r), 0);
}

static void test_error_set(void **state)
{
	struct cp_error e;

	(void)state;
	assert_int_equal(cp_error_set(&e, -EINVAL, "weight", "bad %d", 7), -EINVAL);
	assert_string_equal(e.field, "weight");
	assert_string_equal(e.msg, "bad 7");
	assert_int_equal(cp_error_set(NULL, -ENOENT, "x", "y"), -ENOENT);
	/* A field longer than any path is cut to fit, still NUL-terminated;
	 * a long path is not. */
	{
		char big[sizeof(e.field) + 16];

		memset(big, 'p', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		cp_error_set(&e, -EINVAL, big, "m");
		assert_int_equal(strlen(e.field), sizeof(e.field) - 1);
		big[200] = '\0';
		cp_error_set(&e, -EINVAL, big, "m");
		assert_int_equal(strlen(e.field), 200);
	}
}

static void test_parse_addr(void **state)
{
	struct lb_addr a;
	__u8 fam;

	(void)state;
	assert_int_equal(cp_parse_addr("10.0.0.1", &a, &fam), 0);
	assert_int_equal(fam, LB_FAMILY_V4);
	assert_int_equal(a.w[0], v4("10.0.0.1"));
	assert_int_equal(a.w[1] | a.w[2] | a.w[3], 0);
	assert_int_equal(cp_parse_addr("2001:db8::1", &a, &fam), 0);
	assert_int_equal(fam, LB_FAMILY_V6);
	{
		struct lb_addr want = v6("2001:db8::1");

		assert_memory_equal(&a, &want, sizeof(a));
	}
	assert_int_equal(cp_parse_addr("10.0.0.256", &a, &fam), -EINVAL);
	assert_int_equal(cp_parse_addr("10.0.0", &a, &fam), -EINVAL);
	assert_int_equal(cp_parse_addr("[::1]", &a, &fam), -EINVAL);
	assert_int_equal(cp_parse_addr("", &a, &fam), -EINVAL);
	assert_int_equal(cp_parse_addr(" 10.0.0.1", &a, &fam), -EINVAL);
	assert_int_equal(cp_parse_addr(NULL, &a, &fam), -EINVAL);
}

static void test_parse_vip(void **state)
{
	static const struct {
		const char *in, *out;
		__u8 family, proto;
		__u16 port;
	} good[] = {
		{ "10.100.0.1:80/tcp", "10.100.0.1:80/tcp", LB_FAMILY_V4, IPPROTO_TCP, 80 },
		{ "10.100.0.1:53/udp", "10.100.0.1:53/udp", LB_FAMILY_V4, IPPROTO_UDP, 53 },
		{ "10.100.0.1:*/udp", "10.100.0.1:*/udp", LB_FAMILY_V4, IPPROTO_UDP, 0 },
		{ "10.100.0.1:0/tcp", "10.100.0.1:*/tcp", LB_FAMILY_V4, IPPROTO_TCP, 0 },
		{ "10.100.0.1:080/TCP", "10.100.0.1:80/tcp", LB_FAMILY_V4, IPPROTO_TCP, 80 },
		{ "[2001:db8::1]:443/tcp", "[2001:db8::1]:443/tcp", LB_FAMILY_V6, IPPROTO_TCP, 443 },
		{ "[2001:DB8:0::1]:65535/udp", "[2001:db8::1]:65535/udp", LB_FAMILY_V6, IPPROTO_UDP,
		  65535 },
		{ "[::]:*/tcp", "[::]:*/tcp", LB_FAMILY_V6, IPPROTO_TCP, 0 },
		{ "[::ffff:10.0.0.1]:80/tcp", "[::ffff:10.0.0.1]:80/tcp", LB_FAMILY_V6, IPPROTO_TCP,
		  80 },
	};
	struct lb_vip_key k;
	struct cp_error e;
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (cp_parse_vip(good[i].in, &k, &e))
			fail_msg("%s: %s", good[i].in, e.msg);
		assert_int_equal(k.family, good[i].family);
		assert_int_equal(k.proto, good[i].proto);
		assert_int_equal(ntohs(k.port), good[i].port);
		assert_string_equal(cp_format_vip(&k, buf, sizeof(buf)), good[i].out);
	}
	cp_parse_vip("10.100.0.1:80/tcp", &k, &e);
	assert_int_equal(k.addr.w[0], v4("10.100.0.1"));
	assert_int_equal(k.addr.w[1] | k.addr.w[2] | k.addr.w[3], 0);
	assert_int_equal(cp_parse_vip(NULL, &k, &e), -EINVAL);
	assert_string_equal(e.field, "vip");
}

static void test_format_vip_limits(void **state)
{
	struct lb_vip_key k;
	char buf[64];
	size_t need;

	(void)state;
	assert_int_equal(cp_parse_vip("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535/udp",
				      &k, NULL), 0);
	assert_non_null(cp_format_vip(&k, buf, sizeof(buf)));
	need = strlen(buf) + 1;
	errno = 0;
	assert_null(cp_format_vip(&k, buf, need - 1));
	assert_int_equal(errno, ENOSPC);
	assert_non_null(cp_format_vip(&k, buf, need));
	k.family = 9;
	assert_null(cp_format_vip(&k, buf, sizeof(buf)));
	assert_null(cp_format_addr(&k.addr, 0, buf, sizeof(buf)));
	/* Not an operator's VIP, but printable (per-address ICMP entries). */
	assert_int_equal(cp_parse_vip("10.0.0.1:0/tcp", &k, NULL), 0);
	k.proto = IPPROTO_ICMP;
	assert_string_equal(cp_format_vip(&k, buf, sizeof(buf)), "10.0.0.1:*/icmp");
}

static void test_setters_leave_request_alone(void **state)
{
	struct cp_request r, before;
	struct cp_error e;
	char big[600];

	(void)state;
	cp_request_init(&r, CP_OP_VIP_ADD);
	before = r;
	assert_int_equal(cp_request_set_num(&r, CP_F_WEIGHT, 65536, "weight", &e), -EINVAL);
	assert_int_equal(cp_request_set_num(&r, CP_F_VIP, 1, "vip", &e), -EINVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(cp_request_set_text(&r, CP_F_CHECK_PATH, big, "check-path", &e), -EINVAL);
	assert_non_null(strstr(e.msg, "at most 255"));
	assert_int_equal(cp_request_set_text(&r, CP_F_RING, "5", "ring", &e), -EINVAL);
	assert_int_equal(cp_request_set_text(&r, CP_F_VIP, NULL, "vip", &e), -EINVAL);
	assert_memory_equal(&r, &before, sizeof(r));
	/* The longest that fits is taken whole. */
	big[CP_CHECK_PATH_MAX - 1] = '\0';
	assert_int_equal(cp_request_set_text(&r, CP_F_CHECK_PATH, big, "check-path", &e), 0);
	assert_int_equal(strlen(r.spec.check.path), CP_CHECK_PATH_MAX - 1);
}

/* --- Every command form ------------------------------------------------ */

static void test_vip_add_minimal(void **state)
{
	struct cp_request r = ok("vip add 10.100.0.1:80/tcp"), want;

	(void)state;
	cp_request_init(&want, CP_OP_VIP_ADD);
	want.fields = CP_F_VIP;
	want.vip.family = LB_FAMILY_V4;
	want.vip.addr.w[0] = v4("10.100.0.1");
	want.vip.port = htons(80);
	want.vip.proto = IPPROTO_TCP;
	assert_memory_equal(&r, &want, sizeof(r));
}

static void test_vip_add_every_option(void **state)
{
	struct cp_request r = ok("vip add [2001:db8::1]:443/udp --affinity source --ring 65521"
				 " --check http --check-port 8080 --check-path /health?full=1"
				 " --check-host www.example.com --check-status 204"
				 " --check-interval 1.5s --check-timeout 500ms --check-rise 5"
				 " --check-fall 7 --check-payload 'ping me'");
	struct lb_addr a = v6("2001:db8::1");

	(void)state;
	assert_int_equal(r.op, CP_OP_VIP_ADD);
	assert_memory_equal(&r.vip.addr, &a, sizeof(a));
	assert_int_equal(r.vip.family, LB_FAMILY_V6);
	assert_int_equal(r.vip.proto, IPPROTO_UDP);
	assert_int_equal(ntohs(r.vip.port), 443);
	assert_int_equal(r.spec.affinity, CP_AFFINITY_SOURCE);
	assert_int_equal(r.spec.ring_size, 65521);
	assert_int_equal(r.spec.check.type, CP_CHECK_HTTP);
	assert_int_equal(r.spec.check.port, 8080);
	assert_string_equal(r.spec.check.path, "/health?full=1");
	assert_string_equal(r.spec.check.host, "www.example.com");
	assert_int_equal(r.spec.check.expect_status, 204);
	assert_int_equal(r.spec.check.interval_ms, 1500);
	assert_int_equal(r.spec.check.timeout_ms, 500);
	assert_int_equal(r.spec.check.rise, 5);
	assert_int_equal(r.spec.check.fall, 7);
	assert_string_equal(r.spec.check.payload, "ping me");
	assert_int_equal(r.fields, CP_F_VIP | CP_F_AFFINITY | CP_F_RING | CP_F_CHECK_TYPE |
			 CP_F_CHECK_PORT | CP_F_CHECK_PATH | CP_F_CHECK_HOST |
			 CP_F_CHECK_STATUS | CP_F_CHECK_INTERVAL | CP_F_CHECK_TIMEOUT |
			 CP_F_CHECK_RISE | CP_F_CHECK_FALL | CP_F_CHECK_PAYLOAD);
}

static void test_equals_form_and_order(void **state)
{
	struct cp_request a = ok("vip add 10.0.0.1:*/tcp --ring=251 --check=tcp --check-port=22"
				 " --affinity=none"),
			  b = ok("vip add --check-port 22 --affinity none 10.0.0.1:0/tcp"
				 " --check tcp --ring 251");

	(void)state;
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(a.vip.port, 0);
	assert_int_equal(a.spec.ring_size, 251);
	assert_true(a.fields & CP_F_AFFINITY);
	assert_int_equal(a.spec.affinity, CP_AFFINITY_NONE);
	/* An option value may start with '-' after '=' */
	a = ok("health report 10.0.0.1:80/tcp 10.0.0.2 down --reason=--weird");
	assert_string_equal(a.reason, "--weird");
	a = ok("vip add 10.0.0.1:80/tcp --check-payload=");
	assert_string_equal(a.spec.check.payload, "");
	assert_true(a.fields & CP_F_CHECK_PAYLOAD);
}

static void test_vip_set_del_list(void **state)
{
	struct cp_request r;

	(void)state;
	r = ok("vip set 10.0.0.1:80/tcp --check-fall 4");
	assert_int_equal(r.op, CP_OP_VIP_SET);
	assert_int_equal(r.fields, CP_F_VIP | CP_F_CHECK_FALL);
	assert_int_equal(r.spec.check.fall, 4);
	r = ok("vip set 10.0.0.1:80/tcp --affinity none");
	assert_int_equal(r.fields, CP_F_VIP | CP_F_AFFINITY);
	r = ok("vip del [2001:db8::5]:53/udp");
	assert_int_equal(r.op, CP_OP_VIP_DEL);
	assert_int_equal(r.fields, CP_F_VIP);
	assert_vip(&r, "[2001:db8::5]:53/udp");
	r = ok("vip list");
	assert_int_equal(r.op, CP_OP_VIP_LIST);
	assert_int_equal(r.fields, 0);
	r = ok("vip list 10.0.0.1:80/tcp");
	assert_int_equal(r.fields, CP_F_VIP);
}

static void test_backend_forms(void **state)
{
	struct cp_request r;
	struct lb_addr a = v6("2001:db8:1::11");

	(void)state;
	r = ok("backend add 10.100.0.1:80/tcp 10.0.0.11");
	assert_int_equal(r.op, CP_OP_BACKEND_ADD);
	assert_int_equal(r.fields, CP_F_VIP | CP_F_BACKEND);
	assert_int_equal(r.backend_family, LB_FAMILY_V4);
	assert_int_equal(r.backend.w[0], v4("10.0.0.11"));
	assert_int_equal(r.weight, CP_DEFAULT_WEIGHT);
	assert_int_equal(r.drain, 0);
	r = ok("backend add 10.100.0.1:80/tcp 2001:db8:1::11 --weight 0 --drain");
	assert_int_equal(r.backend_family, LB_FAMILY_V6);
	assert_memory_equal(&r.backend, &a, sizeof(a));
	assert_int_equal(r.weight, 0);
	assert_int_equal(r.drain, 1);
	assert_int_equal(r.fields, CP_F_VIP | CP_F_BACKEND | CP_F_WEIGHT | CP_F_DRAIN);
	r = ok("backend add 10.100.0.1:80/tcp 10.0.0.11 --weight 65535");
	assert_int_equal(r.weight, 65535);
	r = ok("backend set 10.100.0.1:80/tcp 10.0.0.11 --drain");
	assert_int_equal(r.op, CP_OP_BACKEND_SET);
	assert_int_equal(r.fields, CP_F_VIP | CP_F_BACKEND | CP_F_DRAIN);
	assert_int_equal(r.drain, 1);
	r = ok("backend set 10.100.0.1:80/tcp 10.0.0.11 --undrain --weight 7");
	assert_int_equal(r.fields, CP_F_VIP | CP_F_BACKEND | CP_F_DRAIN | CP_F_WEIGHT);
	assert_int_equal(r.drain, 0);
	assert_int_equal(r.weight, 7);
	r = ok("backend del 10.100.0.1:80/tcp 10.0.0.11");
	assert_int_equal(r.op, CP_OP_BACKEND_DEL);
	assert_int_equal(r.fields, CP_F_VIP | CP_F_BACKEND);
	r = ok("backend list");
	assert_int_equal(r.op, CP_OP_BACKEND_LIST);
	assert_int_equal(r.fields, 0);
	r = ok("backend list 10.100.0.1:80/tcp");
	assert_int_equal(r.fields, CP_F_VIP);
}

static void test_node_set(void **state)
{
	struct cp_request r = ok("node set --interface eth0 --interface=veth-lb1"
				 " --encap-source 192.0.2.10 --encap-source6 2001:db8::a"
				 " --metrics [::1]:9109");
	struct lb_addr a = v6("2001:db8::a");

	(void)state;
	assert_int_equal(r.op, CP_OP_NODE_SET);
	assert_int_equal(r.n_interfaces, 2);
	assert_string_equal(r.interfaces[0], "eth0");
	assert_string_equal(r.interfaces[1], "veth-lb1");
	assert_int_equal(r.encap_src4, v4("192.0.2.10"));
	assert_memory_equal(&r.encap_src6, &a, sizeof(a));
	assert_string_equal(r.metrics, "[::1]:9109");
	assert_int_equal(r.fields, CP_F_INTERFACES | CP_F_ENCAP4 | CP_F_ENCAP6 | CP_F_METRICS);
	/* metrics is kept canonical */
	r = ok("node set --metrics [0:0::0001]:09109");
	assert_string_equal(r.metrics, "[::1]:9109");
	r = ok("node set --metrics 127.0.0.1:9109");
	assert_string_equal(r.metrics, "127.0.0.1:9109");
	assert_int_equal(r.fields, CP_F_METRICS);
	r = ok("node set --interface a --interface b --interface c --interface d --interface e"
	       " --interface f --interface g --interface h");
	assert_int_equal(r.n_interfaces, CP_MAX_INTERFACES);
	/* Flow TTLs: seconds, or a duration in whole seconds; 0 never expires. */
	r = ok("node set --flow-ttl-tcp 3600s --flow-ttl-udp 0");
	assert_int_equal(r.flow_ttl_tcp, 3600);
	assert_int_equal(r.flow_ttl_udp, 0);
	assert_int_equal(r.fields, CP_F_FLOW_TTL_TCP | CP_F_FLOW_TTL_UDP);
	r = ok("node set --flow-ttl-tcp 15m --flow-ttl-udp=90s");
	assert_int_equal(r.flow_ttl_tcp, 900);
	assert_int_equal(r.flow_ttl_udp, 90);
	r = ok("node set --flow-ttl-udp 1h");
	assert_int_equal(r.flow_ttl_udp, 3600);
	assert_int_equal(r.flow_ttl_tcp, CP_DEFAULT_FLOW_TTL_TCP);
	assert_int_equal(r.fields, CP_F_FLOW_TTL_UDP);
	r = ok("node set --flow-ttl-tcp 604800s");
	assert_int_equal(r.flow_ttl_tcp, LB_FLOW_TTL_MAX);
	r = ok("node set --interface 0123456789abcde");
	assert_string_equal(r.interfaces[0], "0123456789abcde");
}

static void test_health(void **state)
{
	struct cp_request r;

	(void)state;
	r = ok("health report 10.0.0.1:80/tcp 10.0.0.2 up");
	assert_int_equal(r.op, CP_OP_HEALTH_REPORT);
	assert_int_equal(r.health, CP_HEALTH_UP);
	assert_int_equal(r.fields, CP_F_VIP | CP_F_BACKEND | CP_F_HEALTH);
	r = ok("health report [2001:db8::1]:80/tcp 2001:db8::2 down --latency-us 1234"
	       " --reason \"connect: Connection refused\"");
	assert_int_equal(r.health, CP_HEALTH_DOWN);
	assert_int_equal(r.latency_us, 1234);
	assert_string_equal(r.reason, "connect: Connection refused");
	assert_int_equal(r.fields, CP_F_VIP | CP_F_BACKEND | CP_F_HEALTH | CP_F_LATENCY |
			 CP_F_REASON);
	r = ok("health report 10.0.0.1:80/tcp 10.0.0.2 up --latency-us 4294967295");
	assert_int_equal(r.latency_us, 4294967295u);
	r = ok("health targets");
	assert_int_equal(r.op, CP_OP_HEALTH_TARGETS);
	assert_int_equal(r.fields, 0);
}

static void test_other_commands(void **state)
{
	struct cp_request r;

	(void)state;
	r = ok("stats");
	assert_int_equal(r.op, CP_OP_STATS);
	assert_int_equal(r.fields, 0);
	r = ok("stats --vip 10.0.0.1:80/tcp");
	assert_int_equal(r.fields, CP_F_VIP);
	assert_vip(&r, "10.0.0.1:80/tcp");
	r = ok("flows 10.0.0.1:80/tcp");
	assert_int_equal(r.op, CP_OP_FLOWS);
	assert_int_equal(r.fields, CP_F_VIP);
	r = ok("ring digest [::1]:*/udp");
	assert_int_equal(r.op, CP_OP_RING_DIGEST);
	assert_vip(&r, "[::1]:*/udp");
	r = ok("save");
	assert_int_equal(r.op, CP_OP_SAVE);
	r = ok("status");
	assert_int_equal(r.op, CP_OP_STATUS);
	r = ok("detach");
	assert_int_equal(r.op, CP_OP_DETACH);
	assert_int_equal(r.fields, 0);
	r = ok("detach --interface eth1");
	assert_int_equal(r.fields, CP_F_INTERFACES);
	assert_int_equal(r.n_interfaces, 1);
	assert_string_equal(r.interfaces[0], "eth1");
}

static void test_durations(void **state)
{
	static const struct {
		const char *text;
		__u32 ms;
	} t[] = {
		{ "2s", 2000 }, { "500ms", 500 }, { "1.5s", 1500 }, { "750ms", 750 },
		{ "1m", 60000 }, { "1h", 3600000 }, { "0.1s", 100 }, { "0.25m", 15000 },
		{ "100ms", 100 }, { "1.000s", 1000 }, { "1.0010s", 1001 }, { "3600000ms", 3600000 },
		{ "0.000000000001h", 0 },	/* refused below: not whole ms */
	};
	char line[128];
	size_t i;

	(void)state;
	for (i = 0; i + 1 < sizeof(t) / sizeof(t[0]); i++) {
		struct cp_request r;

		snprintf(line, sizeof(line), "vip set 10.0.0.1:80/tcp --check-interval %s",
			 t[i].text);
		r = ok(line);
		assert_int_equal(r.spec.check.interval_ms, t[i].ms);
	}
	refused("vip set 10.0.0.1:80/tcp --check-interval 0.000000000001h", "check-interval",
		"not a whole number of milliseconds");
}

/* --- Every refusal ----------------------------------------------------- */

struct refusal {
	const char *line, *field, *msg;
};

static void run_refusals(const struct refusal *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		refused(t[i].line, t[i].field, t[i].msg);
}

#define VIP "10.0.0.1:80/tcp"
#define BE VIP " 10.0.0.2"

static void test_refused_commands(void **state)
{
	static const struct refusal t[] = {
		{ "", "command", "no command given" },
		{ "# only a comment", "command", "no command given" },
		{ "vlp add " VIP, "vlp", "unknown command 'vlp'; did you mean 'vip'?" },
		{ "frobnicate", "frobnicate", "commands: vip, backend" },
		{ "vip", "vip", "'vip' needs a subcommand: add, set, del, list" },
		{ "vip ad " VIP, "ad", "unknown command 'vip ad'; did you mean 'add'?" },
		{ "ring", "ring", "needs a subcommand: digest" },
		{ "health reprot", "reprot", "did you mean 'report'" },
		{ "VIP add " VIP, "VIP", "unknown command" },
	};

	(void)state;
	run_refusals(t, sizeof(t) / sizeof(t[0]));
}

static void test_refused_options(void **state)
{
	static const struct refusal t[] = {
		{ "backend add " BE " --wieght 5", "--wieght",
		  "unknown option '--wieght' for 'backend add'; did you mean '--weight'?;"
		  " see 'sluicectl backend --help'" },
		{ "backend add " BE " --wieght=5", "--wieght", "did you mean '--weight'" },
		{ "backend add " BE " -w 5", "-w", "unknown option '-w'" },
		{ "backend add " BE " --", "--", "unknown option '--'" },
		{ "backend add " BE " --undrain", "--undrain", "does not apply to 'backend add'" },
		{ "vip add " VIP " --weight 5", "--weight", "option '--weight' does not apply to 'vip add'" },
		{ "vip del " VIP " --ring 7", "--ring", "does not apply to 'vip del'" },
		{ "stats --interface eth0", "--interface", "does not apply" },
		{ "save --frobnicate", "--frobnicate", "unknown option '--frobnicate' for 'save'" },
		{ "save --force", "--force", "option '--force' does not apply to 'save'" },
		{ "apply", "path", "needs a config file" },
		{ "apply relative.conf", "path", "must start with '/'" },
		{ "diff /etc/x.conf --force", "--force", "does not apply to 'diff'" },
		{ "reload /etc/x.conf", "/etc/x.conf", "unexpected" },
		{ "vip add " VIP " --ring", "ring", "option '--ring' needs a value" },
		{ "vip add " VIP " --ring --affinity source", "ring", "needs a value" },
		{ "backend set " BE " --drain=yes", "drain", "option '--drain' takes no value" },
		{ "backend set " BE " --weight 1 --weight 2", "weight", "option '--weight' given twice" },
		{ "backend set " BE " --drain --undrain", "undrain",
		  "option '--undrain' conflicts with '--drain'" },
		{ "backend set " BE " --drain --drain", "drain", "given twice" },
		{ "vip add " VIP " --check tcp --check http", "check", "given twice" },
	};

	(void)state;
	run_refusals(t, sizeof(t) / sizeof(t[0]));
}

static void test_refused_vips(void **state)
{
	static const struct refusal t[] = {
		{ "vip add 10.0.0.1:80", "vip", "missing /proto (tcp or udp)" },
		{ "vip add 10.0.0.1:70000/tcp", "vip", "port 70000 out of range" },
		{ "vip add 10.0.0.1:99999999999999999999/tcp", "vip", "out of range" },
		{ "vip add x:80/tcp", "vip", "bad address 'x'" },
		{ "vip add 10.0.0.256:80/tcp", "vip", "bad address '10.0.0.256'" },
		{ "vip add 10.0.0.1:80/icmp", "vip", "unknown protocol 'icmp' (tcp or udp)" },
		{ "vip add 10.0.0.1:80/", "vip", "missing protocol" },
		{ "vip add 10.0.0.1/tcp", "vip", "missing ':port'" },
		{ "vip add 10.0.0.1:/tcp", "vip", "missing port" },
		{ "vip add 10.0.0.1:8o/tcp", "vip", "bad port '8o'" },
		{ "vip add 10.0.0.1:-1/tcp", "vip", "bad port '-1'" },
		{ "vip add 10.0.0.1:**/tcp", "vip", "bad port '**'" },
		{ "vip add 10.0.0.1:80/tcp/udp", "vip", "bad port '80/tcp'" },
		{ "vip add 2001:db8::1:80/tcp", "vip", "needs brackets" },
		{ "vip add [2001:db8::1:80/tcp", "vip", "missing ']'" },
		{ "vip add [2001:db8::1]/tcp", "vip", "missing ':port' after ']'" },
		{ "vip add [2001:db8::1]80/tcp", "vip", "missing ':port' after ']'" },
		{ "vip add [10.0.0.1]:80/tcp", "vip", "bad IPv6 address '10.0.0.1'" },
		{ "vip add [zz::1]:80/tcp", "vip", "bad IPv6 address 'zz::1'" },
		{ "vip add /tcp", "vip", "missing ':port'" },
		{ "vip add ''", "vip", "missing /proto" },
		{ "stats --vip 10.0.0.1", "vip", "missing /proto" },
		{ "flows 10.0.0.1:80/sctp", "vip", "unknown protocol 'sctp'" },
	};

	(void)state;
	run_refusals(t, sizeof(t) / sizeof(t[0]));
}

static void test_refused_numbers(void **state)
{
	static const struct refusal t[] = {
		{ "backend add " BE " --weight abc", "weight", "bad weight 'abc': expected a whole number" },
		{ "backend add " BE " --weight -1", "weight", "weight -1 out of range (0..65535)" },
		{ "backend add " BE " --weight 70000", "weight", "weight 70000 out of range" },
		{ "backend add " BE " --weight 99999999999999999999999", "weight", "out of range" },
		{ "backend add " BE " --weight=", "weight", "expected a whole number" },
		{ "backend add " BE " --weight 1e3", "weight", "expected a whole number" },
		{ "backend add " BE " --weight 0x10", "weight", "expected a whole number" },
		{ "backend add " BE " --weight +5", "weight", "expected a whole number" },
		{ "backend add " BE " --weight ' 5'", "weight", "expected a whole number" },
		{ "backend add " BE " --weight -", "weight", "expected a whole number" },
		{ "vip add " VIP " --ring x", "ring", "bad ring 'x': expected a whole number" },
		{ "vip add " VIP " --ring 0", "ring", "ring 0 out of range" },
		{ "vip add " VIP " --ring 4294967296", "ring", "out of range" },
		{ "vip add " VIP " --check-port 70000", "check-port", "out of range (0..65535)" },
		{ "vip add " VIP " --check-status 99", "check-status", "out of range (100..599)" },
		{ "vip add " VIP " --check-status 600", "check-status", "out of range" },
		{ "vip add " VIP " --check-rise 0", "check-rise", "check-rise 0 out of range (1..100)" },
		{ "vip add " VIP " --check-fall 101", "check-fall", "out of range" },
		{ "health report " BE " up --latency-us 4294967296", "latency-us", "out of range" },
		{ "health report " BE " up --latency-us -3", "latency-us", "out of range" },
	};

	(void)state;
	run_refusals(t, sizeof(t) / sizeof(t[0]));
}

static void test_refused_durations(void **state)
{
	static const struct refusal t[] = {
		{ "vip add " VIP " --check-interval 2x", "check-interval",
		  "bad check-interval '2x': expected a duration such as 2s, 500ms or 1.5s" },
		{ "vip add " VIP " --check-interval s", "check-interval", "expected a duration" },
		{ "vip add " VIP " --check-interval .5s", "check-interval", "expected a duration" },
		{ "vip add " VIP " --check-interval 1.s", "check-interval", "expected a duration" },
		{ "vip add " VIP " --check-interval -1s", "check-interval", "expected a duration" },
		{ "vip add " VIP " --check-interval '2 s'", "check-interval", "expected a duration" },
		{ "vip add " VIP " --check-interval 2S", "check-interval", "expected a duration" },
		{ "vip add " VIP " --check-interval 1.0005s", "check-interval",
		  "not a whole number of milliseconds" },
		{ "vip add " VIP " --check-interval 1.5", "check-interval",
		  "bad check-interval '1.5': a duration needs its unit" },
		{ "vip add " VIP " --check-interval 2", "check-interval", "needs its unit" },
		{ "vip add " VIP " --check-timeout 500", "check-timeout", "needs its unit" },
		{ "vip add " VIP " --check-interval 50ms", "check-interval",
		  "check-interval 50ms out of range (100ms..3600000ms)" },
		{ "vip add " VIP " --check-interval 2h", "check-interval", "out of range" },
		{ "vip add " VIP " --check-interval 99999999999999999999999h", "check-interval",
		  "out of range" },
		{ "vip add " VIP " --check-timeout 0", "check-timeout", "check-timeout 0ms out of range" },
		{ "vip add " VIP " --check-timeout 0.5ms", "check-timeout", "not a whole number" },
	};

	(void)state;
	run_refusals(t, sizeof(t) / sizeof(t[0]));
}

static void test_refused_text(void **state)
{
	static char long_path[400], long_payload[400], long_reason[200];
	char line[1024];

	(void)state;
	refused("vip add " VIP " --check smtp", "check", "unknown check 'smtp' (none, tcp, http or udp)");
	refused("vip add " VIP " --affinity dest", "affinity", "unknown affinity 'dest' (none or source)");
	refused("vip add " VIP " --check-path health", "check-path", "must start with '/'");
	refused("vip add " VIP " --check-path ''", "check-path", "must start with '/'");
	refused("vip add " VIP " --check-path '/a b'", "check-path", "byte 0x20 at offset 2");
	refused("vip add " VIP " --check-path '/a\tb'", "check-path", "byte 0x09");
	refused("vip add " VIP " --check-path '/\xc3\xa9'", "check-path", "byte 0xc3");
	refused("vip add " VIP " --check-host 'a b'", "check-host", "no spaces");
	refused("vip add " VIP " --check-payload 'a\tb'", "check-payload", "byte 0x09");
	memset(long_path, 'p', CP_CHECK_PATH_MAX);
	long_path[0] = '/';
	snprintf(line, sizeof(line), "vip add " VIP " --check-path %s", long_path);
	refused(line, "check-path", "check-path is 256 bytes long; at most 255 allowed");
	memset(long_payload, 'x', CP_CHECK_PAYLOAD_MAX);
	snprintf(line, sizeof(line), "vip add " VIP " --check-payload %s", long_payload);
	refused(line, "check-payload", "at most 255");
	snprintf(line, sizeof(line), "vip add " VIP " --check-host %s", long_payload);
	refused(line, "check-host", "at most 255");
	memset(long_reason, 'r', 128);
	snprintf(line, sizeof(line), "health report " BE " up --reason %s", long_reason);
	refused(line, "reason", "reason is 128 bytes long; at most 127 allowed");
}

static void test_refused_node(void **state)
{
	static const struct refusal t[] = {
		{ "node set --interface 0123456789abcdef", "interface", "must be 1-15 bytes" },
		{ "node set --interface ''", "interface", "must be 1-15 bytes" },
		{ "node set --interface a/b", "interface", "byte 0x2f" },
		{ "node set --interface eth0:1", "interface", "byte 0x3a" },
		{ "node set --interface ..", "interface", "not an interface name" },
		{ "node set --interface eth0 --interface eth0", "interface", "interface 'eth0' given twice" },
		{ "node set --interface a --interface b --interface c --interface d --interface e"
		  " --interface f --interface g --interface h --interface i", "interface",
		  "more than 8 interfaces" },
		{ "node set --encap-source ::1", "encap-source", "'::1' is not an IPv4 address" },
		{ "node set --encap-source 10.0.0", "encap-source", "bad address '10.0.0'" },
		{ "node set --encap-source6 10.0.0.1", "encap-source6", "is not an IPv6 address" },
		{ "node set --metrics 127.0.0.1", "metrics", "missing ':port'" },
		{ "node set --metrics 127.0.0.1:0", "metrics", "port 0 out of range (1-65535)" },
		{ "node set --metrics 127.0.0.1:*", "metrics", "bad port '*'" },
		{ "node set --metrics ::1:9109", "metrics", "needs brackets" },
		{ "node set --metrics [::1]:x", "metrics", "bad port 'x'" },
		{ "node set --metrics localhost:9109", "metrics", "bad address 'localhost'" },
		{ "node set --flow-ttl-tcp -1s", "flow-ttl-tcp", "expected a duration" },
		{ "node set --flow-ttl-tcp 604801s", "flow-ttl-tcp", "out of range (0s..604800s)" },
		{ "node set --flow-ttl-tcp 2", "flow-ttl-tcp",
		  "bad flow-ttl-tcp '2': a duration needs its unit" },
		{ "node set --flow-ttl-udp 8d", "flow-ttl-udp",
		  "expected a duration such as 2s, 500ms or 1.5s" },
		{ "node set --flow-ttl-udp 1.5s", "flow-ttl-udp", "not a whole number of seconds" },
		{ "node set --flow-ttl-udp 1500ms", "flow-ttl-udp", "not a whole number of seconds" },
		{ "node set --flow-ttl-udp soon", "flow-ttl-udp", "bad flow-ttl-udp 'soon'" },
		{ "node set --flow-ttl-tcp", "flow-ttl-tcp", "needs a value" },
		{ "node set --flow-ttl-tcp 1s --flow-ttl-tcp 2s", "flow-ttl-tcp", "given twice" },
		{ "vip set " VIP " --flow-ttl-tcp 1", "--flow-ttl-tcp", "does not apply to 'vip set'" },
		{ "detach --interface 'a b'", "interface", "byte 0x20" },
	};

	(void)state;
	run_refusals(t, sizeof(t) / sizeof(t[0]));
}

static void test_refused_arguments(void **state)
{
	static const struct refusal t[] = {
		{ "vip add", "vip", "'vip add' needs a VIP (ADDR:PORT/PROTO)" },
		{ "vip add --ring 7", "vip", "needs a VIP" },
		{ "vip del", "vip", "needs a VIP" },
		{ "flows", "vip", "'flows' needs a VIP" },
		{ "ring digest", "vip", "'ring digest' needs a VIP" },
		{ "backend add " VIP, "backend", "'backend add' needs a backend address" },
		{ "backend del", "vip", "needs a VIP" },
		{ "backend add " VIP " 10.0.0.300", "backend", "bad address '10.0.0.300'" },
		{ "backend add " VIP " 10.0.0.1:80", "backend", "bad address" },
		{ "health report " BE, "health", "needs a health state (up or down)" },
		{ "health report " BE " maybe", "health", "unknown health 'maybe' (up or down)" },
		{ "vip del " VIP " 10.0.0.2:80/tcp", "10.0.0.2:80/tcp",
		  "unexpected argument '10.0.0.2:80/tcp' for 'vip del'" },
		{ "vip list " VIP " extra", "extra", "unexpected argument 'extra' for 'vip list'" },
		{ "backend add " BE " 10.0.0.3", "10.0.0.3", "unexpected argument" },
		{ "health report " BE " up now", "now", "unexpected argument" },
		{ "save now", "now", "unexpected argument 'now' for 'save'" },
		{ "status -", "-", "unexpected argument '-'" },
		{ "health targets x", "x", "unexpected argument" },
		{ "stats " VIP, VIP, "unexpected argument" },
		{ "backend set " BE, "backend set",
		  "'backend set' changes nothing: give --weight, --drain or --undrain" },
		{ "vip set " VIP, "vip set", "'vip set' changes nothing: give at least one option" },
		{ "node set", "node set", "'node set' changes nothing: give at least one option" },
		{ "node drain now", "now", "unexpected argument 'now' for 'node drain'" },
	};

	(void)state;
	run_refusals(t, sizeof(t) / sizeof(t[0]));
}

/* An absurd word in a message is cut, and the message keeps its end. */
static void test_long_words_in_messages(void **state)
{
	char line[2048], word[1200];
	struct cp_error e;
	struct cp_request r;

	(void)state;
	memset(word, 'z', sizeof(word) - 1);
	word[sizeof(word) - 1] = '\0';
	snprintf(line, sizeof(line), "backend add " BE " --%s", word);
	assert_int_equal(parse_line(line, &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "see 'sluicectl backend --help'"));
	assert_true(strlen(e.field) < 64);
	snprintf(line, sizeof(line), "vip add %s", word);
	assert_int_equal(parse_line(line, &r, &e), -EINVAL);
	assert_string_equal(e.field, "vip");
}

static void test_null_argv(void **state)
{
	char *argv[] = { "backend", "set", VIP, "10.0.0.2", "--weight", NULL };
	struct cp_request r;
	struct cp_error e;

	(void)state;
	/* argc counts a NULL entry: refused, not dereferenced. */
	assert_int_equal(cp_cmd_parse(6, argv, &r, &e), -EINVAL);
	assert_int_equal(cp_cmd_parse(0, NULL, &r, &e), -EINVAL);
	assert_string_equal(e.field, "command");
}

/* --- cp_cmd_split ------------------------------------------------------ */

static void split_is(const char *line, int n, ...)
{
	char buf[512], *w[8];
	va_list ap;
	int got, i;

	snprintf(buf, sizeof(buf), "%s", line);
	got = cp_cmd_split(buf, w, 8);
	if (got != n)
		fail_msg("split '%s': %d words, expected %d", line, got, n);
	va_start(ap, n);
	for (i = 0; i < n; i++) {
		const char *want = va_arg(ap, const char *);

		if (strcmp(w[i], want))
			fail_msg("split '%s': word %d '%s', expected '%s'", line, i, w[i], want);
	}
	va_end(ap);
	if (n >= 0 && n < 8)
		assert_null(w[n]);
}

static void test_split(void **state)
{
	(void)state;
	split_is("", 0);
	split_is("   \t  ", 0);
	split_is("\n", 0);
	split_is("# a comment", 0);
	split_is("   # indented comment 'with quotes", 0);
	split_is("vip add 10.0.0.1:80/tcp", 3, "vip", "add", "10.0.0.1:80/tcp");
	split_is("  vip\tadd   x \r\n", 3, "vip", "add", "x");
	split_is("vip list # all of them", 2, "vip", "list");
	split_is("vip list #", 2, "vip", "list");
	split_is("a#b c", 2, "a#b", "c");
	split_is("'#not a comment' x", 2, "#not a comment", "x");
	split_is("'a b'", 1, "a b");
	split_is("\"a b\"", 1, "a b");
	split_is("\"a \\\" b\"", 1, "a \" b");
	split_is("\"a \\\\ b\"", 1, "a \\ b");
	split_is("'a\\b'", 1, "a\\b");
	split_is("a\\ b", 1, "a b");
	split_is("a\\#b \\#c", 2, "a#b", "#c");
	split_is("a'b'\"c\"d", 1, "abcd");
	split_is("'' x \"\"", 3, "", "x", "");
	split_is("\"it's\"", 1, "it's");
	split_is("'say \"hi\"'", 1, "say \"hi\"");
	split_is("--reason='a b' --x", 2, "--reason=a b", "--x");
	split_is("'unterminated", -EINVAL);
	split_is("\"unterminated", -EINVAL);
	split_is("a 'b\"", -EINVAL);
	split_is("trailing\\", -EINVAL);
	split_is("1 2 3 4 5 6 7 8", 8, "1", "2", "3", "4", "5", "6", "7", "8");
	split_is("1 2 3 4 5 6 7 8 9", -E2BIG);
	split_is("1 2 3 4 5 6 7 8 # comment", 8, "1", "2", "3", "4", "5", "6", "7", "8");
}

/* --- cp_cmd_format ----------------------------------------------------- */

static void formats_as(const char *line, const char *want)
{
	struct cp_request r = ok(line);
	char buf[1024];
	int n = cp_cmd_format(&r, buf, sizeof(buf));

	if (n < 0)
		fail_msg("format of '%s': %d", line, n);
	assert_int_equal(n, strlen(buf));
	if (strcmp(buf, want))
		fail_msg("'%s' formats as '%s', expected '%s'", line, buf, want);
}

static void test_format_canonical(void **state)
{
	(void)state;
	formats_as("vip add 10.100.0.1:80/tcp", "vip add 10.100.0.1:80/tcp");
	/* defaults left out, options in canonical order */
	formats_as("vip add 10.100.0.1:0/TCP --check-fall 3 --ring 65537 --affinity none"
		   " --check-interval 2000ms", "vip add 10.100.0.1:*/tcp");
	formats_as("vip add [2001:db8::1]:443/udp --check-fall 5 --affinity source --check http"
		   " --check-interval 1.5s --check-timeout 3s --check-path /h",
		   "vip add [2001:db8::1]:443/udp --affinity source --check http --check-path /h"
		   " --check-interval 1500ms --check-timeout 3s --check-fall 5");
	formats_as("backend add 10.0.0.1:80/tcp 10.0.0.2 --weight 100",
		   "backend add 10.0.0.1:80/tcp 10.0.0.2");
	formats_as("backend add 10.0.0.1:80/tcp 10.0.0.2 --drain --weight 0",
		   "backend add 10.0.0.1:80/tcp 10.0.0.2 --weight 0 --drain");
	/* a SET keeps what was given, defaults included */
	formats_as("backend set 10.0.0.1:80/tcp 10.0.0.2 --weight 100 --undrain",
		   "backend set 10.0.0.1:80/tcp 10.0.0.2 --weight 100 --undrain");
	formats_as("vip set 10.0.0.1:80/tcp --affinity none --ring 65537",
		   "vip set 10.0.0.1:80/tcp --affinity none --ring 65537");
	formats_as("node set --metrics [::1]:9109 --interface eth1 --encap-source 192.0.2.1"
		   " --interface eth0",
		   "node set --interface eth1 --interface eth0 --encap-source 192.0.2.1"
		   " --metrics [::1]:9109");
	formats_as("node set --flow-ttl-udp 1m --flow-ttl-tcp 1h",
		   "node set --flow-ttl-tcp 1h --flow-ttl-udp 1m");
	/* a SET keeps what was given, defaults included */
	formats_as("node set --flow-ttl-tcp 900s --flow-ttl-udp 0",
		   "node set --flow-ttl-tcp 15m --flow-ttl-udp 0s");
	formats_as("health report 10.0.0.1:80/tcp 10.0.0.2 down --reason 'timed out'",
		   "health report 10.0.0.1:80/tcp 10.0.0.2 down --reason 'timed out'");
	formats_as("stats", "stats");
	formats_as("stats --vip 10.0.0.1:80/tcp", "stats --vip 10.0.0.1:80/tcp");
	formats_as("vip list", "vip list");
	formats_as("ring digest 10.0.0.1:80/tcp", "ring digest 10.0.0.1:80/tcp");
	formats_as("detach --interface eth0", "detach --interface eth0");
}

static void test_format_quoting(void **state)
{
	(void)state;
	formats_as("vip add 10.0.0.1:53/udp --check-payload \"it's \\$HOME\"",
		   "vip add 10.0.0.1:53/udp --check-payload \"it's \\$HOME\"");
	formats_as("vip add 10.0.0.1:53/udp --check-payload 'a \"b\" #c'",
		   "vip add 10.0.0.1:53/udp --check-payload 'a \"b\" #c'");
	formats_as("vip add 10.0.0.1:53/udp --check-payload=-x",
		   "vip add 10.0.0.1:53/udp --check-payload=-x");
	formats_as("vip add 10.0.0.1:53/udp --check-payload '=-x y'",
		   "vip add 10.0.0.1:53/udp --check-payload '=-x y'");
	formats_as("vip add 10.0.0.1:53/udp --check-payload='-x y'",
		   "vip add 10.0.0.1:53/udp '--check-payload=-x y'");
	formats_as("vip add 10.0.0.1:80/tcp --check-path '/a\\b'",
		   "vip add 10.0.0.1:80/tcp --check-path '/a\\b'");
	formats_as("vip add 10.0.0.1:80/tcp --check-path \"/it's\"",
		   "vip add 10.0.0.1:80/tcp --check-path \"/it's\"");
	formats_as("vip add 10.0.0.1:80/tcp --check-path '/#x?y=1&z'",
		   "vip add 10.0.0.1:80/tcp --check-path '/#x?y=1&z'");
}

static void test_format_errors(void **state)
{
	struct cp_request r;
	char buf[256];
	int n, len;

	(void)state;
	r = ok("vip add 10.0.0.1:80/tcp --check http --check-path /health");
	len = cp_cmd_format(&r, buf, sizeof(buf));
	assert_true(len > 0);
	for (n = 0; n <= len; n++)
		assert_int_equal(cp_cmd_format(&r, buf, (size_t)n), -ENOSPC);
	assert_int_equal(cp_cmd_format(&r, buf, (size_t)len + 1), len);

	r.spec.affinity = 7;	/* no option sets it */
	assert_int_equal(cp_cmd_format(&r, buf, sizeof(buf)), -EINVAL);
	r = ok("vip add 10.0.0.1:80/tcp --check http --check-path /health");
	r.spec.check.path[3] = '\n';
	assert_int_equal(cp_cmd_format(&r, buf, sizeof(buf)), -EINVAL);
	memset(r.spec.check.path, 'a', sizeof(r.spec.check.path));	/* no NUL */
	r.spec.check.path[0] = '/';
	assert_int_equal(cp_cmd_format(&r, buf, sizeof(buf)), -EINVAL);
	r = ok("vip add 10.0.0.1:80/tcp");
	r.vip.proto = IPPROTO_ICMP;
	assert_int_equal(cp_cmd_format(&r, buf, sizeof(buf)), -EINVAL);
	r = ok("health report 10.0.0.1:80/tcp 10.0.0.2 up");
	r.health = CP_HEALTH_UNKNOWN;
	assert_int_equal(cp_cmd_format(&r, buf, sizeof(buf)), -EINVAL);
	r = ok("backend set 10.0.0.1:80/tcp 10.0.0.2 --drain");
	r.drain = 2;
	assert_int_equal(cp_cmd_format(&r, buf, sizeof(buf)), -EINVAL);
	r = ok("node set --interface eth0");
	r.n_interfaces = CP_MAX_INTERFACES + 1;
	assert_int_equal(cp_cmd_format(&r, buf, sizeof(buf)), -EINVAL);
	r = ok("node set --interface eth0 --interface eth1");
	strcpy(r.interfaces[1], "eth0");	/* a duplicate would not read back */
	assert_int_equal(cp_cmd_format(&r, buf, sizeof(buf)), -EINVAL);
	cp_request_init(&r, CP_OP_NONE);
	assert_int_equal(cp_cmd_format(&r, buf, sizeof(buf)), -EINVAL);
	r.op = CP_OP_MAX;
	assert_int_equal(cp_cmd_format(&r, buf, sizeof(buf)), -EINVAL);
	/* A SET with nothing in r->fields formats, and the line is refused. */
	cp_request_init(&r, CP_OP_NODE_SET);
	assert_int_equal(cp_cmd_format(&r, buf, sizeof(buf)), 8);
	refused(buf, "node set", "changes nothing");
}

/* An ADD made by hand (bits not set) still formats every value that is
 * not a default: the model builds its save lines that way. */
static void test_format_add_without_bits(void **state)
{
	struct cp_request r;
	char buf[256];

	(void)state;
	cp_request_init(&r, CP_OP_BACKEND_ADD);
	assert_int_equal(cp_parse_vip("10.0.0.1:80/tcp", &r.vip, NULL), 0);
	assert_int_equal(cp_parse_addr("10.0.0.2", &r.backend, &r.backend_family), 0);
	r.weight = 5;
	r.drain = 1;
	assert_true(cp_cmd_format(&r, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "backend add 10.0.0.1:80/tcp 10.0.0.2 --weight 5 --drain");
}

/* --- Round trip -------------------------------------------------------- */

/* What parse(format(r)) must give: for an ADD, default-valued options are
 * left out of the line, so their bits do not come back. */
static struct cp_request expected_after_cmd(const struct cp_request *r)
{
	struct cp_request want = *r;
	struct cp_op_fields f;

	cp_op_fields(r->op, &f);
	if (r->op == CP_OP_VIP_ADD || r->op == CP_OP_BACKEND_ADD)
		want.fields = cp_request_nondefault(r) & f.allowed;
	return want;
}

static void test_round_trip_random(void **state)
{
	struct cp_request r, back, want;
	struct cp_error e;
	char line[4096], copy[4096], *words[MAX_WORDS];
	int i, n, len;

	(void)state;
	gen_seed(0x5eed1e55);
	for (i = 0; i < 20000; i++) {
		gen_request(&r);
		len = cp_cmd_format(&r, line, sizeof(line));
		if (len < 0)
			fail_msg("#%d: format of a %s: %d", i, cp_op_name(r.op), len);
		memcpy(copy, line, (size_t)len + 1);
		n = cp_cmd_split(copy, words, MAX_WORDS);
		if (n < 0)
			fail_msg("#%d: split '%s': %d", i, line, n);
		if (cp_cmd_parse(n, words, &back, &e))
			fail_msg("#%d: '%s' refused: %s: %s", i, line, e.field, e.msg);
		want = expected_after_cmd(&r);
		if (memcmp(&back, &want, sizeof(back))) {
			char again[4096];

			cp_cmd_format(&back, again, sizeof(again));
			fail_msg("#%d: '%s' read back as '%s' (fields %#llx, expected %#llx)", i,
				 line, again, (unsigned long long)back.fields,
				 (unsigned long long)want.fields);
		}
	}
}

/* The usage text of a group, as sluicectl prints it (caller frees). */
static char *usage_of(const char *group)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(cp_cmd_usage(f, group), 0);
	fclose(f);
	return text;
}

/* "sluicectl WORDS --help": the words must name a command or a group;
 * "explain --help" printed every command's help and exited 0. */
static void test_help_topic(void **state)
{
	static const struct {
		const char *argv[4];
		const char *group;	/* NULL: refused */
		const char *says;	/* in the refusal */
	} cases[] = {
		{ { "vip", "--help" }, "vip", NULL },
		{ { "vip", "add", "--help" }, "vip", NULL },
		{ { "vip", "add", "10.0.0.1:80/tcp", "--help" }, "vip", NULL },
		{ { "flows", "10.0.0.1:80/tcp", "--help" }, "flows", NULL },
		{ { "status", "--help" }, "status", NULL },
		{ { "--help" }, "", NULL },
		{ { "explain", "--help" }, NULL, "unknown command 'explain'; commands: vip," },
		{ { "vip", "frob", "--help" }, NULL, "unknown command 'vip frob'; 'vip' takes add" },
		{ { "ring", "frob", "-h" }, NULL, "unknown command 'ring frob'" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cp_error e = { "", "" };
		const char *group = "unset";
		int argc = 0, err;

		while (argc < 4 && cases[i].argv[argc])
			argc++;
		err = cp_cmd_help_topic(argc, (char **)cases[i].argv, &group, &e);
		if (!cases[i].group) {
			assert_int_equal(err, -EINVAL);
			assert_non_null(strstr(e.msg, cases[i].says));
			continue;
		}
		assert_int_equal(err, 0);
		if (cases[i].group[0])
			assert_string_equal(group, cases[i].group);
		else
			assert_null(group);
	}
}

/* Which ops a read-only client may send is one column of the op table:
 * every listing and status, no change, no report, no detach. */
static void test_read_ops(void **state)
{
	static const enum cp_op reads[] = {
		CP_OP_VIP_LIST, CP_OP_BACKEND_LIST, CP_OP_HEALTH_TARGETS, CP_OP_STATS,
		CP_OP_FLOWS, CP_OP_RING_DIGEST, CP_OP_SAVE, CP_OP_STATUS,
	};

	(void)state;
	for (int op = CP_OP_NONE + 1; op < CP_OP_MAX; op++) {
		int is_read = 0;

		for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
			is_read |= reads[i] == (enum cp_op)op;
		assert_int_equal(!!cp_op_def(op)->read, is_read);
		assert_false(cp_op_def(op)->read && cp_op_def(op)->change);
	}
	assert_false(cp_op_def(CP_OP_HEALTH_REPORT)->read);
	assert_false(cp_op_def(CP_OP_DETACH)->read);
}

static void test_usage(void **state)
{
	static const char *const groups[] = {
		"vip", "backend", "node", "health", "stats", "flows", "ring", "save", "status",
		"detach",
	};
	static const char *const vip_opts[] = {
		"--affinity", "--ring", "--check ", "--check-port", "--check-path", "--check-host",
		"--check-status", "--check-interval", "--check-timeout", "--check-rise",
		"--check-fall", "--check-payload",
	};
	char *all = usage_of(NULL), *u;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		char want[64];

		u = usage_of(groups[i]);
		snprintf(want, sizeof(want), "Usage: sluicectl %s", groups[i]);
		assert_non_null(strstr(u, want));
		assert_non_null(strstr(all, u));
		free(u);
	}
	u = usage_of("vip");
	for (i = 0; i < sizeof(vip_opts) / sizeof(vip_opts[0]); i++)
		assert_non_null(strstr(u, vip_opts[i]));
	free(u);
	u = usage_of("backend");
	assert_non_null(strstr(u, "--undrain"));
	free(u);
	u = usage_of("node");
	assert_non_null(strstr(u, "--encap-source6"));
	free(u);
	u = usage_of("nonsense");
	assert_string_equal(u, all);
	free(u);
	free(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_op_names),
		cmocka_unit_test(test_request_defaults),
		cmocka_unit_test(test_error_set),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_parse_vip),
		cmocka_unit_test(test_format_vip_limits),
		cmocka_unit_test(test_setters_leave_request_alone),
		cmocka_unit_test(test_vip_add_minimal),
		cmocka_unit_test(test_vip_add_every_option),
		cmocka_unit_test(test_equals_form_and_order),
		cmocka_unit_test(test_vip_set_del_list),
		cmocka_unit_test(test_backend_forms),
		cmocka_unit_test(test_node_set),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_other_commands),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_refused_commands),
		cmocka_unit_test(test_refused_options),
		cmocka_unit_test(test_refused_vips),
		cmocka_unit_test(test_refused_numbers),
		cmocka_unit_test(test_refused_durations),
		cmocka_unit_test(test_refused_text),
		cmocka_unit_test(test_refused_node),
		cmocka_unit_test(test_refused_arguments),
		cmocka_unit_test(test_long_words_in_messages),
		cmocka_unit_test(test_null_argv),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_format_canonical),
		cmocka_unit_test(test_format_quoting),
		cmocka_unit_test(test_format_errors),
		cmocka_unit_test(test_format_add_without_bits),
		cmocka_unit_test(test_round_trip_random),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_help_topic),
		cmocka_unit_test(test_read_ops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
