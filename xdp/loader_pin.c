/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loader_pin.c - pins a handle's program, maps, ABI stamp and native links
 * in a bpffs directory, and removes those pins (loader.h: lb_xdp_pin,
 * lb_xdp_unpin). A pinned link keeps its interface attached after the
 * process exits; lb_xdp_adopt (loader_adopt.c) takes the pins over.
 *
 * Pins are matched by object, not by name: pinning the same object again
 * is a no-op, and unpinning leaves a name alone that holds someone else's
 * object.
 *
 * Threads: one handle is used by one thread at a time (loader.h).
 */
#define LB_LOG_PREFIX "loader: "

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "bpffs.h"
#include "loader_int.h"

int loader_pin_path(char *path, size_t cap, const char *dir, const char *name)
{
	if (snprintf(path, cap, "%s/%s", dir, name) >= (int)cap) {
		pr_warn("pin path %s/%s is too long\n", dir, name);
		return -ENAMETOOLONG;
	}
	return 0;
}

int loader_pinned_is(int fd, const char *path)
{
	/* prog, map and link infos all begin with type, id */
	struct { __u32 type, id; } a = {0}, b = {0};
	__u32 la = sizeof(a), lb = sizeof(b);
	int old, same;

	old = bpf_obj_get(path);
	if (old < 0)
		return 0;
	same = !bpf_obj_get_info_by_fd(fd, &a, &la) && !bpf_obj_get_info_by_fd(old, &b, &lb) &&
	       a.type == b.type && a.id == b.id;
	close(old);
	return same;
}

/* Pins fd as dir/name. An existing pin of the same object is fine (pin is
 * idempotent); any other file there is -EEXIST. what names the object in
 * the message. */
static int pin_fd(int fd, const char *dir, const char *name, const char *what)
{
	char path[PATH_MAX];
	int err;

	err = loader_pin_path(path, sizeof(path), dir, name);
	if (err)
		return err;
	if (!bpf_obj_pin(fd, path))
		return 0;
	err = -errno;
	if (err == -EEXIST && loader_pinned_is(fd, path))
		return 0;
	pr_warn("pinning the %s at %s: %s\n", what, path, strerror(-err));
	return err;
}

int loader_link_pin(struct lb_xdp *x, struct loader_iface *f)
{
	char name[IF_NAMESIZE + 8];
	int err;

	snprintf(name, sizeof(name), LB_XDP_LINK_PIN_PREFIX "%s", f->ifname);
	err = pin_fd(f->link_fd, x->pin_dir, name, "XDP link");
	if (!err)
		f->pinned = 1;
	return err;
}

void loader_link_unpin(struct lb_xdp *x, struct loader_iface *f)
{
	char path[PATH_MAX];

	if (!f->pinned || !x->pin_dir)
		return;
	snprintf(path, sizeof(path), "%s/" LB_XDP_LINK_PIN_PREFIX "%s", x->pin_dir, f->ifname);
	if (unlink(path) && errno != ENOENT)
		pr_warn("unpinning %s: %s\n", path, strerror(errno));
	f->pinned = 0;
}

/* The program, every map and (handles of lb_xdp_adopt) the ABI stamp. */
static int pin_objects(struct lb_xdp *x, const char *dir)
{
	struct bpf_map *map;
	size_t i;
	int err;

	err = pin_fd(bpf_program__fd(x->prog), dir, LB_XDP_PROG_PIN, "program");
	if (err)
		return err;
	for (i = 0; i < LB_XDP_NR_MAPS; i++) {
		map = loader_map(x, i);
		if (!map) {
			pr_warn("map %s is missing from the object\n", loader_map_names[i]);
			return -ENOENT;
		}
		err = pin_fd(bpf_map__fd(map), dir, loader_map_names[i], "map");
		if (err)
			return err;
	}
	/* Handles of lb_xdp_adopt also pin the ABI stamp a later
	 * lb_xdp_adopt checks; those of lb_xdp_open pin what they always
	 * did (and cannot be adopted later). */
	if (x->abi_fd >= 0)
		return pin_fd(x->abi_fd, dir, LB_XDP_ABI_PIN, "ABI map");
	return 0;
}

int lb_xdp_pin(struct lb_xdp *x, const char *dir)
{
	char *copy;
	size_t i;
	int err;

	if (!x || !dir || !*dir)
		return -EINVAL;
	err = lb_bpffs_mkdir(dir);
	if (err)
		return err;
	err = pin_objects(x, dir);
	if (err)
		return err;
	copy = strdup(dir);
	if (!copy)
		return -ENOMEM;
	free(x->pin_dir);
	x->pin_dir = copy;
	for (i = 0; i < LB_XDP_MAX_IFACES; i++) {
		struct loader_iface *f = &x->ifaces[i];

		if (f->ifindex && f->link_fd >= 0 && !f->pinned) {
			err = loader_link_pin(x, f);
			if (err)
				return err;
		}
	}
	return 0;
}

/* Removes dir/name if it pins fd's object; anything else there is left
 * alone. */
static int unpin_one(int fd, const char *dir, const char *name)
{
	char path[PATH_MAX];
	int err;

	if (fd < 0)
		return 0;
	err = loader_pin_path(path, sizeof(path), dir, name);
	if (err)
		return err;
	if (!loader_pinned_is(fd, path))
		return 0;
	if (unlink(path)) {
		err = -errno;
		pr_warn("unpinning %s: %s\n", path, strerror(-err));
		return err;
	}
	return 0;
}

/* The link pins, only if dir is where the handle pins them. The first
 * error, with every pin tried. */
static int unpin_links(struct lb_xdp *x, const char *dir)
{
	char name[IF_NAMESIZE + 8];
	int err = 0, e;
	size_t i;

	for (i = 0; i < LB_XDP_MAX_IFACES; i++) {
		struct loader_iface *f = &x->ifaces[i];

		if (f->link_fd < 0 || !f->pinned)
			continue;
		snprintf(name, sizeof(name), LB_XDP_LINK_PIN_PREFIX "%s", f->ifname);
		e = unpin_one(f->link_fd, dir, name);
		if (e && !err)
			err = e;
		if (!e)
			f->pinned = 0;
	}
	return err;
}

int lb_xdp_unpin(struct lb_xdp *x, const char *dir)
{
	struct bpf_map *map;
	size_t i;
	int err = 0, e, ours;

	if (!x || !dir || !*dir)
		return -EINVAL;
	ours = x->pin_dir && !strcmp(x->pin_dir, dir);
	if (ours)
		err = unpin_links(x, dir);
	e = unpin_one(bpf_program__fd(x->prog), dir, LB_XDP_PROG_PIN);
	if (e && !err)
		err = e;
	for (i = 0; i < LB_XDP_NR_MAPS; i++) {
		map = loader_map(x, i);
		e = map ? unpin_one(bpf_map__fd(map), dir, loader_map_names[i]) : 0;
		if (e && !err)
			err = e;
	}
	e = unpin_one(x->abi_fd, dir, LB_XDP_ABI_PIN);
	if (e && !err)
		err = e;
	/* The directory goes if nothing else is left in it. */
	if (!err && rmdir(dir) && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT) {
		err = -errno;
		pr_warn("removing %s: %s\n", dir, strerror(-err));
	}
	if (ours && !err) {
		free(x->pin_dir);
		x->pin_dir = NULL;
	}
	return err;
}

const char *lb_xdp_pin_dir(const struct lb_xdp *x)
{
	return x->pin_dir;
}
