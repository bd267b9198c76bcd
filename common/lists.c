/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Names of the standard lists (common/lists.h).  Their positions are part
 * of every table file and ledger: never reorder.
 */
#include <string.h>

#include "common/lists.h"

static const char *const std_names[RG_LIST_NB_STD] = {
	[RG_LIST_TXN_FRAUD] = "txn_fraud",
	[RG_LIST_HIGH_RISK_ACCOUNT] = "high_risk_account",
	[RG_LIST_MARKETING_CHEAT] = "marketing_cheat",
	[RG_LIST_TELECOM_FRAUD] = "telecom_fraud",
};

const char *rg_list_std_name(unsigned id)
{
	return id < RG_LIST_NB_STD ? std_names[id] : NULL;
}

int rg_list_std_id(const char *name)
{
	for (unsigned i = 0; i < RG_LIST_NB_STD; i++)
		if (strcmp(name, std_names[i]) == 0)
			return (int)i;
	return -1;
}
