/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane's flow table (dataplane/flowtab.h) against a plain array
 * of keys: random adds, finds and deletes, a table filled to capacity,
 * keys whose two buckets collide, and the free stack's integrity.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>

#include "check.h"
#include "dataplane/dp.h"

#define NB_FLOWS 4096u

static struct dp_flow_key keys[NB_FLOWS]; /* by flow index */
static bool used[NB_FLOWS];

static bool same(uint32_t idx, const void *key, void *arg)
{
	(void)arg;
	return idx < NB_FLOWS && used[idx] && memcmp(&keys[idx], key, sizeof(keys[idx])) == 0;
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* One of a small universe of keys, so adds, finds and deletes meet. */
static void key_of(uint32_t n, struct dp_flow_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = 4;
	k->addr[0][12] = 10;
	k->addr[0][15] = (uint8_t)(n & 0xff);
	k->addr[1][12] = 10;
	k->addr[1][14] = 2;
	k->port[0] = (uint16_t)(1024 + (n >> 8));
	k->port[1] = 5000;
}

/* Reference: universe number -> flow index (UINT32_MAX: absent). */
static uint32_t ref_of[3 * NB_FLOWS];
static uint32_t ref_key[NB_FLOWS]; /* flow index -> universe number */

static void test_random_ops(struct dp_ftab *t)
{
	unsigned nb = 0, refused = 0;

	for (uint32_t i = 0; i < 3 * NB_FLOWS; i++)
		ref_of[i] = UINT32_MAX;
	for (unsigned op = 0; op < 400000; op++) {
		uint32_t u = (uint32_t)(rnd() % (3 * NB_FLOWS));
		struct dp_flow_key k;
		struct dp_ftab_pos p;
		uint32_t got, want;

		key_of(u, &k);
		p = dp_ftab_pos(t, &k);
		got = dp_ftab_find(t, &p, same, &k, NULL);
		want = ref_of[u];
		CHECK_EQ(got, want, "op %u: find", op);
		if (got != want)
			return;
		if (want == UINT32_MAX && (rnd() & 1)) {
			got = dp_ftab_add(t, &p);
			if (got == UINT32_MAX) {
				refused++;
				CHECK(nb == NB_FLOWS, "op %u: add refused with %u of %u in use", op, nb,
				      NB_FLOWS);
				continue;
			}
			CHECK(got < NB_FLOWS && !used[got], "op %u: add gave index %u", op, got);
			if (got >= NB_FLOWS || used[got])
				return;
			keys[got] = k;
			used[got] = true;
			ref_of[u] = got;
			ref_key[got] = u;
			nb++;
		} else if (want != UINT32_MAX && (rnd() % 3) == 0) {
			dp_ftab_del(t, &p, want);
			used[want] = false;
			ref_of[ref_key[want]] = UINT32_MAX;
			nb--;
		}
		CHECK_EQ(t->nb_free, NB_FLOWS - nb, "op %u: free stack", op);
	}
	/* everything still held is found, nothing else */
	for (uint32_t i = 0; i < NB_FLOWS; i++) {
		struct dp_ftab_pos p;

		if (!used[i])
			continue;
		p = dp_ftab_pos(t, &keys[i]);
		CHECK_EQ(dp_ftab_find(t, &p, same, &keys[i], NULL), i, "held key %u", i);
	}
	(void)refused;
}

/* Every flow in use: all of them placed (two slots per flow), then one more
 * refused, then all removed. */
static void test_fill(struct dp_ftab *t)
{
	uint32_t placed = 0;

	memset(used, 0, sizeof(used));
	for (uint32_t n = 0; n < NB_FLOWS; n++) {
		struct dp_flow_key k;
		struct dp_ftab_pos p;
		uint32_t idx;

		key_of(n + 100000, &k);
		k.port[0] = (uint16_t)(n * 7 + 1);
		p = dp_ftab_pos(t, &k);
		idx = dp_ftab_add(t, &p);
		if (idx == UINT32_MAX)
			continue;
		keys[idx] = k;
		used[idx] = true;
		placed++;
	}
	CHECK_EQ(placed, NB_FLOWS, "a full table places every flow");
	{
		struct dp_flow_key k;
		struct dp_ftab_pos p;

		key_of(999999, &k);
		p = dp_ftab_pos(t, &k);
		CHECK_EQ(dp_ftab_add(t, &p), UINT32_MAX, "one flow more is refused");
	}
	for (uint32_t i = 0; i < NB_FLOWS; i++) {
		struct dp_ftab_pos p;

		if (!used[i])
			continue;
		p = dp_ftab_pos(t, &keys[i]);
		CHECK_EQ(dp_ftab_find(t, &p, same, &keys[i], NULL), i, "full table, key %u", i);
		dp_ftab_del(t, &p, i);
		used[i] = false;
		CHECK_EQ(dp_ftab_find(t, &p, same, &keys[i], NULL), UINT32_MAX, "deleted %u", i);
	}
	CHECK_EQ(t->nb_free, NB_FLOWS, "every index back on the free stack");
	for (uint32_t b = 0; b <= t->mask; b++)
		for (unsigned s = 0; s < DP_FTAB_WAYS; s++)
			CHECK_EQ(t->bkt[b].sig[s], 0, "bucket %u slot %u cleared", b, s);
}

/* A one-bucket table: both choices are the same bucket. */
static void test_tiny(void)
{
	struct dp_ftab t;
	uint32_t got[3];

	memset(&t, 0, sizeof(t));
	CHECK_EQ(dp_ftab_init(&t, 3, SOCKET_ID_ANY), 0, "tiny table");
	if (t.bkt == NULL)
		return;
	CHECK_EQ(t.mask, 0, "one bucket");
	for (unsigned i = 0; i < 3; i++) {
		struct dp_flow_key k;
		struct dp_ftab_pos p;

		key_of(i, &k);
		p = dp_ftab_pos(&t, &k);
		got[i] = dp_ftab_add(&t, &p);
		CHECK(got[i] < 3, "tiny add %u", i);
	}
	CHECK(got[0] != got[1] && got[1] != got[2] && got[0] != got[2], "distinct indexes");
	dp_ftab_free(&t);
}

int main(void)
{
	char *eal[] = { "test_flowtab", "--no-huge", "-m", "64", "--no-shconf", "--no-pci",
			"--no-telemetry", "--log-level=lib.*:error", NULL };
	char run_dir[PATH_MAX];
	struct dp_ftab t;

	if (rte_eal_init(8, eal) < 0) {
		fprintf(stderr, "test_flowtab: EAL init failed\n");
		return 1;
	}
	snprintf(run_dir, sizeof(run_dir), "%s", rte_eal_get_runtime_dir());
	memset(&t, 0, sizeof(t));
	CHECK_EQ(dp_ftab_init(&t, NB_FLOWS, SOCKET_ID_ANY), 0, "init");
	if (t.bkt != NULL) {
		CHECK(t.mask + 1 >= NB_FLOWS * 2 / DP_FTAB_WAYS, "two slots per flow");
		test_random_ops(&t);
		dp_ftab_free(&t);
		memset(&t, 0, sizeof(t));
		CHECK_EQ(dp_ftab_init(&t, NB_FLOWS, SOCKET_ID_ANY), 0, "init again");
		test_fill(&t);
		dp_ftab_free(&t);
	}
	test_tiny();
	rte_eal_cleanup();
	rmdir(run_dir); /* EAL leaves its empty runtime directory */
	return CHECK_DONE();
}
