/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cp_gen.h - random but valid control-plane requests for the round-trip
 * tests of test_cmd.c and test_request_json.c. Fixed xorshift seed, so
 * every run checks the same requests. Values are set through request.c's
 * setters, in text form where the field has one, so the generator cannot
 * produce a request the parsers would not.
 *
 * Include after <cmocka.h> and "request.h".
 */
#ifndef SLUICE_TEST_CP_GEN_H
#define SLUICE_TEST_CP_GEN_H

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static __u64 gen_state = 1;

static void gen_seed(__u64 s)
{
	gen_state = s ? s : 1;
}

static __u32 gen_u32(void)
{
	gen_state ^= gen_state << 13;
	gen_state ^= gen_state >> 7;
	gen_state ^= gen_state << 17;
	return (__u32)(gen_state >> 16);
}

static __u32 gen_range(__u32 lo, __u32 hi)
{
	return lo + (__u32)(((__u64)gen_u32() * ((__u64)hi - lo + 1)) >> 32);
}

/* n random bytes in [lo, hi] into s, NUL-terminated; some of the bytes a
 * parser is most likely to get wrong are made more frequent. */
static void gen_text(char *s, size_t n, int lo, int hi)
{
	static const char tricky[] = "'\"\\#$` -=";
	size_t i;

	for (i = 0; i < n; i++) {
		s[i] = (char)gen_range((__u32)lo, (__u32)hi);
		if (gen_range(0, 3) == 0) {
			char t = tricky[gen_range(0, sizeof(tricky) - 2)];

			if (t >= lo && t <= hi)
				s[i] = t;
		}
	}
	s[n] = '\0';
}

static void gen_addr_text(char *buf, size_t len, int v6)
{
	struct lb_addr a;
	int i;

	memset(&a, 0, sizeof(a));
	for (i = 0; i < (v6 ? 4 : 1); i++)
		a.w[i] = gen_range(0, 3) ? gen_u32() : 0;
	inet_ntop(v6 ? AF_INET6 : AF_INET, v6 ? (void *)a.w : (void *)&a.w[0], buf, (socklen_t)len);
}

static void gen_endpoint(char *buf, size_t len, int wild_ok, const char *suffix)
{
	char addr[64], port[8];
	int v6 = gen_u32() & 1;

	gen_addr_text(addr, sizeof(addr), v6);
	if (wild_ok && gen_range(0, 3) == 0)
		snprintf(port, sizeof(port), gen_u32() & 1 ? "*" : "0");
	else
		snprintf(port, sizeof(port), "%u", gen_range(1, 65535));
	snprintf(buf, len, v6 ? "[%s]:%s%s" : "%s:%s%s", addr, port, suffix);
}

static void gen_set_text(struct cp_request *r, __u64 bit, const char *s)
{
	struct cp_error e = { "", "" };
	int err = cp_request_set_text(r, bit, s, "gen", &e);

	if (err)
		fail_msg("generator: '%s': %s: %s", s, e.field, e.msg);
}

static void gen_set_num(struct cp_request *r, __u64 bit, long long v)
{
	struct cp_error e = { "", "" };

	if (cp_request_set_num(r, bit, v, "gen", &e))
		fail_msg("generator: %lld: %s: %s", v, e.field, e.msg);
}

static void gen_interfaces(struct cp_request *r)
{
	__u32 n = gen_range(1, CP_MAX_INTERFACES), i;
	char name[IF_NAMESIZE];
	size_t len;

	for (i = 0; i < n; i++) {
		len = gen_range(1, IF_NAMESIZE - 1);
		gen_text(name, len, 0x21, 0x7e);
		for (size_t j = 0; j < len; j++)
			if (name[j] == '/' || name[j] == ':')
				name[j] = 'x';
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		/* A duplicate is refused (tested elsewhere): skip it. */
		cp_request_set_text(r, CP_F_INTERFACES, name, "gen", NULL);
	}
	if (!r->n_interfaces)
		gen_set_text(r, CP_F_INTERFACES, "eth0");
}

static void gen_text_field(struct cp_request *r, __u64 bit)
{
	char buf[CP_CHECK_PATH_MAX + 8];

	switch (bit) {
	case CP_F_VIP:
		gen_endpoint(buf, sizeof(buf), 1, gen_u32() & 1 ? "/tcp" : "/udp");
		break;
	case CP_F_BACKEND:
	case CP_F_ENCAP4:
	case CP_F_ENCAP6:
		gen_addr_text(buf, sizeof(buf),
			      bit == CP_F_ENCAP6 || (bit == CP_F_BACKEND && (gen_u32() & 1)));
		break;
	case CP_F_METRICS:
		gen_endpoint(buf, sizeof(buf), 0, "");
		break;
	case CP_F_HEALTH:
		snprintf(buf, sizeof(buf), gen_u32() & 1 ? "up" : "down");
		break;
	case CP_F_AFFINITY:
		snprintf(buf, sizeof(buf), gen_u32() & 1 ? "source" : "none");
		break;
	case CP_F_INITIAL_HEALTH:
		snprintf(buf, sizeof(buf), "%s", gen_range(0, 2) == 0 ? "auto" : gen_u32() & 1 ? "up" : "down");
		break;
	case CP_F_CHECK_TYPE:
		snprintf(buf, sizeof(buf), "%s", cp_check_type_name(gen_range(0, 3)));
		break;
	case CP_F_CHECK_PATH:
		buf[0] = '/';
		gen_text(buf + 1, gen_range(0, CP_CHECK_PATH_MAX - 2), 0x21, 0x7e);
		break;
	case CP_F_CHECK_HOST:
		gen_text(buf, gen_range(0, gen_range(0, 3) ? 40 : CP_CHECK_PATH_MAX - 1), 0x21, 0x7e);
		break;
	case CP_F_CHECK_PAYLOAD:
		gen_text(buf, gen_range(0, gen_range(0, 3) ? 40 : CP_CHECK_PAYLOAD_MAX - 1), 0x20,
			 0x7e);
		break;
	case CP_F_REASON:
		gen_text(buf, gen_range(0, sizeof(r->reason) - 1), 0x20, 0x7e);
		break;
	case CP_F_PATH:
		buf[0] = '/';
		gen_text(buf + 1, gen_range(0, sizeof(buf) - 2), 0x20, 0x7e);
		break;
	}
	gen_set_text(r, bit, buf);
}

static void gen_field(struct cp_request *r, __u64 bit)
{
	switch (bit) {
	case CP_F_INTERFACES: gen_interfaces(r); return;
	case CP_F_RING: gen_set_num(r, bit, gen_range(0, 1) ? gen_range(1, 70000) : gen_range(1, CP_MAX_RING)); return;
	case CP_F_CHECK_PORT: gen_set_num(r, bit, gen_range(0, 65535)); return;
	case CP_F_CHECK_STATUS: gen_set_num(r, bit, gen_range(100, 599)); return;
	case CP_F_CHECK_INTERVAL:
		gen_set_num(r, bit, gen_range(0, 1) ? gen_range(1, 3600) * 1000 :
			    gen_range(CP_CHECK_MIN_INTERVAL_MS, CP_CHECK_MAX_INTERVAL_MS));
		return;
	case CP_F_CHECK_TIMEOUT:
		gen_set_num(r, bit, gen_range(CP_CHECK_MIN_TIMEOUT_MS, CP_CHECK_MAX_TIMEOUT_MS));
		return;
	case CP_F_CHECK_RISE:
	case CP_F_CHECK_FALL: gen_set_num(r, bit, gen_range(1, CP_CHECK_MAX_RISE_FALL)); return;
	case CP_F_WEIGHT: gen_set_num(r, bit, gen_range(0, 3) ? gen_range(0, 300) : gen_range(0, CP_MAX_WEIGHT)); return;
	case CP_F_DRAIN: gen_set_num(r, bit, gen_u32() & 1); return;
	/* Flags without an off form: given means on. */
	case CP_F_DRY_RUN:
	case CP_F_FORCE: gen_set_num(r, bit, 1); return;
	case CP_F_LATENCY: gen_set_num(r, bit, gen_u32() & 1 ? gen_u32() : 0); return;
	case CP_F_FLOW_TTL_TCP:
	case CP_F_FLOW_TTL_UDP: gen_set_num(r, bit, gen_range(0, LB_FLOW_TTL_MAX)); return;
	case CP_F_ANNOUNCE_TABLE: gen_set_num(r, bit, gen_u32() & 1 ? gen_range(0, 300) : gen_u32()); return;
	/* Without an off form too: only node drain/undrain clear it. */
	case CP_F_DRAINED: gen_set_num(r, bit, 1); return;
	case CP_F_FOR: gen_set_num(r, bit, gen_range(0, 3) ? gen_range(0, 3600) : gen_range(0, CP_HEALTH_MAX_FOR_S)); return;
	}
	gen_text_field(r, bit);
}

/* A random request of a random op: every required field, each optional
 * one with probability 1/2, and one of a SET's fields at least. */
static void gen_request(struct cp_request *r)
{
	enum cp_op op = (enum cp_op)gen_range(CP_OP_NONE + 1, CP_OP_MAX - 1);
	struct cp_op_fields of, *f = &of;
	__u64 bit;

	cp_op_fields(op, f);
	cp_request_init(r, op);
	for (bit = 1; bit; bit <<= 1) {
		if (!(f->allowed & bit))
			continue;
		if ((f->required & bit) || (gen_u32() & 1))
			gen_field(r, bit);
	}
	while (f->one_of && !(r->fields & f->one_of)) {
		bit = 1ull << gen_range(0, 63);
		if (f->one_of & bit)
			gen_field(r, bit);
	}
}

#endif /* SLUICE_TEST_CP_GEN_H */
