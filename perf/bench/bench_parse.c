/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-bench parse: the per-message cost of screening's front half on
 * one core.
 *
 * Cases, each on an in-memory corpus from the generator (realistic 0100/0200
 * mix, PAN in DE 2 and 35, merchant, terminal, acquirer):
 *   decode.D            rg_iso_decode alone
 *   decode_extract.D    decode + rg_ident_extract           (target <= 150 ns)
 *   screen_front.D      decode + extract + fingerprints, staged per burst
 *                       of 32 messages as on the fast path
 *   screen_front_dp.D   the same as riskgate-dp does it with its default
 *                       policy: rg_iso_decode_until the last DE it needs,
 *                       rg_ident_extract_mask of the kinds it screens
 *   fingerprint.single  rg_fp_compute, one at a time, and
 *   fingerprint.burst32 rg_fp_compute_burst, 32 at a time, each against
 *                       libsodium's siphashx24 on the same 17-byte inputs
 *                       (target <= 20 ns)
 *   capture.ascii87     riskgate-dissect vs tshark on the same capture,
 *                       whole process, JSON to /dev/null
 * Each timed loop runs nb_rounds times; the median is printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "bench.h"
#include "common/fp.h"
#include "common/ident.h"
#include "common/iso8583.h"
#include "gen.h"

extern char **environ;

struct corpus {
	unsigned nb;
	uint8_t **bufs;
	uint16_t *lens;
	uint64_t bytes;
};

static int corpus_make(struct corpus *c, const struct rg_dialect *d, unsigned nb, uint64_t seed)
{
	c->nb = nb;
	c->bufs = calloc(nb, sizeof(*c->bufs));
	c->lens = calloc(nb, sizeof(*c->lens));
	if (c->bufs == NULL || c->lens == NULL)
		return -ENOMEM;
	int rc = gen_corpus(d, nb, seed, c->bufs, c->lens);
	if (rc != 0)
		return rc;
	c->bytes = 0;
	for (unsigned i = 0; i < nb; i++)
		c->bytes += c->lens[i];
	return 0;
}

static void corpus_free(struct corpus *c)
{
	if (c->bufs != NULL)
		for (unsigned i = 0; i < c->nb; i++)
			free(c->bufs[i]);
	free(c->bufs);
	free(c->lens);
}

enum stage { STAGE_DECODE, STAGE_EXTRACT, STAGE_FINGERPRINT, STAGE_SCREEN };

/* The kinds riskgate-dp's default policy screens (dataplane/config.c), and
 * the last DE it then decodes: its events carry DEs 11 and 37. */
#define SCREEN_KINDS (1u << RG_KIND_PAN | 1u << RG_KIND_ACCOUNT | 1u << RG_KIND_MERCHANT | \
		      1u << RG_KIND_TERMINAL | 1u << RG_KIND_PHONE)

static unsigned screen_last_de(const struct rg_dialect *d)
{
	unsigned last = 37;

	for (unsigned i = 0; i < d->nb_ident; i++)
		if ((SCREEN_KINDS >> d->ident[i].kind & 1) && d->ident[i].de > last)
			last = d->ident[i].de;
	return last;
}

#define BENCH_BURST 32

/*
 * One pass over the corpus in bursts of BENCH_BURST messages, staged as the
 * fast path works: decode and extract the whole burst, then fingerprint all
 * of its identifiers in one call.  Returns ns per message; *sink defeats
 * dead-code elimination.
 */
static double run_pass(const struct rg_dialect *d, const struct rg_fp_key *key,
		       const struct corpus *c, enum stage stage, uint64_t *sink,
		       uint64_t *nb_ident)
{
	static struct rg_ident ids[BENCH_BURST * RG_IDENT_MAX];
	static struct rg_fp fps[BENCH_BURST * RG_IDENT_MAX];
	struct rg_iso_msg m;
	uint64_t acc = 0, idents = 0;
	const unsigned last = stage == STAGE_SCREEN ? screen_last_de(d) : RG_ISO_MAX_DE;
	uint64_t t0 = bench_now_ns();

	for (unsigned base = 0; base < c->nb; base += BENCH_BURST) {
		unsigned end = base + BENCH_BURST < c->nb ? base + BENCH_BURST : c->nb;
		unsigned n = 0;

		for (unsigned i = base; i < end; i++) {
			if (stage == STAGE_SCREEN) {
				enum rg_anomaly a = rg_iso_decode_until(d, c->bufs[i], c->lens[i],
									0, last, &m);
				acc += a + m.end;
				n += rg_ident_extract_mask(d, &m, SCREEN_KINDS, ids + n,
							   RG_IDENT_MAX, NULL);
				continue;
			}
			enum rg_anomaly a = rg_iso_decode(d, c->bufs[i], c->lens[i], 0, &m);
			acc += a + m.end;
			if (stage == STAGE_DECODE)
				continue;
			n += rg_ident_extract(d, &m, ids + n, RG_IDENT_MAX, NULL);
		}
		idents += n;
		if (stage == STAGE_EXTRACT) {
			acc += n ? (uint8_t)ids[0].value[0] : 0;
			continue;
		}
		if (stage == STAGE_FINGERPRINT || stage == STAGE_SCREEN) {
			rg_fp_compute_burst(key, ids, n, fps);
			for (unsigned j = 0; j < n; j++)
				acc += fps[j].b[0];
		}
	}
	uint64_t t1 = bench_now_ns();
	*sink += acc;
	*nb_ident = idents;
	return (double)(t1 - t0) / c->nb;
}

static void bench_dialect(const struct bench_opts *o, const char *name,
			  const struct rg_fp_key *key, uint64_t *sink)
{
	char err[256];
	struct rg_dialect *d = rg_dialect_load(name, err, sizeof(err));
	struct corpus c = { 0 };
	static const struct {
		enum stage stage;
		const char *label;
	} stages[] = {
		{ STAGE_DECODE, "decode" },
		{ STAGE_EXTRACT, "decode_extract" },
		{ STAGE_FINGERPRINT, "screen_front" },
		{ STAGE_SCREEN, "screen_front_dp" },
	};

	if (d == NULL) {
		fprintf(stderr, "riskgate-bench: %s\n", err);
		return;
	}
	if (corpus_make(&c, d, o->nb_msgs, o->seed) != 0) {
		fprintf(stderr, "riskgate-bench: cannot build a %s corpus\n", name);
		goto out_free;
	}

	for (size_t s = 0; s < sizeof(stages) / sizeof(stages[0]); s++) {
		double v[1000];
		uint64_t nb_ident = 0;
		run_pass(d, key, &c, stages[s].stage, sink, &nb_ident); /* warm caches */
		for (unsigned r = 0; r < o->nb_rounds; r++)
			v[r] = run_pass(d, key, &c, stages[s].stage, sink, &nb_ident);
		double ns = bench_median(v, o->nb_rounds);
		char case_name[64], extra[256];
		snprintf(case_name, sizeof(case_name), "%s.%s", stages[s].label, name);
		snprintf(extra, sizeof(extra),
			 ", \"msgs_per_s\": %.0f, \"avg_msg_bytes\": %.1f, "
			 "\"identifiers_per_msg\": %.2f, \"messages\": %u",
			 1e9 / ns, (double)c.bytes / c.nb, (double)nb_ident / c.nb, c.nb);
		bench_result("parse", case_name, "ns/msg", ns, NULL, 0, 0, extra);
	}
out_free:
	corpus_free(&c);
	free(d);
}

/*
 * Fingerprints of kind byte + 16-digit PAN (17 bytes hashed): rg_fp_compute
 * one at a time and rg_fp_compute_burst 32 at a time, each against
 * libsodium's crypto_shorthash_siphashx24 on the same inputs.
 */
static void bench_fingerprint(const struct bench_opts *o, const struct rg_fp_key *key,
			      const uint8_t raw_key[RG_FP_KEY_BYTES], uint64_t *sink)
{
	enum { NB_INPUTS = 4096, PAN_LEN = 16 };
	static struct rg_ident ids[NB_INPUTS];
	static struct rg_fp fps[BENCH_BURST];
	const unsigned nb_iter = o->nb_msgs * 10 / BENCH_BURST * BENCH_BURST;
	double single[1000], burst[1000], theirs[1000];
	uint8_t in[1 + PAN_LEN], out[16];
	uint64_t acc = 0;

	for (unsigned i = 0; i < NB_INPUTS; i++) {
		ids[i].kind = RG_KIND_PAN;
		ids[i].len = PAN_LEN;
		for (unsigned j = 0; j < PAN_LEN; j++)
			ids[i].value[j] = (char)('0' + randombytes_uniform(10));
	}
	for (unsigned r = 0; r < o->nb_rounds; r++) {
		struct rg_fp fp;
		uint64_t t0 = bench_now_ns();
		for (unsigned i = 0; i < nb_iter; i++) {
			const struct rg_ident *id = &ids[i % NB_INPUTS];
			rg_fp_compute(key, id->kind, id->value, id->len, &fp);
			acc += fp.b[3];
		}
		uint64_t t1 = bench_now_ns();
		for (unsigned i = 0; i < nb_iter; i += BENCH_BURST) {
			rg_fp_compute_burst(key, &ids[i % NB_INPUTS], BENCH_BURST, fps);
			acc += fps[BENCH_BURST - 1].b[3];
		}
		uint64_t t2 = bench_now_ns();
		for (unsigned i = 0; i < nb_iter; i++) {
			const struct rg_ident *id = &ids[i % NB_INPUTS];
			in[0] = id->kind;
			memcpy(in + 1, id->value, PAN_LEN);
			crypto_shorthash_siphashx24(out, in, sizeof(in), raw_key);
			acc += out[3];
		}
		uint64_t t3 = bench_now_ns();
		single[r] = (double)(t1 - t0) / nb_iter;
		burst[r] = (double)(t2 - t1) / nb_iter;
		theirs[r] = (double)(t3 - t2) / nb_iter;
	}
	*sink += acc;
	double a = bench_median(single, o->nb_rounds), b = bench_median(burst, o->nb_rounds),
	       c = bench_median(theirs, o->nb_rounds);
	bench_result("parse", "fingerprint.single", "ns/fp", a, "libsodium", c, c / a,
		     ", \"input_bytes\": 17");
	bench_result("parse", "fingerprint.burst32", "ns/fp", b, "libsodium", c, c / b,
		     ", \"input_bytes\": 17");
}

/* Run argv with stdout to /dev/null; returns wall ns, or 0 on failure. */
static uint64_t time_command(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	uint64_t t0 = bench_now_ns();
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		fprintf(stderr, "riskgate-bench: cannot run %s: %s\n", argv[0], strerror(rc));
		return 0;
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "riskgate-bench: %s failed\n", argv[0]);
		return 0;
	}
	return bench_now_ns() - t0;
}

/* The dissector next to this binary in a build tree, else on PATH. */
static void find_dissect(char *out, size_t cap)
{
	if (bench_find_tool("tools/dissect", "riskgate-dissect", out, cap) != 0)
		snprintf(out, cap, "riskgate-dissect");
}

static void bench_capture(const struct bench_opts *o)
{
	struct gen_cfg cfg;
	char path[PATH_MAX], err[256], dissect[PATH_MAX];
	unsigned nb_msgs = o->nb_msgs / 2; /* tshark is slow: keep the run short */

	gen_cfg_default(&cfg);
	snprintf(path, sizeof(path), "%s/rg-bench-parse-%d.pcap", o->workdir, (int)getpid());
	cfg.out = path;
	cfg.nb_messages = nb_msgs;
	cfg.nb_flows = 200;
	cfg.seed = o->seed;
	if (gen_run(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "riskgate-bench: generator: %s\n", err);
		return;
	}
	find_dissect(dissect, sizeof(dissect));
	char *ours_argv[] = { dissect, "--show-pan", path, NULL };
	char *tshark_argv[] = { (char *)o->tshark, "-n", "-r", path, "-d", "tcp.port==5000,iso8583",
				"-o", "iso8583.len_endian:bigendian", "-T", "json", NULL };
	uint64_t ours = time_command(ours_argv);
	uint64_t theirs = o->tshark != NULL ? time_command(tshark_argv) : 0;
	/* requests and responses both count as messages */
	double msgs = 2.0 * nb_msgs;
	if (ours != 0) {
		double a = msgs / (ours / 1e9);
		char extra[128];
		snprintf(extra, sizeof(extra), ", \"messages\": %.0f", msgs);
		if (theirs != 0) {
			double b = msgs / (theirs / 1e9);
			bench_result("parse", "capture.ascii87", "msgs/s", a, "tshark", b, a / b,
				     extra);
		} else {
			bench_result("parse", "capture.ascii87", "msgs/s", a, NULL, 0, 0, extra);
		}
	}
	unlink(path);
}

int bench_parse(const struct bench_opts *o)
{
	uint8_t raw_key[RG_FP_KEY_BYTES];
	struct rg_fp_key key;
	uint64_t sink = 0;

	if (sodium_init() < 0) {
		fprintf(stderr, "riskgate-bench: libsodium failed to initialise\n");
		return -1;
	}
	randombytes_buf(raw_key, sizeof(raw_key));
	rg_fp_key_set(&key, raw_key, 1);

	bench_dialect(o, "ascii87", &key, &sink);
	bench_dialect(o, "bcd87", &key, &sink);
	bench_fingerprint(o, &key, raw_key, &sink);
	bench_capture(o);

	sodium_memzero(raw_key, sizeof(raw_key));
	sodium_memzero(&key, sizeof(key));
	fprintf(stderr, "(checksum %llu)\n", (unsigned long long)sink);
	return 0;
}
