/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-ledger tiles --out DIR: the logs held, written as a static
 * C2SP tlog-tiles tree (docs/sync.md) that any web server can serve and any
 * tlog client can check:
 *
 *   DIR/<origin>/checkpoint               the latest checkpoint note
 *   DIR/<origin>/tile/<L>/<N>[.p/<W>]      hash tiles of the tree it signs
 *   DIR/<origin>/tile/entries/<N>[.p/<W>]  entry bundles
 *
 * Tiles describe the tree of the checkpoint's size.  Each file is written
 * to a temporary name and renamed, so a server never serves half a file;
 * full tiles already present are left alone (they never change), and the
 * checkpoint is written last, once every tile it needs is in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger/cli.h"
#include "ledger/ledger.h"

/* mkdir -p of the directories above path. */
static int mkdirs_above(char *path)
{
	for (char *p = strchr(path + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			int rc = -errno;

			*p = '/';
			return rc;
		}
		*p = '/';
	}
	return 0;
}

static int write_file(char *path, const void *data, size_t len)
{
	char tmp[PATH_MAX];
	int fd, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	rc = mkdirs_above(path);
	if (rc != 0)
		return rc;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) != 0)
		rc = errno ? -errno : -EIO;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

struct tiles_count {
	uint64_t tiles, bundles, skipped, bytes;
};

static int export_log(struct ledger *l, unsigned m, const char *out, struct tiles_count *n)
{
	const struct ledger_consortium *cs = ledger_consortium(l);
	char origin[LEDGER_ORIGIN_MAX + 1], path[PATH_MAX], rel[LEDGER_TILE_PATH_MAX];
	char note[LEDGER_CHECKPOINT_MAX];
	struct ledger_checkpoint cp;
	uint8_t *buf;
	int rc, len;

	if (ledger_checkpoint_latest(l, m, &cp) != 0)
		return -ENOENT;
	rc = ledger_origin(cs, m, origin, sizeof(origin));
	if (rc != 0)
		return rc;
	buf = malloc(LEDGER_BUNDLE_BYTES_MAX);
	if (buf == NULL)
		return -ENOMEM;
	for (int level = -1; level < LEDGER_TILE_LEVELS && rc == 0; level++) {
		for (uint64_t idx = 0;; idx++) {
			struct ledger_tile_ref t = { level, idx, 0 };
			struct stat sb;
			size_t blen;

			t.width = ledger_tile_width(level, idx, cp.size);
			if (t.width == 0)
				break;
			if (ledger_tile_path(&t, rel, sizeof(rel)) < 0 ||
			    snprintf(path, sizeof(path), "%s/%s/%s", out, origin, rel) >=
				    (int)sizeof(path)) {
				rc = -ENAMETOOLONG;
				break;
			}
			if (t.width == LEDGER_TILE_WIDTH && stat(path, &sb) == 0) {
				n->skipped++;
				continue;
			}
			rc = ledger_tile_read(l, m, &t, cp.size, buf, LEDGER_BUNDLE_BYTES_MAX, &blen);
			if (rc == 0)
				rc = write_file(path, buf, blen);
			if (rc != 0) {
				fprintf(stderr, "riskgate-ledger: tiles: %s: %s\n", path, strerror(-rc));
				break;
			}
			*(level < 0 ? &n->bundles : &n->tiles) += 1;
			n->bytes += blen;
		}
	}
	free(buf);
	if (rc != 0)
		return rc;
	len = ledger_checkpoint_encode(&cp, note, sizeof(note));
	if (len < 0)
		return len;
	if (snprintf(path, sizeof(path), "%s/%s/checkpoint", out, origin) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	rc = write_file(path, note, (size_t)len);
	if (rc != 0)
		fprintf(stderr, "riskgate-ledger: tiles: %s: %s\n", path, strerror(-rc));
	return rc;
}

int ledger_cmd_tiles(struct ledger_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "member", required_argument, NULL, 'm' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL, *names[LEDGER_MEMBERS_MAX];
	unsigned nb_names = 0;
	bool all = false;
	struct ledger *l;
	int opt, rc = 0;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'o': out = optarg; break;
		case 'm':
			if (nb_names == LEDGER_MEMBERS_MAX)
				ledger_cli_usage_exit("tiles");
			names[nb_names++] = optarg;
			break;
		case 'a': all = true; break;
		default: ledger_cli_usage_exit("tiles");
		}
	}
	if (out == NULL || optind != argc || (all && nb_names > 0))
		ledger_cli_usage_exit("tiles");
	l = ledger_cli_open(c, OPEN_READER);
	for (unsigned m = 0; m < ledger_consortium(l)->nb_members && rc == 0; m++) {
		const struct ledger_member *mem = &ledger_consortium(l)->members[m];
		struct tiles_count n = { 0 };
		struct ledger_checkpoint cp;
		char vkey[256], origin[LEDGER_ORIGIN_MAX + 1];
		bool want = all;

		for (unsigned i = 0; i < nb_names; i++)
			want = want || strcmp(names[i], mem->name) == 0;
		if (!all && nb_names == 0)
			want = (int)m == ledger_self(l);
		if (!want)
			continue;
		if (ledger_checkpoint_latest(l, m, &cp) != 0) {
			fprintf(stderr, "riskgate-ledger: tiles: %s has no checkpoint here\n",
				mem->name);
			continue;
		}
		rc = export_log(l, m, out, &n);
		if (rc != 0)
			break;
		ledger_origin(ledger_consortium(l), m, origin, sizeof(origin));
		ledger_note_vkey(vkey, sizeof(vkey), origin, LEDGER_NOTE_ALG_ED25519, mem->pk);
		ledger_cli_print_json(json_pack(
			"{s:s, s:s, s:s, s:I, s:o, s:I, s:I, s:I, s:I}", "member", mem->name, "origin",
			origin, "vkey", vkey, "size", (json_int_t)cp.size, "root",
			ledger_cli_hexj(cp.root, LEDGER_HASH_BYTES), "tiles", (json_int_t)n.tiles,
			"entry_bundles", (json_int_t)n.bundles, "unchanged", (json_int_t)n.skipped,
			"bytes", (json_int_t)n.bytes));
	}
	for (unsigned i = 0; i < nb_names; i++)
		if (ledger_member_find_name(ledger_consortium(l), names[i]) < 0) {
			fprintf(stderr, "riskgate-ledger: tiles: unknown member\n");
			rc = -ENOENT;
		}
	ledger_close(l);
	return rc == 0 ? 0 : 1;
}
