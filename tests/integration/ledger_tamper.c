/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ledger_tamper DB CF INDEX OFFSET: change one byte of a ledger's RocksDB
 * database behind the library's back, for the tamper tests.  Opens DB with
 * RocksDB's C API (every column family it has), takes the INDEX-th key of
 * column family CF in key order, XORs the value byte at OFFSET (negative:
 * from the end) with 0x01 and writes the value back (synced).  Prints the
 * key as hex.  Exit 0 on success, 1 on error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

int main(int argc, char **argv)
{
	rocksdb_column_family_handle_t **cfs;
	const rocksdb_options_t **cf_opts;
	rocksdb_options_t *opts;
	rocksdb_readoptions_t *ro;
	rocksdb_writeoptions_t *wo;
	rocksdb_iterator_t *it;
	char **names, *errptr = NULL, *val;
	size_t nb_cf, klen, vlen;
	long index, offset;
	rocksdb_t *db;
	int target = -1, rc = 1;

	if (argc != 5) {
		fprintf(stderr, "usage: ledger_tamper DB CF INDEX OFFSET\n");
		return 2;
	}
	index = strtol(argv[3], NULL, 10);
	offset = strtol(argv[4], NULL, 10);
	opts = rocksdb_options_create();
	names = rocksdb_list_column_families(opts, argv[1], &nb_cf, &errptr);
	if (errptr != NULL) {
		fprintf(stderr, "ledger_tamper: %s\n", errptr);
		free(errptr);
		return 1;
	}
	cfs = calloc(nb_cf, sizeof(*cfs));
	cf_opts = calloc(nb_cf, sizeof(*cf_opts));
	for (size_t i = 0; i < nb_cf; i++) {
		cf_opts[i] = opts;
		if (strcmp(names[i], argv[2]) == 0)
			target = (int)i;
	}
	if (target < 0) {
		fprintf(stderr, "ledger_tamper: no column family %s\n", argv[2]);
		return 1;
	}
	db = rocksdb_open_column_families(opts, argv[1], (int)nb_cf, (const char *const *)names,
					  cf_opts, cfs, &errptr);
	if (errptr != NULL) {
		fprintf(stderr, "ledger_tamper: %s\n", errptr);
		free(errptr);
		return 1;
	}
	ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_total_order_seek(ro, 1);
	wo = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(wo, 1);
	it = rocksdb_create_iterator_cf(db, ro, cfs[target]);
	rocksdb_iter_seek_to_first(it);
	for (long i = 0; i < index && rocksdb_iter_valid(it); i++)
		rocksdb_iter_next(it);
	if (rocksdb_iter_valid(it)) {
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, &vlen);
		long at = offset < 0 ? (long)vlen + offset : offset;

		if (at >= 0 && at < (long)vlen) {
			char *key = malloc(klen);

			val = malloc(vlen);
			memcpy(key, k, klen);
			memcpy(val, v, vlen);
			val[at] ^= 0x01;
			rocksdb_put_cf(db, wo, cfs[target], key, klen, val, vlen, &errptr);
			if (errptr == NULL) {
				for (size_t i = 0; i < klen; i++)
					printf("%02x", (unsigned char)key[i]);
				printf("\n");
				rc = 0;
			} else {
				fprintf(stderr, "ledger_tamper: %s\n", errptr);
				free(errptr);
			}
			free(key);
			free(val);
		} else {
			fprintf(stderr, "ledger_tamper: offset %ld outside a %zu-byte value\n", offset,
				vlen);
		}
	} else {
		fprintf(stderr, "ledger_tamper: %s has fewer than %ld keys\n", argv[2], index + 1);
	}
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	rocksdb_writeoptions_destroy(wo);
	for (size_t i = 0; i < nb_cf; i++)
		rocksdb_column_family_handle_destroy(cfs[i]);
	rocksdb_close(db);
	rocksdb_list_column_families_destroy(names, nb_cf);
	rocksdb_options_destroy(opts);
	free(cfs);
	free(cf_opts);
	return rc;
}
