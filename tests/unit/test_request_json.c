/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_request_json.c - controlplane/request_json.c: API objects decode to
 * the expected requests; malformed JSON, wrong types, unknown or
 * misplaced fields, oversize strings and bad versions are refused naming
 * the field, with the request untouched; encode -> text -> decode gives
 * back an equal request for thousands of random requests; replies.
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
#include "request_json.h"
#include "cp_gen.h"

/* Decodes text (one JSON value) into r. */
static int decode(const char *text, struct cp_request *r, struct cp_error *e)
{
	json_error_t jerr;
	json_t *obj = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
				 &jerr);
	int err;

	if (!obj)
		fail_msg("test JSON does not load: %s: %s", text, jerr.text);
	err = cp_request_from_json(obj, r, e);
	json_decref(obj);
	return err;
}

static struct cp_request ok(const char *text)
{
	struct cp_error e = { "", "" };
	struct cp_request r;

	if (decode(text, &r, &e))
		fail_msg("%s refused: %s: %s", text, e.field, e.msg);
	return r;
}

/* Refused naming field, msg containing want; r untouched. */
static void refused(const char *text, const char *field, const char *want)
{
	struct cp_error e = { "", "" };
	struct cp_request r, before;

	memset(&r, 0x5a, sizeof(r));
	before = r;
	if (!decode(text, &r, &e))
		fail_msg("%s accepted", text);
	if (strcmp(e.field, field))
		fail_msg("%s: field '%s', expected '%s' (%s)", text, e.field, field, e.msg);
	if (!strstr(e.msg, want))
		fail_msg("%s: message '%s' lacks '%s'", text, e.msg, want);
	assert_memory_equal(&r, &before, sizeof(r));
}

/* The same request as a command line gives. */
static struct cp_request from_cmd(const char *line)
{
	char buf[1024], *w[64];
	struct cp_request r;
	struct cp_error e;
	int n;

	snprintf(buf, sizeof(buf), "%s", line);
	n = cp_cmd_split(buf, w, 64);
	assert_true(n > 0);
	if (cp_cmd_parse(n, w, &r, &e))
		fail_msg("'%s': %s: %s", line, e.field, e.msg);
	return r;
}

static void same_as_cmd(const char *json, const char *line)
{
	struct cp_request a = ok(json), b = from_cmd(line);

	if (memcmp(&a, &b, sizeof(a)))
		fail_msg("%s differs from '%s'", json, line);
}

/* --- Good objects ------------------------------------------------------ */

static void test_decode_forms(void **state)
{
	(void)state;
	same_as_cmd("{\"v\":1,\"op\":\"vip.add\",\"vip\":\"10.100.0.1:80/tcp\"}",
		    "vip add 10.100.0.1:80/tcp");
	same_as_cmd("{\"v\":1,\"op\":\"vip.add\",\"vip\":\"[2001:db8::1]:*/udp\","
		    "\"affinity\":\"source\",\"ring\":65521,\"check\":\"http\",\"check_port\":8080,"
		    "\"check_path\":\"/health\",\"check_host\":\"example.com\",\"check_status\":204,"
		    "\"check_interval_ms\":1500,\"check_timeout_ms\":500,\"check_rise\":5,"
		    "\"check_fall\":7,\"check_payload\":\"ping me\"}",
		    "vip add [2001:db8::1]:*/udp --affinity source --ring 65521 --check http"
		    " --check-port 8080 --check-path /health --check-host example.com"
		    " --check-status 204 --check-interval 1.5s --check-timeout 500ms"
		    " --check-rise 5 --check-fall 7 --check-payload 'ping me'");
	same_as_cmd("{\"op\":\"vip.set\",\"v\":1,\"vip\":\"10.0.0.1:80/tcp\",\"check_fall\":4}",
		    "vip set 10.0.0.1:80/tcp --check-fall 4");
	same_as_cmd("{\"v\":1,\"op\":\"vip.del\",\"vip\":\"10.0.0.1:80/tcp\"}",
		    "vip del 10.0.0.1:80/tcp");
	same_as_cmd("{\"v\":1,\"op\":\"vip.list\"}", "vip list");
	same_as_cmd("{\"v\":1,\"op\":\"backend.add\",\"vip\":\"10.0.0.1:80/tcp\","
		    "\"backend\":\"2001:db8::11\",\"weight\":0,\"drain\":true}",
		    "backend add 10.0.0.1:80/tcp 2001:db8::11 --weight 0 --drain");
	same_as_cmd("{\"v\":1,\"op\":\"backend.set\",\"vip\":\"10.0.0.1:80/tcp\","
		    "\"backend\":\"10.0.0.2\",\"drain\":false}",
		    "backend set 10.0.0.1:80/tcp 10.0.0.2 --undrain");
	same_as_cmd("{\"v\":1,\"op\":\"backend.del\",\"vip\":\"10.0.0.1:80/tcp\","
		    "\"backend\":\"10.0.0.2\"}", "backend del 10.0.0.1:80/tcp 10.0.0.2");
	same_as_cmd("{\"v\":1,\"op\":\"backend.list\",\"vip\":\"10.0.0.1:80/tcp\"}",
		    "backend list 10.0.0.1:80/tcp");
	same_as_cmd("{\"v\":1,\"op\":\"node.set\",\"interfaces\":[\"eth0\",\"eth1\"],"
		    "\"encap_source\":\"192.0.2.1\",\"encap_source6\":\"2001:db8::a\","
		    "\"metrics\":\"[::1]:9109\"}",
		    "node set --interface eth0 --interface eth1 --encap-source 192.0.2.1"
		    " --encap-source6 2001:db8::a --metrics [::1]:9109");
	same_as_cmd("{\"v\":1,\"op\":\"node.set\",\"flow_ttl_tcp_s\":3600,\"flow_ttl_udp_s\":0}",
		    "node set --flow-ttl-tcp 1h --flow-ttl-udp 0");
	same_as_cmd("{\"v\":1,\"op\":\"health.report\",\"vip\":\"10.0.0.1:80/tcp\","
		    "\"backend\":\"10.0.0.2\",\"health\":\"down\",\"latency_us\":1234,"
		    "\"reason\":\"connect: refused\"}",
		    "health report 10.0.0.1:80/tcp 10.0.0.2 down --latency-us 1234"
		    " --reason 'connect: refused'");
	same_as_cmd("{\"v\":1,\"op\":\"health.targets\"}", "health targets");
	same_as_cmd("{\"v\":1,\"op\":\"stats\",\"vip\":\"10.0.0.1:80/tcp\"}",
		    "stats --vip 10.0.0.1:80/tcp");
	same_as_cmd("{\"v\":1,\"op\":\"flows\",\"vip\":\"10.0.0.1:80/tcp\"}",
		    "flows 10.0.0.1:80/tcp");
	same_as_cmd("{\"v\":1,\"op\":\"ring.digest\",\"vip\":\"10.0.0.1:80/tcp\"}",
		    "ring digest 10.0.0.1:80/tcp");
	same_as_cmd("{\"v\":1,\"op\":\"save\"}", "save");
	same_as_cmd("{\"v\":1,\"op\":\"status\"}", "status");
	same_as_cmd("{\"v\":1,\"op\":\"detach\",\"interfaces\":[\"eth0\"]}",
		    "detach --interface eth0");
}

static void test_decode_values(void **state)
{
	struct cp_request r;

	(void)state;
	r = ok("{\"v\":1,\"op\":\"backend.add\",\"vip\":\"10.0.0.1:80/tcp\","
	       "\"backend\":\"10.0.0.2\",\"weight\":65535}");
	assert_int_equal(r.weight, 65535);
	assert_int_equal(r.fields, CP_F_VIP | CP_F_BACKEND | CP_F_WEIGHT);
	r = ok("{\"v\":1,\"op\":\"health.report\",\"vip\":\"10.0.0.1:80/tcp\","
	       "\"backend\":\"10.0.0.2\",\"health\":\"up\",\"latency_us\":4294967295}");
	assert_int_equal(r.latency_us, 4294967295u);
	assert_int_equal(r.health, CP_HEALTH_UP);
	/* The longest strings that fit are taken whole. */
	{
		char text[1024], path[CP_CHECK_PATH_MAX];

		memset(path, 'p', sizeof(path) - 1);
		path[0] = '/';
		path[sizeof(path) - 1] = '\0';
		snprintf(text, sizeof(text), "{\"v\":1,\"op\":\"vip.add\",\"vip\":\"10.0.0.1:80/tcp\","
			 "\"check_path\":\"%s\"}", path);
		r = ok(text);
		assert_string_equal(r.spec.check.path, path);
	}
}

/* --- Refusals ---------------------------------------------------------- */

#define V1 "\"v\":1,"
#define VIPF "\"vip\":\"10.0.0.1:80/tcp\","
#define BA "{" V1 "\"op\":\"backend.add\"," VIPF "\"backend\":\"10.0.0.2\","

static void test_refused_envelope(void **state)
{
	(void)state;
	refused("[]", "request", "a request is a JSON object, not an array");
	refused("5", "request", "not an integer");
	refused("\"vip.add\"", "request", "not a string");
	refused("null", "request", "not null");
	refused("{}", "v", "missing API version");
	refused("{\"op\":\"status\"}", "v", "missing API version");
	refused("{\"v\":\"1\",\"op\":\"status\"}", "v", "must be an integer, not a string");
	refused("{\"v\":1.0,\"op\":\"status\"}", "v", "not a real number");
	refused("{\"v\":2,\"op\":\"status\"}", "v", "API version 2 is newer than this sluiced speaks (1)");
	refused("{\"v\":0,\"op\":\"status\"}", "v", "bad API version 0");
	refused("{\"v\":-1,\"op\":\"status\"}", "v", "bad API version");
	refused("{\"v\":1}", "op", "missing \"op\"");
	refused("{\"v\":1,\"op\":5}", "op", "must be a string, not an integer");
	refused("{\"v\":1,\"op\":\"vip.ad\"}", "op", "unknown op 'vip.ad'");
	refused("{\"v\":1,\"op\":\"\"}", "op", "unknown op");
	refused("{\"v\":1,\"op\":\"status\\u0000x\"}", "op", "unknown op");
}

static void test_refused_fields(void **state)
{
	(void)state;
	refused("{" V1 "\"op\":\"vip.add\"}", "vip", "vip.add needs 'vip'");
	refused("{" V1 "\"op\":\"backend.add\"," VIPF "\"weight\":1}", "backend",
		"backend.add needs 'backend'");
	refused("{" V1 "\"op\":\"backend.del\",\"backend\":\"10.0.0.2\"}", "vip", "needs 'vip'");
	refused("{" V1 "\"op\":\"health.report\"," VIPF "\"backend\":\"10.0.0.2\"}", "health",
		"health.report needs 'health'");
	refused("{" V1 "\"op\":\"flows\"}", "vip", "flows needs 'vip'");
	refused(BA "\"wieght\":5}", "wieght", "unknown field 'wieght'");
	refused(BA "\"Weight\":5}", "Weight", "unknown field");
	refused("{" V1 "\"op\":\"vip.add\"," VIPF "\"weight\":5}", "weight",
		"field 'weight' does not apply to vip.add");
	refused("{" V1 "\"op\":\"status\"," VIPF "\"x\":1}", "vip", "does not apply to status");
	refused("{" V1 "\"op\":\"vip.set\"," VIPF "\"check_interval\":100}", "check_interval",
		"unknown field");
	refused("{" V1 "\"op\":\"backend.set\"," VIPF "\"backend\":\"10.0.0.2\"}", "op",
		"backend.set changes nothing: give one of weight, drain");
	refused("{" V1 "\"op\":\"vip.set\",\"vip\":\"10.0.0.1:80/tcp\"}", "op",
		"changes nothing");
	refused("{" V1 "\"op\":\"node.set\"}", "op",
		"give one of interfaces, encap_source, encap_source6, metrics");
}

static void test_refused_types(void **state)
{
	(void)state;
	refused(BA "\"weight\":\"100\"}", "weight", "'weight' must be an integer, not a string");
	refused(BA "\"weight\":1.5}", "weight", "not a real number");
	refused(BA "\"weight\":true}", "weight", "not a boolean");
	refused(BA "\"weight\":null}", "weight", "not null");
	refused(BA "\"drain\":1}", "drain", "'drain' must be true or false, not an integer");
	refused(BA "\"drain\":\"true\"}", "drain", "true or false");
	refused("{" V1 "\"op\":\"vip.add\",\"vip\":80}", "vip", "'vip' must be a string, not an integer");
	refused("{" V1 "\"op\":\"vip.add\",\"vip\":{\"addr\":\"10.0.0.1\"}}", "vip", "not an object");
	refused("{" V1 "\"op\":\"vip.add\"," VIPF "\"check_path\":[\"/\"]}", "check_path",
		"not an array");
	refused("{" V1 "\"op\":\"node.set\",\"interfaces\":\"eth0\"}", "interfaces",
		"'interfaces' must be an array of strings, not a string");
	refused("{" V1 "\"op\":\"node.set\",\"interfaces\":[\"eth0\",1]}", "interfaces[1]",
		"'interfaces[1]' must be a string, not an integer");
	refused("{" V1 "\"op\":\"node.set\",\"interfaces\":[]}", "interfaces", "at least one");
	refused("{" V1 "\"op\":\"vip.add\"," VIPF "\"check_interval_ms\":\"2s\"}", "check_interval_ms",
		"must be an integer");
	refused("{" V1 "\"op\":\"vip.add\"," VIPF "\"affinity\":true}", "affinity", "must be a string");
}

static void test_refused_values(void **state)
{
	(void)state;
	refused(BA "\"weight\":-1}", "weight", "weight -1 out of range (0..65535)");
	refused(BA "\"weight\":70000}", "weight", "out of range");
	refused(BA "\"weight\":9223372036854775807}", "weight", "out of range");
	refused("{" V1 "\"op\":\"vip.add\"," VIPF "\"ring\":0}", "ring", "ring 0 out of range");
	refused("{" V1 "\"op\":\"vip.add\"," VIPF "\"check_interval_ms\":50}", "check_interval_ms",
		"check_interval_ms 50ms out of range (100ms..3600000ms)");
	refused("{" V1 "\"op\":\"vip.add\"," VIPF "\"check_timeout_ms\":0}", "check_timeout_ms",
		"out of range");
	refused("{" V1 "\"op\":\"vip.add\"," VIPF "\"check_rise\":0}", "check_rise", "out of range");
	refused("{" V1 "\"op\":\"vip.add\"," VIPF "\"check_fall\":256}", "check_fall", "out of range");
	refused("{" V1 "\"op\":\"vip.add\"," VIPF "\"check_port\":65536}", "check_port", "out of range");
	refused("{" V1 "\"op\":\"vip.add\"," VIPF "\"check_status\":99}", "check_status", "out of range");
	refused("{" V1 "\"op\":\"vip.add\"," VIPF "\"check\":\"smtp\"}", "check", "unknown check 'smtp'");
	refused("{" V1 "\"op\":\"vip.add\"," VIPF "\"affinity\":\"dest\"}", "affinity", "unknown affinity");
	refused("{" V1 "\"op\":\"health.report\"," VIPF "\"backend\":\"10.0.0.2\",\"health\":\"UP\"}",
		"health", "unknown health 'UP'");
	refused("{" V1 "\"op\":\"health.report\"," VIPF "\"backend\":\"10.0.0.2\",\"health\":\"up\","
		"\"latency_us\":4294967296}", "latency_us", "out of range");
	refused("{" V1 "\"op\":\"vip.add\",\"vip\":\"10.0.0.1:80\"}", "vip", "missing /proto");
	refused("{" V1 "\"op\":\"vip.add\",\"vip\":\"10.0.0.1:70000/tcp\"}", "vip",
		"port 70000 out of range");
	refused("{" V1 "\"op\":\"vip.add\",\"vip\":\"x:80/tcp\"}", "vip", "bad address 'x'");
}

static void test_refused_strings(void **state)
{
	char text[2048], big[600];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	big[CP_CHECK_PATH_MAX] = '\0';	/* 256 bytes: one too many */
	snprintf(text, sizeof(text), "{" V1 "\"op\":\"vip.add\"," VIPF "\"check_path\":\"%s\"}", big);
	refused(text, "check_path", "check_path is 256 bytes long; at most 255 allowed");
	big[CP_CHECK_PATH_MAX] = 'a';
	big[300] = '\0';
	snprintf(text, sizeof(text), "{" V1 "\"op\":\"vip.add\"," VIPF "\"check_host\":\"%s\"}", big + 1);
	refused(text, "check_host", "check_host is 299 bytes long");
	snprintf(text, sizeof(text), "{" V1 "\"op\":\"vip.add\"," VIPF "\"check_payload\":\"%s\"}", big);
	refused(text, "check_payload", "at most 255");
	big[129] = '\0';
	snprintf(text, sizeof(text), "{" V1 "\"op\":\"health.report\"," VIPF "\"backend\":\"10.0.0.2\","
		 "\"health\":\"up\",\"reason\":\"%s\"}", big + 1);
	refused(text, "reason", "reason is 128 bytes long; at most 127 allowed");
	big[17] = '\0';
	snprintf(text, sizeof(text), "{" V1 "\"op\":\"node.set\",\"interfaces\":[\"%s\"]}", big + 1);
	refused(text, "interfaces", "must be 1-15 bytes");
	snprintf(text, sizeof(text), "{" V1 "\"op\":\"node.set\",\"metrics\":\"%s:80\"}", big);
	refused(text, "metrics", "bad address");
	refused("{" V1 "\"op\":\"vip.add\"," VIPF "\"check_path\":\"/a\\u0000b\"}", "check_path",
		"contains a NUL character");
	refused("{" V1 "\"op\":\"vip.add\"," VIPF "\"check_path\":\"/\\u00e9\"}", "check_path",
		"byte 0xc3");
	refused("{" V1 "\"op\":\"vip.add\"," VIPF "\"check_path\":\"/a\\nb\"}", "check_path", "byte 0x0a");
	refused("{" V1 "\"op\":\"vip.add\"," VIPF "\"check_path\":\"health\"}", "check_path",
		"must start with '/'");
	refused("{" V1 "\"op\":\"node.set\",\"interfaces\":[\"eth0\",\"eth0\"]}", "interfaces",
		"interface 'eth0' given twice");
	refused("{" V1 "\"op\":\"node.set\",\"interfaces\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\","
		"\"g\",\"h\",\"i\"]}", "interfaces", "more than 8");
	refused("{" V1 "\"op\":\"node.set\",\"encap_source\":\"::1\"}", "encap_source",
		"not an IPv4 address");
	refused("{" V1 "\"op\":\"node.set\",\"encap_source6\":\"10.0.0.1\"}", "encap_source6",
		"not an IPv6 address");
	refused("{" V1 "\"op\":\"node.set\",\"metrics\":\"127.0.0.1\"}", "metrics", "missing ':port'");
	refused("{" V1 "\"op\":\"node.set\",\"flow_ttl_tcp_s\":604801}", "flow_ttl_tcp_s",
		"out of range (0s..604800s)");
	refused("{" V1 "\"op\":\"node.set\",\"flow_ttl_udp_s\":-5}", "flow_ttl_udp_s",
		"out of range");
}

/* jansson's parser refuses a NUL in a key, but an object built in code
 * can hold one: "wei\0ght" must not pass for "wei..." or anything else. */
static void test_nul_in_key(void **state)
{
	json_t *obj = json_pack("{s:i, s:s, s:s, s:s}", "v", 1, "op", "backend.add", "vip",
				"10.0.0.1:80/tcp", "backend", "10.0.0.2");
	struct cp_request r;
	struct cp_error e;

	(void)state;
	assert_non_null(obj);
	assert_int_equal(json_object_setn_new(obj, "weight\0x", 8, json_integer(5)), 0);
	assert_int_equal(cp_request_from_json(obj, &r, &e), -EINVAL);
	assert_string_equal(e.field, "weight");
	assert_non_null(strstr(e.msg, "field name 'weight' contains a NUL"));
	json_decref(obj);
}

/* Malformed JSON never reaches the decoder (api.c loads the line), but
 * the decoder must hold for NULL and non-objects. */
static void test_null_and_malformed(void **state)
{
	struct cp_request r;
	struct cp_error e;
	json_error_t jerr;

	(void)state;
	assert_int_equal(cp_request_from_json(NULL, &r, &e), -EINVAL);
	assert_string_equal(e.field, "request");
	assert_null(json_loads("{\"v\":1,\"op\":\"status\"", 0, &jerr));
	assert_null(json_loads("{\"v\":1,\"op\":\"status\",}", 0, &jerr));
	assert_int_equal(cp_request_from_json(NULL, &r, NULL), -EINVAL);
}

/* --- Encoding ---------------------------------------------------------- */

static void encodes_as(const struct cp_request *r, const char *want)
{
	json_t *obj = cp_request_to_json(r);
	char *text;

	assert_non_null(obj);
	text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_non_null(text);
	if (strcmp(text, want))
		fail_msg("encoded as %s, expected %s", text, want);
	free(text);
	json_decref(obj);
}

static void test_encode(void **state)
{
	struct cp_request r;

	(void)state;
	r = from_cmd("backend add 10.100.0.1:80/tcp 10.0.0.11 --weight 100");
	encodes_as(&r, "{\"v\":1,\"op\":\"backend.add\",\"vip\":\"10.100.0.1:80/tcp\","
		   "\"backend\":\"10.0.0.11\",\"weight\":100}");
	r = from_cmd("vip add [2001:db8::1]:*/udp --check http --check-interval 2.5s");
	encodes_as(&r, "{\"v\":1,\"op\":\"vip.add\",\"vip\":\"[2001:db8::1]:*/udp\","
		   "\"check\":\"http\",\"check_interval_ms\":2500}");
	r = from_cmd("node set --interface eth0 --interface eth1 --metrics 127.0.0.1:9109");
	encodes_as(&r, "{\"v\":1,\"op\":\"node.set\",\"interfaces\":[\"eth0\",\"eth1\"],"
		   "\"metrics\":\"127.0.0.1:9109\"}");
	r = from_cmd("backend set 10.100.0.1:80/tcp 10.0.0.11 --undrain");
	encodes_as(&r, "{\"v\":1,\"op\":\"backend.set\",\"vip\":\"10.100.0.1:80/tcp\","
		   "\"backend\":\"10.0.0.11\",\"drain\":false}");
	r = from_cmd("health report 10.100.0.1:80/tcp 10.0.0.11 down --reason 'a \"b\"'");
	encodes_as(&r, "{\"v\":1,\"op\":\"health.report\",\"vip\":\"10.100.0.1:80/tcp\","
		   "\"backend\":\"10.0.0.11\",\"health\":\"down\",\"reason\":\"a \\\"b\\\"\"}");
	r = from_cmd("status");
	encodes_as(&r, "{\"v\":1,\"op\":\"status\"}");
	/* An ADD built by hand, bits unset, still carries its values. */
	cp_request_init(&r, CP_OP_VIP_ADD);
	assert_int_equal(cp_parse_vip("10.0.0.1:53/udp", &r.vip, NULL), 0);
	r.spec.ring_size = 251;
	encodes_as(&r, "{\"v\":1,\"op\":\"vip.add\",\"vip\":\"10.0.0.1:53/udp\",\"ring\":251}");
}

static void test_encode_errors(void **state)
{
	struct cp_request r;

	(void)state;
	cp_request_init(&r, CP_OP_NONE);
	errno = 0;
	assert_null(cp_request_to_json(&r));
	assert_int_equal(errno, EINVAL);
	r = from_cmd("health report 10.0.0.1:80/tcp 10.0.0.2 up");
	r.health = CP_HEALTH_UNKNOWN;
	assert_null(cp_request_to_json(&r));
	assert_int_equal(errno, EINVAL);
	r = from_cmd("vip set 10.0.0.1:80/tcp --affinity source");
	r.spec.affinity = 5;
	assert_null(cp_request_to_json(&r));
	assert_int_equal(errno, EINVAL);
	r = from_cmd("vip set 10.0.0.1:80/tcp --check-path /x");
	r.spec.check.path[1] = '\x01';
	assert_null(cp_request_to_json(&r));
	r = from_cmd("backend set 10.0.0.1:80/tcp 10.0.0.2 --drain");
	r.drain = 3;
	assert_null(cp_request_to_json(&r));
	r = from_cmd("detach --interface eth0");
	r.n_interfaces = 0;
	assert_null(cp_request_to_json(&r));
	assert_int_equal(errno, EINVAL);
}

/* --- Round trip -------------------------------------------------------- */

static void test_round_trip_random(void **state)
{
	struct cp_request r, back;
	struct cp_error e;
	json_error_t jerr;
	json_t *obj, *again;
	char *text;
	int i;

	(void)state;
	gen_seed(0xdecaf);
	for (i = 0; i < 20000; i++) {
		gen_request(&r);
		obj = cp_request_to_json(&r);
		if (!obj)
			fail_msg("#%d: cannot encode a %s: %d", i, cp_op_name(r.op), errno);
		text = json_dumps(obj, JSON_COMPACT);
		assert_non_null(text);
		again = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
		if (!again)
			fail_msg("#%d: %s does not load: %s", i, text, jerr.text);
		if (cp_request_from_json(again, &back, &e))
			fail_msg("#%d: %s refused: %s: %s", i, text, e.field, e.msg);
		if (memcmp(&back, &r, sizeof(r)))
			fail_msg("#%d: %s read back different (fields %#llx, were %#llx)", i, text,
				 (unsigned long long)back.fields, (unsigned long long)r.fields);
		free(text);
		json_decref(again);
		json_decref(obj);
	}
}

/* --- Replies ----------------------------------------------------------- */

static void test_replies(void **state)
{
	struct cp_error e;
	json_t *reply;
	char *text;

	(void)state;
	reply = cp_reply_ok();
	text = json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(text, "{\"v\":1,\"ok\":true}");
	free(text);
	json_decref(reply);

	cp_error_set(&e, -EINVAL, "weight", "weight 70000 out of range (0..65535)");
	reply = cp_reply_error(&e);
	text = json_dumps(reply, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text, "{\"error\":{\"field\":\"weight\",\"message\":\"weight 70000 out"
			    " of range (0..65535)\"},\"ok\":false,\"v\":1}");
	free(text);
	json_decref(reply);

	/* A message cut inside a UTF-8 sequence (or quoting raw bytes) still
	 * gives a reply. */
	cp_error_set(&e, -EINVAL, "x\xc3", "bad '\xff\xfe' \xc3");
	reply = cp_reply_error(&e);
	assert_non_null(reply);
	assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "error"),
							      "message")), "bad '?" "?' ?");
	assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "error"),
							      "field")), "x?");
	json_decref(reply);

	reply = cp_reply_error(NULL);
	assert_non_null(reply);
	assert_false(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_forms),
		cmocka_unit_test(test_decode_values),
		cmocka_unit_test(test_refused_envelope),
		cmocka_unit_test(test_refused_fields),
		cmocka_unit_test(test_refused_types),
		cmocka_unit_test(test_refused_values),
		cmocka_unit_test(test_refused_strings),
		cmocka_unit_test(test_nul_in_key),
		cmocka_unit_test(test_null_and_malformed),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_encode_errors),
		cmocka_unit_test(test_round_trip_random),
		cmocka_unit_test(test_replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
