/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The consortium's lists as the table sees them: bit i of a table value's
 * list mask (struct rg_table_val.lists) is list i.  The first four are the
 * standard lists every consortium has, at fixed positions; a consortium may
 * define more (up to RG_LIST_MAX) in its genesis, after these.
 */
#ifndef RG_LISTS_H
#define RG_LISTS_H

#define RG_LIST_MAX 16 /* bits in struct rg_table_val.lists */
#define RG_LIST_NAME_MAX 32

enum rg_list_std {
	RG_LIST_TXN_FRAUD = 0,
	RG_LIST_HIGH_RISK_ACCOUNT = 1,
	RG_LIST_MARKETING_CHEAT = 2,
	RG_LIST_TELECOM_FRAUD = 3,
	RG_LIST_NB_STD
};

/* Name of standard list id ("txn_fraud", ...), or NULL past the standard ones. */
const char *rg_list_std_name(unsigned id);

/* Id of a standard list name, or -1. */
int rg_list_std_id(const char *name);

#endif
