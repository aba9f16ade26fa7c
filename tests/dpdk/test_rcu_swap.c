// SPDX-License-Identifier: Apache-2.0
/*
 * test_rcu_swap - the DPDK fast path's table swap under a running reader:
 * a worker thread (registered with the driver's rte_rcu_qsbr, quiescent
 * after every packet) forwards new UDP flows to one VIP through
 * lb_dp_process() while the main thread swaps the VIP's ring 10,000 times
 * with lb_tables_set_ring() and the driver's grace callback. Rings rotate
 * over three disjoint backend sets, and an epoch counter the writer bumps
 * around every swap tells which sets may be live while a packet ran: the
 * backend a packet went to (its outer destination) must be in one of them.
 * A reader that saw a half-built ring, a stale ring or a freed half would
 * land on another set or on no backend at all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include "driver_dpdk.h"

#define SETS 3
#define PER_SET 4
#define RING_M 13
#define SWAPS 10000
#define VIP_ADDR "10.100.0.1"
#define VIP_PORT 53
#define ROOM 2048
#define HEADROOM 256

static struct dp_runtime dp;
static unsigned long epoch;	/* odd while a swap is under way */
static int stop;
static int reader_running;	/* online, and its first packet went through */
static unsigned long checked, unchecked, bad_reason, bad_backend;
static int last_bad_reason;

static uint16_t csum16(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)b[i] << 8 | b[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* A UDP datagram to the VIP from a source no earlier packet used: a new
 * flow every time, so every packet consults the ring. */
static size_t build_udp(uint8_t *f, uint32_t n)
{
	static const uint8_t macs[12] = { 2, 0xaa, 0, 0, 0, 1, 2, 0xcc, 0, 0, 0, 7 };
	uint8_t *ip = f + 14, *udp = ip + 20;
	/* A new flow every packet (for a billion packets): a repeated flow
	 * would hit its connection-table entry and keep a backend of an
	 * older ring, as it should, and this test checks ring picks. */
	uint32_t src = htonl(0x0a000000u | ((n / 64000) & 0xffffff));	/* 10.x.y.z */
	uint32_t dst = inet_addr(VIP_ADDR);
	uint16_t sport = htons((uint16_t)(1024 + n % 64000));

	memcpy(f, macs, 12);
	f[12] = 0x08;
	f[13] = 0x00;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[3] = 20 + 8 + 4;
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	ip[10] = csum16(ip, 20) >> 8;
	ip[11] = csum16(ip, 20) & 0xff;
	memcpy(udp, &sport, 2);
	udp[2] = VIP_PORT >> 8;
	udp[3] = VIP_PORT & 0xff;
	udp[4] = 0;
	udp[5] = 12;
	udp[6] = udp[7] = 0;	/* no UDP checksum (IPv4) */
	memcpy(udp + 8, "ping", 4);
	return 14 + 20 + 8 + 4;
}

static uint32_t backend_addr(unsigned int id)
{
	return htonl(0x0a000100u + id + 1);	/* 10.0.1.(id + 1) */
}

/* Set k of the swaps is k % SETS; a packet that ran while the epoch went
 * from e1 to e2 may have used any set from swap e1/2 to swap ceil(e2/2). */
static int set_allowed(unsigned int set, unsigned long e1, unsigned long e2)
{
	for (unsigned long k = e1 / 2; k <= (e2 + 1) / 2; k++)
		if (k % SETS == set)
			return 1;
	return 0;
}

static void check_one(struct dp_lcore *lc, uint8_t *buf, uint32_t n)
{
	struct lb_dp_frame f = {
		.head = buf,
		.end = buf + ROOM,
		.data = buf + HEADROOM,
		.ingress_ifindex = 1,
	};
	unsigned long e1, e2;
	uint32_t dst;
	int reason;

	f.data_end = f.data + build_udp(f.data, n);
	e1 = __atomic_load_n(&epoch, __ATOMIC_ACQUIRE);
	reason = lb_dp_process(&lc->worker, &f);
	e2 = __atomic_load_n(&epoch, __ATOMIC_ACQUIRE);
	if (reason != LB_R_FWD_TX) {
		last_bad_reason = reason;
		bad_reason++;
		return;
	}
	memcpy(&dst, f.data + 14 + 16, 4);	/* outer IPv4 destination */
	for (unsigned int id = 0; id < SETS * PER_SET; id++) {
		if (dst == backend_addr(id)) {
			if (e2 - e1 >= 2 * SETS)
				unchecked++;	/* every set was possible */
			else if (set_allowed(id / PER_SET, e1, e2))
				checked++;
			else
				bad_backend++;
			return;
		}
	}
	bad_backend++;
}

static void *reader(void *arg)
{
	struct dp_lcore *lc = arg;
	static uint8_t buf[ROOM];
	uint32_t n = 0;

	/* Off the writer's CPU (the EAL pinned the main thread, and a new
	 * thread inherits that): sharing one CPU makes every grace period
	 * wait for a time slice. */
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1) {
		cpu_set_t cpus;

		CPU_ZERO(&cpus);
		CPU_SET(1, &cpus);
		pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
	}
	rte_rcu_qsbr_thread_register(dp.qsbr, lc->idx);
	rte_rcu_qsbr_thread_online(dp.qsbr, lc->idx);
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		lc->worker.now = lb_dp_clock();
		check_one(lc, buf, n++);
		rte_rcu_qsbr_quiescent(dp.qsbr, lc->idx);
		if (n == 1)
			__atomic_store_n(&reader_running, 1, __ATOMIC_RELEASE);
	}
	rte_rcu_qsbr_thread_offline(dp.qsbr, lc->idx);
	rte_rcu_qsbr_thread_unregister(dp.qsbr, lc->idx);
	return NULL;
}

static void ring_of(unsigned int set, __u32 ring[RING_M])
{
	for (unsigned int j = 0; j < RING_M; j++)
		ring[j] = set * PER_SET + j % PER_SET;
}

static void setup_tables(void)
{
	struct lb_params p = { .max_vips = 4, .max_backends = 16, .max_ring = RING_M,
			       .flow_buckets = 1024, .vip_slots = 16 };
	struct lb_config cfg = { .encap_src4 = inet_addr("10.0.0.1") };
	struct lb_vip_entry v = { .vip_id = 0 };
	__u32 ring[RING_M];

	assert_int_equal(dp_runtime_params(&p, 1), 0);
	assert_int_equal(dp_runtime_alloc(&dp, &p, 1, NULL), 0);
	assert_int_equal(lb_tables_set_config(&dp.t, &cfg), 0);
	v.key.addr.w[0] = inet_addr(VIP_ADDR);
	v.key.port = htons(VIP_PORT);
	v.key.proto = IPPROTO_UDP;
	v.key.family = LB_FAMILY_V4;
	assert_int_equal(lb_tables_set_vips(&dp.t, &v, 1), 0);
	for (unsigned int id = 0; id < SETS * PER_SET; id++) {
		struct lb_backend b = {
			.family = LB_FAMILY_V4,
			.state = LB_BACKEND_UP,
			.flags = LB_BACKEND_F_NH_VALID,
			.gen = 1,
			.nh_ifindex = 1,
			.nh_mtu = 1500,
			.nh_dmac = { 2, 0, 0, 0, 0, 1 },
			.nh_smac = { 2, 0xaa, 0, 0, 0, 1 },
		};

		b.addr.w[0] = backend_addr(id);
		assert_int_equal(lb_tables_set_backend(&dp.t, id, &b), 0);
	}
	ring_of(0, ring);
	assert_int_equal(lb_tables_set_ring(&dp.t, 0, ring, RING_M), 0);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void test_swap_under_reader(void **state)
{
	static double took[SWAPS];
	pthread_t th;
	__u32 ring[RING_M];

	(void)state;
	setup_tables();
	assert_int_equal(pthread_create(&th, NULL, reader, &dp.lcores[0]), 0);
	/* Swaps made before the reader is online wait for nobody and race
	 * with nothing: a run once checked 6,200 packets against 10,000
	 * swaps that way. Start when it forwards (bounded: 10 s). */
	for (int i = 0; i < 10000 && !__atomic_load_n(&reader_running, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	assert_true(__atomic_load_n(&reader_running, __ATOMIC_ACQUIRE));
	for (unsigned long k = 1; k <= SWAPS; k++) {
		ring_of(k % SETS, ring);
		__atomic_store_n(&epoch, 2 * k - 1, __ATOMIC_RELEASE);
		took[k - 1] = now_us();
		assert_int_equal(lb_tables_set_ring(&dp.t, 0, ring, RING_M), 0);
		took[k - 1] = now_us() - took[k - 1];
		__atomic_store_n(&epoch, 2 * k, __ATOMIC_RELEASE);
	}
	/* Let the reader see the last ring for a while too. */
	usleep(10000);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	printf("# %lu packets checked against the rings live while they ran "
	       "(%lu spanned too many swaps to judge), %d swaps\n", checked, unchecked, SWAPS);
	/* Information, not a verdict: set_ring returns once the new ring is
	 * live and the worker has passed a quiescent state since the flip. */
	qsort(took, SWAPS, sizeof(took[0]), cmp_double);
	printf("# set_ring of M=%d (rewrite, flip, rte_rcu_qsbr grace): median %.2f us, "
	       "99th %.2f us, max %.2f us\n", RING_M, took[SWAPS / 2], took[SWAPS * 99 / 100],
	       took[SWAPS - 1]);
	for (int r = 0; r < LB_R_MAX; r++) {
		static const char *const names[LB_R_MAX] = LB_REASON_NAMES;
		const struct lb_reason_stats *rs = &dp.lcores[0].worker.c.reason[r];

		if (r != LB_R_FWD_TX && rs->packets)
			printf("# unexpected: %s %llu\n", names[r], (unsigned long long)rs->packets);
	}
	if (bad_reason)
		printf("# %lu packets not forwarded, the last with reason %d\n", bad_reason,
		       last_bad_reason);
	assert_int_equal(bad_reason, 0);
	assert_int_equal(bad_backend, 0);
	assert_true(checked > 0);
	dp_runtime_free(&dp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_swap_under_reader),
	};
	char prefix[64];
	char *eal[] = { "test_rcu_swap", "--no-huge", "-m", "256", "--no-pci", "-l", "0",
			prefix, "--log-level=lib.eal:error", NULL };
	char rundir[256];
	int rc;

	snprintf(prefix, sizeof(prefix), "--file-prefix=sl-rcu-%d", (int)getpid());
	if (rte_eal_init(9, eal) < 0) {
		printf("SKIP: the DPDK EAL does not start here: %s\n", rte_strerror(rte_errno));
		return 77;
	}
	dp.exc = -1;
	dp.first_fp = -1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	/* The EAL leaves its run directory behind: ours is per process. */
	if (fork() == 0) {
		execlp("rm", "rm", "-rf", rundir, (char *)NULL);
		_exit(127);
	}
	wait(NULL);
	return rc;
}
