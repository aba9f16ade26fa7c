// SPDX-License-Identifier: Apache-2.0
/*
 * bench_api.c - the control plane's costs, measured against a real sluiced
 * through its API socket (scripts/bench.sh control; docs/measuring.md,
 * "Control plane"). Prints figures, asserts nothing.
 *
 * Usage: bench_api MODE [options]
 *
 *   start -s SOCK -n VIPS [-l LOG] [-P PIDFILE] [-k] -- SLUICED [ARGS...]
 *       Starts SLUICED (stderr through a pipe, copied to LOG with the time
 *       each line arrived), waits until the API answers `status` with VIPS
 *       VIPs, prints one line of key=value times in ms from just before
 *       fork(): fastpath (log line "XDP fast path ..."), loaded ("loaded
 *       ... (N VIPs)"), serving ("serving ..."; stamped late if a call
 *       was already waiting for its answer then), api (first `status`
 *       reply with all VIPs), and the p99 and worst of the `status` calls
 *       answered meanwhile (one every 100 µs, each on a new connection).
 *       Then `detach` through the API (unless -k: a restart then adopts
 *       the pins) and SIGTERM.
 *   hup -s SOCK -p PID -c CONF -v VIP -b ADDR [-n RUNS]
 *       Per run: rewrites CONF's line "backend add VIP ADDR ..." with a
 *       new --weight (temp + rename, untimed), then times SIGHUP -> the
 *       first `backend.list VIP` reply showing that weight.
 *   drain -s SOCK -v VIP -b ADDR -m VIP_META_PIN -r RINGS_PIN -i VIP_ID
 *         -B BACKEND_ID [-n RUNS]
 *       Alternating drain / undrain (fresh connection per call, as
 *       sluicectl): the call's wall time, and the time at which a thread
 *       spinning on the mmap()ed vip_meta map saw the ring word flip. After
 *       every call the live ring row is read from the pinned rings map: the
 *       drained backend must be absent from it, the undrained one present.
 *   rate -s SOCK -v VIP -b ADDR [-t SECONDS] [-R ROUNDS] [-w WINDOW]
 *       Calls/s of `status` and of `backend.set --weight` (alternating
 *       weights): fresh connection per call, one connection ping-pong, one
 *       connection pipelined (WINDOW requests in flight). Rounds rotate the
 *       order of the cases.
 *   burst -s SOCK -N COUNT
 *       COUNT `status` requests written at once on one connection, then
 *       all replies read: µs per call (sluiced queues replies by copying
 *       the pending ones each time).
 *   stall -s SOCK [-t SECONDS] [-U FILE]
 *       `status` ping-pong for SECONDS: latency median / p99 / max and the
 *       calls slower than 1 ms (sluiced is single-threaded: anything long
 *       it does, like the 5 s next-hop refresh, stalls the API), and when
 *       the ones over 5 ms came. -U: stop as soon as FILE exists instead
 *       (SECONDS still bounds it), so the figures cover exactly a window
 *       the caller marks (a big batch).
 *   parts -c CONF -d DIR -v VIP -b ADDR [-n RUNS]
 *       In-process, no daemon: cp_state_load of CONF (parse), applying it
 *       to an empty driverless model (validation + every ring), one
 *       backend.set --weight on that model (validate + ring rebuild; the
 *       model's own last_rebuild_ns), lb_maglev_build and lb_maglev_digest
 *       alone (100 backends, M = 65537),
 *       cp_model_save to memory (format), cp_state_write into DIR (format +
 *       write + fsync + rename + fsync of the directory), and the grace
 *       period the loader waits for (an ARRAY_OF_MAPS update).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <jansson.h>

#include "api.h"
#include "fwd.h"
#include "log.h"
#include "maglev.h"
#include "model.h"
#include "request_json.h"
#include "state.h"

#define CALL_TIMEOUT_MS 30000

/* ---- time and statistics ------------------------------------------------ */

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int dbl_cmp(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;

	return a < b ? -1 : a > b;
}

struct mmm {
	double min, med, max;
};

static struct mmm stats(double *v, int n)
{
	struct mmm s = { 0, 0, 0 };

	if (n <= 0)
		return s;
	qsort(v, (size_t)n, sizeof(*v), dbl_cmp);
	s.min = v[0];
	s.max = v[n - 1];
	s.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}

static double pct(const double *sorted, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return n ? sorted[i < n ? i : n - 1] : 0;
}

/* ---- one persistent connection ---------------------------------------------- */

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
};

static int conn_open(struct conn *c, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	memset(c, 0, sizeof(*c));
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun))) {
		int err = -errno;

		close(c->fd);
		c->fd = -1;
		return err;
	}
	c->cap = 1 << 16;
	c->buf = malloc(c->cap);
	return c->buf ? 0 : -ENOMEM;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
}

static int conn_send(struct conn *c, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(c->fd, s, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads more into c->buf, waiting at most CALL_TIMEOUT_MS. */
static int conn_fill(struct conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	ssize_t n;

	if (c->len == c->cap) {
		char *b = realloc(c->buf, c->cap * 2);

		if (!b)
			return -ENOMEM;
		c->buf = b;
		c->cap *= 2;
	}
	if (poll(&p, 1, CALL_TIMEOUT_MS) <= 0)
		return -ETIMEDOUT;
	n = read(c->fd, c->buf + c->len, c->cap - c->len);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	c->len += (size_t)n;
	return 0;
}

/* The next reply line (without '\n') copied into *line (malloc'ed) if
 * line is not NULL; returns 1 if it says "ok":true, 0 if not, -errno. */
static int conn_reply(struct conn *c, char **line)
{
	char *nl;
	int ok, err;

	while (!(nl = memchr(c->buf, '\n', c->len)))
		if ((err = conn_fill(c)))
			return err;
	*nl = '\0';
	ok = strstr(c->buf, "\"ok\":true") != NULL;
	if (line)
		*line = strdup(c->buf);
	c->len -= (size_t)(nl + 1 - c->buf);
	memmove(c->buf, nl + 1, c->len);
	return ok;
}

/* ---- requests ------------------------------------------------------------------ */

static const char *sock_path;

static char *req_text(const char *op, const char *vip, const char *addr, int weight, int drain)
{
	json_t *o = json_pack("{s:i, s:s}", "v", CP_API_VERSION, "op", op);
	char *s;

	if (vip)
		json_object_set_new(o, "vip", json_string(vip));
	if (addr)
		json_object_set_new(o, "backend", json_string(addr));
	if (weight >= 0)
		json_object_set_new(o, "weight", json_integer(weight));
	if (drain >= 0)
		json_object_set_new(o, "drain", json_boolean(drain));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* A call through cp_api_call (fresh connection); the reply or NULL. */
static json_t *call(const char *op, const char *vip, const char *addr, int weight, int drain)
{
	char *text = req_text(op, vip, addr, weight, drain);
	json_t *req = text ? json_loads(text, 0, NULL) : NULL;
	json_t *reply = req ? cp_api_call(sock_path, req, CALL_TIMEOUT_MS) : NULL;

	free(text);
	json_decref(req);
	return reply;
}

static int reply_ok(const json_t *r)
{
	return r && json_is_true(json_object_get(r, "ok"));
}

static const char *reply_error(const json_t *r)
{
	const json_t *e = r ? json_object_get(r, "error") : NULL;
	const char *m = e ? json_string_value(json_object_get(e, "message")) : NULL;

	return m ? m : r ? "?" : strerror(errno);
}

/* Weight of ADDR in a backend.list reply, -1 if absent. */
static int weight_of(const json_t *reply, const char *addr)
{
	const json_t *arr = json_object_get(reply, "backends"), *b;
	size_t i;

	json_array_foreach(arr, i, b)
		if (!strcmp(json_string_value(json_object_get(b, "backend")) ?: "", addr))
			return (int)json_integer_value(json_object_get(b, "weight"));
	return -1;
}

/* ---- start ---------------------------------------------------------------------- */

/* VIPs in a `status` reply once the state has loaded (a loading daemon
 * counts the VIPs as they come), -1 before or without one; *us: how long
 * an answered call took (connection included, as sluicectl's), else left
 * alone. */
static int status_vips_timed(double *us)
{
	double t0 = now_us();
	json_t *r = call("status", NULL, NULL, -1, -1);
	int n = reply_ok(r) && !json_is_true(json_object_get(r, "loading"))
			? (int)json_integer_value(json_object_get(r, "vips"))
			: -1;

	if (r)
		*us = now_us() - t0;
	json_decref(r);
	return n;
}


struct logpipe {
	int fd;
	FILE *copy;
	double t0;
	char part[4096];
	size_t plen;
	double t_fastpath, t_loaded, t_serving;
};

/* Reads what the pipe holds, stamping each complete line. */
static void log_drain(struct logpipe *lp)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(lp->fd, buf, sizeof(buf))) > 0) {
		double t = now_us() - lp->t0;

		for (ssize_t i = 0; i < n; i++) {
			if (lp->plen < sizeof(lp->part) - 1)
				lp->part[lp->plen++] = buf[i];
			if (buf[i] != '\n')
				continue;
			lp->part[lp->plen] = '\0';
			if (lp->copy)
				fprintf(lp->copy, "[%9.3f ms] %s", t / 1e3, lp->part);
			if (!lp->t_fastpath && strstr(lp->part, "XDP fast path"))
				lp->t_fastpath = t;
			if (!lp->t_loaded && strstr(lp->part, "sluiced: loaded "))
				lp->t_loaded = t;
			if (!lp->t_serving && strstr(lp->part, "sluiced: serving "))
				lp->t_serving = t;
			lp->plen = 0;
		}
	}
}

static int mode_start(int want_vips, const char *log_path, const char *pid_file, int keep,
		      char **cmd)
{
	struct logpipe lp = { .fd = -1 };
	double t_api = 0, deadline, *lat = malloc(1000000 * sizeof(double));
	int p[2], status, n = -1, ret = 1;
	size_t n_lat = 0;
	pid_t pid;

	if (log_path) {
		lp.copy = fopen(log_path, "a");
		if (lp.copy)
			setvbuf(lp.copy, NULL, _IOLBF, 0);
	}
	if (pipe2(p, O_CLOEXEC)) {
		perror("pipe");
		return 1;
	}
	lp.t0 = now_us();
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		/* Killed with us, should we be (timeout): nothing left behind. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(p[1], 2);
		execvp(cmd[0], cmd);
		fprintf(stderr, "exec %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	if (pid_file) {
		FILE *pf = fopen(pid_file, "w");

		if (pf) {
			fprintf(pf, "%d\n", (int)pid);
			fclose(pf);
		}
	}
	lp.fd = p[0];
	fcntl(lp.fd, F_SETFL, O_NONBLOCK);
	deadline = lp.t0 + 60e6;

	/* The API socket is opened after the config is applied: ask every
	 * 100 µs (a log line wakes the wait early). */
	while (now_us() < deadline) {
		struct pollfd pf = { .fd = lp.fd, .events = POLLIN };

		log_drain(&lp);
		if (waitpid(pid, &status, WNOHANG) == pid) {
			log_drain(&lp);
			fprintf(stderr, "bench_api start: sluiced exited (status %d) before answering\n",
				status);
			pid = -1;
			goto out;
		}
		/* No socket yet: ENOENT or ECONNREFUSED at once. */
		double us = -1;

		n = status_vips_timed(&us);
		if (us >= 0 && lat && n_lat < 1000000)
			lat[n_lat++] = us;
		if (n == want_vips) {
			t_api = now_us() - lp.t0;
			break;
		}
		ppoll(&pf, 1, &(struct timespec){ .tv_nsec = 100000 }, NULL);
	}
	log_drain(&lp);
	if (!t_api) {
		fprintf(stderr, "bench_api start: no reply with %d VIPs within 60 s (last: %d)\n",
			want_vips, n);
		goto out;
	}
	printf("fastpath_ms=%.1f loaded_ms=%.1f serving_ms=%.1f api_ms=%.1f",
	       lp.t_fastpath / 1e3, lp.t_loaded / 1e3, lp.t_serving / 1e3, t_api / 1e3);
	if (n_lat) {
		qsort(lat, n_lat, sizeof(*lat), dbl_cmp);
		printf(" status_calls=%zu status_p99_ms=%.2f status_max_ms=%.2f", n_lat,
		       pct(lat, n_lat, 0.99) / 1e3, lat[n_lat - 1] / 1e3);
	}
	printf("\n");
	ret = 0;
	if (!keep) {
		json_t *r = call("detach", NULL, NULL, -1, -1);

		if (!reply_ok(r)) {
			fprintf(stderr, "bench_api start: detach: %s\n", reply_error(r));
			ret = 1;
		}
		json_decref(r);
	}
out:
	if (pid > 0) {
		kill(pid, SIGTERM);
		for (int i = 0; i < 1000 && waitpid(pid, &status, WNOHANG) != pid; i++) {
			log_drain(&lp);
			usleep(10000);
			if (i == 999) {
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
			}
		}
	}
	fcntl(lp.fd, F_SETFL, 0);
	log_drain(&lp);
	if (lp.copy)
		fclose(lp.copy);
	close(lp.fd);
	free(lat);
	return ret;
}

/* ---- hup ------------------------------------------------------------------------- */

/* Rewrites CONF's line "backend add VIP ADDR[ ...]" to carry --weight w. */
static int rewrite_weight(const char *conf, const char *vip, const char *addr, int w)
{
	char prefix[256], tmp[4096], *line = NULL;
	size_t cap = 0, plen;
	FILE *in, *out;
	int found = 0;
	ssize_t n;

	snprintf(prefix, sizeof(prefix), "backend add %s %s", vip, addr);
	plen = strlen(prefix);
	snprintf(tmp, sizeof(tmp), "%s.bench-tmp", conf);
	in = fopen(conf, "r");
	out = fopen(tmp, "w");
	if (!in || !out) {
		if (in)
			fclose(in);
		if (out)
			fclose(out);
		return -errno;
	}
	while ((n = getline(&line, &cap, in)) > 0) {
		if (!strncmp(line, prefix, plen) && (line[plen] == '\n' || line[plen] == ' ')) {
			fprintf(out, "%s --weight %d\n", prefix, w);
			found = 1;
		} else {
			fputs(line, out);
		}
	}
	free(line);
	fclose(in);
	if (fclose(out) || !found || rename(tmp, conf)) {
		unlink(tmp);
		return found ? -EIO : -ENOENT;
	}
	return 0;
}

static int mode_hup(pid_t pid, const char *conf, const char *vip, const char *addr, int runs)
{
	double *t = calloc((size_t)runs, sizeof(*t));
	int polls_total = 0;

	for (int i = 0; i < runs; i++) {
		int w = 60 + i % 2, err = rewrite_weight(conf, vip, addr, w), polls = 0;
		double t0, deadline;

		if (err) {
			fprintf(stderr, "bench_api hup: rewriting %s: %s\n", conf, strerror(-err));
			return 1;
		}
		t0 = now_us();
		deadline = t0 + 30e6;
		if (kill(pid, SIGHUP)) {
			perror("kill");
			return 1;
		}
		for (;;) {
			json_t *r = call("backend.list", vip, NULL, -1, -1);
			int seen = reply_ok(r) ? weight_of(r, addr) : -2;

			json_decref(r);
			polls++;
			if (seen == w)
				break;
			if (now_us() > deadline) {
				fprintf(stderr, "bench_api hup: weight %d not seen within 30 s\n", w);
				return 1;
			}
		}
		t[i] = (now_us() - t0) / 1e3;
		polls_total += polls;
	}
	struct mmm s = stats(t, runs);
	printf("hup_ms min=%.2f median=%.2f max=%.2f runs=%d polls=%d\n", s.min, s.med, s.max,
	       runs, polls_total);
	free(t);
	return 0;
}

/* ---- drain ----------------------------------------------------------------------- */

struct mapview {
	void *p;
	size_t len;
	__u32 max_entries;
	__u32 value_size;
};

static int map_view(const char *pin, struct mapview *v)
{
	struct bpf_map_info info = { 0 };
	__u32 ilen = sizeof(info);
	long page = sysconf(_SC_PAGESIZE);
	int fd = bpf_obj_get(pin);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &ilen)) {
		fprintf(stderr, "bench_api: %s: %s\n", pin, strerror(errno));
		return -1;
	}
	v->max_entries = info.max_entries;
	v->value_size = info.value_size;
	v->len = ((size_t)info.max_entries * info.value_size + page - 1) / page * page;
	v->p = mmap(NULL, v->len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (v->p == MAP_FAILED) {
		fprintf(stderr, "bench_api: mmap %s: %s\n", pin, strerror(errno));
		return -1;
	}
	return 0;
}

struct watch {
	const volatile __u32 *word;
	volatile int stop;
	volatile __u32 last;
	volatile double t_change;
	volatile unsigned seq;
};

static void *watcher(void *arg)
{
	struct watch *w = arg;
	__u32 last = __atomic_load_n(w->word, __ATOMIC_ACQUIRE);

	while (!w->stop) {
		__u32 now = __atomic_load_n(w->word, __ATOMIC_ACQUIRE);

		if (now != last) {
			w->t_change = now_us();
			w->last = now;
			last = now;
			__atomic_add_fetch(&w->seq, 1, __ATOMIC_RELEASE);
		}
		__builtin_ia32_pause();
	}
	return NULL;
}

static int mode_drain(const char *vip, const char *addr, const char *meta_pin,
		      const char *rings_pin, __u32 vip_id, __u32 be_id, int runs)
{
	struct mapview meta, rings;
	struct watch w = { 0 };
	double *call_t = calloc((size_t)runs, sizeof(double));
	double *flip_t = calloc((size_t)runs, sizeof(double));
	double *tail_t = calloc((size_t)runs, sizeof(double));
	__u32 stride, word0;
	int verified = 0, present_min = -1, bad = 0;
	pthread_t th;

	if (map_view(meta_pin, &meta) || map_view(rings_pin, &rings))
		return 1;
	if (vip_id >= meta.max_entries || meta.value_size != sizeof(struct lb_vip_meta)) {
		fprintf(stderr, "bench_api drain: vip id %u / vip_meta layout unexpected\n", vip_id);
		return 1;
	}
	/* rings: max_vips * 2 rows of stride entries, in pairs of two. */
	stride = rings.max_entries * 2 / (meta.max_entries * 2);
	w.word = &((const struct lb_vip_meta *)meta.p)[vip_id].ring;
	word0 = *w.word;
	w.last = word0;
	if (pthread_create(&th, NULL, watcher, &w)) {
		perror("pthread_create");
		return 1;
	}
	usleep(1000);
	for (int i = 0; i < runs; i++) {
		int drain = !(i % 2), count = 0;
		unsigned seq0 = __atomic_load_n(&w.seq, __ATOMIC_ACQUIRE);
		double t0, t1;
		json_t *r;
		__u32 word, m, half;
		const __u32 *row;

		t0 = now_us();
		r = call("backend.set", vip, addr, -1, drain);
		t1 = now_us();
		if (!reply_ok(r)) {
			fprintf(stderr, "bench_api drain: backend.set %s: %s\n",
				drain ? "drain" : "undrain", reply_error(r));
			json_decref(r);
			bad++;
			break;
		}
		json_decref(r);
		/* The flip happened before the reply (the grace period follows
		 * it); give the watcher a moment to have recorded it. */
		for (int k = 0; k < 100000 && __atomic_load_n(&w.seq, __ATOMIC_ACQUIRE) == seq0; k++)
			usleep(10);
		if (__atomic_load_n(&w.seq, __ATOMIC_ACQUIRE) != seq0 + 1) {
			fprintf(stderr, "bench_api drain: run %d: ring word changed %u times\n", i,
				__atomic_load_n(&w.seq, __ATOMIC_ACQUIRE) - seq0);
			bad++;
			continue;
		}
		call_t[i] = t1 - t0;
		flip_t[i] = w.t_change - t0;
		tail_t[i] = t1 - w.t_change;
		/* The live row: must (not) name the backend. */
		word = w.last;
		m = LB_RING_SIZE(word);
		half = LB_RING_HALF(word);
		row = (const __u32 *)rings.p + ((size_t)vip_id * 2 + half) * stride;
		for (__u32 k = 0; k < m; k++)
			count += row[k] == be_id;
		if (drain ? count == 0 : count > 0) {
			verified++;
			if (!drain && (present_min < 0 || count < present_min))
				present_min = count;
		} else {
			fprintf(stderr, "bench_api drain: run %d: live ring holds backend %u %d times after %s\n",
				i, be_id, count, drain ? "drain" : "undrain");
			bad++;
		}
	}
	w.stop = 1;
	pthread_join(th, NULL);
	if (bad) {
		printf("drain: %d run(s) failed\n", bad);
		return 1;
	}
	struct mmm c = stats(call_t, runs), f = stats(flip_t, runs), t = stats(tail_t, runs);
	printf("drain_call_us min=%.0f median=%.0f max=%.0f runs=%d\n", c.min, c.med, c.max, runs);
	printf("drain_flip_us min=%.0f median=%.0f max=%.0f\n", f.min, f.med, f.max);
	printf("drain_tail_us min=%.0f median=%.0f max=%.0f\n", t.min, t.med, t.max);
	printf("drain_verified %d/%d ring_word_start=%#x ring_word_end=%#x M=%u entries_when_up>=%d\n",
	       verified, runs, word0, (unsigned)w.last, LB_RING_SIZE(word0), present_min);
	munmap(meta.p, meta.len);
	munmap(rings.p, rings.len);
	return 0;
}

/* ---- rate -------------------------------------------------------------------------- */

enum { C_FRESH, C_PINGPONG, C_PIPE, N_STYLES };
static const char *const style_names[N_STYLES] = { "fresh connection", "one conn ping-pong",
						   "one conn pipelined" };

static int cur_weight = 100;

/* The request of call k: status, or backend.set with the other weight. */
static char *rate_req(int set, const char *vip, const char *addr)
{
	char *s;
	size_t n;

	if (!set) {
		s = req_text("status", NULL, NULL, -1, -1);
	} else {
		cur_weight = cur_weight == 100 ? 101 : 100;
		s = req_text("backend.set", vip, addr, cur_weight, -1);
	}
	n = strlen(s);
	s = realloc(s, n + 2);
	s[n] = '\n';
	s[n + 1] = '\0';
	return s;
}

/* Runs one case for at most `secs` or `max` calls; calls/s, or -1. */
static double rate_case(int style, int set, const char *vip, const char *addr, double secs,
			long max, int window, long *errors)
{
	double t0 = now_us(), end = t0 + secs * 1e6;
	long done = 0, sent = 0;
	struct conn c = { .fd = -1 };

	if (style != C_FRESH && conn_open(&c, sock_path)) {
		perror("connect");
		return -1;
	}
	while (done < max && now_us() < end) {
		if (style == C_FRESH) {
			char *text = rate_req(set, vip, addr);
			json_t *req = json_loads(text, 0, NULL);
			json_t *r = cp_api_call(sock_path, req, CALL_TIMEOUT_MS);

			*errors += !reply_ok(r);
			json_decref(r);
			json_decref(req);
			free(text);
			done++;
			continue;
		}
		/* Keep `window` (1 for ping-pong) requests in flight. */
		while (sent - done < (style == C_PIPE ? window : 1) && sent < max) {
			char *text = rate_req(set, vip, addr);

			if (conn_send(&c, text, strlen(text))) {
				free(text);
				conn_close(&c);
				return -1;
			}
			free(text);
			sent++;
		}
		int ok = conn_reply(&c, NULL);

		if (ok < 0) {
			conn_close(&c);
			return -1;
		}
		*errors += !ok;
		done++;
	}
	/* Collect what is still in flight before stopping the clock. */
	while (done < sent) {
		int ok = conn_reply(&c, NULL);

		if (ok < 0)
			break;
		*errors += !ok;
		done++;
	}
	double dt = (now_us() - t0) / 1e6;

	if (style != C_FRESH)
		conn_close(&c);
	return done / dt;
}

static int mode_rate(const char *vip, const char *addr, double secs, int rounds, int window)
{
	double r[2][N_STYLES][64];
	long errors = 0;

	if (rounds > 64)
		rounds = 64;
	/* Put the backend at weight 100 (it may be at 101 from an earlier run). */
	{
		json_t *x = call("backend.set", vip, addr, 100, -1);

		json_decref(x);
		cur_weight = 100;
	}
	for (int k = 0; k < rounds; k++) {
		for (int j = 0; j < 2 * N_STYLES; j++) {
			int idx = (j + k) % (2 * N_STYLES), set = idx / N_STYLES, style = idx % N_STYLES;
			/* Changes are ~100x slower: same time bound, fewer calls. */
			double v = rate_case(style, set, vip, addr, set ? secs * 2 : secs,
					     set ? 2000 : 1000000, window, &errors);

			if (v < 0) {
				fprintf(stderr, "bench_api rate: connection failed\n");
				return 1;
			}
			r[set][style][k] = v;
		}
	}
	for (int set = 0; set < 2; set++) {
		for (int style = 0; style < N_STYLES; style++) {
			struct mmm s = stats(r[set][style], rounds);

			printf("rate %-11s %-19s calls/s min=%.0f median=%.0f max=%.0f us/call=%.1f\n",
			       set ? "backend.set" : "status", style_names[style], s.min, s.med,
			       s.max, 1e6 / s.med);
		}
	}
	printf("rate errors=%ld window=%d rounds=%d\n", errors, window, rounds);
	{
		json_t *x = call("backend.set", vip, addr, 100, -1);

		json_decref(x);
	}
	return errors ? 1 : 0;
}

/* ---- burst ------------------------------------------------------------------------- */

static int mode_burst(long count)
{
	char *one = rate_req(0, NULL, NULL);
	size_t n = strlen(one);
	char *all = malloc(n * (size_t)count);
	struct conn c;
	long got = 0, bad = 0;
	double t0, dt;

	for (long i = 0; i < count; i++)
		memcpy(all + i * n, one, n);
	if (conn_open(&c, sock_path)) {
		perror("connect");
		return 1;
	}
	/* Writer and reader interleaved with poll, so neither side blocks
	 * on a full socket buffer. */
	size_t off = 0, total = n * (size_t)count;

	fcntl(c.fd, F_SETFL, O_NONBLOCK);
	t0 = now_us();
	while (got < count) {
		struct pollfd p = { .fd = c.fd, .events = POLLIN | (off < total ? POLLOUT : 0) };
		char *nl;

		if (poll(&p, 1, CALL_TIMEOUT_MS) <= 0)
			break;
		if ((p.revents & POLLOUT) && off < total) {
			ssize_t w = write(c.fd, all + off, total - off);

			if (w > 0)
				off += (size_t)w;
		}
		if (p.revents & (POLLIN | POLLHUP)) {
			if (c.len == c.cap) {
				c.cap *= 2;
				c.buf = realloc(c.buf, c.cap);
			}
			ssize_t rd = read(c.fd, c.buf + c.len, c.cap - c.len);

			if (rd == 0)
				break;
			if (rd > 0)
				c.len += (size_t)rd;
			while ((nl = memchr(c.buf, '\n', c.len))) {
				*nl = '\0';
				bad += !strstr(c.buf, "\"ok\":true");
				got++;
				c.len -= (size_t)(nl + 1 - c.buf);
				memmove(c.buf, nl + 1, c.len);
			}
		}
	}
	dt = now_us() - t0;
	printf("burst count=%ld replies=%ld errors=%ld total_ms=%.1f us/call=%.1f\n", count, got,
	       bad, dt / 1e3, dt / (double)(got ? got : 1));
	conn_close(&c);
	free(all);
	free(one);
	return got == count && !bad ? 0 : 1;
}

/* ---- stall -------------------------------------------------------------------------- */

static int mode_stall(double secs, const char *until)
{
	size_t cap = 4000000, n = 0;
	double *lat = malloc(cap * sizeof(double));
	char *req = rate_req(0, NULL, NULL);
	double start = now_us(), end = start + secs * 1e6, slow_sum = 0;
	double big_at[8], big_ms[8];
	int n_big = 0;
	long slow = 0;
	struct conn c;

	if (!lat || conn_open(&c, sock_path)) {
		perror("connect");
		return 1;
	}
	while (n < cap) {
		double t0 = now_us(), t1;

		if (t0 > end || (until && !access(until, F_OK)))
			break;
		char *line = NULL;
		int r = conn_send(&c, req, strlen(req)) ? -EPIPE : conn_reply(&c, &line);

		if (r != 1) {
			fprintf(stderr, "bench_api stall: status failed after %zu calls: %s\n", n,
				r < 0 ? strerror(-r) : line);
			return 1;
		}
		free(line);
		t1 = now_us();
		lat[n++] = t1 - t0;
		if (t1 - t0 > 1000) {
			slow++;
			slow_sum += t1 - t0;
		}
		if (t1 - t0 > 5000 && n_big < 8) {
			big_at[n_big] = (t0 - start) / 1e6;
			big_ms[n_big++] = (t1 - t0) / 1e3;
		}
	}
	if (!n) {
		printf("stall calls=0 (no answer in the window)\n");
		return 0;
	}
	secs = (now_us() - start) / 1e6;
	qsort(lat, n, sizeof(*lat), dbl_cmp);
	printf("stall calls=%zu secs=%.1f median_us=%.1f p99_us=%.1f p999_us=%.1f max_ms=%.2f "
	       "2nd_ms=%.2f 3rd_ms=%.2f over_1ms=%ld over_1ms_total_ms=%.1f\n",
	       n, secs, pct(lat, n, 0.5), pct(lat, n, 0.99), pct(lat, n, 0.999),
	       lat[n - 1] / 1e3, n > 1 ? lat[n - 2] / 1e3 : 0, n > 2 ? lat[n - 3] / 1e3 : 0, slow,
	       slow_sum / 1e3);
	printf("stall over_5ms:");
	for (int i = 0; i < n_big; i++)
		printf(" %.2fms@%.3fs", big_ms[i], big_at[i]);
	printf("%s\n", n_big ? "" : " none");
	conn_close(&c);
	free(lat);
	free(req);
	return 0;
}

/* ---- parts -------------------------------------------------------------------------- */

static void quiet_sink(int level, const char *fmt, va_list ap, void *arg)
{
	(void)level;
	(void)fmt;
	(void)ap;
	(void)arg;
}

static int grace_fds(int *outer, int *inner)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);

	*inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "bench_inner", 4, 4, 1, NULL);
	if (*inner < 0)
		return -errno;
	opts.inner_map_fd = *inner;
	*outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "bench_sync", 4, 4, 1, &opts);
	return *outer < 0 ? -errno : 0;
}

/* What cp_state_write does after formatting: temp file, write, fsync,
 * rename, fsync of the directory. */
static int persist_io(const char *path, const char *text, size_t len)
{
	char tmp[4200], dir[4096], *slash;
	int fd = -1, dfd = -1, err = -1;

	snprintf(tmp, sizeof(tmp), "%s.tmp.io", path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, text + off, len - off);

		if (w <= 0)
			goto out;
		off += (size_t)w;
	}
	if (fsync(fd) || close(fd))
		goto out;
	fd = -1;
	if (rename(tmp, path))
		goto out;
	dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd))
		goto out;
	err = 0;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	return err;
}

static int mode_parts(const char *conf, const char *dir, const char *vip, const char *addr,
		      int runs, const struct lb_params *lim)
{
	double *t_parse = calloc((size_t)runs, sizeof(double));
	double *t_apply = calloc((size_t)runs, sizeof(double));
	double *t_format = calloc((size_t)runs, sizeof(double));
	double *t_save = calloc((size_t)runs, sizeof(double));
	double *t_io = calloc((size_t)runs, sizeof(double));
	double *t_change = calloc((size_t)runs * 4, sizeof(double));
	double *t_ring = calloc((size_t)runs * 4, sizeof(double));
	double *t_grace = calloc((size_t)runs * 4, sizeof(double));
	char state[4096];
	size_t bytes = 0;
	int outer = -1, inner = -1, have_grace;
	struct cp_error e = { "", "" };

	/* lb_maglev_build and lb_maglev_digest alone, on 100 backends of
	 * weight 100 with M = lim->max_ring, as ring_build() calls them. */
	struct lb_maglev_backend mb[100];
	__u32 *ring = malloc((size_t)lim->max_ring * sizeof(*ring));
	double *t_build = calloc((size_t)runs * 4, sizeof(double));
	double *t_digest = calloc((size_t)runs * 4, sizeof(double));
	volatile __u64 sink = 0;

	memset(mb, 0, sizeof(mb));
	for (int i = 0; i < 100; i++) {
		mb[i].family = LB_FAMILY_V4;
		mb[i].addr.w[0] = htonl(0x0a000000u | (__u32)(i + 1));
		mb[i].weight = 100;
		mb[i].id = (__u32)i;
	}
	lb_maglev_build(mb, 100, ring, lim->max_ring);
	for (int i = 0; i < runs * 4; i++) {
		double t0 = now_us();

		lb_maglev_build(mb, 100, ring, lim->max_ring);
		t_build[i] = now_us() - t0;
		t0 = now_us();
		sink += lb_maglev_digest(ring, lim->max_ring, mb, 100);
		t_digest[i] = now_us() - t0;
	}
	(void)sink;
	free(ring);

	snprintf(state, sizeof(state), "%s/parts-state.conf", dir);
	lb_log_set_sink(quiet_sink, NULL);
	have_grace = !grace_fds(&outer, &inner);
	for (int i = 0; i < runs; i++) {
		struct cp_model loaded, live;
		double t0;
		char *text = NULL;
		FILE *f;

		t0 = now_us();
		if (cp_state_load(conf, lim, &loaded, NULL, &e)) {
			fprintf(stderr, "bench_api parts: %s: %s: %s\n", conf, e.field, e.msg);
			return 1;
		}
		t_parse[i] = now_us() - t0;

		cp_model_init(&live, lim, NULL);
		t0 = now_us();
		if (cp_model_apply_diff(&live, &loaded, &e) < 0) {
			fprintf(stderr, "bench_api parts: apply: %s: %s\n", e.field, e.msg);
			return 1;
		}
		t_apply[i] = now_us() - t0;

		for (int k = 0; k < 4; k++) {
			char *rt = req_text("backend.set", vip, addr, 100 + (i * 4 + k) % 2 + 1, -1);
			json_t *rj = json_loads(rt, 0, NULL);
			struct cp_request r;

			free(rt);
			if (cp_request_from_json(rj, &r, &e)) {
				fprintf(stderr, "bench_api parts: request: %s: %s\n", e.field, e.msg);
				return 1;
			}
			json_decref(rj);
			t0 = now_us();
			if (cp_model_apply(&live, &r, &e)) {
				fprintf(stderr, "bench_api parts: backend.set: %s: %s\n", e.field, e.msg);
				return 1;
			}
			t_change[i * 4 + k] = now_us() - t0;
			t_ring[i * 4 + k] = live.stats.last_rebuild_ns / 1e3;
			if (have_grace) {
				__u32 key = 0;

				t0 = now_us();
				bpf_map_update_elem(outer, &key, &inner, BPF_ANY);
				t_grace[i * 4 + k] = now_us() - t0;
			}
		}

		f = open_memstream(&text, &bytes);
		t0 = now_us();
		cp_model_save(&live, f);
		fclose(f);
		t_format[i] = now_us() - t0;
		t0 = now_us();
		if (persist_io(state, text, bytes)) {
			fprintf(stderr, "bench_api parts: cannot write %s: %s\n", state, strerror(errno));
			return 1;
		}
		t_io[i] = now_us() - t0;
		free(text);

		t0 = now_us();
		if (cp_state_write(state, &live, (unsigned long long)i + 1, 0, &e)) {
			fprintf(stderr, "bench_api parts: cannot write %s\n", state);
			return 1;
		}
		t_save[i] = now_us() - t0;
		cp_model_free(&live);
		cp_model_free(&loaded);
	}
	unlink(state);
	struct mmm a = stats(t_parse, runs), b = stats(t_apply, runs), c = stats(t_format, runs),
		   d = stats(t_save, runs), io = stats(t_io, runs), g = stats(t_change, runs * 4),
		   h = stats(t_ring, runs * 4), k = stats(t_grace, runs * 4);
	printf("parts parse_ms min=%.1f median=%.1f max=%.1f\n", a.min / 1e3, a.med / 1e3, a.max / 1e3);
	printf("parts apply_ms min=%.1f median=%.1f max=%.1f\n", b.min / 1e3, b.med / 1e3, b.max / 1e3);
	printf("parts change_us min=%.0f median=%.0f max=%.0f\n", g.min, g.med, g.max);
	printf("parts ring_us min=%.0f median=%.0f max=%.0f\n", h.min, h.med, h.max);
	h = stats(t_build, runs * 4);
	printf("parts build_us min=%.0f median=%.0f max=%.0f\n", h.min, h.med, h.max);
	h = stats(t_digest, runs * 4);
	printf("parts digest_us min=%.0f median=%.0f max=%.0f\n", h.min, h.med, h.max);
	printf("parts format_us min=%.0f median=%.0f max=%.0f bytes=%zu\n", c.min, c.med, c.max, bytes);
	printf("parts io_us min=%.0f median=%.0f max=%.0f\n", io.min, io.med, io.max);
	printf("parts save_us min=%.0f median=%.0f max=%.0f\n", d.min, d.med, d.max);
	if (have_grace)
		printf("parts grace_us min=%.1f median=%.1f max=%.1f\n", k.min, k.med, k.max);
	else
		printf("parts grace_us unavailable (ARRAY_OF_MAPS not created: not root?)\n");
	if (outer >= 0)
		close(outer);
	if (inner >= 0)
		close(inner);
	return 0;
}

/* ---- main --------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("Usage: bench_api start|hup|drain|rate|burst|stall|parts [options]"
	      " (see the top of tests/bench/bench_api.c)\n", f);
}

int main(int argc, char **argv)
{
	const char *mode, *vip = NULL, *addr = NULL, *log_path = NULL, *conf = NULL, *dir = NULL;
	const char *meta_pin = NULL, *rings_pin = NULL, *pid_file = NULL, *until = NULL;
	struct lb_params lim = {
		.max_vips = 128, .max_ring = 65537,
		.max_backends = 10240, .flow_buckets = 1024, .nr_cpus = 1,
	};
	int n = -1, keep = 0, runs = 0, rounds = 5, window = 32, c;
	long count = 1000;
	double secs = 0;
	pid_t pid = 0;
	__u32 vip_id = 0, be_id = 0;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	mode = argv[1];
	optind = 2;
	while ((c = getopt(argc, argv, "s:n:l:kp:P:c:v:b:m:r:i:B:t:R:w:N:d:V:E:U:")) != -1) {
		switch (c) {
		case 's': sock_path = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'l': log_path = optarg; break;
		case 'k': keep = 1; break;
		case 'p': pid = (pid_t)atoi(optarg); break;
		case 'P': pid_file = optarg; break;
		case 'c': conf = optarg; break;
		case 'v': vip = optarg; break;
		case 'b': addr = optarg; break;
		case 'm': meta_pin = optarg; break;
		case 'r': rings_pin = optarg; break;
		case 'i': vip_id = (__u32)strtoul(optarg, NULL, 0); break;
		case 'B': be_id = (__u32)strtoul(optarg, NULL, 0); break;
		case 't': secs = atof(optarg); break;
		case 'R': rounds = atoi(optarg); break;
		case 'w': window = atoi(optarg); break;
		case 'N': count = atol(optarg); break;
		case 'd': dir = optarg; break;
		case 'V': lim.max_vips = (__u32)strtoul(optarg, NULL, 0); break;
		case 'E': lim.max_backends = (__u32)strtoul(optarg, NULL, 0); break;
		case 'U': until = optarg; break;
		default: usage(stderr); return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(mode, "parts")) {
		if (!conf || !dir || !vip || !addr) {
			usage(stderr);
			return 2;
		}
		return mode_parts(conf, dir, vip, addr, n > 0 ? n : 5, &lim);
	}
	if (!sock_path) {
		fprintf(stderr, "bench_api: -s SOCK needed\n");
		return 2;
	}
	if (!strcmp(mode, "start")) {
		if (n < 0 || optind >= argc) {
			usage(stderr);
			return 2;
		}
		return mode_start(n, log_path, pid_file, keep, argv + optind);
	}
	if (!strcmp(mode, "hup") && pid > 0 && conf && vip && addr)
		return mode_hup(pid, conf, vip, addr, n > 0 ? n : 5);
	if (!strcmp(mode, "drain") && vip && addr && meta_pin && rings_pin) {
		runs = n > 0 ? n : 20;
		return mode_drain(vip, addr, meta_pin, rings_pin, vip_id, be_id, runs);
	}
	if (!strcmp(mode, "rate") && vip && addr)
		return mode_rate(vip, addr, secs > 0 ? secs : 0.3, rounds, window > 0 ? window : 1);
	if (!strcmp(mode, "burst"))
		return mode_burst(count > 0 ? count : 1000);
	if (!strcmp(mode, "stall"))
		return mode_stall(secs > 0 ? secs : 6, until);
	usage(stderr);
	return 2;
}
