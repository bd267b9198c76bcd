/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Members: Ed25519 identity files, the genesis file that founds a
 * consortium, and membership changes co-signed by a majority.
 *
 * member.key holds the secret key and is refused unless it is a regular
 * file that only its owner may access; it is read into a stack buffer that
 * is wiped on every path and the key lives in sodium_malloc memory.
 * A member also has a TLS key (tlskey.c), separate from its ledger key:
 * member.pub, the genesis and a membership change that adds a member list
 * it, and no two members may share one.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "common/lists.h"
#include "ledger/internal.h"
#include "ledger/ledger.h"

#define KEY_FILE_MAX 1024

void ledger_member_id(const uint8_t pk[LEDGER_PK_BYTES], uint8_t id[LEDGER_ID_BYTES])
{
	uint8_t h[LEDGER_HASH_BYTES];

	ledger_sha256(pk, LEDGER_PK_BYTES, h);
	memcpy(id, h, LEDGER_ID_BYTES);
}

int ledger_member_find(const struct ledger_consortium *c, const uint8_t id[LEDGER_ID_BYTES])
{
	for (unsigned i = 0; i < c->nb_members; i++)
		if (memcmp(c->members[i].id, id, LEDGER_ID_BYTES) == 0)
			return (int)i;
	return -ENOENT;
}

int ledger_member_find_name(const struct ledger_consortium *c, const char *name)
{
	for (unsigned i = 0; i < c->nb_members; i++)
		if (strcmp(c->members[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

int ledger_member_find_tls(const struct ledger_consortium *c,
			   const uint8_t tls_pk[LEDGER_PK_BYTES])
{
	for (unsigned i = 0; i < c->nb_members; i++)
		if (c->members[i].has_tls &&
		    memcmp(c->members[i].tls_pk, tls_pk, LEDGER_PK_BYTES) == 0)
			return (int)i;
	return -ENOENT;
}

int ledger_list_find(const struct ledger_consortium *c, const char *name)
{
	for (unsigned i = 0; i < LEDGER_LISTS_MAX; i++)
		if (c->lists[i].name[0] != '\0' && strcmp(c->lists[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

static bool name_ok(const char *s)
{
	return ledger_name_check(s) == NULL;
}

/* Why TLS key tls cannot be the TLS key of the member whose ledger key is
 * pk, or NULL.  Uniqueness across members is the caller's to check. */
static const char *tls_key_problem(const uint8_t tls[LEDGER_PK_BYTES],
				   const uint8_t pk[LEDGER_PK_BYTES])
{
	if (sodium_is_zero(tls, LEDGER_PK_BYTES))
		return "is all zero";
	if (memcmp(tls, pk, LEDGER_PK_BYTES) == 0)
		return "equals the ledger public key: the TLS key must be a separate key";
	return NULL;
}

int ledger_file_read(const char *path, char *buf, size_t cap, size_t *len, mode_t *mode,
		     char *err, size_t ecap)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		ledger_err(err, ecap, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		ledger_err(err, ecap, "%s: not a regular file", path);
		goto out_close;
	}
	if (mode != NULL)
		*mode = st.st_mode;
	while ((n = read(fd, buf + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	if (n < 0) {
		rc = -errno;
		ledger_err(err, ecap, "%s: %s", path, strerror(errno));
		goto out_close;
	}
	if (got == cap - 1) {
		rc = -EFBIG;
		ledger_err(err, ecap, "%s: file too large", path);
		goto out_close;
	}
	buf[got] = '\0';
	*len = got;
out_close:
	close(fd);
	return rc;
}

/* Value of "KEY VALUE" line in text, copied to out; -ENOENT if absent. */
static int line_value(const char *text, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (*p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t n = eol != NULL ? (size_t)(eol - p) : strlen(p);

		if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == ' ') {
			size_t vlen = n - klen - 1;

			while (vlen > 0 && (p[klen + vlen] == '\r' || p[klen + vlen] == ' '))
				vlen--;
			if (vlen >= cap)
				return -EINVAL;
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = '\0';
			return 0;
		}
		p += n + (eol != NULL);
	}
	return -ENOENT;
}

int ledger_secret_mode_check(const char *path, mode_t mode, char *err, size_t cap)
{
	if ((mode & 077) == 0)
		return 0;
	ledger_err(err, cap,
		   "%s: permissions %04o are too open (group/other may access the key); "
		   "chmod 600 %s",
		   path, (unsigned)(mode & 07777), path);
	return -EPERM;
}

int ledger_file_create(const char *path, const void *data, size_t len, mode_t mode, char *err,
		       size_t cap)
{
	const char *text = data;
	size_t off = 0;
	int fd, rc = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = -errno;
		ledger_err(err, cap, "%s: %s", path, strerror(errno));
		return rc;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0) {
			rc = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	close(fd);
	if (rc != 0) {
		ledger_err(err, cap, "%s: %s", path, strerror(-rc));
		unlink(path);
	}
	return rc;
}

/* member.pub: name, ledger public key and, when there is one, the TLS key. */
static void pub_text(const struct ledger_member *m, char *text, size_t cap)
{
	char pk[2 * LEDGER_PK_BYTES + 1], tls[2 * LEDGER_PK_BYTES + 1];
	int n;

	ledger_hex(m->pk, LEDGER_PK_BYTES, pk);
	n = snprintf(text, cap, "riskgate-member-pub 1\nname %s\npublic %s\n", m->name, pk);
	if (m->has_tls && n > 0 && (size_t)n < cap) {
		ledger_hex(m->tls_pk, LEDGER_PK_BYTES, tls);
		snprintf(text + n, cap - (size_t)n, "tls %s\n", tls);
	}
}

static void tls_unlink(const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/tls.key", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/tls.crt", dir);
	unlink(path);
}

int ledger_identity_generate(const char *dir, const char *name, char *err, size_t cap)
{
	char key_path[PATH_MAX], path[PATH_MAX], text[512], hex[2 * LEDGER_SK_BYTES + 1];
	struct ledger_member m = { 0 };
	uint8_t *sk;
	int rc;

	if (ledger_name_check(name) != NULL) {
		char masked[LEDGER_NAME_MAX + 8];

		ledger_mask_copy(name, strlen(name), masked, sizeof(masked));
		ledger_err(err, cap, "member '%s': %s", masked, ledger_name_check(name));
		return -EINVAL;
	}
	sk = sodium_malloc(LEDGER_SK_BYTES);
	if (sk == NULL) {
		ledger_err(err, cap, "sodium_malloc: out of memory");
		return -ENOMEM;
	}
	crypto_sign_keypair(m.pk, sk);
	ledger_hex(sk, LEDGER_SK_BYTES, hex);
	snprintf(text, sizeof(text),
		 "riskgate-member-key 1\n# Ed25519 identity of a consortium member: secret, keep "
		 "mode 0600\nname %s\nsecret %s\n",
		 name, hex);
	snprintf(key_path, sizeof(key_path), "%s/member.key", dir);
	rc = ledger_file_create(key_path, text, strlen(text), 0600, err, cap);
	sodium_memzero(text, sizeof(text));
	sodium_memzero(hex, sizeof(hex));
	sodium_free(sk);
	if (rc != 0)
		return rc;
	rc = ledger_tls_generate(dir, name, m.tls_pk, err, cap);
	if (rc != 0)
		goto out_unlink_key;
	m.has_tls = true;
	snprintf(m.name, sizeof(m.name), "%s", name);
	pub_text(&m, text, sizeof(text));
	snprintf(path, sizeof(path), "%s/member.pub", dir);
	rc = ledger_file_create(path, text, strlen(text), 0644, err, cap);
	if (rc == 0)
		return 0;
	tls_unlink(dir);
out_unlink_key:
	unlink(key_path);
	return rc;
}

struct ledger_identity *ledger_identity_load(const char *dir, char *err, size_t cap)
{
	char path[PATH_MAX], text[KEY_FILE_MAX], hex[2 * LEDGER_SK_BYTES + 1];
	uint8_t pk[LEDGER_PK_BYTES];
	struct ledger_identity *id;
	size_t len;
	mode_t mode;
	int rc;

	snprintf(path, sizeof(path), "%s/member.key", dir);
	rc = ledger_file_read(path, text, sizeof(text), &len, &mode, err, cap);
	if (rc == 0)
		rc = ledger_secret_mode_check(path, mode, err, cap);
	if (rc != 0)
		goto out_wipe;
	id = sodium_malloc(sizeof(*id));
	if (id == NULL) {
		ledger_err(err, cap, "sodium_malloc: out of memory");
		rc = -ENOMEM;
		goto out_wipe;
	}
	if (strncmp(text, "riskgate-member-key 1\n", 22) != 0 ||
	    line_value(text, "name", id->name, sizeof(id->name)) != 0 ||
	    line_value(text, "secret", hex, sizeof(hex)) != 0 ||
	    ledger_unhex(hex, strlen(hex), id->sk, LEDGER_SK_BYTES) != 0) {
		ledger_err(err, cap, "%s: not a riskgate member key file", path);
		rc = -EINVAL;
		goto out_free;
	}
	/* The public half is the last 32 bytes of libsodium's secret key. */
	if (crypto_sign_ed25519_sk_to_pk(pk, id->sk) != 0) {
		ledger_err(err, cap, "%s: bad secret key", path);
		rc = -EINVAL;
		goto out_free;
	}
	memcpy(id->pk, pk, LEDGER_PK_BYTES);
	sodium_memzero(text, sizeof(text));
	sodium_memzero(hex, sizeof(hex));
	return id;
out_free:
	sodium_free(id);
out_wipe:
	sodium_memzero(text, sizeof(text));
	sodium_memzero(hex, sizeof(hex));
	errno = -rc;
	return NULL;
}

void ledger_identity_free(struct ledger_identity *id)
{
	if (id != NULL)
		sodium_free(id); /* sodium_free wipes */
}

int ledger_pub_load(const char *dir, struct ledger_member *m, char *err, size_t cap)
{
	char path[PATH_MAX], text[KEY_FILE_MAX], hex[80];
	const char *why;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%s/member.pub", dir);
	rc = ledger_file_read(path, text, sizeof(text), &len, NULL, err, cap);
	if (rc != 0)
		return rc;
	memset(m, 0, sizeof(*m));
	if (strncmp(text, "riskgate-member-pub 1\n", 22) != 0 ||
	    line_value(text, "name", m->name, sizeof(m->name)) != 0 ||
	    line_value(text, "public", hex, sizeof(hex)) != 0 ||
	    ledger_unhex(hex, strlen(hex), m->pk, LEDGER_PK_BYTES) != 0) {
		ledger_err(err, cap, "%s: not a riskgate member public key file", path);
		return -EINVAL;
	}
	if (!name_ok(m->name)) {
		ledger_err(err, cap, "%s: member %s", path, ledger_name_check(m->name));
		return -EINVAL;
	}
	/* Files made before TLS keys have no tls line. */
	rc = line_value(text, "tls", hex, sizeof(hex));
	if (rc != -ENOENT) {
		if (rc != 0 || ledger_unhex(hex, strlen(hex), m->tls_pk, LEDGER_PK_BYTES) != 0) {
			ledger_err(err, cap, "%s: tls: want 64 hex digits", path);
			return -EINVAL;
		}
		why = tls_key_problem(m->tls_pk, m->pk);
		if (why != NULL) {
			ledger_err(err, cap, "%s: tls key %s", path, why);
			return -EINVAL;
		}
		m->has_tls = true;
	}
	ledger_member_id(m->pk, m->id);
	m->active = true;
	return 0;
}

int ledger_identity_add_tls(const char *dir, uint8_t tls_pk[LEDGER_PK_BYTES], char *err,
			    size_t cap)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], text[512];
	struct ledger_member m;
	int rc;

	rc = ledger_pub_load(dir, &m, err, cap);
	if (rc != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/member.pub", dir);
	if (m.has_tls) {
		ledger_err(err, cap, "%s already lists a TLS key", path);
		return -EEXIST;
	}
	rc = ledger_tls_generate(dir, m.name, m.tls_pk, err, cap);
	if (rc != 0)
		return rc;
	m.has_tls = true;
	pub_text(&m, text, sizeof(text));
	/* A new file renamed over the old: member.pub is never half written. */
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	unlink(tmp);
	rc = ledger_file_create(tmp, text, strlen(text), 0644, err, cap);
	if (rc == 0 && rename(tmp, path) != 0) {
		rc = -errno;
		ledger_err(err, cap, "%s: %s", path, strerror(errno));
		unlink(tmp);
	}
	if (rc != 0) {
		tls_unlink(dir);
		return rc;
	}
	memcpy(tls_pk, m.tls_pk, LEDGER_PK_BYTES);
	return 0;
}

/* A genesis member's optional "tls_key" into m (index i, name set). */
static int genesis_tls(const struct ledger_consortium *c, struct ledger_member *m, size_t i,
		       const json_t *v, char *err, size_t cap)
{
	const char *why;
	int other;

	if (v == NULL)
		return 0;
	if (!json_is_string(v) || ledger_unhex(json_string_value(v), strlen(json_string_value(v)),
					       m->tls_pk, LEDGER_PK_BYTES) != 0) {
		ledger_err(err, cap, "genesis: member %zu (%s): \"tls_key\" must be 64 hex digits",
			   i, m->name);
		return -EINVAL;
	}
	why = tls_key_problem(m->tls_pk, m->pk);
	if (why != NULL) {
		ledger_err(err, cap, "genesis: member %zu (%s): \"tls_key\" %s", i, m->name, why);
		return -EINVAL;
	}
	other = ledger_member_find_tls(c, m->tls_pk);
	if (other >= 0) {
		ledger_err(err, cap,
			   "genesis: member %zu (%s): \"tls_key\" is also member %d (%s)'s: "
			   "each member needs its own",
			   i, m->name, other, c->members[other].name);
		return -EINVAL;
	}
	m->has_tls = true;
	return 0;
}

int ledger_genesis_parse(const char *text, size_t len, struct ledger_consortium *c, char *err,
			 size_t cap)
{
	json_error_t jerr;
	json_t *root, *lists, *members, *v;
	size_t i;
	int rc = -EINVAL;

	memset(c, 0, sizeof(*c));
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		char masked[JSON_ERROR_TEXT_LENGTH];

		/* jansson quotes the input "near '...'" */
		ledger_mask_copy(jerr.text, strlen(jerr.text), masked, sizeof(masked));
		ledger_err(err, cap, "genesis: line %d: %s", jerr.line, masked);
		return -EINVAL;
	}
	v = json_object_get(root, "format");
	if (!json_is_string(v) || strcmp(json_string_value(v), "riskgate-genesis") != 0 ||
	    !json_is_integer(json_object_get(root, "version")) ||
	    json_integer_value(json_object_get(root, "version")) != 1) {
		ledger_err(err, cap, "genesis: not a riskgate-genesis version 1 file");
		goto out_decref;
	}
	v = json_object_get(root, "consortium");
	if (!json_is_string(v) || !name_ok(json_string_value(v))) {
		ledger_err(err, cap, "genesis: bad or missing \"consortium\" name%s%s",
			   json_is_string(v) ? ": " : "",
			   json_is_string(v) ? ledger_name_check(json_string_value(v)) : "");
		goto out_decref;
	}
	snprintf(c->name, sizeof(c->name), "%s", json_string_value(v));
	lists = json_object_get(root, "lists");
	if (!json_is_array(lists) || json_array_size(lists) == 0 ||
	    json_array_size(lists) > LEDGER_LISTS_MAX) {
		ledger_err(err, cap, "genesis: \"lists\" must be an array of 1..%d lists",
			   LEDGER_LISTS_MAX);
		goto out_decref;
	}
	json_array_foreach(lists, i, v) {
		json_t *bit = json_object_get(v, "bit"), *name = json_object_get(v, "name");
		json_int_t b;

		if (!json_is_integer(bit) || !json_is_string(name)) {
			ledger_err(err, cap, "genesis: list %zu: want {\"bit\": N, \"name\": S}", i);
			goto out_decref;
		}
		if (!name_ok(json_string_value(name))) {
			ledger_err(err, cap, "genesis: list %zu: %s", i,
				   ledger_name_check(json_string_value(name)));
			goto out_decref;
		}
		b = json_integer_value(bit);
		if (b < 0 || b >= LEDGER_LISTS_MAX || c->lists[b].name[0] != '\0' ||
		    ledger_list_find(c, json_string_value(name)) >= 0) {
			ledger_err(err, cap, "genesis: list %zu: bit out of range or repeated", i);
			goto out_decref;
		}
		snprintf(c->lists[b].name, sizeof(c->lists[b].name), "%s",
			 json_string_value(name));
		c->lists[b].luhn = json_is_true(json_object_get(v, "luhn"));
	}
	members = json_object_get(root, "members");
	if (!json_is_array(members) || json_array_size(members) == 0 ||
	    json_array_size(members) > LEDGER_MEMBERS_MAX) {
		ledger_err(err, cap, "genesis: \"members\" must be a non-empty array");
		goto out_decref;
	}
	json_array_foreach(members, i, v) {
		json_t *name = json_object_get(v, "name"), *id = json_object_get(v, "id"),
		       *pk = json_object_get(v, "public_key");
		struct ledger_member *m = &c->members[c->nb_members];
		uint8_t want[LEDGER_ID_BYTES];

		if (json_is_string(name) && !name_ok(json_string_value(name))) {
			ledger_err(err, cap, "genesis: member %zu: %s", i,
				   ledger_name_check(json_string_value(name)));
			goto out_decref;
		}
		if (!json_is_string(name) || !json_is_string(pk) ||
		    ledger_unhex(json_string_value(pk), strlen(json_string_value(pk)), m->pk,
				 LEDGER_PK_BYTES) != 0 ||
		    !json_is_string(id) ||
		    ledger_unhex(json_string_value(id), strlen(json_string_value(id)), want,
				 LEDGER_ID_BYTES) != 0) {
			ledger_err(err, cap,
				   "genesis: member %zu: want {\"name\", \"id\" (16 hex), "
				   "\"public_key\" (64 hex)}",
				   i);
			goto out_decref;
		}
		ledger_member_id(m->pk, m->id);
		if (memcmp(want, m->id, LEDGER_ID_BYTES) != 0) {
			ledger_err(err, cap, "genesis: member %zu: id does not match its public key",
				   i);
			goto out_decref;
		}
		snprintf(m->name, sizeof(m->name), "%s", json_string_value(name));
		if (ledger_member_find_name(c, m->name) >= 0 || ledger_member_find(c, m->id) >= 0) {
			ledger_err(err, cap, "genesis: member %zu: name or key repeated", i);
			goto out_decref;
		}
		if (genesis_tls(c, m, i, json_object_get(v, "tls_key"), err, cap) != 0)
			goto out_decref;
		m->active = true;
		c->nb_members++;
	}
	ledger_sha256(text, len, c->id);
	rc = 0;
out_decref:
	json_decref(root);
	return rc;
}

int ledger_genesis_load(const char *path, struct ledger_consortium *c, char *err, size_t cap)
{
	char *text;
	size_t len;
	int rc;

	text = malloc(1 << 20);
	if (text == NULL)
		return -ENOMEM;
	rc = ledger_file_read(path, text, 1 << 20, &len, NULL, err, cap);
	if (rc == 0) {
		char sub[LEDGER_ERR_MAX];

		rc = ledger_genesis_parse(text, len, c, sub, sizeof(sub));
		if (rc != 0)
			ledger_err(err, cap, "%s: %s", path, sub);
	}
	free(text);
	return rc;
}

int ledger_genesis_write(const char *path, const char *consortium,
			 const struct ledger_member *members, unsigned n, char *err, size_t cap)
{
	json_t *root, *lists, *mem;
	char *text;
	int rc;

	if (!name_ok(consortium)) {
		ledger_err(err, cap, "consortium %s", ledger_name_check(consortium));
		return -EINVAL;
	}
	for (unsigned i = 0; i < n; i++)
		if (!name_ok(members[i].name)) {
			ledger_err(err, cap, "member %u: %s", i, ledger_name_check(members[i].name));
			return -EINVAL;
		}
	root = json_object();
	lists = json_array();
	mem = json_array();

	/* PAN lists check Luhn: txn_fraud and high_risk_account */
	for (unsigned i = 0; i < RG_LIST_NB_STD; i++)
		json_array_append_new(lists, json_pack("{s:i, s:s, s:b}", "bit", (int)i, "name",
						       rg_list_std_name(i), "luhn",
						       i == RG_LIST_TXN_FRAUD ||
						       i == RG_LIST_HIGH_RISK_ACCOUNT));
	for (unsigned i = 0; i < n; i++) {
		char id[2 * LEDGER_ID_BYTES + 1], pk[2 * LEDGER_PK_BYTES + 1];
		json_t *o;

		ledger_hex(members[i].id, LEDGER_ID_BYTES, id);
		ledger_hex(members[i].pk, LEDGER_PK_BYTES, pk);
		o = json_pack("{s:s, s:s, s:s}", "name", members[i].name, "id", id, "public_key",
			      pk);
		if (members[i].has_tls) {
			ledger_hex(members[i].tls_pk, LEDGER_PK_BYTES, pk);
			json_object_set_new(o, "tls_key", json_string(pk));
		}
		json_array_append_new(mem, o);
	}
	json_object_set_new(root, "format", json_string("riskgate-genesis"));
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "consortium", json_string(consortium));
	json_object_set_new(root, "lists", lists);
	json_object_set_new(root, "members", mem);
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (text == NULL) {
		ledger_err(err, cap, "genesis: out of memory");
		return -ENOMEM;
	}
	size_t len = strlen(text);
	char *withnl = malloc(len + 2);

	if (withnl == NULL) {
		free(text);
		return -ENOMEM;
	}
	memcpy(withnl, text, len);
	withnl[len] = '\n';
	withnl[len + 1] = '\0';
	free(text);
	rc = ledger_file_create(path, withnl, len + 1, 0644, err, cap);
	free(withnl);
	return rc;
}

/* ---- membership changes ---- */

/* What the co-signatures cover: action up to the end of the TLS key. */
#define CHANGE_BODY_MAX (6 + LEDGER_NAME_MAX + 2 * LEDGER_PK_BYTES)
#define CHANGE_SIGNED_MAX (8 + LEDGER_HASH_BYTES + CHANGE_BODY_MAX)

static size_t change_body(const struct ledger_membership_change *m, uint8_t *out)
{
	size_t nlen = strlen(m->name);

	out[0] = m->action;
	ledger_put32(out + 1, m->seq);
	out[5] = (uint8_t)nlen;
	memcpy(out + 6, m->name, nlen);
	memcpy(out + 6 + nlen, m->pk, LEDGER_PK_BYTES);
	memcpy(out + 6 + nlen + LEDGER_PK_BYTES, m->tls_pk, LEDGER_PK_BYTES);
	return 6 + nlen + 2 * LEDGER_PK_BYTES;
}

/* A remove carries no TLS key: the field is zero, as unused fields are. */
static bool change_fields_ok(const struct ledger_membership_change *m)
{
	if (m->action == 2)
		return name_ok(m->name) && sodium_is_zero(m->tls_pk, LEDGER_PK_BYTES);
	return name_ok(m->name) && m->action == 1;
}

int ledger_membership_encode(const struct ledger_membership_change *m, uint8_t *out, size_t cap)
{
	size_t n;

	if (!change_fields_ok(m) || m->nb_sigs > LEDGER_MEMBERSHIP_SIGS_MAX ||
	    cap < CHANGE_BODY_MAX + 1 + m->nb_sigs * 66u)
		return -EINVAL;
	n = change_body(m, out);
	out[n++] = (uint8_t)m->nb_sigs;
	for (unsigned i = 0; i < m->nb_sigs; i++) {
		ledger_put16(out + n, m->signer[i]);
		memcpy(out + n + 2, m->sig[i], LEDGER_SIG_BYTES);
		n += 2 + LEDGER_SIG_BYTES;
	}
	return (int)n;
}

int ledger_membership_decode(const uint8_t *in, size_t len, struct ledger_membership_change *m)
{
	size_t nlen, n;

	memset(m, 0, sizeof(*m));
	if (len < 6)
		return -EBADMSG;
	m->action = in[0];
	m->seq = ledger_get32(in + 1);
	nlen = in[5];
	/* a NUL inside the name would not survive re-encoding */
	if (nlen == 0 || nlen > LEDGER_NAME_MAX || len < 6 + nlen + 2 * LEDGER_PK_BYTES + 1 ||
	    memchr(in + 6, '\0', nlen) != NULL)
		return -EBADMSG;
	memcpy(m->name, in + 6, nlen);
	m->name[nlen] = '\0';
	memcpy(m->pk, in + 6 + nlen, LEDGER_PK_BYTES);
	memcpy(m->tls_pk, in + 6 + nlen + LEDGER_PK_BYTES, LEDGER_PK_BYTES);
	if (!change_fields_ok(m))
		return -EBADMSG;
	n = 6 + nlen + 2 * LEDGER_PK_BYTES;
	m->nb_sigs = in[n++];
	if (m->nb_sigs > LEDGER_MEMBERSHIP_SIGS_MAX || len != n + m->nb_sigs * 66u)
		return -EBADMSG;
	for (unsigned i = 0; i < m->nb_sigs; i++) {
		m->signer[i] = ledger_get16(in + n);
		memcpy(m->sig[i], in + n + 2, LEDGER_SIG_BYTES);
		n += 2 + LEDGER_SIG_BYTES;
	}
	return 0;
}

static size_t signed_message(const struct ledger_consortium *c,
			     const struct ledger_membership_change *m, uint8_t *out)
{
	memcpy(out, "RGMEMBER", 8);
	memcpy(out + 8, c->id, LEDGER_HASH_BYTES);
	return 8 + LEDGER_HASH_BYTES + change_body(m, out + 8 + LEDGER_HASH_BYTES);
}

int ledger_membership_sign(const struct ledger_consortium *c,
			   struct ledger_membership_change *m, unsigned signer, const uint8_t *sk)
{
	uint8_t msg[CHANGE_SIGNED_MAX];
	size_t n;

	if (m->nb_sigs >= LEDGER_MEMBERSHIP_SIGS_MAX || signer >= c->nb_members ||
	    !change_fields_ok(m))
		return -EINVAL;
	n = signed_message(c, m, msg);
	crypto_sign_detached(m->sig[m->nb_sigs], NULL, msg, n, sk);
	m->signer[m->nb_sigs++] = (uint16_t)signer;
	return 0;
}

int ledger_membership_check(const struct ledger_consortium *c,
			    const struct ledger_membership_change *m, const char **why)
{
	uint8_t msg[CHANGE_SIGNED_MAX], id[LEDGER_ID_BYTES];
	unsigned nb_active = 0, nb_ok = 0;
	bool seen[LEDGER_MEMBERS_MAX] = { false };
	size_t n;
	int idx;

	if (m->seq != c->membership_seq + 1) {
		*why = "membership change out of sequence";
		return -EINVAL;
	}
	ledger_member_id(m->pk, id);
	idx = ledger_member_find(c, id);
	if (m->action == 1 && (idx >= 0 || ledger_member_find_name(c, m->name) >= 0 ||
			       c->nb_members >= LEDGER_MEMBERS_MAX)) {
		*why = "member to add is already known (name or key)";
		return -EINVAL;
	}
	if (m->action == 1 && sodium_is_zero(m->tls_pk, LEDGER_PK_BYTES)) {
		*why = "member to add has no TLS key";
		return -EINVAL;
	}
	if (m->action == 1 && tls_key_problem(m->tls_pk, m->pk) != NULL) {
		*why = "member to add has a TLS key equal to its ledger key (it must be separate)";
		return -EINVAL;
	}
	if (m->action == 1 && ledger_member_find_tls(c, m->tls_pk) >= 0) {
		*why = "member to add has the TLS key of another member";
		return -EINVAL;
	}
	if (m->action == 2 && (idx < 0 || !c->members[idx].active)) {
		*why = "member to remove is not an active member";
		return -EINVAL;
	}
	for (unsigned i = 0; i < c->nb_members; i++)
		nb_active += c->members[i].active;
	n = signed_message(c, m, msg);
	for (unsigned i = 0; i < m->nb_sigs; i++) {
		unsigned s = m->signer[i];

		if (s >= c->nb_members || !c->members[s].active || seen[s]) {
			*why = "co-signature by a non-member, a removed member or twice by one";
			return -EPERM;
		}
		seen[s] = true;
		if (crypto_sign_verify_detached(m->sig[i], msg, n, c->members[s].pk) != 0) {
			*why = "bad co-signature on the membership change";
			return -EPERM;
		}
		nb_ok++;
	}
	if (2 * nb_ok <= nb_active) {
		*why = "membership change not co-signed by a majority of current members";
		return -EPERM;
	}
	return 0;
}

int ledger_membership_apply(struct ledger_consortium *c, const struct ledger_membership_change *m)
{
	uint8_t id[LEDGER_ID_BYTES];
	int idx;

	ledger_member_id(m->pk, id);
	if (m->action == 1) {
		struct ledger_member *nm = &c->members[c->nb_members++];

		memset(nm, 0, sizeof(*nm));
		snprintf(nm->name, sizeof(nm->name), "%s", m->name);
		memcpy(nm->pk, m->pk, LEDGER_PK_BYTES);
		memcpy(nm->id, id, LEDGER_ID_BYTES);
		memcpy(nm->tls_pk, m->tls_pk, LEDGER_PK_BYTES);
		nm->has_tls = !sodium_is_zero(m->tls_pk, LEDGER_PK_BYTES);
		nm->active = true;
	} else {
		idx = ledger_member_find(c, id);
		if (idx < 0)
			return -ENOENT;
		c->members[idx].active = false;
	}
	c->membership_seq = m->seq;
	return 0;
}
