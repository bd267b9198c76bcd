// SPDX-License-Identifier: BSD-3-Clause

// -mkfixture: a static log written with Go's tlog and note, laid out with
// C2SP tlog-tiles paths, for the self-test.

package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/big"
	mrand "math/rand"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// memHashes is an in-memory store of a tree's stored hashes.
type memHashes []tlog.Hash

func (m *memHashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(*m)) {
			return nil, fmt.Errorf("stored hash %d not available", x)
		}
		out[i] = (*m)[x]
	}
	return out, nil
}

func writeFile(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return os.WriteFile(name, data, 0o644)
}

func checkpointBody(origin string, size int64, root tlog.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

// witnessKey makes a cosignature/v1 key pair and its verifier key string.
func witnessKey(name string) (ed25519.PrivateKey, string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	vkey := fmt.Sprintf("%s+%08x+%s", name, cosignerKeyID(name, pub),
		base64.StdEncoding.EncodeToString(append([]byte{cosignatureAlg}, pub...)))
	return priv, vkey, nil
}

func makeFixture(dir, origin string, n, m int64) (string, error) {
	seed, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return "", err
	}
	rng := mrand.New(mrand.NewSource(seed.Int64()))

	// Entries and the stored hashes of the tree.
	entries := make([][]byte, n)
	var hashes memHashes
	for i := int64(0); i < n; i++ {
		e := make([]byte, 1+rng.Intn(300))
		rng.Read(e)
		entries[i] = e
		hs, err := tlog.StoredHashes(i, e, &hashes)
		if err != nil {
			return "", err
		}
		hashes = append(hashes, hs...)
	}
	root, err := tlog.TreeHash(n, &hashes)
	if err != nil {
		return "", err
	}
	oldRoot, err := tlog.TreeHash(m, &hashes)
	if err != nil {
		return "", err
	}

	logDir := filepath.Join(dir, filepath.FromSlash(origin))
	for _, t := range publishedTiles(n) {
		data, err := tlog.ReadTileData(t, &hashes)
		if err != nil {
			return "", err
		}
		if err := writeFile(filepath.Join(logDir, filepath.FromSlash(c2spTilePath(t.L, t.N, t.W))), data); err != nil {
			return "", err
		}
	}
	for b := int64(0); b*tileWidth < n; b++ {
		w := bundleWidth(n, b)
		var data []byte
		for _, e := range entries[b*tileWidth : b*tileWidth+int64(w)] {
			data = binary.BigEndian.AppendUint16(data, uint16(len(e)))
			data = append(data, e...)
		}
		if err := writeFile(filepath.Join(logDir, filepath.FromSlash(bundlePath(b, w))), data); err != nil {
			return "", err
		}
	}

	// The log key, checked against note.NewEd25519VerifierKey.
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return "", err
	}
	seedB, err := base64.StdEncoding.DecodeString(skey[len(skey)-44:])
	if err != nil || len(seedB) != 33 {
		return "", fmt.Errorf("unexpected skey format")
	}
	pub := ed25519.NewKeyFromSeed(seedB[1:]).Public().(ed25519.PublicKey)
	if vk2, err := note.NewEd25519VerifierKey(origin, pub); err != nil || vk2 != vkey {
		return "", fmt.Errorf("note.NewEd25519VerifierKey disagrees with note.GenerateKey")
	}

	sign := func(body string) ([]byte, error) {
		return note.Sign(&note.Note{Text: body}, signer)
	}
	body := checkpointBody(origin, n, root)
	cp, err := sign(body)
	if err != nil {
		return "", err
	}
	oldCp, err := sign(checkpointBody(origin, m, oldRoot))
	if err != nil {
		return "", err
	}
	var bogus tlog.Hash
	rng.Read(bogus[:])
	forkCp, err := sign(checkpointBody(origin, m, bogus))
	if err != nil {
		return "", err
	}

	// A witness cosignature (cosignature/v1) on the current checkpoint.
	wpriv, wvkey, err := witnessKey("fixture.witness/w1")
	if err != nil {
		return "", err
	}
	_, absentVkey, err := witnessKey("fixture.witness/w2")
	if err != nil {
		return "", err
	}
	wc, err := parseCosignerKey(wvkey)
	if err != nil {
		return "", err
	}
	cosign := func(signed []byte, body string) []byte {
		ts := uint64(time.Now().Unix())
		sig := make([]byte, 12, 12+ed25519.SignatureSize)
		binary.BigEndian.PutUint32(sig, wc.id)
		binary.BigEndian.PutUint64(sig[4:], ts)
		sig = append(sig, ed25519.Sign(wpriv, cosignedMessage(ts, body))...)
		return append(append([]byte{}, signed...),
			[]byte("\u2014 "+wc.name+" "+base64.StdEncoding.EncodeToString(sig)+"\n")...)
	}
	cosigned := cosign(cp, body)
	cosignedOld := cosign(oldCp, checkpointBody(origin, m, oldRoot))

	files := []struct {
		name string
		data []byte
	}{
		{filepath.Join(logDir, "checkpoint"), cp},
		{filepath.Join(dir, "old-checkpoint"), oldCp},
		{filepath.Join(dir, "fork-checkpoint"), forkCp},
		{filepath.Join(dir, "cosigned-checkpoint"), cosigned},
		{filepath.Join(dir, "cosigned-old-checkpoint"), cosignedOld},
		{filepath.Join(dir, "vkey"), []byte(vkey + "\n")},
		{filepath.Join(dir, "cosigner-vkey"), []byte(wvkey + "\n")},
		{filepath.Join(dir, "absent-cosigner-vkey"), []byte(absentVkey + "\n")},
	}
	for _, f := range files {
		if err := writeFile(f.name, f.data); err != nil {
			return "", err
		}
	}
	return vkey, nil
}
