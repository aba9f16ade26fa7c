// SPDX-License-Identifier: Apache-2.0
/*
 * api.c - the API socket of sluiced (see api.h).
 */
#define LB_LOG_PREFIX "api: "

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "request_json.h"

/* One connection. Its clock fields say since when it has been quiet in
 * each way that can close it (see client_expire). */
struct cp_client {
	int fd;
	unsigned int slot;	/* in api->clients */
	struct ucred peer;
	int read_only;		/* a read-group member: reads only */
	int serving;		/* its request is being handled: never closed meanwhile */
	int held;		/* its next request waits for a batch to end */
	char *in;
	size_t in_len;
	char *out;
	size_t out_len;		/* bytes queued, from out[0] */
	size_t out_off;		/* of which written */
	size_t out_cap;
	int closing;		/* close once out is flushed */
	__u64 last_ms;		/* accepted, or its last request answered */
	__u64 in_ms;		/* the unfinished line in `in` started */
	__u64 out_ms;		/* replies pending since, or last written to */
};

struct cp_api {
	int lfd;
	int epfd;
	int tfd;		/* the timeouts' tick */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	cp_api_handler handler;
	void *arg;
	struct cp_api_limits lim;
	struct cp_api_stats st;
	__u64 now_ms;		/* CLOCK_MONOTONIC, read once per dispatch */
	__u64 warned_ms;	/* the last warning about the cap */
	unsigned int unwarned;	/* cap events since, not logged */
	struct cp_client **clients;	/* lim.max_clients slots */
	struct batch *batch;	/* the events being dispatched */
	/* While a long change runs (cp_api_dispatch_readonly): the client
	 * whose request started it, and which requests must wait. */
	struct cp_client *busy;
	cp_api_defer_fn defer;
};

/* The events of one epoll_wait. A client closed while they are handled
 * (evicted for a newcomer, timed out) may still have an event in them:
 * client_free clears it. Batches chain, should dispatch ever nest. */
struct batch {
	struct epoll_event evs[32];
	int n;
	struct batch *outer;
};

#define CP_API_WARN_EVERY_MS 10000	/* the cap is logged this often at most */
#define CP_API_FD_RESERVE 256		/* open files the daemon needs besides clients */

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int sun_fill(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, path);
	return 0;
}

static int mkdir_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	if (strlen(path) >= sizeof(dir))
		return -ENAMETOOLONG;
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* A socket file nobody answers on is a leftover of a crash: replace it.
 * One that answers belongs to a running sluiced: refuse. */
static int claim_path(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0) {
		err = -EADDRINUSE;
	} else if (errno == ECONNREFUSED) {
		if (unlink(sun->sun_path) && errno != ENOENT)
			err = -errno;
	} else if (errno != ENOENT) {
		err = -errno;
	}
	close(fd);
	return err;
}

/* The tick is a quarter of the shortest timeout (within 50 ms..1 s), so
 * a client is closed at most a quarter late. */
static int arm_tick(struct cp_api *api)
{
	unsigned int shortest = api->lim.idle_ms;
	struct itimerspec its = { 0 };

	if (!shortest || (api->lim.stall_ms && api->lim.stall_ms < shortest))
		shortest = api->lim.stall_ms;
	if (shortest) {
		unsigned int period = shortest / 4 < 50 ? 50 : shortest / 4 > 1000 ? 1000 : shortest / 4;

		its.it_interval.tv_sec = period / 1000;
		its.it_interval.tv_nsec = (long)(period % 1000) * 1000000;
		its.it_value = its.it_interval;
	}
	return timerfd_settime(api->tfd, 0, &its, NULL) ? -errno : 0;
}

static int epoll_add(int epfd, int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

struct cp_api *cp_api_open(const char *path, cp_api_handler handler, void *arg)
{
	static const struct cp_api_limits defaults = {
		.max_clients = CP_API_DEFAULT_MAX_CLIENTS,
		.idle_ms = CP_API_DEFAULT_IDLE_MS,
		.stall_ms = CP_API_DEFAULT_STALL_MS,
	};
	struct sockaddr_un sun;
	struct cp_api *api;
	mode_t old_mask;
	int err;

	api = calloc(1, sizeof(*api));
	if (!api)
		return NULL;
	api->lfd = api->epfd = api->tfd = -1;
	api->handler = handler;
	api->arg = arg;
	api->lim = defaults;
	api->clients = calloc(api->lim.max_clients, sizeof(*api->clients));
	if (!api->clients) {
		err = -ENOMEM;
		goto fail;
	}
	err = sun_fill(&sun, path);
	if (!err)
		err = mkdir_parent(path);
	if (!err)
		err = claim_path(&sun);
	if (err) {
		pr_warn("%s: %s\n", path,
			err == -EADDRINUSE ? "another sluiced is listening there" : strerror(-err));
		goto fail;
	}
	strcpy(api->path, sun.sun_path);

	api->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (api->lfd < 0)
		goto fail_errno;
	/* Created 0600 from the start: no window in which others connect. */
	old_mask = umask(0177);
	err = bind(api->lfd, (struct sockaddr *)&sun, sizeof(sun)) ? -errno : 0;
	umask(old_mask);
	if (err) {
		pr_warn("bind %s: %s\n", path, strerror(-err));
		goto fail;
	}
	if (chmod(path, 0600) || listen(api->lfd, 64))
		goto fail_errno;
	api->epfd = epoll_create1(EPOLL_CLOEXEC);
	api->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (api->epfd < 0 || api->tfd < 0)
		goto fail_errno;
	err = epoll_add(api->epfd, api->lfd, &api->lfd);
	if (!err)
		err = epoll_add(api->epfd, api->tfd, &api->tfd);
	if (!err)
		err = arm_tick(api);
	if (err)
		goto fail;
	return api;

fail_errno:
	err = -errno;
	pr_warn("%s: %s\n", path, strerror(-err));
fail:
	cp_api_close(api);
	errno = -err;
	return NULL;
}

static void client_free(struct cp_api *api, struct cp_client *c)
{
	for (struct batch *b = api->batch; b; b = b->outer)
		for (int i = 0; i < b->n; i++)
			if (b->evs[i].data.ptr == c)
				b->evs[i].data.ptr = NULL;
	api->clients[c->slot] = NULL;
	api->st.clients--;
	epoll_ctl(api->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

void cp_api_close(struct cp_api *api)
{
	if (!api)
		return;
	for (unsigned int i = 0; api->clients && i < api->lim.max_clients; i++)
		if (api->clients[i])
			client_free(api, api->clients[i]);
	free(api->clients);
	if (api->lfd >= 0) {
		close(api->lfd);
		unlink(api->path);
	}
	if (api->tfd >= 0)
		close(api->tfd);
	if (api->epfd >= 0)
		close(api->epfd);
	free(api);
}

/* max_clients connections must fit the open-file limit, else accept()
 * fails with EMFILE while the listening socket stays readable. */
static int fit_nofile(unsigned int clients)
{
	rlim_t want = (rlim_t)clients + CP_API_FD_RESERVE;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= want)
		return 0;
	if (rl.rlim_cur == RLIM_INFINITY)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		pr_warn("%u API clients need %llu open files; the hard limit is %llu "
			"(systemd: LimitNOFILE=)\n", clients, (unsigned long long)want,
			(unsigned long long)rl.rlim_max);
		return -EMFILE;
	}
	rl.rlim_cur = want;
	return setrlimit(RLIMIT_NOFILE, &rl) ? -errno : 0;
}

/* The read group's members connect through the file mode; SO_PEERCRED
 * still decides (client_accept). Mode 0600 until the group owns it, so
 * that there is never a window for others. */
static int share_with_group(const struct cp_api *api, gid_t gid)
{
	if (chown(api->path, 0, gid) || chmod(api->path, 0660)) {
		int err = -errno;

		pr_warn("%s: giving it to group %u: %s\n", api->path, (unsigned int)gid,
			strerror(-err));
		return err;
	}
	return 0;
}

int cp_api_set_limits(struct cp_api *api, const struct cp_api_limits *lim)
{
	struct cp_client **slots;
	int err;

	if (api->st.clients)
		return -EBUSY;
	if (!lim->max_clients)
		return -EINVAL;
	err = fit_nofile(lim->max_clients);
	if (!err && lim->read_group)
		err = share_with_group(api, lim->read_gid);
	if (err)
		return err;
	slots = calloc(lim->max_clients, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	free(api->clients);
	api->clients = slots;
	api->lim = *lim;
	return arm_tick(api);
}

void cp_api_get_limits(const struct cp_api *api, struct cp_api_limits *lim)
{
	*lim = api->lim;
}

void cp_api_stats(const struct cp_api *api, struct cp_api_stats *st)
{
	*st = api->st;
	st->max_clients = api->lim.max_clients;
}

int cp_api_fd(const struct cp_api *api)
{
	return api->epfd;
}

static int client_want(struct cp_api *api, struct cp_client *c)
{
	struct epoll_event ev = {
		.events = (c->closing || c->held ? 0 : EPOLLIN) |
			  (c->out_len > c->out_off ? EPOLLOUT : 0),
		.data.ptr = c,
	};

	return epoll_ctl(api->epfd, EPOLL_CTL_MOD, c->fd, &ev) ? -errno : 0;
}

/* Queues one reply line; returns -ENOBUFS when the client reads too
 * little for what it asks (it is dropped). The buffer grows by doubling
 * and is compacted only when half of it has been written, so a burst of
 * N replies costs O(N), not O(N^2). */
static int client_queue(struct cp_api *api, struct cp_client *c, json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT);
	size_t n, pending = c->out_len - c->out_off;
	int err = 0;

	json_decref(reply);
	if (!text)
		return -ENOMEM;
	n = strlen(text);
	if (pending + n + 1 > CP_API_MAX_OUT) {
		err = -ENOBUFS;
		goto out;
	}
	if (c->out_off && c->out_off >= c->out_cap / 2) {
		memmove(c->out, c->out + c->out_off, pending);
		c->out_len = pending;
		c->out_off = 0;
	}
	if (c->out_len + n + 1 > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *bigger;

		while (cap < c->out_len + n + 1)
			cap *= 2;
		bigger = realloc(c->out, cap);
		if (!bigger) {
			err = -ENOMEM;
			goto out;
		}
		c->out = bigger;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, text, n);
	c->out[c->out_len + n] = '\n';
	c->out_len += n + 1;
	if (!pending)
		c->out_ms = api->now_ms;
out:
	free(text);
	return err;
}

static json_t *error_reply(const char *field, const char *msg)
{
	struct cp_error e;

	cp_error_set(&e, -EINVAL, field, "%s", msg);
	return cp_reply_error(&e);
}

/* "vip.list, backend.list, ...": the ops a read-group member may send. */
static void read_ops(char *buf, size_t len)
{
	buf[0] = '\0';
	for (int op = CP_OP_NONE + 1; op < CP_OP_MAX; op++)
		if (cp_op_def(op)->read)
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? ", " : "",
				 cp_op_name(op));
}

/* A read-group member may send the ops the op table marks as reads;
 * the rest (changes, health reports, detach) is root's. An unknown op
 * goes on to the handler, which refuses it by name. NULL: allowed. */
static json_t *refuse_non_read(struct cp_api *api, const struct cp_client *c, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "op"));
	const struct cp_op_def *def = cp_op_def(cp_op_from_name(name));
	struct cp_error e;
	char reads[192];

	if (!c->read_only || !def || def->read)
		return NULL;
	api->st.read_only++;
	pr_info("refused %s to pid %d uid %u: group %s may only read\n", def->name, c->peer.pid,
		c->peer.uid, api->lim.read_group_name);
	read_ops(reads, sizeof(reads));
	cp_error_set(&e, -EPERM, "op", "permission denied: %s is not a read; group %.32s may send "
		     "only %s", def->name, api->lim.read_group_name, reads);
	return cp_reply_error(&e);
}

static json_t *handle_line(struct cp_api *api, struct cp_client *c, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *req, *reply;
	char msg[256];

	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req) {
		snprintf(msg, sizeof(msg), "malformed JSON at column %d: %s", jerr.column, jerr.text);
		return error_reply("request", msg);
	}
	if (!json_is_object(req)) {
		json_decref(req);
		return error_reply("request", "a request is a JSON object");
	}
	reply = refuse_non_read(api, c, req);
	if (!reply) {
		c->serving = 1;
		reply = api->handler(api->arg, req, &c->peer);
		c->serving = 0;
	}
	json_decref(req);
	return reply ? reply : error_reply("request", "internal error: no reply");
}

/* Answers every complete line in the input buffer. */
static int client_lines(struct cp_api *api, struct cp_client *c)
{
	size_t start = 0;
	char *nl;
	int err;

	while (start < c->in_len && (nl = memchr(c->in + start, '\n', c->in_len - start))) {
		size_t len = nl - (c->in + start);

		if (len > 0 && api->defer && api->defer(api->arg, c->in + start, len)) {
			c->held = 1;
			break;
		}
		if (len > 0) {
			struct cp_client *outer = api->busy;

			api->busy = c;
			err = client_queue(api, c, handle_line(api, c, c->in + start, len));
			api->busy = outer;
			if (err)
				return err;
			c->last_ms = api->now_ms;
		}
		start += len + 1;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	/* What is left is the start of the next line: it arrived last. */
	if (start && c->in_len)
		c->in_ms = api->now_ms;
	if (c->in_len > CP_API_MAX_LINE) {
		char msg[96];

		snprintf(msg, sizeof(msg), "request larger than %u bytes", CP_API_MAX_LINE);
		c->closing = 1;
		c->in_len = 0;
		return client_queue(api, c, error_reply("request", msg));
	}
	return 0;
}

static int client_read(struct cp_api *api, struct cp_client *c)
{
	int err;

	for (;;) {
		ssize_t n;

		if (!c->in) {
			c->in = malloc(CP_API_MAX_LINE + 2);
			if (!c->in)
				return -ENOMEM;
		}
		n = read(c->fd, c->in + c->in_len, CP_API_MAX_LINE + 1 - c->in_len);
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n == 0) {
			/* Half-closed: a last line without '\n' still counts. */
			if (c->in_len && c->in_len <= CP_API_MAX_LINE)
				c->in[c->in_len++] = '\n';
			c->closing = 1;
			return client_lines(api, c);
		}
		if (!c->in_len)
			c->in_ms = api->now_ms;
		c->in_len += n;
		err = client_lines(api, c);
		if (err || c->closing || c->held)
			return err;
	}
}

/* MSG_NOSIGNAL: a client gone away is EPIPE here, not a signal to
 * whichever program embeds the server. */
static int client_write(struct cp_api *api, struct cp_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		c->out_off += n;
		c->out_ms = api->now_ms;
	}
	return 0;
}

/* Nothing in progress: no unfinished line, no unread reply. */
static int client_idle(const struct cp_client *c)
{
	return !c->closing && !c->serving && !c->held && !c->in_len && c->out_off == c->out_len;
}

/* A request waiting in the socket, not read yet (the loop was busy, or
 * its event comes later in this batch): the client is not idle. */
static int has_input(const struct cp_client *c)
{
	char b;

	return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* The cap is logged at most every CP_API_WARN_EVERY_MS, with how many
 * times it was hit meanwhile: a flood of clients must not flood the log. */
static void cap_warn(struct cp_api *api, const char *what, const struct cp_client *victim)
{
	if (api->warned_ms && api->now_ms - api->warned_ms < CP_API_WARN_EVERY_MS) {
		api->unwarned++;
		return;
	}
	if (victim)
		pr_warn("%u clients (--api-max-clients): %s pid %d, idle %llu ms (%u more since "
			"the last warning)\n", api->lim.max_clients, what, victim->peer.pid,
			(unsigned long long)(api->now_ms - victim->last_ms), api->unwarned);
	else
		pr_warn("%u clients (--api-max-clients): %s (%u more since the last warning)\n",
			api->lim.max_clients, what, api->unwarned);
	api->warned_ms = api->now_ms;
	api->unwarned = 0;
}

/* A free slot; at the cap, the slot of the client idle longest, closed
 * for the newcomer (a newcomer is about to send its request, the idle
 * one may never). -1 when every client is mid-request. */
static int client_slot(struct cp_api *api)
{
	struct cp_client *oldest = NULL;
	unsigned int slot;

	for (unsigned int i = 0; i < api->lim.max_clients; i++) {
		struct cp_client *c = api->clients[i];

		if (!c)
			return (int)i;
		if (client_idle(c) && (!oldest || c->last_ms < oldest->last_ms) && !has_input(c))
			oldest = c;
	}
	if (!oldest) {
		api->st.refused++;
		cap_warn(api, "every client is mid-request; refused a newcomer", NULL);
		return -1;
	}
	slot = oldest->slot;
	api->st.evicted++;
	cap_warn(api, "closed the client idle longest for a newcomer:", oldest);
	client_free(api, oldest);
	return (int)slot;
}

/* SO_PEERGROUPS: the groups the client process holds, which the kernel
 * also checked against the socket's mode. Read from the connection, not
 * from the group database: no NSS lookup on the control thread. */
static int peer_in_group(int fd, gid_t gid)
{
	gid_t small[64], *groups = small;
	socklen_t len = sizeof(small);
	int found = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len)) {
		if (errno != ERANGE)
			return 0;
		groups = malloc(len);
		if (!groups || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len)) {
			free(groups);
			return 0;
		}
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		found |= groups[i] == gid;
	if (groups != small)
		free(groups);
	return found;
}

/* 0: full access (root); 1: reads only (the read group, as primary or
 * supplementary group of the process); -1: none. */
static int peer_access(const struct cp_api *api, int fd, const struct ucred *peer)
{
	if (peer->uid == 0)
		return 0;
	if (!api->lim.read_group)
		return -1;
	return peer->gid == api->lim.read_gid || peer_in_group(fd, api->lim.read_gid) ? 1 : -1;
}

static void client_deny(struct cp_api *api, struct cp_client *c)
{
	char msg[160];

	api->st.denied++;
	pr_info("refused pid %d uid %u: root only%s%s\n", c->peer.pid, c->peer.uid,
		api->lim.read_group ? " and group " : "",
		api->lim.read_group ? api->lim.read_group_name : "");
	snprintf(msg, sizeof(msg), "permission denied: sluiced accepts only root%s%.64s%s",
		 api->lim.read_group ? " and members of group " : "",
		 api->lim.read_group ? api->lim.read_group_name : "",
		 api->lim.read_group ? " (read only)" : "");
	c->closing = 1;
	if (!client_queue(api, c, error_reply("peer", msg)))
		client_write(api, c);
	client_want(api, c);
}

static void client_accept(struct cp_api *api, int fd)
{
	socklen_t len = sizeof(struct ucred);
	struct cp_client *c = calloc(1, sizeof(*c));
	int slot, access;

	if (!c || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->peer, &len)) {
		pr_warn("refusing a client: %s\n", strerror(c ? errno : ENOMEM));
		free(c);
		close(fd);
		return;
	}
	slot = client_slot(api);
	if (slot < 0 || epoll_add(api->epfd, fd, c)) {
		free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	c->slot = (unsigned int)slot;
	c->last_ms = api->now_ms;
	api->clients[slot] = c;
	api->st.clients++;
	api->st.accepted++;
	access = peer_access(api, fd, &c->peer);
	c->read_only = access == 1;
	if (access < 0)
		client_deny(api, c);
}

static void client_event(struct cp_api *api, struct cp_client *c, __u32 events)
{
	int err = 0;

	if (events & EPOLLIN)
		err = client_read(api, c);
	if (!err)
		err = client_write(api, c);
	if (!err && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
		err = -EPIPE;
	if (err == -ENOBUFS) {
		api->st.stalled++;
		pr_warn("pid %d does not read its replies; dropped\n", c->peer.pid);
	}
	if (err || (c->closing && !c->held && c->out_off == c->out_len)) {
		client_free(api, c);
		return;
	}
	client_want(api, c);
}

/* Closes a client stuck past the stall timeout (an unfinished request
 * line, or replies it does not read) or idle past the idle timeout. */
static void client_expire(struct cp_api *api, struct cp_client *c)
{
	const struct cp_api_limits *l = &api->lim;
	int in_stuck = c->in_len && api->now_ms - c->in_ms >= l->stall_ms;
	int out_stuck = c->out_off < c->out_len && api->now_ms - c->out_ms >= l->stall_ms;

	if (c->serving || c->held)
		return;
	if (c->closing && c->out_off == c->out_len) {
		/* Refused, its answer sent: the peer had the stall timeout to
		 * read it, and keeps the connection open. */
		if (api->now_ms - c->out_ms >= l->stall_ms)
			client_free(api, c);
	} else if (l->stall_ms && (in_stuck || out_stuck)) {
		api->st.stalled++;
		pr_info("pid %d: %s for %u ms; closed\n", c->peer.pid,
			in_stuck ? "request line unfinished" : "replies unread", l->stall_ms);
		client_free(api, c);
	} else if (l->idle_ms && client_idle(c) && api->now_ms - c->last_ms >= l->idle_ms &&
		   !has_input(c)) {
		api->st.idle++;
		pr_debug("pid %d: no request for %u ms; closed\n", c->peer.pid, l->idle_ms);
		client_free(api, c);
	}
}

static void tick(struct cp_api *api)
{
	__u64 ticks;

	if (read(api->tfd, &ticks, sizeof(ticks)) <= 0)
		return;
	for (unsigned int i = 0; i < api->lim.max_clients; i++)
		if (api->clients[i])
			client_expire(api, api->clients[i]);
}

/* Clients held during a batch: their waiting requests now, in turn. */
static void resume_held(struct cp_api *api)
{
	for (unsigned int i = 0; i < api->lim.max_clients; i++) {
		struct cp_client *c = api->clients[i];
		int err;

		if (!c || !c->held)
			continue;
		c->held = 0;
		err = client_lines(api, c);
		if (!err)
			err = client_write(api, c);
		if (err || (c->closing && !c->held && c->out_off == c->out_len))
			client_free(api, c);
		else
			client_want(api, c);
	}
}

/* While a batch runs (api->defer set), the client whose request runs and
 * those already waiting are not read until it ends: only their replies
 * are written. */
static int held_back(struct cp_api *api, struct cp_client *c)
{
	if (!api->defer || (c != api->busy && !c->held))
		return 0;
	c->held = 1;
	client_write(api, c);
	client_want(api, c);
	return 1;
}

static int dispatch_events(struct cp_api *api)
{
	struct batch b = { .outer = api->batch };

	b.n = epoll_wait(api->epfd, b.evs, 32, 0);
	if (b.n < 0)
		return errno == EINTR ? 0 : -errno;
	api->now_ms = now_ms();
	api->batch = &b;
	for (int i = 0; i < b.n; i++) {
		void *tag = b.evs[i].data.ptr;

		if (tag == &api->lfd) {
			int fd;

			while ((fd = accept4(api->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
				client_accept(api, fd);
		} else if (tag == &api->tfd) {
			tick(api);
		} else if (tag && !held_back(api, tag)) {
			client_event(api, tag, b.evs[i].events);
		}
	}
	api->batch = b.outer;
	return 0;
}

int cp_api_dispatch(struct cp_api *api)
{
	int err;

	resume_held(api);
	err = dispatch_events(api);
	/* A request above may have run a batch that held others. */
	resume_held(api);
	return err;
}

int cp_api_dispatch_readonly(struct cp_api *api, cp_api_defer_fn defer)
{
	cp_api_defer_fn outer = api->defer;
	int err;

	api->defer = defer;
	err = dispatch_events(api);
	api->defer = outer;
	return err;
}

static long ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* Waits for fd to become ready for `events` before the deadline. */
static int wait_fd(int fd, short events, const struct timespec *deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	long left = ms_left(deadline);
	int n;

	if (left <= 0)
		return -ETIMEDOUT;
	n = poll(&p, 1, (int)left);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

static int call_send(int fd, const char *text, const struct timespec *deadline)
{
	size_t len = strlen(text), off = 0;

	while (off < len) {
		ssize_t n = send(fd, text + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN)
			return errno == EPIPE ? -ECONNRESET : -errno;
		if (n < 0) {
			int err = wait_fd(fd, POLLOUT, deadline);

			if (err)
				return err;
			continue;
		}
		off += n;
	}
	return 0;
}

static json_t *call_receive(int fd, const struct timespec *deadline, int *err)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	json_t *reply = NULL;
	json_error_t jerr;

	*err = buf ? 0 : -ENOMEM;
	while (!*err) {
		char *nl = memchr(buf, '\n', len);
		ssize_t n;

		if (nl) {
			reply = json_loadb(buf, nl - buf, 0, &jerr);
			*err = reply ? 0 : -EPROTO;
			break;
		}
		if (len == cap) {
			char *bigger = cap < CP_API_MAX_OUT ? realloc(buf, cap * 2) : NULL;

			if (!bigger) {
				*err = -EMSGSIZE;
				break;
			}
			buf = bigger;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n == 0)
			*err = -ECONNRESET;
		else if (n < 0 && errno == EAGAIN)
			*err = wait_fd(fd, POLLIN, deadline);
		else if (n < 0)
			*err = -errno;
		else
			len += n;
	}
	free(buf);
	return reply;
}

/* Non-blocking, so that the deadline holds: a Unix socket whose backlog
 * is full (a server that does not accept) answers EAGAIN, retried. */
static int call_connect(int fd, const struct sockaddr_un *sun, const struct timespec *deadline)
{
	while (connect(fd, (const struct sockaddr *)sun, sizeof(*sun))) {
		struct timespec pause = { .tv_nsec = 10 * 1000000 };

		if (errno == EINPROGRESS) {
			socklen_t len = sizeof(int);
			int err = wait_fd(fd, POLLOUT, deadline), so_err = 0;

			if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_err, &len))
				err = -errno;
			return err ? err : -so_err;
		}
		if (errno != EAGAIN)
			return -errno;
		if (ms_left(deadline) <= 0)
			return -ETIMEDOUT;
		nanosleep(&pause, NULL);
	}
	return 0;
}

json_t *cp_api_call(const char *path, json_t *req, int timeout_ms)
{
	struct timespec deadline;
	struct sockaddr_un sun;
	json_t *reply = NULL;
	char *text = NULL;
	int fd = -1, err;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	err = sun_fill(&sun, path);
	if (err)
		goto out;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	err = fd < 0 ? -errno : call_connect(fd, &sun, &deadline);
	if (err)
		goto out;
	text = json_dumps(req, JSON_COMPACT);
	if (!text) {
		err = -ENOMEM;
		goto out;
	}
	err = call_send(fd, text, &deadline);
	if (!err)
		err = call_send(fd, "\n", &deadline);
	/* A server that refused us before reading may have said why. */
	if (!err || err == -ECONNRESET) {
		int rerr;

		reply = call_receive(fd, &deadline, &rerr);
		if (!err)
			err = rerr;
	}
out:
	free(text);
	if (fd >= 0)
		close(fd);
	if (!reply)
		errno = err ? -err : EPROTO;
	return reply;
}
