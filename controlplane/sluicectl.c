// SPDX-License-Identifier: Apache-2.0
/*
 * sluicectl - the operator's command line for sluiced. It parses the
 * command with the same code sluiced uses for config files (cmd.c), sends
 * it as JSON over the API socket, and prints the answer as a table, or as
 * JSON with --json. It never touches BPF maps itself.
 *
 * Exit codes: 0 done; 1 sluiced refused the request; 2 bad command line;
 * 3 sluiced could not be reached; 4 applied but not persisted (live, not
 * yet on disk: sluiced retries). diff, as diff(1): 0 the same, 1
 * different, 2 trouble (a file sluiced refuses as well).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cmd.h"
#include "request_json.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
#define EXIT_NOT_PERSISTED 4
#define EXIT_DIFFERENT 1	/* diff */
#define EXIT_TROUBLE 2		/* diff */

/* A whole configuration can take a while to validate and apply. */
#define APPLY_TIMEOUT_MS 300000

static const char usage[] =
"Usage: sluicectl [--socket PATH] [--json] [--timeout MS] COMMAND [ARGS]...\n"
"Manage the Sluice load balancer through sluiced.\n"
"\n"
"Commands:\n"
"  vip add|set|del|list         virtual services (VIP:PORT/PROTO)\n"
"  backend add|set|del|list     real servers behind a VIP\n"
"  node set                     interfaces, encapsulation sources, metrics,\n"
"                               the announce table (--announce-table N)\n"
"  node drain|undrain           withdraw every VIP announcement (forwarding\n"
"                               goes on) / announce again\n"
"  health set|clear             override a backend's health (maintenance)\n"
"  health report|targets|heartbeat  used by sluice-healthd\n"
"  stats [--vip VIP]            packet and byte counters\n"
"  flows VIP                    live connections of a VIP\n"
"  ring digest VIP              hash of a VIP's ring, to compare nodes\n"
"  save                         the state as a config script\n"
"  apply FILE [--dry-run] [--force]\n"
"                               make the running state equal to FILE, as one\n"
"                               transaction; prints what changed\n"
"  diff FILE                    the running state against FILE\n"
"  reload [--dry-run] [--force] apply sluiced's config file (systemctl reload)\n"
"  batch [FILE]                 VIP and backend commands of FILE (or stdin),\n"
"                               all or none, as one transaction\n"
"  status                       what sluiced is doing, what it announces\n"
"  detach [--interface IF]      remove the XDP program (stops forwarding)\n"
"\n"
"Options:\n"
"      --socket PATH   sluiced's API socket (default " CP_API_DEFAULT_SOCKET ")\n"
"  -j, --json          print sluiced's JSON answer instead of a table\n"
"      --timeout MS    give up after MS milliseconds (default 10000; 300000\n"
"                      for apply, diff and reload)\n"
"  -h, --help          this text; 'sluicectl COMMAND --help' for a command\n"
"      --version       print the version and exit\n"
"\n"
"Examples:\n"
"  sluicectl vip add 10.100.0.1:80/tcp --check http --check-path /health\n"
"  sluicectl backend add 10.100.0.1:80/tcp 10.0.0.11 --weight 100\n"
"  sluicectl backend set 10.100.0.1:80/tcp 10.0.0.11 --drain\n"
"  sluicectl backend add [2001:db8::1]:443/tcp 2001:db8:1::11\n"
"\n"
"Exit status: 0 done, 1 refused by sluiced, 2 bad command line,\n"
"3 sluiced not reachable, 4 applied but not persisted (sluiced retries).\n"
"diff: 0 no difference, 1 differences, 2 trouble.\n"
"\n"
"apply and reload refuse a file that would undo a change made with\n"
"sluicectl since the last apply or reload, or that removes every VIP or\n"
"interface, and list what it would undo; --force applies it anyway.\n";

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static long long num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static void print_vips(json_t *reply)
{
	json_t *v;
	size_t i;

	printf("%-28s %-8s %-7s %-8s %s\n", "VIP", "AFFINITY", "RING", "BACKENDS", "DIGEST");
	json_array_foreach(json_object_get(reply, "vips"), i, v)
		printf("%-28s %-8s %-7lld %-8lld %s\n", str(v, "vip"), str(v, "affinity"),
		       num(v, "ring"), num(v, "backends"), str(v, "digest"));
}

/* "1.6ms", "950us", or "-" before the first report. */
static const char *latency_text(json_t *b)
{
	static char buf[32];
	long long us = num(b, "latency_us");

	if (!us)
		return "-";
	if (us >= 1000)
		snprintf(buf, sizeof(buf), "%.1fms", us / 1000.0);
	else
		snprintf(buf, sizeof(buf), "%lldus", us);
	return buf;
}

/* The operator's override beside healthd's view: "down 9m59s",
 * "up (until cleared)", or "-". */
static const char *override_text(json_t *b)
{
	static char buf[48];
	long long s = num(b, "override_expires_s");

	if (!json_is_string(json_object_get(b, "override")))
		return "-";
	if (!s)
		snprintf(buf, sizeof(buf), "%s,forever", str(b, "override"));
	else if (s >= 3600)
		snprintf(buf, sizeof(buf), "%s,%lldh%02lldm", str(b, "override"), s / 3600,
			 s % 3600 / 60);
	else
		snprintf(buf, sizeof(buf), "%s,%lldm%02llds", str(b, "override"), s / 60, s % 60);
	return buf;
}

/* healthd's check: its view, when it last confirmed it, its words. */
static const char *check_text(json_t *b, char *buf, size_t len)
{
	json_t *age = json_object_get(b, "check_age_ms");

	if (json_is_integer(age))
		snprintf(buf, len, "%s %.0fs", str(b, "health"), json_integer_value(age) / 1000.0);
	else
		snprintf(buf, len, "%s", str(b, "health"));
	return buf;
}

static void print_backends(json_t *reply, const char *key)
{
	char chk[48];
	json_t *b;
	size_t i;

	printf("%-28s %-24s %-6s %-8s %-12s %-13s %-9s %s\n", "VIP", "BACKEND", "WEIGHT",
	       "STATE", "CHECK", "OVERRIDE", "LATENCY", "LAST CHECK");
	json_array_foreach(json_object_get(reply, key), i, b) {
		printf("%-28s %-24s %-6lld %-8s %-12s %-13s %-9s %s", str(b, "vip"),
		       str(b, "backend"), num(b, "weight"), str(b, "state"),
		       check_text(b, chk, sizeof(chk)), override_text(b), latency_text(b),
		       str(b, "last_check"));
		if (json_is_string(json_object_get(b, "override")) && *str(b, "override_reason"))
			printf(" (override: %s)", str(b, "override_reason"));
		putchar('\n');
	}
}

/* "  dropped 5 (drop_fib 3, drop_no_source 2)"; nothing when none. */
static void print_backend_drops(json_t *dropped)
{
	const char *name;
	long long total = 0;
	const char *sep = "";
	json_t *n;

	json_object_foreach(dropped, name, n)
		total += json_integer_value(n);
	if (!total)
		return;
	printf("  dropped %lld (", total);
	json_object_foreach(dropped, name, n) {
		if (!json_integer_value(n))
			continue;
		printf("%s%s %lld", sep, name, (long long)json_integer_value(n));
		sep = ", ";
	}
	putchar(')');
}

static void print_stats(json_t *reply)
{
	const char *name;
	json_t *v, *b, *r;
	size_t i, j;

	json_array_foreach(json_object_get(reply, "vips"), i, v) {
		printf("%s  packets %lld  bytes %lld  new flows %lld  ring picks %lld  misses %lld"
		       "  evictions %lld\n",
		       str(v, "vip"), num(v, "packets"), num(v, "bytes"), num(v, "new_flows"),
		       num(v, "ring_picks"), num(v, "flow_misses"), num(v, "flow_evictions"));
		json_array_foreach(json_object_get(v, "backends"), j, b) {
			printf("  -> %-24s %-8s packets %lld  bytes %lld", str(b, "backend"),
			       str(b, "state"), num(b, "packets"), num(b, "bytes"));
			print_backend_drops(json_object_get(b, "dropped"));
			putchar('\n');
		}
	}
	printf("reasons (packets):\n");
	json_object_foreach(json_object_get(reply, "reasons"), name, r)
		if (num(r, "packets"))
			printf("  %-20s %lld\n", name, num(r, "packets"));
}

static void print_flows(json_t *reply)
{
	json_t *f;
	size_t i;

	printf("%-40s %-6s %-6s %-24s %s\n", "CLIENT", "SPORT", "DPORT", "BACKEND", "LAST SEEN");
	json_array_foreach(json_object_get(reply, "flows"), i, f)
		printf("%-40s %-6lld %-6lld %-24s %.1fs ago\n", str(f, "client"), num(f, "sport"),
		       num(f, "dport"), str(f, "backend"), num(f, "idle_ms") / 1000.0);
	if (json_is_true(json_object_get(reply, "truncated")))
		printf("(truncated)\n");
}

/* "key value", an object's members as "key.member value". */
static void print_status_value(const char *key, const char *member, json_t *v)
{
	char name[64];
	char *text;

	snprintf(name, sizeof(name), "%s%s%s", key, member ? "." : "", member ? member : "");
	if (!member && json_is_object(v)) {
		const char *m;
		json_t *mv;

		json_object_foreach(v, m, mv)
			print_status_value(key, m, mv);
		return;
	}
	text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	printf("%-22s %s\n", name, json_is_string(v) ? json_string_value(v) : text);
	free(text);
}

static void print_status(json_t *reply)
{
	const char *key;
	json_t *v;

	json_object_foreach(reply, key, v) {
		if (!strcmp(key, "v") || !strcmp(key, "ok"))
			continue;
		print_status_value(key, NULL, v);
	}
}

/* A change as config lines, the way diff(1) -u marks them. */
static void print_changes(FILE *out, json_t *reply)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(reply, "changes"), i, c) {
		const char *mark = json_is_true(json_object_get(c, "runtime"))
					   ? "    # changed at runtime since the last apply"
					   : "";
		const char *from = json_string_value(json_object_get(c, "from"));
		const char *to = json_string_value(json_object_get(c, "to"));

		if (from)
			fprintf(out, "- %s%s\n", from[0] ? from : "(node defaults)", to ? "" : mark);
		if (to)
			fprintf(out, "+ %s%s\n", to[0] ? to : "(node defaults)", mark);
	}
	if (num(reply, "changes_not_listed"))
		fprintf(out, "# ... and %lld more change(s), not listed\n",
			num(reply, "changes_not_listed"));
}

static void print_apply(enum cp_op op, json_t *reply)
{
	long long n = num(reply, "total_changes");

	print_changes(stdout, reply);
	if (op == CP_OP_DIFF)
		return;
	if (!n)
		printf("no change: the running state is %s\n", str(reply, "path"));
	else if (json_is_true(json_object_get(reply, "applied")))
		printf("%lld change(s) applied from %s\n", n, str(reply, "path"));
	else
		printf("dry run: %lld change(s) to apply from %s; nothing changed\n", n,
		       str(reply, "path"));
}

static void print_reply(enum cp_op op, json_t *reply)
{
	switch (op) {
	case CP_OP_APPLY:
	case CP_OP_DIFF:
	case CP_OP_RELOAD:
		print_apply(op, reply);
		break;
	case CP_OP_BATCH:
		printf("%lld change(s) applied as one batch\n", num(reply, "changes"));
		break;
	case CP_OP_VIP_LIST:
		print_vips(reply);
		break;
	case CP_OP_BACKEND_LIST:
		print_backends(reply, "backends");
		break;
	case CP_OP_HEALTH_TARGETS:
	case CP_OP_HEALTH_HEARTBEAT:
		print_backends(reply, "targets");
		break;
	case CP_OP_STATS:
		print_stats(reply);
		break;
	case CP_OP_FLOWS:
		print_flows(reply);
		break;
	case CP_OP_RING_DIGEST:
		printf("%s digest %s (ring %lld, %lld usable backends)%s\n", str(reply, "vip"),
		       str(reply, "digest"), num(reply, "ring"), num(reply, "usable_backends"),
		       json_is_true(json_object_get(reply, "ring_too_small"))
			       ? "; ring smaller than 100 x backends: removals move more flows"
			       : "");
		break;
	case CP_OP_SAVE:
		fputs(str(reply, "config"), stdout);
		break;
	case CP_OP_STATUS:
		print_status(reply);
		break;
	default:
		break;		/* a change: silence is success, as with ip(8) */
	}
}

/* sluiced reads the file named in apply and diff, maybe from another
 * directory: give it the absolute path. Options of these commands take
 * no value, so the file is the first word that is not one. */
static int absolute_file(int argc, char **argv, char *buf)
{
	if (strcmp(argv[0], "apply") && strcmp(argv[0], "diff"))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			continue;
		if (!realpath(argv[i], buf)) {
			fprintf(stderr, "sluicectl: %s: %s\n", argv[i], strerror(errno));
			return -1;
		}
		argv[i] = buf;
		return 0;
	}
	return 0;
}

/* batch [FILE]: the change commands of FILE (or stdin), one per line as
 * in a config script, as one request. A bad line is named, nothing sent. */
static json_t *batch_request(json_t *req, int argc, char **argv)
{
	const char *name = argc > 1 && strcmp(argv[1], "-") ? argv[1] : NULL;
	FILE *in = name ? fopen(name, "re") : stdin;
	json_t *items = json_array();
	static struct cp_error e;	/* large: not on the stack once per line */
	unsigned long lineno = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int bad = !in || !items;

	if (!in)
		fprintf(stderr, "sluicectl: %s: %s\n", name, strerror(errno));
	while (!bad && (len = getline(&line, &cap, in)) >= 0) {
		struct cp_request r;
		int n;

		lineno++;
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		e.field[0] = e.msg[0] = '\0';
		/* The same rules as a line of a config file. */
		n = cp_cmd_parse_line(line, (size_t)len, &r, &e);
		if (n == 0)
			continue;
		if (n > 0 && !cp_op_def(r.op)->change)
			n = cp_error_set(&e, -EINVAL, cp_op_def(r.op)->group, "not a change command");
		if (n < 0) {
			fprintf(stderr, "sluicectl: %s:%lu: %s%s%s\n", name ? name : "stdin", lineno,
				e.field, e.field[0] ? ": " : "", e.msg);
			bad = 1;
			break;
		}
		json_array_append_new(items, cp_request_to_json(&r));
	}
	free(line);
	if (in && in != stdin)
		fclose(in);
	if (bad) {
		json_decref(items);
		return NULL;
	}
	json_object_set_new(req, "requests", items);
	return req;
}

/* The exit status of a reply. */
static int exit_code(enum cp_op op, json_t *reply)
{
	int ok = json_is_true(json_object_get(reply, "ok"));

	if (op == CP_OP_DIFF)
		return !ok ? EXIT_TROUBLE : num(reply, "total_changes") ? EXIT_DIFFERENT : 0;
	if (ok && json_is_false(json_object_get(reply, "persisted")))
		return EXIT_NOT_PERSISTED;
	return ok ? 0 : EXIT_REFUSED;
}

/* Why cp_api_call got no answer, in the operator's words. */
static const char *unreachable(int err, int timeout_ms)
{
	static char buf[128];

	switch (err) {
	case ENOENT:
		return "no such socket: is sluiced running? (--socket PATH)";
	case ECONNREFUSED:
		return "connection refused: nothing listens there";
	case EACCES:
	case EPERM:
		return "permission denied: the socket is root's (and sluiced --api-read-group's)";
	case ETIMEDOUT:
		snprintf(buf, sizeof(buf), "no answer within %d ms (--timeout)", timeout_ms);
		return buf;
	case ECONNRESET:
	case EPIPE:
		return "connection closed by sluiced before it answered (at its client cap, "
		       "or stopping: see its log)";
	case EPROTO:
		return "the answer is not JSON";
	default:
		return strerror(err);
	}
}

/* "sluicectl vip --help", "sluicectl backend add --help" */
static int wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, 0, 'S' },
		{ "json", no_argument, 0, 'j' },
		{ "timeout", required_argument, 0, 'T' },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' },
		{ 0, 0, 0, 0 },
	};
	const char *socket_path = CP_API_DEFAULT_SOCKET;
	struct cp_error e = { "", "" };
	struct cp_request r;
	int json_out = 0, timeout_ms = 0, c, rc;
	static char file[PATH_MAX];	/* argv may point here */
	json_t *req, *reply;

	/* Options before the command only; the command's own follow it. */
	while ((c = getopt_long(argc, argv, "+jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'S': socket_path = optarg; break;
		case 'j': json_out = 1; break;
		case 'T': timeout_ms = atoi(optarg); timeout_ms = timeout_ms > 0 ? timeout_ms : -1; break;
		case 'h': fputs(usage, stdout); return 0;
		case 'V': printf("sluicectl %s\n", SLUICE_VERSION); return 0;
		default: fputs("Try 'sluicectl --help'.\n", stderr); return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (wants_help(argc, argv)) {
		const char *group;

		if (cp_cmd_help_topic(argc, argv, &group, &e)) {
			fprintf(stderr, "sluicectl: %s: %s\n", e.field, e.msg);
			return EXIT_USAGE;
		}
		cp_cmd_usage(stdout, group);
		return 0;
	}
	if (timeout_ms < 0) {
		fputs("sluicectl: --timeout must be a positive number of milliseconds\n", stderr);
		return EXIT_USAGE;
	}
	if (absolute_file(argc, argv, file))
		return EXIT_USAGE;
	/* batch's FILE is read here, not by sluiced: not a field. */
	if (!strcmp(argv[0], "batch") && argc > 2) {
		fprintf(stderr, "sluicectl: batch takes one FILE (or none: stdin)\n");
		return EXIT_USAGE;
	}
	if (cp_cmd_parse(strcmp(argv[0], "batch") ? argc : 1, argv, &r, &e)) {
		fprintf(stderr, "sluicectl: %s: %s\n", e.field, e.msg);
		return EXIT_USAGE;
	}
	if (!timeout_ms)
		timeout_ms = r.op == CP_OP_APPLY || r.op == CP_OP_DIFF || r.op == CP_OP_RELOAD
				     ? APPLY_TIMEOUT_MS
				     : 10000;

	req = cp_request_to_json(&r);
	if (req && r.op == CP_OP_BATCH && !batch_request(req, argc, argv)) {
		json_decref(req);
		return EXIT_USAGE;
	}
	reply = req ? cp_api_call(socket_path, req, timeout_ms) : NULL;
	json_decref(req);
	if (!reply) {
		fprintf(stderr, "sluicectl: sluiced at %s: %s\n", socket_path,
			unreachable(errno, timeout_ms));
		return EXIT_UNREACHABLE;
	}
	rc = exit_code(r.op, reply);
	if (json_out) {
		json_dumpf(reply, stdout, JSON_INDENT(2));
		putchar('\n');
	} else if (rc == EXIT_NOT_PERSISTED) {
		print_reply(r.op, reply);
		fprintf(stderr, "sluicectl: applied, not persisted: %s\n",
			str(json_object_get(reply, "error"), "message"));
	} else if (!json_is_true(json_object_get(reply, "ok"))) {
		json_t *err = json_object_get(reply, "error");

		/* A refused apply shows what it would have done. */
		print_changes(stdout, reply);
		fprintf(stderr, "sluicectl: %s: %s\n", str(err, "field"), str(err, "message"));
	} else {
		print_reply(r.op, reply);
	}
	json_decref(reply);
	return rc;
}
