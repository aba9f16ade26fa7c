/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_usage.c - sluicectl's usage texts (cp_cmd_usage, cmd.h).
 *
 * No state; every function may be called from any thread.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

/* The parts of a group's usage no table knows: the synopsis and what the
 * commands do before the options, rules and examples after them. The
 * option lines in between are generated from the field table, so every
 * option's range, unit and default are stated once, in its row. */
struct usage {
	const char *group;
	const char *head;
	const char *options_title;	/* NULL: no option block */
	const char *tail;
};

#define DUR_RULE \
"DUR: a number with its unit, ms, s, m or h (500ms, 2s, 1.5s, 15m); a bare\n" \
"number is refused, except 0. Every option may also be written --option=VALUE.\n"

static const struct usage usages[] = {
	{ "vip",
"Usage: sluicectl vip add VIP [OPTION]...\n"
"       sluicectl vip set VIP OPTION...\n"
"       sluicectl vip del VIP\n"
"       sluicectl vip list [VIP]\n"
"\n"
"A VIP is a virtual service, ADDR:PORT/PROTO: 10.100.0.1:80/tcp or\n"
"[2001:db8::1]:443/udp. PORT * (or 0) takes every port of the address;\n"
"PROTO is tcp or udp. 'add' creates it with the options given and the\n"
"defaults below for the rest; 'set' changes only the options given;\n"
"'del' removes it with its backends; 'list' shows one VIP or all.\n",
	  "Options (add and set):",
"An option of one check type is refused with another: --check-status\n"
"with --check tcp, or any --check-* with --check none.\n"
"\n"
DUR_RULE
"\n"
"Examples:\n"
"  sluicectl vip add 10.100.0.1:80/tcp --check http --check-path /health\n"
"  sluicectl vip set 10.100.0.1:80/tcp --affinity source --check-interval 5s\n" },
	{ "backend",
"Usage: sluicectl backend add VIP ADDR [--weight N] [--drain]\n"
"       sluicectl backend set VIP ADDR (--weight N | --drain | --undrain)...\n"
"       sluicectl backend del VIP ADDR\n"
"       sluicectl backend list [VIP]\n"
"\n"
"A backend is a real server of a VIP, named by its IPv4 or IPv6 address\n"
"(no port: packets reach it encapsulated, with the VIP's port). 'set'\n"
"changes only the options given; 'del' removes it (its connections\n"
"break); 'list' shows the backends of one VIP or of all.\n",
	  "Options:",
"Examples:\n"
"  sluicectl backend add 10.100.0.1:80/tcp 10.0.0.11 --weight 200\n"
"  sluicectl backend set [2001:db8::1]:443/tcp 2001:db8:1::11 --drain\n" },
	{ "node",
"Usage: sluicectl node set OPTION...\n"
"       sluicectl node drain\n"
"       sluicectl node undrain\n"
"\n"
"'set' changes the settings of this balancer node; only the options given\n"
"change. 'drain' takes the node out of the fleet: every VIP route in the\n"
"announce table is withdrawn, so BGP peers stop sending it traffic, while\n"
"whatever still arrives is forwarded. 'undrain' announces again. A drained\n"
"node stays drained across restarts; `status` says so.\n",
	  "Options (set):",
"With --announce-table N, sluiced keeps in kernel table N one blackhole\n"
"route (ip route show table N proto 200) per VIP address that has a backend\n"
"in service, while the fast path is attached and the node is not drained;\n"
"bird2's kernel protocol learns them and announces them over BGP.\n"
"\n"
DUR_RULE
"\n"
"Examples:\n"
"  sluicectl node set --interface eth0 --encap-source 192.0.2.10 --flow-ttl-tcp 15m\n"
"  sluicectl node set --announce-table 100\n"
"  sluicectl node drain\n" },
	{ "health",
"Usage: sluicectl health set VIP ADDR up|down [--for DUR] [--reason TEXT]\n"
"       sluicectl health clear VIP ADDR\n"
"       sluicectl health report VIP ADDR up|down [--latency-us N] [--reason TEXT]\n"
"       sluicectl health targets\n"
"       sluicectl health heartbeat\n"
"\n"
"A backend's health comes from three places, the first that has one wins:\n"
"the operator's override, sluice-healthd's check, and the initial state\n"
"its VIP gave it (vip --initial-health). A down backend leaves the ring\n"
"and its flows move.\n"
"\n"
"'set' is the operator's override, as HAProxy's `set server ... state\n"
"maint` (down) or `set server ... health up` that no check undoes: it\n"
"holds until 'clear', or for --for DUR and then ends by itself; healthd\n"
"keeps checking meanwhile and `backend list` shows both. It lasts\n"
"across restarts of sluiced, not across a reboot.\n"
"\n"
"'report', 'targets' and 'heartbeat' are sluice-healthd's: 'report' is\n"
"its view of one backend (a report sent by hand is undone at healthd's\n"
"next heartbeat if healthd sees otherwise), 'targets' lists every VIP,\n"
"backend and check spec to probe, 'heartbeat' says healthd is alive and\n"
"answers the targets with sluiced's view of each.\n",
	  "Options:",
DUR_RULE
"\n"
"Examples:\n"
"  sluicectl health set 10.100.0.1:80/tcp 10.0.0.11 down --for 30m --reason 'kernel upgrade'\n"
"  sluicectl health clear 10.100.0.1:80/tcp 10.0.0.11\n" },
	{ "stats",
"Usage: sluicectl stats [--vip VIP]\n"
"\n"
"Packet, byte and new-flow counters of every VIP (or of one with --vip),\n"
"of its backends, and of every pass/drop reason of the fast path.\n", NULL, NULL },
	{ "flows",
"Usage: sluicectl flows VIP\n"
"\n"
"The live connections of a VIP from the connection table: client,\n"
"backend and seconds since the last packet.\n", NULL, NULL },
	{ "ring",
"Usage: sluicectl ring digest VIP\n"
"\n"
"A hash of the VIP's Maglev ring as the fast path has it. Two nodes with\n"
"the same backends, weights and health give the same digest.\n", NULL, NULL },
	{ "save",
"Usage: sluicectl save\n"
"\n"
"Prints the state as a config script of sluicectl commands, one per line,\n"
"that sluiced can load: the format of its state file.\n", NULL, NULL },
	{ "status",
"Usage: sluicectl status\n"
"\n"
"sluiced's version, fast-path driver, interfaces, number of VIPs,\n"
"counts of changes applied and refused, the announce table, whether the\n"
"node is drained and the VIP addresses announced.\n", NULL, NULL },
	{ "detach",
"Usage: sluicectl detach [--interface IF]...\n"
"\n"
"Removes the XDP program from every interface, or from those given:\n"
"forwarding stops there. Without --interface it also withdraws every VIP\n"
"route of the announce table. (Stopping sluiced leaves forwarding and the\n"
"routes in place.)\n", NULL, NULL },
	{ "apply",
"Usage: sluicectl apply FILE [--dry-run] [--force]\n"
"\n"
"Makes the running state equal to the config script FILE, as one\n"
"transaction: FILE is validated whole (a bad line: FILE:LINE and why,\n"
"nothing changed), then only what differs is changed (unchanged backends\n"
"keep their connections), and the state is saved once. Prints every\n"
"object it changed, '-' as it was and '+' as it is now.\n"
"\n"
"Refused, with the list, when it would undo a change made with sluicectl\n"
"since the last apply or reload (marked \"changed at runtime\"), or when\n"
"FILE has no VIP or no interface while the running state has some.\n",
	  "Options:",
"FILE is read by sluiced, as root. Exit status 0 applied (or nothing to\n"
"do), 1 refused.\n"
"\n"
"Example:\n"
"  sluicectl save > /etc/sluice/sluice.conf    # keep the runtime changes\n"
"  sluicectl apply /etc/sluice/sluice.conf --dry-run\n" },
	{ "diff",
"Usage: sluicectl diff FILE\n"
"\n"
"What `sluicectl apply FILE` would change in the running state, as\n"
"config lines: '-' as it runs, '+' as FILE has it; a change to an object\n"
"changed at runtime since the last apply is marked. Changes nothing.\n"
"Exit status, as diff(1): 0 no difference, 1 differences, 2 trouble\n"
"(FILE invalid, bad command line), 3 sluiced not reachable.\n", NULL, NULL },
	{ "batch",
"Usage: sluicectl batch [FILE]\n"
"\n"
"Sends the vip and backend commands of FILE (or of standard input), one\n"
"per line as in a config script, as one request: sluiced validates each\n"
"against the state the ones before it leave, then applies all of them\n"
"(each VIP's ring rebuilt and published once, the state saved once) or,\n"
"if one is refused, none (the error names which). node set cannot be in\n"
"a batch. A request is at most 1 MiB: for a whole configuration, use\n"
"`sluicectl apply`.\n"
"\n"
"Example:\n"
"  printf '%s\\n' 'backend set 10.100.0.1:80/tcp 10.0.0.11 --drain' \\\n"
"      'backend add 10.100.0.1:80/tcp 10.0.0.14' | sluicectl batch\n", NULL, NULL },
	{ "reload",
"Usage: sluicectl reload [--dry-run] [--force]\n"
"\n"
"`sluicectl apply` of sluiced's config file (sluiced --config), with its\n"
"answer: what `systemctl reload sluiced` runs. SIGHUP does the same\n"
"without the answer (see the log and sluice_config_last_apply_successful).\n",
	  "Options:", NULL },
};

#define N_USAGES (sizeof(usages) / sizeof(usages[0]))
#define HELP_COL 26
#define HELP_WIDTH 78

/* Writes words of text from column col, wrapping at HELP_WIDTH to
 * HELP_COL. Returns the column after the last word. */
static int put_wrapped(FILE *out, const char *text, int col)
{
	const char *p = text;

	while (*p) {
		size_t n = strcspn(p, " ");

		if (col > HELP_COL && col + 1 + (int)n > HELP_WIDTH) {
			fprintf(out, "\n%*s", HELP_COL, "");
			col = HELP_COL;
		} else if (col > HELP_COL) {
			fputc(' ', out);
			col++;
		}
		fprintf(out, "%.*s", (int)n, p);
		col += (int)n;
		p += n;
		while (*p == ' ')
			p++;
	}
	return col;
}

static void value_text(const struct cp_field *f, long long v, char *buf, size_t len)
{
	if (f->kind == CP_KIND_DURATION)
		cp_cmd_format_duration((__u64)v, f->unit, buf, len);
	else if (f->kind == CP_KIND_WORD)
		snprintf(buf, len, "%s", v >= 0 && v < f->n_words && f->words[v] ? f->words[v] : "");
	else
		snprintf(buf, len, "%lld", v);
}

/* "  --check-interval DUR   time between two checks (100ms-1h). Default 2s." */
static void put_option_help(FILE *out, const struct cp_field *f)
{
	char lo[32], hi[32], def[32], text[512];
	int col = fprintf(out, "  --%s%s%s", f->cli, f->metavar ? " " : "",
			  f->metavar ? f->metavar : "");

	snprintf(text, sizeof(text), "%s", f->help ? f->help : "");
	if ((f->kind == CP_KIND_NUM || f->kind == CP_KIND_DURATION) && !(f->flags & CP_FF_LOOSE)) {
		value_text(f, f->min, lo, sizeof(lo));
		value_text(f, f->max, hi, sizeof(hi));
		snprintf(text + strlen(text), sizeof(text) - strlen(text), " (%s-%s).", lo, hi);
	} else {
		snprintf(text + strlen(text), sizeof(text) - strlen(text), ".");
	}
	if (f->kind == CP_KIND_NUM || f->kind == CP_KIND_DURATION || f->kind == CP_KIND_WORD) {
		value_text(f, f->def, def, sizeof(def));
		snprintf(text + strlen(text), sizeof(text) - strlen(text), " Default %s.", def);
	}
	if (col + 2 > HELP_COL) {
		fprintf(out, "\n%*s", HELP_COL, "");
		col = HELP_COL;
	} else {
		fprintf(out, "%*s", HELP_COL - col, "");
		col = HELP_COL;
	}
	put_wrapped(out, text, col);
	fputc('\n', out);
}

/* Every option of the group's commands, in table order. */
static void put_options(FILE *out, const char *group)
{
	__u64 bits = 0;

	for (int op = CP_OP_NONE + 1; op < CP_OP_MAX; op++)
		if (!strcmp(cp_op_def(op)->group, group))
			bits |= cp_cmd_options(op);
	for (size_t i = 0; i < cp_n_fields; i++)
		if (bits & cp_fields[i].bit)
			put_option_help(out, &cp_fields[i]);
}

static void put_usage(FILE *out, const struct usage *u)
{
	fputs(u->head, out);
	if (u->options_title) {
		fprintf(out, "\n%s\n", u->options_title);
		put_options(out, u->group);
	}
	if (u->tail)
		fprintf(out, "\n%s", u->tail);
}

int cp_cmd_usage(FILE *out, const char *group)
{
	for (size_t i = 0; group && i < N_USAGES; i++) {
		if (!strcmp(usages[i].group, group)) {
			put_usage(out, &usages[i]);
			return ferror(out) ? -EIO : 0;
		}
	}
	for (size_t i = 0; i < N_USAGES; i++) {
		if (i)
			fputc('\n', out);
		put_usage(out, &usages[i]);
	}
	return ferror(out) ? -EIO : 0;
}
