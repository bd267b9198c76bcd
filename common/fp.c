/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fingerprints: SipHash-2-4 with 128-bit output (the function libsodium
 * calls crypto_shorthash_siphashx24), written out here so the fast path can
 * hash kind byte || identifier without copying it, plus the key file that
 * holds the consortium's fingerprint key for one epoch.
 *
 * Hashing is a pure function of the key and the input: any thread may call
 * it, it never allocates.  Key files are read once at start-up; every buffer
 * that ever held key bytes is wiped before it goes out of scope, on every
 * path, and key bytes are never written into an error message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "common/fp.h"
#include "common/ident.h"

#define RG_FP_FILE_MAGIC "riskgate-fp-key 1"
#define RG_FP_FILE_MAX 4096 /* bytes; a real key file is under 200 */

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND(v0, v1, v2, v3)                                    \
	do {                                                        \
		v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32); \
		v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;            \
		v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;            \
		v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32); \
	} while (0)

static inline uint64_t sip_load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* Little-endian load of n < 8 bytes. */
static inline uint64_t sip_load_tail(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	switch (n) {
	case 7: v |= (uint64_t)p[6] << 48; /* fall through */
	case 6: v |= (uint64_t)p[5] << 40; /* fall through */
	case 5: v |= (uint64_t)p[4] << 32; /* fall through */
	case 4: v |= (uint64_t)p[3] << 24; /* fall through */
	case 3: v |= (uint64_t)p[2] << 16; /* fall through */
	case 2: v |= (uint64_t)p[1] << 8;  /* fall through */
	case 1: v |= (uint64_t)p[0];       /* fall through */
	default: break;
	}
	return v;
}

static inline void sip_store64(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(p, &v, sizeof(v));
}

/*
 * SipHash-2-4-128 of the message pfx[0..npfx) || in[0..len), npfx 0 or 1.
 * The one-byte prefix lets rg_fp_compute hash the kind byte in front of the
 * value without building the concatenation: message word i is then
 * in[8i-1 .. 8i+7), except word 0 which carries the prefix in its low byte.
 */
static inline void sip128(uint64_t k0, uint64_t k1, uint8_t pfx, size_t npfx,
			  const uint8_t *in, size_t len, uint8_t out[16])
{
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dULL ^ 0xee;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k1 ^ 0x7465646279746573ULL;
	size_t total = len + npfx;
	size_t end = total & ~(size_t)7;  /* bytes of the message in full words */
	size_t off = 0;                   /* message offset of the next word */
	uint64_t m, b;

	if (npfx && end) {
		m = len >= 8 ? sip_load64(in) << 8 : sip_load_tail(in, 7) << 8;
		m |= pfx;
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
		off = 8;
	}
	for (; off < end; off += 8) {
		m = sip_load64(in + off - npfx);
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}

	b = (uint64_t)total << 56;
	if (npfx && end == 0)
		b |= (sip_load_tail(in, len) << 8) | pfx;
	else if (total != end && len >= 8)
		/* One load of the last 8 input bytes, shifted down to the tail. */
		b |= sip_load64(in + len - 8) >> (64 - 8 * (total - end));
	else
		b |= sip_load_tail(in + end - npfx, total - end);

	v3 ^= b;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	v0 ^= b;

	v2 ^= 0xee;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	sip_store64(out, v0 ^ v1 ^ v2 ^ v3);

	v1 ^= 0xdd;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	sip_store64(out + 8, v0 ^ v1 ^ v2 ^ v3);
}

void rg_fp_key_set(struct rg_fp_key *k, const uint8_t raw[RG_FP_KEY_BYTES], uint32_t epoch)
{
	k->k0 = sip_load64(raw);
	k->k1 = sip_load64(raw + 8);
	k->epoch = epoch;
}

void rg_siphash128(const struct rg_fp_key *k, const uint8_t *in, size_t len, uint8_t out[16])
{
	sip128(k->k0, k->k1, 0, 0, in, len, out);
}

void rg_fp_compute(const struct rg_fp_key *k, unsigned kind, const char *value,
		   size_t len, struct rg_fp *out)
{
	sip128(k->k0, k->k1, (uint8_t)kind, 1, (const uint8_t *)value, len, out->b);
}

/* ---- bursts ------------------------------------------------------------- */

/*
 * One hash is a chain of 14 or more dependent SipRounds: on one core that
 * latency is the floor.  A burst's identifiers are independent, so with
 * AVX-512 eight of them go through the rounds side by side, one per 64-bit
 * lane (vprolq is the rotate).  Lanes whose message has fewer words keep
 * their state through the extra compressions by mask.
 */
#define RG_FP_MAX_WORDS ((1 + RG_IDENT_MAX_LEN) / 8 + 1) /* incl. the length word */

#if defined(__AVX512F__)
/*
 * Write the SipHash message words of kind || value[0..len) to w[0..][lane]
 * (stride 8 words), final length word included; returns how many.
 */
static inline unsigned msg_words(uint8_t kind, const uint8_t *in, size_t len,
				 uint64_t *w, unsigned lane)
{
	size_t total = len + 1, rem = total & 7, j;
	unsigned nw = (unsigned)(total / 8 + 1);

	if (len >= 8) {
		w[lane] = sip_load64(in) << 8 | kind;
		for (j = 1; j + 1 < nw; j++)
			w[8 * j + lane] = sip_load64(in + 8 * j - 1);
		w[8 * (nw - 1) + lane] = (uint64_t)total << 56 |
			(rem ? sip_load64(in + len - 8) >> (64 - 8 * rem) : 0);
	} else if (total == 8) {
		w[lane] = sip_load_tail(in, 7) << 8 | kind;
		w[8 + lane] = (uint64_t)8 << 56;
	} else {
		w[lane] = (uint64_t)total << 56 | sip_load_tail(in, len) << 8 | kind;
	}
	return nw;
}

#define VROUND(v0, v1, v2, v3)                                              \
	do {                                                                \
		v0 = _mm512_add_epi64(v0, v1); v1 = _mm512_rol_epi64(v1, 13); \
		v1 = _mm512_xor_si512(v1, v0); v0 = _mm512_rol_epi64(v0, 32); \
		v2 = _mm512_add_epi64(v2, v3); v3 = _mm512_rol_epi64(v3, 16); \
		v3 = _mm512_xor_si512(v3, v2);                                \
		v0 = _mm512_add_epi64(v0, v3); v3 = _mm512_rol_epi64(v3, 21); \
		v3 = _mm512_xor_si512(v3, v0);                                \
		v2 = _mm512_add_epi64(v2, v1); v1 = _mm512_rol_epi64(v1, 17); \
		v1 = _mm512_xor_si512(v1, v2); v2 = _mm512_rol_epi64(v2, 32); \
	} while (0)

/* Fingerprints of ids[0..n), 1 <= n <= 8. */
static void fp_x8(const struct rg_fp_key *k, const struct rg_ident *ids, unsigned n,
		  struct rg_fp *out)
{
	uint64_t w[RG_FP_MAX_WORDS][8] __attribute__((aligned(64)));
	uint64_t h[2][8] __attribute__((aligned(64)));
	__mmask8 live[RG_FP_MAX_WORDS] = { 0 }; /* lanes that have word j */
	unsigned nb_words[8] = { 0 };
	unsigned lane, j, max_words = 0;
	__m512i v0, v1, v2, v3, m;

	for (lane = 0; lane < n; lane++) {
		size_t len = ids[lane].len < RG_IDENT_MAX_LEN ? ids[lane].len : RG_IDENT_MAX_LEN;

		nb_words[lane] = msg_words(ids[lane].kind, (const uint8_t *)ids[lane].value, len,
					   &w[0][0], lane);
		if (nb_words[lane] > max_words)
			max_words = nb_words[lane];
	}
	/* Lanes past their last word (and unused lanes) hold zeros, masked off. */
	for (lane = 0; lane < 8; lane++) {
		for (j = 0; j < nb_words[lane]; j++)
			live[j] |= (__mmask8)(1u << lane);
		for (; j < max_words; j++)
			w[j][lane] = 0;
	}

	v0 = _mm512_set1_epi64((long long)(k->k0 ^ 0x736f6d6570736575ULL));
	v1 = _mm512_set1_epi64((long long)(k->k1 ^ 0x646f72616e646f6dULL ^ 0xee));
	v2 = _mm512_set1_epi64((long long)(k->k0 ^ 0x6c7967656e657261ULL));
	v3 = _mm512_set1_epi64((long long)(k->k1 ^ 0x7465646279746573ULL));

	for (j = 0; j < max_words; j++) {
		__m512i u0 = v0, u1 = v1, u2 = v2, u3 = v3;

		m = _mm512_load_si512((const void *)w[j]);
		u3 = _mm512_xor_si512(u3, m);
		VROUND(u0, u1, u2, u3);
		VROUND(u0, u1, u2, u3);
		u0 = _mm512_xor_si512(u0, m);
		v0 = _mm512_mask_mov_epi64(v0, live[j], u0);
		v1 = _mm512_mask_mov_epi64(v1, live[j], u1);
		v2 = _mm512_mask_mov_epi64(v2, live[j], u2);
		v3 = _mm512_mask_mov_epi64(v3, live[j], u3);
	}

	v2 = _mm512_xor_si512(v2, _mm512_set1_epi64(0xee));
	VROUND(v0, v1, v2, v3);
	VROUND(v0, v1, v2, v3);
	VROUND(v0, v1, v2, v3);
	VROUND(v0, v1, v2, v3);
	_mm512_store_si512((void *)h[0],
			   _mm512_xor_si512(_mm512_xor_si512(v0, v1), _mm512_xor_si512(v2, v3)));
	v1 = _mm512_xor_si512(v1, _mm512_set1_epi64(0xdd));
	VROUND(v0, v1, v2, v3);
	VROUND(v0, v1, v2, v3);
	VROUND(v0, v1, v2, v3);
	VROUND(v0, v1, v2, v3);
	_mm512_store_si512((void *)h[1],
			   _mm512_xor_si512(_mm512_xor_si512(v0, v1), _mm512_xor_si512(v2, v3)));

	for (lane = 0; lane < n; lane++) {
		sip_store64(out[lane].b, h[0][lane]);
		sip_store64(out[lane].b + 8, h[1][lane]);
	}
}
#endif

void rg_fp_compute_burst(const struct rg_fp_key *k, const struct rg_ident *ids, unsigned n,
			 struct rg_fp *out)
{
	unsigned i = 0;

#if defined(__AVX512F__)
	/* A lone identifier is quicker on the scalar path. */
	while (n - i >= 2) {
		unsigned c = n - i < 8 ? n - i : 8;

		fp_x8(k, ids + i, c, out + i);
		i += c;
	}
#endif
	for (; i < n; i++)
		sip128(k->k0, k->k1, ids[i].kind, 1, (const uint8_t *)ids[i].value,
		       ids[i].len < RG_IDENT_MAX_LEN ? ids[i].len : RG_IDENT_MAX_LEN,
		       out[i].b);
}

void rg_fp_hex(const struct rg_fp *fp, unsigned n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned i;

	if (n > RG_FP_BYTES)
		n = RG_FP_BYTES;
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[fp->b[i] >> 4];
		out[2 * i + 1] = hex[fp->b[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* ---- key files ---------------------------------------------------------- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Decimal 1..2^32-1, digits only. */
static bool parse_epoch(const char *s, size_t n, uint32_t *epoch)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 10)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v == 0 || v > UINT32_MAX)
		return false;
	*epoch = (uint32_t)v;
	return true;
}

/*
 * Parse the text of a key file.  Returns 0, or -EINVAL with err naming the
 * path and line.  raw receives the key bytes (the caller wipes it).
 */
static int parse_key_text(const char *path, const char *text, size_t len,
			  uint8_t raw[RG_FP_KEY_BYTES], uint32_t *epoch,
			  char *err, size_t err_cap)
{
	bool have_epoch = false, have_key = false;
	unsigned line_no = 0;
	size_t pos = 0;

	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		size_t word, rest;

		pos += n + (nl ? 1 : 0);
		line_no++;
		if (memchr(line, '\0', n) != NULL) {
			snprintf(err, err_cap, "%s:%u: NUL byte in key file", path, line_no);
			return -EINVAL;
		}
		while (n > 0 && is_blank(line[n - 1]))
			n--;
		if (line_no == 1) {
			if (n != sizeof(RG_FP_FILE_MAGIC) - 1 ||
			    memcmp(line, RG_FP_FILE_MAGIC, n) != 0) {
				snprintf(err, err_cap,
					 "%s:1: not a key file (first line must be \"%s\")",
					 path, RG_FP_FILE_MAGIC);
				return -EINVAL;
			}
			continue;
		}
		while (n > 0 && is_blank(line[0])) {
			line++;
			n--;
		}
		if (n == 0 || line[0] == '#')
			continue;

		for (word = 0; word < n && !is_blank(line[word]); word++)
			;
		for (rest = word; rest < n && is_blank(line[rest]); rest++)
			;
		if (word == 5 && memcmp(line, "epoch", 5) == 0) {
			if (have_epoch) {
				snprintf(err, err_cap, "%s:%u: duplicate \"epoch\" line",
					 path, line_no);
				return -EINVAL;
			}
			if (rest == word || !parse_epoch(line + rest, n - rest, epoch)) {
				snprintf(err, err_cap,
					 "%s:%u: epoch must be a decimal number 1..4294967295",
					 path, line_no);
				return -EINVAL;
			}
			have_epoch = true;
		} else if (word == 3 && memcmp(line, "key", 3) == 0) {
			size_t bin_len = 0;
			const char *hex_end = NULL;

			if (have_key) {
				snprintf(err, err_cap, "%s:%u: duplicate \"key\" line",
					 path, line_no);
				return -EINVAL;
			}
			if (rest == word || n - rest != 2 * RG_FP_KEY_BYTES ||
			    sodium_hex2bin(raw, RG_FP_KEY_BYTES, line + rest, n - rest,
					   NULL, &bin_len, &hex_end) != 0 ||
			    bin_len != RG_FP_KEY_BYTES || hex_end != line + n) {
				snprintf(err, err_cap,
					 "%s:%u: key must be exactly %d hex digits",
					 path, line_no, 2 * RG_FP_KEY_BYTES);
				return -EINVAL;
			}
			have_key = true;
		} else {
			snprintf(err, err_cap,
				 "%s:%u: unexpected line (want \"epoch N\", \"key HEX\" or a # comment)",
				 path, line_no);
			return -EINVAL;
		}
	}
	if (line_no == 0) {
		snprintf(err, err_cap, "%s: empty key file", path);
		return -EINVAL;
	}
	if (!have_epoch || !have_key) {
		snprintf(err, err_cap, "%s: missing \"%s\" line", path,
			 have_epoch ? "key" : "epoch");
		return -EINVAL;
	}
	return 0;
}

struct rg_fp_key *rg_fp_key_load(const char *path, char *err, size_t err_cap)
{
	char text[RG_FP_FILE_MAX + 1];
	uint8_t raw[RG_FP_KEY_BYTES];
	struct rg_fp_key *k = NULL;
	uint32_t epoch = 0;
	size_t len = 0;
	struct stat st;
	int fd, rc;

	if (err_cap > 0)
		err[0] = '\0';
	if (sodium_init() < 0) {
		snprintf(err, err_cap, "%s: libsodium initialisation failed", path);
		errno = EIO;
		return NULL;
	}

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = errno;
		if (rc == ELOOP)
			snprintf(err, err_cap, "%s: is a symbolic link; refusing to follow it",
				 path);
		else
			snprintf(err, err_cap, "%s: %s", path, strerror(rc));
		errno = rc;
		return NULL;
	}
	if (fstat(fd, &st) != 0) {
		rc = errno;
		snprintf(err, err_cap, "%s: %s", path, strerror(rc));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		snprintf(err, err_cap, "%s: not a regular file", path);
		goto out_close;
	}
	if ((st.st_mode & 077) != 0) {
		rc = EACCES;
		snprintf(err, err_cap,
			 "%s: permissions %04o are too open (group/other may access the key); chmod 600 %s",
			 path, (unsigned)(st.st_mode & 07777), path);
		goto out_close;
	}

	for (;;) {
		ssize_t n = read(fd, text + len, sizeof(text) - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = errno;
			snprintf(err, err_cap, "%s: %s", path, strerror(rc));
			goto out_wipe;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > RG_FP_FILE_MAX) {
			rc = EFBIG;
			snprintf(err, err_cap, "%s: too large for a key file (over %d bytes)",
				 path, RG_FP_FILE_MAX);
			goto out_wipe;
		}
	}

	rc = -parse_key_text(path, text, len, raw, &epoch, err, err_cap);
	if (rc != 0)
		goto out_wipe;

	k = sodium_malloc(sizeof(*k));
	if (k == NULL) {
		rc = ENOMEM;
		snprintf(err, err_cap, "%s: cannot allocate secure memory for the key", path);
		goto out_wipe;
	}
	rg_fp_key_set(k, raw, epoch);

out_wipe:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(text, sizeof(text));
out_close:
	close(fd);
	if (k == NULL)
		errno = rc;
	return k;
}

void rg_fp_key_free(struct rg_fp_key *k)
{
	if (k != NULL)
		sodium_free(k); /* wipes before unmapping */
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int rg_fp_key_generate(const char *path, uint32_t epoch, char *err, size_t err_cap)
{
	uint8_t raw[RG_FP_KEY_BYTES];
	char hex[2 * RG_FP_KEY_BYTES + 1];
	char text[256];
	int fd, n, rc;

	if (err_cap > 0)
		err[0] = '\0';
	if (epoch == 0) {
		snprintf(err, err_cap, "%s: key epoch must be 1..4294967295", path);
		return -EINVAL;
	}
	if (sodium_init() < 0) {
		snprintf(err, err_cap, "%s: libsodium initialisation failed", path);
		return -EIO;
	}

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, err_cap, "%s: %s", path, strerror(-rc));
		return rc;
	}
	/* O_CREAT honours the umask, which can only remove bits: 0600 or less. */

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	n = snprintf(text, sizeof(text),
		     RG_FP_FILE_MAGIC "\n"
		     "# riskgate consortium fingerprint key: secret, keep mode 0600\n"
		     "epoch %u\n"
		     "key %s\n", epoch, hex);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		rc = -EOVERFLOW;
		snprintf(err, err_cap, "%s: internal error formatting the key file", path);
		goto out_unlink;
	}
	rc = write_all(fd, text, (size_t)n);
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (rc != 0) {
		snprintf(err, err_cap, "%s: %s", path, strerror(-rc));
		goto out_unlink;
	}
	if (close(fd) != 0) {
		rc = -errno;
		fd = -1;
		snprintf(err, err_cap, "%s: %s", path, strerror(-rc));
		goto out_unlink;
	}
	fd = -1;
	rc = 0;
	goto out_wipe;

out_unlink:
	if (fd >= 0)
		close(fd);
	unlink(path);
out_wipe:
	sodium_memzero(text, sizeof(text));
	sodium_memzero(hex, sizeof(hex));
	sodium_memzero(raw, sizeof(raw));
	return rc;
}
