// SPDX-License-Identifier: Apache-2.0
/*
 * api.c - the API socket of sluiced (see api.h).
 */
#define LB_LOG_PREFIX "api: "

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "request_json.h"

struct cp_client {
	int fd;
	struct ucred peer;
	char *in;
	size_t in_len;
	char *out;
	size_t out_len;		/* bytes queued, from out[0] */
	size_t out_off;		/* of which written */
	size_t out_cap;
	int closing;		/* close once out is flushed */
	int held;		/* its next request waits for a batch to end */
};

struct cp_api {
	int lfd;
	int epfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	cp_api_handler handler;
	void *arg;
	struct cp_client *clients[CP_API_MAX_CLIENTS];
	/* While a long change runs (cp_api_dispatch_readonly): the client
	 * whose request started it, and which requests must wait. */
	struct cp_client *busy;
	cp_api_defer_fn defer;
};

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

struct cp_api *cp_api_open(const char *path, cp_api_handler handler, void *arg)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct sockaddr_un sun;
	struct cp_api *api;
	mode_t old_mask;
	int err;

	api = calloc(1, sizeof(*api));
	if (!api)
		return NULL;
	api->lfd = api->epfd = -1;
	api->handler = handler;
	api->arg = arg;
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
	if (api->epfd < 0)
		goto fail_errno;
	ev.data.ptr = NULL;
	if (epoll_ctl(api->epfd, EPOLL_CTL_ADD, api->lfd, &ev))
		goto fail_errno;
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
	for (int i = 0; i < CP_API_MAX_CLIENTS; i++)
		if (api->clients[i] == c)
			api->clients[i] = NULL;
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
	for (int i = 0; i < CP_API_MAX_CLIENTS; i++)
		if (api->clients[i])
			client_free(api, api->clients[i]);
	if (api->lfd >= 0) {
		close(api->lfd);
		unlink(api->path);
	}
	if (api->epfd >= 0)
		close(api->epfd);
	free(api);
}

int cp_api_fd(const struct cp_api *api)
{
	return api->epfd;
}

static int client_want(struct cp_api *api, struct cp_client *c)
{
	struct epoll_event ev = {
		.events = (c->closing || c->held ? 0 : EPOLLIN) | (c->out_len > c->out_off ? EPOLLOUT : 0),
		.data.ptr = c,
	};

	return epoll_ctl(api->epfd, EPOLL_CTL_MOD, c->fd, &ev) ? -errno : 0;
}

/* Queues one reply line; returns -ENOBUFS when the client reads too
 * little for what it asks (it is dropped). The buffer grows by doubling
 * and is compacted only when half of it has been written, so a burst of
 * N replies costs O(N), not O(N^2). */
static int client_queue(struct cp_client *c, json_t *reply)
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
	reply = api->handler(api->arg, req, &c->peer);
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
			err = client_queue(c, handle_line(api, c, c->in + start, len));
			api->busy = outer;
			if (err)
				return err;
		}
		start += len + 1;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	if (c->in_len > CP_API_MAX_LINE) {
		char msg[96];

		snprintf(msg, sizeof(msg), "request larger than %u bytes", CP_API_MAX_LINE);
		c->closing = 1;
		c->in_len = 0;
		return client_queue(c, error_reply("request", msg));
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
		c->in_len += n;
		err = client_lines(api, c);
		if (err || c->closing || c->held)
			return err;
	}
}

static int client_write(struct cp_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		c->out_off += n;
	}
	return 0;
}

static void client_accept(struct cp_api *api, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	socklen_t len = sizeof(struct ucred);
	struct cp_client *c = calloc(1, sizeof(*c));
	int slot = -1;

	for (int i = 0; i < CP_API_MAX_CLIENTS && slot < 0; i++)
		if (!api->clients[i])
			slot = i;
	if (!c || slot < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->peer, &len)) {
		pr_warn("refusing a client: %s\n", slot < 0 ? "too many clients" : strerror(errno));
		free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	ev.data.ptr = c;
	if (epoll_ctl(api->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		free(c);
		close(fd);
		return;
	}
	api->clients[slot] = c;
	if (c->peer.uid != 0) {
		pr_info("refused pid %d uid %u: root only\n", c->peer.pid, c->peer.uid);
		c->closing = 1;
		if (!client_queue(c, error_reply("peer", "permission denied: sluiced accepts only root")))
			client_write(c);
		client_want(api, c);
	}
}

static void client_event(struct cp_api *api, struct cp_client *c, __u32 events)
{
	int err = 0;

	if (events & EPOLLIN)
		err = client_read(api, c);
	if (!err)
		err = client_write(c);
	if (!err && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
		err = -EPIPE;
	if (err == -ENOBUFS)
		pr_warn("pid %d does not read its replies; dropped\n", c->peer.pid);
	if (err || (c->closing && !c->held && c->out_off == c->out_len)) {
		client_free(api, c);
		return;
	}
	client_want(api, c);
}

/* Clients held during a batch: their waiting requests now, in turn. */
static void resume_held(struct cp_api *api)
{
	int err;

	for (int i = 0; i < CP_API_MAX_CLIENTS; i++) {
		struct cp_client *c = api->clients[i];

		if (!c || !c->held)
			continue;
		c->held = 0;
		err = client_lines(api, c);
		if (!err)
			err = client_write(c);
		if (err || (c->closing && !c->held && c->out_off == c->out_len))
			client_free(api, c);
		else
			client_want(api, c);
	}
}

/* One event at a time: a request may start a batch that serves other
 * clients (cp_api_dispatch_readonly) and frees some, so events fetched
 * before it could name a freed client. */
static int dispatch_one(struct cp_api *api)
{
	struct epoll_event ev;
	int n = epoll_wait(api->epfd, &ev, 1, 0);

	if (n <= 0)
		return n < 0 && errno != EINTR ? -errno : 0;
	if (!ev.data.ptr) {
		int fd;

		while ((fd = accept4(api->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
			client_accept(api, fd);
		return 1;
	}
	if (api->defer) {
		struct cp_client *c = ev.data.ptr;

		/* The client whose request runs, and those already waiting,
		 * are not read until the batch ends. */
		if (c == api->busy || c->held) {
			c->held = 1;
			client_write(c);
			client_want(api, c);
			return 1;
		}
	}
	client_event(api, ev.data.ptr, ev.events);
	return 1;
}

int cp_api_dispatch(struct cp_api *api)
{
	int err = 0;

	resume_held(api);
	for (int i = 0; i < 32 && (err = dispatch_one(api)) > 0; i++)
		;
	/* A request above may have run a batch that held others. */
	resume_held(api);
	return err < 0 ? err : 0;
}

int cp_api_dispatch_readonly(struct cp_api *api, cp_api_defer_fn defer)
{
	cp_api_defer_fn outer = api->defer;
	int err = 0;

	api->defer = defer;
	for (int i = 0; i < 32 && (err = dispatch_one(api)) > 0; i++)
		;
	api->defer = outer;
	return err < 0 ? err : 0;
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
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno != EAGAIN)
			return -errno;
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
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		err = -errno;
		goto out;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	text = json_dumps(req, JSON_COMPACT);
	if (!text) {
		err = -ENOMEM;
		goto out;
	}
	err = call_send(fd, text, &deadline);
	if (!err)
		err = call_send(fd, "\n", &deadline);
	if (!err)
		reply = call_receive(fd, &deadline, &err);
out:
	free(text);
	if (fd >= 0)
		close(fd);
	if (!reply)
		errno = err ? -err : EPROTO;
	return reply;
}
