/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loader_attach.c - attaches the program to interfaces and detaches it
 * (loader.h: lb_xdp_attach, lb_xdp_detach, lb_xdp_attached).
 *
 * Native attach uses a bpf_link created with XDP_FLAGS_DRV_MODE: without
 * a mode flag the kernel falls back to generic XDP on a driver without
 * native support (bpf_program__attach_xdp passes none), and generic mode
 * must be asked for explicitly. Generic mode attaches through netlink and
 * never replaces someone else's program.
 *
 * A handle pinned somewhere (lb_xdp_pin) pins each new link there as
 * "link_<ifname>" (loader_pin.c), so the attachment outlives the process.
 *
 * Threads: one handle is used by one thread at a time (loader.h).
 */
#define LB_LOG_PREFIX "loader: "

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "loader_int.h"

/* Netlink attach: there is no bpf_link for skb mode on every kernel we
 * support. A program already there may be one lb_xdp_adopt took over
 * (loader_adopt_generic); anything else is -EBUSY, as the attach would
 * say. Logged. */
static int attach_generic(struct lb_xdp *x, int ifindex, const char *ifname)
{
	int prog_fd = bpf_program__fd(x->prog);
	__u32 cur = 0;
	int err;

	if (!bpf_xdp_query_id(ifindex, XDP_FLAGS_SKB_MODE, &cur) && cur)
		err = loader_adopt_generic(x, ifindex, cur);
	else if (bpf_xdp_attach(ifindex, prog_fd,
				XDP_FLAGS_SKB_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL))
		err = -errno;
	else
		err = 0;
	if (err)
		pr_warn("attaching to %s in generic mode: %s\n", ifname, strerror(-err));
	return err;
}

/* The bpf_link fd, or -errno (logged). */
static int attach_native(struct lb_xdp *x, int ifindex, const char *ifname)
{
	/* DRV_MODE explicitly: with no mode flag the kernel quietly falls
	 * back to generic XDP on a driver without native support, and the
	 * operator would never know. */
	LIBBPF_OPTS(bpf_link_create_opts, lopts, .flags = XDP_FLAGS_DRV_MODE);
	int fd, err;

	fd = bpf_link_create(bpf_program__fd(x->prog), ifindex, BPF_XDP, &lopts);
	if (fd >= 0)
		return fd;
	err = -errno;
	if (err == -EOPNOTSUPP || err == -EINVAL) {
		pr_warn("interface %s has no native XDP (%s); use generic mode explicitly (--xdp-generic)\n",
			ifname, strerror(-err));
		return -EOPNOTSUPP;
	}
	pr_warn("attaching to %s in native mode: %s\n", ifname, strerror(-err));
	return err;
}

int lb_xdp_attach(struct lb_xdp *x, int ifindex, unsigned int flags)
{
	struct loader_iface *f;
	char ifname[IF_NAMESIZE];
	int err, fd = -1;

	if (ifindex <= 0 || (flags & ~LB_XDP_ATTACH_GENERIC))
		return -EINVAL;
	if (!if_indextoname((unsigned int)ifindex, ifname)) {
		err = -errno;
		pr_warn("attaching to ifindex %d: %s\n", ifindex, strerror(-err));
		return err;
	}
	if (loader_iface_find(x, ifindex)) {
		pr_warn("already attached to %s\n", ifname);
		return -EEXIST;
	}
	f = loader_iface_find(x, 0);
	if (!f) {
		pr_warn("attaching to %s: more than %d interfaces\n", ifname, LB_XDP_MAX_IFACES);
		return -ENOSPC;
	}
	if (flags & LB_XDP_ATTACH_GENERIC) {
		err = attach_generic(x, ifindex, ifname);
		if (err)
			return err;
	} else {
		fd = attach_native(x, ifindex, ifname);
		if (fd < 0)
			return fd;
	}
	f->ifindex = ifindex;
	f->link_fd = fd;
	f->pinned = 0;
	memcpy(f->ifname, ifname, sizeof(f->ifname));
	if (fd >= 0 && x->pin_dir)
		(void)loader_link_pin(x, f);	/* logged; the attachment itself worked */
	pr_info("attached to %s (%s mode)\n", ifname, fd >= 0 ? "native" : "generic");
	return 0;
}

int lb_xdp_detach(struct lb_xdp *x, int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, xopts);
	struct loader_iface *f;
	int err = 0;

	if (ifindex <= 0)
		return -EINVAL;
	f = loader_iface_find(x, ifindex);
	if (!f) {
		pr_warn("detaching from ifindex %d: not attached\n", ifindex);
		return -ENOENT;
	}
	if (f->link_fd >= 0) {
		/* LINK_DETACH detaches even if the link is pinned. */
		if (bpf_link_detach(f->link_fd)) {
			err = -errno;
			pr_warn("detaching from %s: %s\n", f->ifname, strerror(-err));
			return err;
		}
		loader_link_unpin(x, f);
		close(f->link_fd);
	} else {
		/* Remove only our own program (XDP_FLAGS_REPLACE). */
		xopts.old_prog_fd = bpf_program__fd(x->prog);
		if (bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, &xopts)) {
			err = -errno;
			pr_warn("detaching from %s in generic mode: %s\n", f->ifname,
				strerror(-err));
			return err;
		}
	}
	pr_info("detached from %s\n", f->ifname);
	memset(f, 0, sizeof(*f));
	f->link_fd = -1;
	return 0;
}

int lb_xdp_attached(const struct lb_xdp *x, int ifindex)
{
	size_t i;

	if (ifindex <= 0)
		return 0;
	for (i = 0; i < LB_XDP_MAX_IFACES; i++)
		if (x->ifaces[i].ifindex == ifindex)
			return x->ifaces[i].link_fd >= 0 ? LB_XDP_ATTACHED_NATIVE :
							   LB_XDP_ATTACHED_GENERIC;
	return 0;
}

int lb_xdp_nr_attached(const struct lb_xdp *x)
{
	int n = 0;
	size_t i;

	for (i = 0; i < LB_XDP_MAX_IFACES; i++)
		n += x->ifaces[i].ifindex != 0;
	return n;
}
