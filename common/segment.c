/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shared segment (common/segment.h): creation by the dataplane,
 * attachment by other processes, counter names and the policy sequence
 * lock.  Start-up code except rg_seg_policy_read (dataplane loop, when the
 * policy version changed) and rg_segment_sum (readers).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "common/segment.h"

#define SEG_HUGETLBFS_MAGIC 0x958458f6
#define SEG_ALIGN 64
#define SEG_HUGE_BYTES (2u << 20)

struct rg_segment {
	uint8_t *base;
	size_t bytes;
	bool anon;
};

static const char *const seg_fixed_names[RG_CTR_MSG_CLASS_BASE] = {
	[RG_CTR_RX_PKTS] = "rx_pkts",
	[RG_CTR_RX_BYTES] = "rx_bytes",
	[RG_CTR_TX_PKTS] = "tx_pkts",
	[RG_CTR_TX_BYTES] = "tx_bytes",
	[RG_CTR_TX_DROPS] = "tx_drops",
	[RG_CTR_POLLS] = "polls",
	[RG_CTR_BURSTS] = "bursts",
	[RG_CTR_SKIP_NOT_IP] = "skip_not_ip",
	[RG_CTR_SKIP_L2_MALFORMED] = "skip_l2_malformed",
	[RG_CTR_SKIP_IP_MALFORMED] = "skip_ip_malformed",
	[RG_CTR_SKIP_IP_FRAGMENT] = "skip_ip_fragment",
	[RG_CTR_SKIP_IPV6_EXT] = "skip_ipv6_ext",
	[RG_CTR_SKIP_NOT_TCP] = "skip_not_tcp",
	[RG_CTR_SKIP_TCP_MALFORMED] = "skip_tcp_malformed",
	[RG_CTR_SKIP_OTHER_PORT] = "skip_other_port",
	[RG_CTR_SKIP_NO_FLOW] = "skip_no_flow",
	[RG_CTR_SKIP_AFTER_CLOSE] = "skip_after_close",
	[RG_CTR_SKIP_FLOW_TABLE_FULL] = "skip_flow_table_full",
	[RG_CTR_SKIP_SEGMENTED] = "skip_segmented",
	[RG_CTR_TCP_SEGMENTS] = "tcp_segments",
	[RG_CTR_FLOWS_CREATED] = "flows_created",
	[RG_CTR_FLOWS_CLOSED] = "flows_closed",
	[RG_CTR_FLOWS_AGED] = "flows_aged",
	[RG_CTR_FLOWS_ACTIVE] = "flows_active",
	[RG_CTR_HOLD_POOL_EMPTY] = "hold_pool_empty",
	[RG_CTR_FRAMER_POOL_EMPTY] = "framer_pool_empty",
	[RG_CTR_RESYNCS] = "resyncs",
	[RG_CTR_RESYNC_SKIPPED_BYTES] = "resync_skipped_bytes",
	[RG_CTR_MESSAGES] = "messages",
	[RG_CTR_KEEPALIVES] = "keepalives",
};

static const char *const seg_tail_names[] = {
	[RG_CTR_EVENTS - RG_CTR_EVENTS] = "events",
	[RG_CTR_EVENTS_DROPPED - RG_CTR_EVENTS] = "events_dropped",
	[RG_CTR_DECLINE_AS_MONITOR - RG_CTR_EVENTS] = "decline_as_monitor",
	[RG_CTR_EXEMPT_MESSAGES - RG_CTR_EVENTS] = "exempt_messages",
	[RG_CTR_TABLE_SWITCHES - RG_CTR_EVENTS] = "table_switches",
	[RG_CTR_TABLE_GENERATION - RG_CTR_EVENTS] = "table_generation",
	[RG_CTR_TABLE_COUNT - RG_CTR_EVENTS] = "table_count",
	[RG_CTR_TABLE_LEDGER_POS - RG_CTR_EVENTS] = "table_ledger_pos",
	[RG_CTR_POLICY_VERSION - RG_CTR_EVENTS] = "policy_version",
	[RG_CTR_FLOWS_EVICTED - RG_CTR_EVENTS] = "flows_evicted",
	[RG_CTR_MULTISEG_COPIED - RG_CTR_EVENTS] = "multiseg_copied",
};

_Static_assert(sizeof(seg_tail_names) / sizeof(seg_tail_names[0]) ==
	       RG_CTR_ANOM_BASE - RG_CTR_EVENTS, "every counter has a name");

const char *rg_ctr_name(unsigned ctr)
{
	static char names[RG_CTR_MAX][40];
	static int ready;

	if (ctr >= RG_CTR_MAX)
		return "unknown";
	if (ctr < RG_CTR_MSG_CLASS_BASE)
		return seg_fixed_names[ctr] ? seg_fixed_names[ctr] : "unknown";
	if (ctr >= RG_CTR_EVENTS && ctr < RG_CTR_ANOM_BASE)
		return seg_tail_names[ctr - RG_CTR_EVENTS];
	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		/* built once; concurrent first callers write the same bytes */
		for (unsigned i = 0; i < RG_SEG_MTI_CLASSES; i++)
			snprintf(names[RG_CTR_MSG_CLASS_BASE + i], sizeof(names[0]),
				 "msg_class_%u", i);
		for (unsigned k = 0; k < RG_KIND_MAX; k++) {
			const char *n = rg_kind_name(k);
			char *o = names[RG_CTR_IDENT_BASE + k];

			snprintf(o, sizeof(names[0]), "ident_%s", n ? n : "none");
			for (; *o; o++)
				if (*o >= 'A' && *o <= 'Z')
					*o = (char)(*o - 'A' + 'a');
		}
		snprintf(names[RG_CTR_LOOKUPS], sizeof(names[0]), "lookups");
		snprintf(names[RG_CTR_TABLE_HITS], sizeof(names[0]), "table_hits");
		snprintf(names[RG_CTR_HITS], sizeof(names[0]), "hits");
		for (unsigned l = 0; l < RG_LIST_MAX; l++) {
			const char *n = rg_list_std_name(l);

			if (n)
				snprintf(names[RG_CTR_HITS_LIST_BASE + l], sizeof(names[0]),
					 "hits_%s", n);
			else
				snprintf(names[RG_CTR_HITS_LIST_BASE + l], sizeof(names[0]),
					 "hits_list_%u", l);
		}
		for (unsigned a = 0; a < RG_ANOM_MAX; a++)
			snprintf(names[RG_CTR_ANOM_BASE + a], sizeof(names[0]), "anomaly_%s",
				 a == RG_ANOM_NONE ? "none" : rg_anomaly_name(a));
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
	return names[ctr];
}

const char *rg_event_dir_name(unsigned dir)
{
	return dir == RG_EVENT_DIR_RESPONSE ? "response" : "request";
}

static const char *const seg_action_names[RG_ACTION_MAX] = {
	[RG_ACTION_OFF] = "off",
	[RG_ACTION_MONITOR] = "monitor",
	[RG_ACTION_DECLINE] = "decline",
};

const char *rg_action_name(unsigned action)
{
	return action < RG_ACTION_MAX ? seg_action_names[action] : "unknown";
}

int rg_action_from_name(const char *name)
{
	for (unsigned i = 0; i < RG_ACTION_MAX; i++)
		if (strcmp(name, seg_action_names[i]) == 0)
			return (int)i;
	return -1;
}

static inline uint64_t seg_round(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

struct seg_layout {
	uint64_t policy_off, stats_off, rings_off, ring_bytes, total;
	uint32_t ring_size, stats_bytes;
};

static void seg_layout(unsigned nb_lcores, unsigned ring_size, struct seg_layout *l)
{
	unsigned rs = 1;

	if (ring_size == 0)
		ring_size = 4096;
	while (rs < ring_size)
		rs <<= 1;
	l->ring_size = rs;
	l->stats_bytes = (uint32_t)seg_round(sizeof(struct rg_seg_stats), SEG_ALIGN);
	l->policy_off = seg_round(sizeof(struct rg_seg_header), SEG_ALIGN);
	l->stats_off = l->policy_off + seg_round(sizeof(struct rg_seg_policy), SEG_ALIGN);
	l->rings_off = seg_round(l->stats_off + (uint64_t)nb_lcores * l->stats_bytes, SEG_ALIGN);
	l->ring_bytes = seg_round(sizeof(struct rg_event_ring) +
				  (uint64_t)rs * sizeof(struct rg_event), SEG_ALIGN);
	l->total = l->rings_off + (uint64_t)nb_lcores * l->ring_bytes;
}

static bool seg_header_matches(const struct rg_seg_header *h, size_t bytes,
			       unsigned nb_lcores, const struct seg_layout *l)
{
	return bytes >= sizeof(*h) && h->magic == RG_SEG_MAGIC && h->version == RG_SEG_VERSION &&
	       h->header_bytes == sizeof(struct rg_seg_header) &&
	       h->policy_bytes == sizeof(struct rg_seg_policy) &&
	       h->event_bytes == sizeof(struct rg_event) && h->nb_counters == RG_CTR_MAX &&
	       h->stats_bytes == l->stats_bytes && h->nb_lcores == nb_lcores &&
	       h->ring_size == l->ring_size && h->ring_bytes == l->ring_bytes &&
	       h->policy_off == l->policy_off && h->stats_off == l->stats_off &&
	       h->rings_off == l->rings_off && h->total_bytes <= bytes;
}

static bool seg_is_hugetlbfs(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 && (uint32_t)sfs.f_type == SEG_HUGETLBFS_MAGIC;
}

/* Map path (creating it when create) with at least want bytes.  *huge tells
 * whether the file is on hugetlbfs.  Returns the mapping or MAP_FAILED with
 * errno set; *bytes the mapped size. */
static uint8_t *seg_map(const char *path, bool create, uint64_t want, bool no_hugetlb,
			bool *huge, size_t *bytes)
{
	struct stat st;
	uint8_t *p;
	int fd, e;

	fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	if (fd < 0)
		return MAP_FAILED;
	*huge = seg_is_hugetlbfs(fd);
	if (*huge && no_hugetlb) {
		close(fd);
		errno = ENOMEM;
		return MAP_FAILED;
	}
	if (fstat(fd, &st) < 0)
		goto out_close;
	if (create) {
		uint64_t sz = *huge ? seg_round(want, SEG_HUGE_BYTES) : seg_round(want, 4096);

		if ((uint64_t)st.st_size != sz && ftruncate(fd, (off_t)sz) < 0)
			goto out_close;
		*bytes = sz;
	} else {
		*bytes = (size_t)st.st_size;
		if (*bytes < sizeof(struct rg_seg_header)) {
			errno = EPROTO;
			goto out_close;
		}
	}
	p = mmap(NULL, *bytes, PROT_READ | PROT_WRITE,
		 MAP_SHARED | (*huge ? MAP_POPULATE : 0), fd, 0);
	if (p == MAP_FAILED)
		goto out_close;
	close(fd);
	return p;

out_close:
	e = errno;
	close(fd);
	errno = e;
	return MAP_FAILED;
}

static uint64_t seg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void seg_init(struct rg_segment *s, const struct rg_segment_opts *o,
		     const struct seg_layout *l, bool keep_policy, bool huge)
{
	struct rg_seg_header *h = (struct rg_seg_header *)s->base;
	uint64_t gen = keep_policy ? h->generation : 0;
	struct rg_seg_policy *pol = (struct rg_seg_policy *)(s->base + l->policy_off);

	/* stats and ring positions restart with the process */
	memset(s->base + l->stats_off, 0, (size_t)(l->rings_off - l->stats_off));
	for (unsigned i = 0; i < o->nb_lcores; i++) {
		struct rg_event_ring *r =
			(struct rg_event_ring *)(s->base + l->rings_off + i * l->ring_bytes);

		memset(r, 0, sizeof(*r));
		r->size = l->ring_size;
		r->mask = l->ring_size - 1;
	}
	if (!keep_policy || pol->version == 0 || (pol->version & 1)) {
		struct rg_seg_policy p = { 0 };

		if (o->policy)
			p = *o->policy;
		p.version = 2;
		*pol = p;
	}
	memset(h, 0, sizeof(*h));
	h->version = RG_SEG_VERSION;
	h->header_bytes = sizeof(struct rg_seg_header);
	h->policy_bytes = sizeof(struct rg_seg_policy);
	h->event_bytes = sizeof(struct rg_event);
	h->nb_counters = RG_CTR_MAX;
	h->stats_bytes = l->stats_bytes;
	h->nb_lcores = o->nb_lcores;
	h->ring_size = l->ring_size;
	h->ring_bytes = l->ring_bytes;
	h->policy_off = l->policy_off;
	h->stats_off = l->stats_off;
	h->rings_off = l->rings_off;
	h->total_bytes = l->total;
	h->dp_pid = o->control_plane ? 0 : (uint64_t)getpid();
	h->start_ns = seg_now_ns();
	h->generation = gen + 1;
	h->hugetlb = huge;
	if (o->table_path)
		snprintf(h->table_path, sizeof(h->table_path), "%s", o->table_path);
	/* magic last: a reader that sees it sees the rest */
	__atomic_store_n(&h->magic, RG_SEG_MAGIC, __ATOMIC_RELEASE);
}

struct rg_segment *rg_segment_create(const struct rg_segment_opts *o, char *err, size_t err_cap)
{
	struct rg_segment *s;
	struct seg_layout l;
	bool huge = false, keep = false;
	const char *path = o->path;
	int e;

	if (o->nb_lcores == 0 || o->nb_lcores > RG_SEG_LCORES_MAX || o->ring_size > (1u << 24)) {
		snprintf(err, err_cap, "segment: %u lcores / ring of %u events out of range",
			 o->nb_lcores, o->ring_size);
		errno = EINVAL;
		return NULL;
	}
	seg_layout(o->nb_lcores, o->ring_size, &l);
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, err_cap, "segment: %s", strerror(ENOMEM));
		errno = ENOMEM;
		return NULL;
	}
	if (path == NULL) {
		s->anon = true;
		s->bytes = (size_t)l.total;
		s->base = mmap(NULL, s->bytes, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (s->base == MAP_FAILED) {
			e = errno;
			snprintf(err, err_cap, "segment: anonymous map of %zu bytes: %s", s->bytes,
				 strerror(e));
			goto out_free;
		}
		seg_init(s, o, &l, false, false);
		return s;
	}

	/* take over a compatible file: the control plane's policy survives */
	s->base = seg_map(path, false, 0, false, &huge, &s->bytes);
	if (s->base != MAP_FAILED) {
		if (seg_header_matches((struct rg_seg_header *)s->base, s->bytes, o->nb_lcores, &l)) {
			keep = true;
		} else {
			munmap(s->base, s->bytes);
			s->base = MAP_FAILED;
		}
	}
	if (s->base == MAP_FAILED) {
		char *target = realpath(path, NULL);

		/* a stale fallback symlink takes its target with it */
		if (target && strcmp(target, path) != 0)
			unlink(target);
		free(target);
		unlink(path);
		s->base = seg_map(path, true, l.total, o->no_hugetlb, &huge, &s->bytes);
		if (s->base == MAP_FAILED && (errno == ENOMEM || errno == ENOSPC)) {
			char fb[RG_SEG_PATH_MAX + 32];
			const char *b = strrchr(path, '/');

			unlink(path);
			snprintf(fb, sizeof(fb), "%s/%s", RG_SEG_FALLBACK_DIR, b ? b + 1 : path);
			unlink(fb);
			s->base = seg_map(fb, true, l.total, true, &huge, &s->bytes);
			if (s->base != MAP_FAILED && symlink(fb, path) < 0) {
				e = errno;
				munmap(s->base, s->bytes);
				unlink(fb);
				snprintf(err, err_cap, "segment %s: symlink to %s: %s", path, fb,
					 strerror(e));
				goto out_free;
			}
			if (s->base != MAP_FAILED && !o->quiet)
				fprintf(stderr, "segment: no huge pages for %s: FALLBACK to "
						"ordinary shared memory in %s\n", path, fb);
		} else if (s->base != MAP_FAILED && !huge && !o->quiet) {
			fprintf(stderr, "segment: %s is not on hugetlbfs: FALLBACK to ordinary "
					"shared memory\n", path);
		}
		if (s->base == MAP_FAILED) {
			e = errno;
			snprintf(err, err_cap, "segment %s: %s", path, strerror(e));
			goto out_free;
		}
	}
	seg_init(s, o, &l, keep, huge);
	return s;

out_free:
	free(s);
	errno = e;
	return NULL;
}

struct rg_segment *rg_segment_attach(const char *path, char *err, size_t err_cap)
{
	struct rg_segment *s = calloc(1, sizeof(*s));
	const struct rg_seg_header *h;
	struct seg_layout l;
	bool huge;
	int e;

	if (s == NULL) {
		snprintf(err, err_cap, "segment %s: %s", path, strerror(ENOMEM));
		errno = ENOMEM;
		return NULL;
	}
	s->base = seg_map(path, false, 0, false, &huge, &s->bytes);
	if (s->base == MAP_FAILED) {
		e = errno;
		snprintf(err, err_cap, "segment %s: %s", path, strerror(e));
		goto out_free;
	}
	h = (const struct rg_seg_header *)s->base;
	if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != RG_SEG_MAGIC ||
	    h->version != RG_SEG_VERSION || h->nb_lcores == 0 ||
	    h->nb_lcores > RG_SEG_LCORES_MAX) {
		e = EPROTO;
		snprintf(err, err_cap, "segment %s: not a riskgate segment of version %d", path,
			 RG_SEG_VERSION);
		goto out_unmap;
	}
	seg_layout(h->nb_lcores, h->ring_size, &l);
	if (!seg_header_matches(h, s->bytes, h->nb_lcores, &l)) {
		e = EPROTO;
		snprintf(err, err_cap, "segment %s: layout differs from this build's", path);
		goto out_unmap;
	}
	return s;

out_unmap:
	munmap(s->base, s->bytes);
out_free:
	free(s);
	errno = e;
	return NULL;
}

void rg_segment_close(struct rg_segment *s)
{
	if (s == NULL)
		return;
	munmap(s->base, s->bytes);
	free(s);
}

struct rg_seg_header *rg_segment_header(const struct rg_segment *s)
{
	return (struct rg_seg_header *)s->base;
}

struct rg_seg_policy *rg_segment_policy(const struct rg_segment *s)
{
	return (struct rg_seg_policy *)(s->base + rg_segment_header(s)->policy_off);
}

struct rg_seg_stats *rg_segment_stats(const struct rg_segment *s, unsigned i)
{
	const struct rg_seg_header *h = rg_segment_header(s);

	return (struct rg_seg_stats *)(s->base + h->stats_off + (uint64_t)i * h->stats_bytes);
}

struct rg_event_ring *rg_segment_ring(const struct rg_segment *s, unsigned i)
{
	const struct rg_seg_header *h = rg_segment_header(s);

	return (struct rg_event_ring *)(s->base + h->rings_off + (uint64_t)i * h->ring_bytes);
}

uint64_t rg_segment_sum(const struct rg_segment *s, unsigned ctr)
{
	const struct rg_seg_header *h = rg_segment_header(s);
	uint64_t sum = 0;

	if (ctr >= h->nb_counters)
		return 0;
	for (unsigned i = 0; i < h->nb_lcores; i++)
		sum += __atomic_load_n(&rg_segment_stats(s, i)->c[ctr], __ATOMIC_RELAXED);
	return sum;
}

void rg_seg_policy_write(struct rg_seg_policy *shared, const struct rg_seg_policy *p)
{
	uint64_t v = __atomic_load_n(&shared->version, __ATOMIC_RELAXED);

	v |= 1; /* odd: writing */
	__atomic_store_n(&shared->version, v, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(shared->list_action, p->list_action, sizeof(p->list_action));
	shared->fail_mode = p->fail_mode;
	shared->exempt_mti_classes = p->exempt_mti_classes;
	__atomic_store_n(&shared->version, v + 1, __ATOMIC_RELEASE);
}

/*
 * Reader side of a sequence lock whose version is the first word of both
 * the shared block and the copy: false if a write was in progress or
 * happened meanwhile.
 */
static bool seg_seq_copy(const void *shared, void *out, size_t bytes)
{
	const uint64_t *ver = shared;
	uint64_t v1 = __atomic_load_n(ver, __ATOMIC_ACQUIRE), v2;

	if (v1 & 1)
		return false;
	memcpy(out, shared, bytes);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	v2 = __atomic_load_n(ver, __ATOMIC_RELAXED);
	if (v1 != v2)
		return false;
	memcpy(out, &v1, sizeof(v1));
	return true;
}

bool rg_seg_policy_read(const struct rg_seg_policy *shared, struct rg_seg_policy *out)
{
	_Static_assert(offsetof(struct rg_seg_policy, version) == 0, "version first");
	return seg_seq_copy(shared, out, sizeof(*out));
}

void rg_seg_top_publish(struct rg_seg_top *shared, const struct rg_seg_flow *f, unsigned nb,
			uint64_t now_ns)
{
	uint64_t v = __atomic_load_n(&shared->version, __ATOMIC_RELAXED);

	if (nb > RG_SEG_TOP_FLOWS)
		nb = RG_SEG_TOP_FLOWS;
	__atomic_store_n(&shared->version, v | 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(shared->flow, f, nb * sizeof(*f));
	shared->nb = nb;
	shared->sweep_ns = now_ns;
	__atomic_store_n(&shared->version, (v | 1) + 1, __ATOMIC_RELEASE);
}

bool rg_seg_top_read(const struct rg_seg_top *shared, struct rg_seg_top *out)
{
	_Static_assert(offsetof(struct rg_seg_top, version) == 0, "version first");
	return seg_seq_copy(shared, out, sizeof(*out)) && out->nb <= RG_SEG_TOP_FLOWS;
}
