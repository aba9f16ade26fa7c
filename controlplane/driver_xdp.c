/* SPDX-License-Identifier: Apache-2.0 */
/*
 * driver_xdp.c - struct cp_driver over xdp/loader (driver_xdp.h).
 *
 * Most operations forward to the loader as they are. What the driver adds
 * is the pin layout: where the node's program is pinned, finding it again
 * at start, and when pins go away.
 */
#define LB_LOG_PREFIX "driver_xdp: "

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fwd.h"
#include "log.h"
#include "loader.h"
#include "driver_xdp.h"

struct cp_xdp {
	struct lb_xdp *x;
	char *pin_root;		/* NULL: never pin */
	int generic;		/* attach in skb mode */
};

/* ---- pin directory ------------------------------------------------- */

/* 1 if dir holds anything besides . and .. */
static int dir_nonempty(int parent, const char *name)
{
	struct dirent *e;
	int fd, n = 0;
	DIR *d;

	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while (!n && (e = readdir(d)))
		n = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

/* The pin directory of an earlier run: the one non-empty directory under
 * root, in *dir (malloc'ed), or NULL if there is none. Two or more is
 * -EEXIST: which one forwards is for an operator to say. */
static int find_pin_dir(const char *root, char **dir)
{
	char found[NAME_MAX + 1] = "";
	struct dirent *e;
	struct stat st;
	int err = 0;
	DIR *d;

	*dir = NULL;
	d = opendir(root);
	if (!d) {
		err = -errno;
		if (err == -ENOENT)
			return 0;
		pr_warn("reading %s: %s\n", root, strerror(-err));
		return err;
	}
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISDIR(st.st_mode) || !dir_nonempty(dirfd(d), e->d_name))
			continue;
		if (found[0]) {
			pr_warn("both %s/%s and %s/%s hold pins; remove the stale one\n",
				root, found, root, e->d_name);
			err = -EEXIST;
			break;
		}
		snprintf(found, sizeof(found), "%s", e->d_name);
	}
	closedir(d);
	if (err || !found[0])
		return err;
	if (asprintf(dir, "%s/%s", root, found) < 0) {
		*dir = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* ---- operations ---------------------------------------------------- */

static const struct lb_params *xdp_params(void *ctx)
{
	struct cp_xdp *c = ctx;

	return lb_xdp_params(c->x);
}

static int ifindex_of(const char *ifname)
{
	unsigned int i;
	int err;

	if (!ifname || !*ifname || strlen(ifname) >= IF_NAMESIZE) {
		pr_warn("bad interface name\n");
		return -EINVAL;
	}
	i = if_nametoindex(ifname);
	if (!i) {
		err = errno == ENXIO ? -ENODEV : -errno;
		pr_warn("interface %s: %s\n", ifname, strerror(-err));
		return err;
	}
	return (int)i;
}

/* An interface that is administratively down would take the program and
 * forward nothing: say so instead of pretending. */
static int link_up(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr))
		err = -errno;
	else if (!(ifr.ifr_flags & IFF_UP))
		err = -ENETDOWN;
	close(fd);
	if (err == -ENETDOWN)
		pr_warn("%s is down; bring it up first (ip link set %s up)\n",
			ifname, ifname);
	return err;
}

static int xdp_attach(void *ctx, const char *ifname)
{
	struct cp_xdp *c = ctx;
	char *dir = NULL;
	int ifindex, mode, err, pinned_now = 0;

	ifindex = ifindex_of(ifname);
	if (ifindex < 0)
		return ifindex;
	err = link_up(ifname);
	if (err)
		return err;
	/* Already ours: attached earlier, or adopted from a pinned link.
	 * Changing the mode would mean detaching: not done behind the
	 * operator's back. */
	mode = lb_xdp_attached(c->x, ifindex);
	if (mode) {
		if ((mode == LB_XDP_ATTACHED_GENERIC) != !!c->generic)
			pr_warn("%s stays attached in %s mode; detach it to change the mode\n",
				ifname, mode == LB_XDP_ATTACHED_GENERIC ? "generic" : "native");
		return 0;
	}
	/* Pin before attaching, so the link is pinned as it is made. */
	if (c->pin_root && !lb_xdp_pin_dir(c->x)) {
		if (asprintf(&dir, "%s/%s", c->pin_root, ifname) < 0)
			return -ENOMEM;
		err = lb_xdp_pin(c->x, dir);
		if (err) {
			free(dir);
			return err;
		}
		pinned_now = 1;
	}
	err = lb_xdp_attach(c->x, ifindex, c->generic ? LB_XDP_ATTACH_GENERIC : 0);
	if (err && pinned_now && !lb_xdp_nr_attached(c->x))
		(void)lb_xdp_unpin(c->x, dir);	/* leave no pins of nothing attached */
	free(dir);
	return err;
}

static int xdp_detach(void *ctx, const char *ifname)
{
	struct cp_xdp *c = ctx;
	const char *dir;
	int ifindex, err;

	ifindex = ifindex_of(ifname);
	if (ifindex < 0)
		return ifindex;
	err = lb_xdp_detach(c->x, ifindex);
	if (err)
		return err;
	dir = lb_xdp_pin_dir(c->x);
	if (dir && !lb_xdp_nr_attached(c->x))
		return lb_xdp_unpin(c->x, dir);
	return 0;
}

static int xdp_set_config(void *ctx, const struct lb_config *cfg)
{
	return lb_xdp_set_config(((struct cp_xdp *)ctx)->x, cfg);
}

static int xdp_set_vips(void *ctx, const struct lb_vip_entry *v, size_t n)
{
	return lb_xdp_set_vips(((struct cp_xdp *)ctx)->x, v, n);
}

static int xdp_set_vip_flags(void *ctx, __u32 vip_id, __u32 flags)
{
	return lb_xdp_set_vip_flags(((struct cp_xdp *)ctx)->x, vip_id, flags);
}

static int xdp_batch_begin(void *ctx)
{
	return lb_xdp_batch_begin(((struct cp_xdp *)ctx)->x);
}

static int xdp_batch_end(void *ctx)
{
	return lb_xdp_batch_end(((struct cp_xdp *)ctx)->x);
}

static int xdp_set_ring(void *ctx, __u32 vip_id, const __u32 *ring, __u32 m)
{
	return lb_xdp_set_ring(((struct cp_xdp *)ctx)->x, vip_id, ring, m);
}

static int xdp_set_backend(void *ctx, __u32 id, const struct lb_backend *b)
{
	return lb_xdp_set_backend(((struct cp_xdp *)ctx)->x, id, b);
}

static int xdp_set_backend_state(void *ctx, __u32 id, __u8 state)
{
	return lb_xdp_set_backend_state(((struct cp_xdp *)ctx)->x, id, state);
}

static int xdp_vip_stats(void *ctx, __u32 vip_id, struct lb_vip_stats *out)
{
	return lb_xdp_vip_stats(((struct cp_xdp *)ctx)->x, vip_id, out);
}

static int xdp_backend_stats(void *ctx, __u32 id, struct lb_backend_stats *out)
{
	return lb_xdp_backend_stats(((struct cp_xdp *)ctx)->x, id, out);
}

static int xdp_reason_stats(void *ctx, struct lb_reason_stats out[LB_R_MAX])
{
	return lb_xdp_reason_stats(((struct cp_xdp *)ctx)->x, out);
}

static int xdp_flow_foreach(void *ctx,
			    int (*fn)(const struct lb_flow_key *key, __u32 backend_id,
				      __u32 idle_ms, void *arg),
			    void *arg)
{
	return lb_xdp_flow_foreach(((struct cp_xdp *)ctx)->x, fn, arg);
}

static int xdp_backend_get(void *ctx, __u32 id, struct lb_backend *out)
{
	return lb_xdp_backend_get(((struct cp_xdp *)ctx)->x, id, out);
}

static int xdp_vip_find(void *ctx, const struct lb_vip_key *key, __u32 *vip_id)
{
	return lb_xdp_vip_find(((struct cp_xdp *)ctx)->x, key, vip_id);
}

/* Pinned links and generic attachments stay: forwarding goes on. */
static void xdp_close(void *ctx)
{
	struct cp_xdp *c = ctx;

	if (!c)
		return;
	lb_xdp_close(c->x);
	free(c->pin_root);
	free(c);
}

static const struct cp_driver_ops xdp_ops = {
	.name = "xdp",
	.fib_fallback = 1,
	.params = xdp_params,
	.attach = xdp_attach,
	.detach = xdp_detach,
	.set_config = xdp_set_config,
	.set_vips = xdp_set_vips,
	.set_vip_flags = xdp_set_vip_flags,
	.set_ring = xdp_set_ring,
	.batch_begin = xdp_batch_begin,
	.batch_end = xdp_batch_end,
	.set_backend = xdp_set_backend,
	.set_backend_state = xdp_set_backend_state,
	.vip_stats = xdp_vip_stats,
	.backend_stats = xdp_backend_stats,
	.reason_stats = xdp_reason_stats,
	.flow_foreach = xdp_flow_foreach,
	.backend_get = xdp_backend_get,
	.vip_find = xdp_vip_find,
	.close = xdp_close,
};

int cp_driver_xdp_open(struct cp_driver *d, const char *pin_root, const struct lb_params *params,
		       int *adopted)
{
	struct cp_xdp *c;
	char *dir = NULL;
	int err;

	if (!d || !adopted || (pin_root && !*pin_root))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (pin_root) {
		c->pin_root = strdup(pin_root);
		if (!c->pin_root) {
			err = -ENOMEM;
			goto err;
		}
		err = find_pin_dir(pin_root, &dir);
		if (err)
			goto err;
	}
	/* dir NULL (nothing pinned yet): pinned at the first attach,
	 * where the interface names the directory. */
	c->x = lb_xdp_adopt(dir, params, adopted);
	if (!c->x) {
		err = -errno;
		goto err;
	}
	free(dir);
	d->ops = &xdp_ops;
	d->ctx = c;
	return 0;

err:
	free(dir);
	free(c->pin_root);
	free(c);
	return err;
}

void cp_driver_xdp_set_generic(struct cp_driver *d, int on)
{
	struct cp_xdp *c = d->ctx;

	c->generic = !!on;
}

struct lb_xdp *cp_driver_xdp_loader(const struct cp_driver *d)
{
	const struct cp_xdp *c = d->ctx;

	return c->x;
}
