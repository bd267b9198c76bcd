/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * For fuzz targets that drive a libconfig parser: libconfig 1.5 leaks its
 * string buffer when a quoted string never ends, a leak of the library and
 * not of ours.  Include once per target (it defines the suppression hook
 * LeakSanitizer looks up).
 */
#ifndef RG_FUZZ_LSAN_LIBCONFIG_H
#define RG_FUZZ_LSAN_LIBCONFIG_H

const char *__lsan_default_suppressions(void);

const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

#endif
