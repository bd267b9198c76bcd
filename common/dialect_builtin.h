/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The built-in dialect files (the .cfg files of common/dialects), embedded at build time
 * by scripts/embed_dialects.py so that built-ins go through the same parser
 * as dialect files given on the command line.
 */
#ifndef RG_DIALECT_BUILTIN_H
#define RG_DIALECT_BUILTIN_H

struct rg_dialect_builtin {
	const char *name; /* file name without ".cfg" */
	const char *text; /* the file's contents */
};

/* Terminated by an entry whose name is NULL. */
extern const struct rg_dialect_builtin rg_dialect_builtins[];

#endif
