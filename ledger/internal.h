/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by the ledger's files: big-endian fields of the canonical
 * encodings, error formatting and the small files of a member directory
 * (member.c, tlskey.c).  Not part of the public API.
 */
#ifndef LEDGER_INTERNAL_H
#define LEDGER_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

static inline void ledger_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void ledger_put32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline void ledger_put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint16_t ledger_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t ledger_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t ledger_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* snprintf into an error buffer that may be NULL. */
__attribute__((format(printf, 3, 4)))
static inline void ledger_err(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* Read a small regular file (opened with O_NOFOLLOW) whole into buf,
 * NUL-terminated; *mode set when mode is not NULL.  0, or -errno with err
 * set (-EFBIG when it does not fit in cap - 1 bytes).  A caller reading a
 * secret wipes buf on every path. */
int ledger_file_read(const char *path, char *buf, size_t cap, size_t *len, mode_t *mode,
		     char *err, size_t ecap);
/* Create path (O_EXCL | O_NOFOLLOW, so never through a link or over a file)
 * with mode, write data and fsync.  0, or -errno with err set and nothing
 * left behind. */
int ledger_file_create(const char *path, const void *data, size_t len, mode_t mode, char *err,
		       size_t cap);
/* -EPERM with err set when a key file's mode lets group or others in. */
int ledger_secret_mode_check(const char *path, mode_t mode, char *err, size_t cap);

#endif
