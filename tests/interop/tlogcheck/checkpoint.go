// SPDX-License-Identifier: BSD-3-Clause

// Checkpoints (C2SP tlog-checkpoint over signed-note) and witness
// cosignatures (C2SP tlog-cosignature, cosignature/v1).

package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	Note   *note.Note
}

// openCheckpoint verifies the log's signature on a checkpoint note with
// x/mod's note.Open (which sets aside signatures by unknown keys) and parses
// its body.
func openCheckpoint(raw []byte, v note.Verifier, origin string) (*checkpoint, error) {
	n, err := note.Open(raw, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return nil, fmt.Errorf("no signature by the log key %s+%08x", v.Name(), v.KeyHash())
		case errors.As(err, &invalid):
			return nil, fmt.Errorf("invalid signature by the log key %s+%08x", v.Name(), v.KeyHash())
		default:
			return nil, fmt.Errorf("not a valid signed note: %v", err)
		}
	}
	cp, err := parseCheckpointBody(n.Text)
	if err != nil {
		return nil, err
	}
	if cp.Origin != origin {
		return nil, fmt.Errorf("origin line %q, expected %q", cp.Origin, origin)
	}
	cp.Note = n
	return cp, nil
}

// parseCheckpointBody parses "<origin>\n<size>\n<base64 root>\n" followed by
// optional non-empty extension lines.
func parseCheckpointBody(text string) (*checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return nil, errors.New("checkpoint body does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return nil, fmt.Errorf("checkpoint body has %d lines, expected at least 3", len(lines))
	}
	for i, l := range lines {
		if l == "" {
			return nil, fmt.Errorf("checkpoint body line %d is empty", i+1)
		}
	}
	cp := &checkpoint{Origin: lines[0]}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return nil, fmt.Errorf("bad tree size line %q", lines[1])
	}
	cp.Size = size
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return nil, fmt.Errorf("bad root hash line %q", lines[2])
	}
	copy(cp.Root[:], root)
	return cp, nil
}

const cosignatureAlg = 0x04

// cosignerKey is a witness key name+hex8+base64(0x04 || Ed25519 pubkey).
type cosignerKey struct {
	name string
	id   uint32
	pub  ed25519.PublicKey
}

func validKeyName(name string) bool {
	return name != "" && utf8.ValidString(name) &&
		strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// cosignerKeyID is SHA-256(name || "\n" || 0x04 || pubkey)[:4].
func cosignerKeyID(name string, pub []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', cosignatureAlg})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func parseCosignerKey(s string) (*cosignerKey, error) {
	parts := strings.SplitN(s, "+", 3)
	if len(parts) != 3 {
		return nil, errors.New("expected name+keyid+key")
	}
	name, idHex, keyB64 := parts[0], parts[1], parts[2]
	if !validKeyName(name) {
		return nil, fmt.Errorf("invalid key name %q", name)
	}
	idBytes, err := hex.DecodeString(idHex)
	if err != nil || len(idBytes) != 4 {
		return nil, fmt.Errorf("key id %q is not 8 hex digits", idHex)
	}
	key, err := base64.StdEncoding.DecodeString(keyB64)
	if err != nil || len(key) != 1+ed25519.PublicKeySize {
		return nil, errors.New("key is not base64 of 33 bytes")
	}
	if key[0] != cosignatureAlg {
		return nil, fmt.Errorf("key type 0x%02x, expected 0x04 (cosignature/v1)", key[0])
	}
	c := &cosignerKey{name: name, id: binary.BigEndian.Uint32(idBytes), pub: ed25519.PublicKey(key[1:])}
	if want := cosignerKeyID(name, key[1:]); want != c.id {
		return nil, fmt.Errorf("key id %08x does not match the key (expected %08x)", c.id, want)
	}
	return c, nil
}

// cosignedMessage is what a cosignature/v1 signature covers.
func cosignedMessage(ts uint64, body string) []byte {
	return []byte("cosignature/v1\ntime " + strconv.FormatUint(ts, 10) + "\n" + body)
}

// verify checks that n carries a valid cosignature by c. note.Open has put
// it among the unverified signatures, since x/mod does not know key type
// 0x04. Every line with c's name and key id must verify. It returns the
// cosignature's timestamp.
func (c *cosignerKey) verify(n *note.Note) (uint64, error) {
	found := false
	var ts uint64
	for _, s := range n.UnverifiedSigs {
		if s.Name != c.name || s.Hash != c.id {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(s.Base64)
		if err != nil || len(sig) != 4+8+ed25519.SignatureSize {
			return 0, fmt.Errorf("cosignature by %s+%08x: malformed (%d bytes, expected 76)", c.name, c.id, len(sig))
		}
		t := binary.BigEndian.Uint64(sig[4:12])
		if !ed25519.Verify(c.pub, cosignedMessage(t, n.Text), sig[12:]) {
			return 0, fmt.Errorf("cosignature by %s+%08x (time %d): invalid signature", c.name, c.id, t)
		}
		found, ts = true, t
	}
	if !found {
		return 0, fmt.Errorf("no cosignature by %s+%08x", c.name, c.id)
	}
	return ts, nil
}
