// SPDX-License-Identifier: BSD-3-Clause

/*
README

tlogcheck is an independent verifier for the transparency logs that riskgate
members serve in the C2SP formats (signed-note, tlog-checkpoint, tlog-tiles,
tlog-cosignature). It shares no code with the C implementation: it is built
only on the Go standard library and on golang.org/x/mod/sumdb/note and
golang.org/x/mod/sumdb/tlog, as packaged by Debian (golang-go,
golang-golang-x-mod-dev). Cosignatures (cosignature/v1, key type 0x04) are
unknown to that version of x/mod, so they are checked here with
crypto/ed25519.

Build (offline, GOPATH mode; Debian installs x/mod under
/usr/share/gocode/src/golang.org/x/mod):

    cd tests/interop/tlogcheck &&
    GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=/tmp/tlogcheck-gocache \
    GOFLAGS= GOPROXY=off go build -o tlogcheck .

(from elsewhere, list the files instead of the directory: go build -o OUT
/abs/path/tlogcheck/*.go; GOPATH mode refuses an absolute directory path.)

Check a served log:

    tlogcheck -url BASE -origin ORIGIN -vkey VKEY
              [-entries] [-prove i,j,k] [-old FILE]
              [-cosigned-url URL -cosigner VKEY04 [-cosigner VKEY04 ...]]
              [-cert FILE -key FILE] [-pin SHA256B64] [-timeout 30s]

  - GET BASE/ORIGIN/checkpoint: the note must carry a valid signature by
    -vkey (Go note format name+hex8+base64(0x01||pubkey)); its first line
    must equal -origin, then the tree size and the base64 root follow.
    Unknown signature lines (witness cosignatures) are allowed.
  - Every tile of the tree (each (level, index) listed by
    tlog.NewTiles(8, 0, size), at its published width) is fetched from
    BASE/ORIGIN/tile/L/N[.p/W] and authenticated against the checkpoint root
    through tlog.TileHashReader (tlog.ReadTileData of every tile). As a
    second, independent check every stored hash is recomputed from the
    level-0 tiles, compared with every higher-level tile, and the root is
    recomputed with tlog.TreeHash.
  - -entries fetches every entry bundle BASE/ORIGIN/tile/entries/N[.p/W]
    (big-endian uint16 length + bytes per entry) and checks that
    tlog.RecordHash of each entry equals the level-0 tile hash.
  - -prove i,j,k: inclusion proofs (tlog.ProveRecord/CheckRecord) of the
    given leaf indexes; the leaf hash is computed from the entry bundle.
  - -old FILE: an older checkpoint signed by the same key; consistency
    old -> current is proved with tlog.ProveTree/CheckTree.
  - -cosigned-url URL with -cosigner KEY (repeatable): a witness's cosigned
    copy of the checkpoint (absolute URL, or relative to BASE/). The log
    signature is verified as above, the tree it names must be the current
    one or a prefix of it (consistency proof), and each -cosigner
    (name+hex8+base64(0x04||pubkey)) must have a valid cosignature/v1 line.
  - -cert/-key: TLS client certificate (PEM; Ed25519 PKCS#8 keys work);
    -pin: base64(SHA-256(SubjectPublicKeyInfo DER)) of the server's leaf
    certificate, checked instead of the usual chain verification. Either
    option sets TLS 1.3 as the minimum.

Every request has a timeout and a body size limit; anything malformed is
refused with a message naming the URL. Exit status 0 means everything that
was asked for was checked and passed; 1 means a check failed (the reason is on
stderr); 2 means bad usage. A JSON summary is printed on stdout in all cases
but bad usage:

    {"ok":true,"origin":...,"size":N,"root":"<hex>","tiles_verified":N,
     "entries_verified":N,"proofs_verified":N,"consistency":true|false|null,
     "cosigned_size":N|null,"cosignatures_verified":N}

Fixture mode (used by selftest.sh): writes a static log of N random entries
(1..300 bytes each) with C2SP paths under DIR/ORIGIN/, using Go's tlog and
note (note.GenerateKey, note.Sign), and prints the log's verifier key:

    tlogcheck -mkfixture DIR -n N [-m M] [-origin ORIGIN]

It also writes DIR/vkey, DIR/old-checkpoint (the signed checkpoint at size
M, default N/2 but at least 1), DIR/fork-checkpoint (same key, size M, a
wrong root), DIR/cosigned-checkpoint (the checkpoint plus a cosignature/v1
line of a generated witness), DIR/cosigned-old-checkpoint (the same for
the checkpoint at size M), DIR/cosigner-vkey (that witness's key) and
DIR/absent-cosigner-vkey (a witness key that did not cosign).

selftest.sh BIN WORKDIR (writes only WORKDIR/selftest) builds fixtures of several sizes, serves them with
python3 -m http.server on loopback and checks that good logs pass and that
tampered ones fail.

Limitations: the whole tree's hashes are held in memory (about 64 bytes per
leaf), which suits test and demo logs, not logs of billions of entries. Only
the partial tiles of the current tree size are fetched (the only ones a log
must keep serving).
*/

// Package main is tlogcheck; see the README comment above.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const (
	tileHeight     = 8
	tileWidth      = 1 << tileHeight
	maxNoteBytes   = 1 << 20
	maxTileBytes   = tileWidth * tlog.HashSize
	maxBundleBytes = tileWidth * (2 + 65535)
)

// summary is the JSON object printed at the end.
type summary struct {
	OK                   bool   `json:"ok"`
	Error                string `json:"error,omitempty"`
	Origin               string `json:"origin"`
	Size                 int64  `json:"size"`
	Root                 string `json:"root"`
	TilesVerified        int    `json:"tiles_verified"`
	EntriesVerified      int64  `json:"entries_verified"`
	ProofsVerified       int    `json:"proofs_verified"`
	Consistency          *bool  `json:"consistency"`
	CosignedSize         *int64 `json:"cosigned_size"`
	CosignaturesVerified int    `json:"cosignatures_verified"`
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

type options struct {
	base, origin, vkey string
	entries            bool
	prove              string
	oldFile            string
	cosigners          listFlag
	cosignedURL        string
	certFile, keyFile  string
	pin                string
	timeout            time.Duration
	parallel           int
	mkfixture          string
	fixtureN, fixtureM int64
}

func usage() {
	fmt.Fprintf(os.Stderr, `usage:
  tlogcheck -url BASE -origin ORIGIN -vkey VKEY [-entries] [-prove i,j,k] [-old FILE]
            [-cosigned-url URL -cosigner VKEY04 ...] [-cert FILE -key FILE] [-pin SHA256B64]
  tlogcheck -mkfixture DIR -n N [-m M] [-origin ORIGIN]
`)
	flag.PrintDefaults()
}

func main() {
	var o options
	flag.StringVar(&o.base, "url", "", "base URL of the log server (the origin is appended)")
	flag.StringVar(&o.origin, "origin", "", "log origin (first checkpoint line, URL path prefix)")
	flag.StringVar(&o.vkey, "vkey", "", "log verifier key: name+hex8+base64(0x01||pubkey)")
	flag.BoolVar(&o.entries, "entries", false, "fetch and check every entry bundle")
	flag.StringVar(&o.prove, "prove", "", "comma-separated leaf indexes to prove inclusion of")
	flag.StringVar(&o.oldFile, "old", "", "file with an older checkpoint to prove consistency from")
	flag.Var(&o.cosigners, "cosigner", "witness key name+hex8+base64(0x04||pubkey) (repeatable)")
	flag.StringVar(&o.cosignedURL, "cosigned-url", "", "URL of a witness-cosigned checkpoint")
	flag.StringVar(&o.certFile, "cert", "", "TLS client certificate (PEM)")
	flag.StringVar(&o.keyFile, "key", "", "TLS client private key (PEM)")
	flag.StringVar(&o.pin, "pin", "", "base64 SHA-256 of the server certificate's SubjectPublicKeyInfo")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Second, "timeout of each HTTP request")
	flag.IntVar(&o.parallel, "parallel", 4, "concurrent requests when fetching tiles and bundles")
	flag.StringVar(&o.mkfixture, "mkfixture", "", "write a fixture log into this directory instead of checking")
	flag.Int64Var(&o.fixtureN, "n", 0, "fixture: number of entries")
	flag.Int64Var(&o.fixtureM, "m", -1, "fixture: size of old-checkpoint (default n/2, at least 1)")
	flag.Usage = usage
	flag.Parse()
	if flag.NArg() != 0 {
		badUsage("unexpected arguments: %q", flag.Args())
	}

	if o.mkfixture != "" {
		if o.origin == "" {
			o.origin = "riskgate/demo/bank-a"
		}
		if o.fixtureN < 1 {
			badUsage("-mkfixture needs -n N with N >= 1")
		}
		m := o.fixtureM
		if m < 0 {
			m = o.fixtureN / 2
			if m < 1 {
				m = 1
			}
		}
		if m < 1 || m > o.fixtureN {
			badUsage("-m must be between 1 and -n")
		}
		vkey, err := makeFixture(o.mkfixture, o.origin, o.fixtureN, m)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tlogcheck: mkfixture: %v\n", err)
			os.Exit(1)
		}
		fmt.Println(vkey)
		return
	}

	if o.base == "" || o.origin == "" || o.vkey == "" {
		badUsage("-url, -origin and -vkey are required")
	}
	if len(o.cosigners) > 0 && o.cosignedURL == "" {
		badUsage("-cosigner needs -cosigned-url")
	}
	if (o.certFile == "") != (o.keyFile == "") {
		badUsage("-cert and -key go together")
	}
	if o.parallel < 1 {
		o.parallel = 1
	}

	sum := &summary{Origin: o.origin}
	err := run(&o, sum)
	if err != nil {
		sum.Error = err.Error()
		fmt.Fprintf(os.Stderr, "tlogcheck: FAIL: %v\n", err)
	} else {
		sum.OK = true
	}
	out, _ := json.Marshal(sum)
	fmt.Println(string(out))
	if err != nil {
		os.Exit(1)
	}
}

func badUsage(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlogcheck: "+format+"\n", args...)
	usage()
	os.Exit(2)
}

// emptyRoot is the RFC 6962 hash of the empty tree.
var emptyRoot = tlog.Hash(sha256.Sum256(nil))

func run(o *options, sum *summary) error {
	verifier, err := note.NewVerifier(o.vkey)
	if err != nil {
		return fmt.Errorf("-vkey %q: %v", o.vkey, err)
	}
	if verifier.Name() != o.origin {
		return fmt.Errorf("-vkey key name %q differs from the origin %q", verifier.Name(), o.origin)
	}
	cosigners := make([]*cosignerKey, 0, len(o.cosigners))
	for _, k := range o.cosigners {
		c, err := parseCosignerKey(k)
		if err != nil {
			return fmt.Errorf("-cosigner %q: %v", k, err)
		}
		cosigners = append(cosigners, c)
	}
	proveList, err := parseIndexList(o.prove)
	if err != nil {
		return fmt.Errorf("-prove %q: %v", o.prove, err)
	}
	var oldRaw []byte
	if o.oldFile != "" {
		oldRaw, err = readFileLimited(o.oldFile, maxNoteBytes)
		if err != nil {
			return fmt.Errorf("-old: %v", err)
		}
	}

	client, err := newHTTPClient(o.timeout, o.certFile, o.keyFile, o.pin)
	if err != nil {
		return err
	}
	base := strings.TrimRight(o.base, "/")
	logURL := base + "/" + o.origin + "/"
	f := &fetcher{client: client}

	// 1. The checkpoint.
	cpURL := logURL + "checkpoint"
	raw, err := f.get(cpURL, maxNoteBytes)
	if err != nil {
		return err
	}
	cp, err := openCheckpoint(raw, verifier, o.origin)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %v", cpURL, err)
	}
	sum.Size = cp.Size
	sum.Root = hex.EncodeToString(cp.Root[:])
	tree := tlog.Tree{N: cp.Size, Hash: cp.Root}

	// 2. Every tile, authenticated against the root: first by recomputing
	// the whole tree from the level-0 tiles (which also tells which tile
	// is wrong), then tile by tile through tlog.TileHashReader.
	tr := &tileReader{f: f, logURL: logURL, cache: map[tlog.Tile][]byte{}}
	hr := tlog.TileHashReader(tree, tr)
	tiles := publishedTiles(cp.Size)
	if err := tr.prefetch(tiles, o.parallel); err != nil {
		return err
	}
	leaves, err := recomputeTree(cp, tiles, tr)
	if err != nil {
		return err
	}
	for _, t := range tiles {
		data, err := tlog.ReadTileData(t, hr)
		if err != nil {
			return fmt.Errorf("tile %s: not authenticated by the checkpoint root (it or a tile on its path to the root is wrong): %v",
				tr.url(t), err)
		}
		if !bytes.Equal(data, tr.cached(t)) {
			return fmt.Errorf("tile %s: authenticated hashes differ from the served tile", tr.url(t))
		}
		sum.TilesVerified++
	}

	// 3. Entry bundles.
	if o.entries {
		n, err := checkAllBundles(f, logURL, cp.Size, leaves, o.parallel)
		sum.EntriesVerified = n
		if err != nil {
			return err
		}
		if n != cp.Size {
			return fmt.Errorf("entry bundles hold %d entries, checkpoint size is %d", n, cp.Size)
		}
	}

	// 4. Inclusion proofs.
	for _, i := range proveList {
		if i >= cp.Size {
			return fmt.Errorf("-prove %d: index out of range for tree size %d", i, cp.Size)
		}
		entry, bundle, err := fetchEntry(f, logURL, cp.Size, i)
		if err != nil {
			return fmt.Errorf("-prove %d: %v", i, err)
		}
		leaf := tlog.RecordHash(entry)
		p, err := tlog.ProveRecord(cp.Size, i, hr)
		if err != nil {
			return fmt.Errorf("-prove %d: building the inclusion proof from the tiles: %v", i, err)
		}
		if err := tlog.CheckRecord(p, cp.Size, cp.Root, i, leaf); err != nil {
			return fmt.Errorf("-prove %d: entry from %s is not included in the tree of size %d: %v", i, bundle, cp.Size, err)
		}
		sum.ProofsVerified++
	}

	// 5. Consistency with an older checkpoint.
	if oldRaw != nil {
		f := false
		sum.Consistency = &f
		old, err := openCheckpoint(oldRaw, verifier, o.origin)
		if err != nil {
			return fmt.Errorf("-old %s: %v", o.oldFile, err)
		}
		if err := checkConsistency(old, cp, hr); err != nil {
			return fmt.Errorf("-old %s: %v", o.oldFile, err)
		}
		t := true
		sum.Consistency = &t
	}

	// 6. A witness's cosigned view.
	if o.cosignedURL != "" {
		u, err := resolveURL(base+"/", o.cosignedURL)
		if err != nil {
			return fmt.Errorf("-cosigned-url %q: %v", o.cosignedURL, err)
		}
		raw, err := f.get(u, maxNoteBytes)
		if err != nil {
			return err
		}
		cn, err := openCheckpoint(raw, verifier, o.origin)
		if err != nil {
			return fmt.Errorf("cosigned checkpoint %s: %v", u, err)
		}
		size := cn.Size
		sum.CosignedSize = &size
		if err := checkConsistency(cn, cp, hr); err != nil {
			return fmt.Errorf("cosigned checkpoint %s against the served checkpoint: %v", u, err)
		}
		for _, c := range cosigners {
			_, err := c.verify(cn.Note)
			if err != nil {
				return fmt.Errorf("cosigned checkpoint %s: %v", u, err)
			}
			sum.CosignaturesVerified++
		}
	}
	return nil
}

// checkConsistency proves that old's tree is a prefix of cur's tree, using
// hashes from hr (which serves cur's tree).
func checkConsistency(old, cur *checkpoint, hr tlog.HashReader) error {
	switch {
	case old.Size > cur.Size:
		return fmt.Errorf("tree size %d is larger than the served tree size %d", old.Size, cur.Size)
	case old.Size == 0:
		if old.Root != emptyRoot {
			return fmt.Errorf("empty tree with a root other than SHA-256(\"\")")
		}
		return nil
	case old.Size == cur.Size:
		if old.Root != cur.Root {
			return fmt.Errorf("same tree size %d but different roots (split view)", old.Size)
		}
		return nil
	}
	p, err := tlog.ProveTree(cur.Size, old.Size, hr)
	if err != nil {
		return fmt.Errorf("building the consistency proof %d -> %d from the tiles: %v", old.Size, cur.Size, err)
	}
	if err := tlog.CheckTree(p, cur.Size, cur.Root, old.Size, old.Root); err != nil {
		return fmt.Errorf("tree of size %d is not a prefix of the served tree of size %d: %v", old.Size, cur.Size, err)
	}
	return nil
}

// publishedTiles returns, for each (level, index) that tlog.NewTiles lists
// for a tree of the given size, the tile at the width the log must serve
// (full, or the partial width of the current size).
func publishedTiles(size int64) []tlog.Tile {
	all := tlog.NewTiles(tileHeight, 0, size)
	var out []tlog.Tile
	for i, t := range all {
		if i+1 < len(all) && all[i+1].L == t.L && all[i+1].N == t.N {
			continue // a wider version of the same tile follows
		}
		out = append(out, t)
	}
	return out
}

// recomputeTree recomputes every stored hash from the level-0 tiles,
// compares the result with every higher-level tile and with the checkpoint
// root, and returns the leaf hashes. When something differs it names the
// tile that is wrong as far as one can tell: if the level-0 tiles give the
// checkpoint root, the first higher tile that disagrees with them; if not,
// the level-0 tile under the first disagreeing hash, or else the partial
// level-0 tile (the only one no higher tile covers).
func recomputeTree(cp *checkpoint, tiles []tlog.Tile, tr *tileReader) ([]tlog.Hash, error) {
	if cp.Size == 0 {
		if cp.Root != emptyRoot {
			return nil, fmt.Errorf("checkpoint of size 0 has a root other than SHA-256(\"\")")
		}
		return nil, nil
	}
	// levels[k][i] = hash of the perfect subtree of height k at index i.
	levels := [][]tlog.Hash{make([]tlog.Hash, 0, cp.Size)}
	var partial0 *tlog.Tile
	for i, t := range tiles {
		if t.L != 0 {
			continue
		}
		if int64(len(levels[0])) != t.N*tileWidth {
			return nil, fmt.Errorf("internal error: level-0 tiles out of order")
		}
		levels[0] = appendHashes(levels[0], tr.cached(t))
		if t.W < tileWidth {
			partial0 = &tiles[i]
		}
	}
	if int64(len(levels[0])) != cp.Size {
		return nil, fmt.Errorf("level-0 tiles hold %d hashes, checkpoint size is %d", len(levels[0]), cp.Size)
	}
	for k := 1; len(levels[k-1]) >= 2; k++ {
		prev := levels[k-1]
		next := make([]tlog.Hash, len(prev)/2)
		for i := range next {
			next[i] = tlog.NodeHash(prev[2*i], prev[2*i+1])
		}
		levels = append(levels, next)
	}
	root, err := tlog.TreeHash(cp.Size, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			l, n := tlog.SplitStoredHashIndex(x)
			if l >= len(levels) || n >= int64(len(levels[l])) {
				return nil, fmt.Errorf("stored hash %d (level %d, index %d) out of range", x, l, n)
			}
			out[i] = levels[l][n]
		}
		return out, nil
	}))
	if err != nil {
		return nil, fmt.Errorf("recomputing the root from the level-0 tiles: %v", err)
	}
	rootOK := root == cp.Root

	// The first hash of a higher tile (lowest level first) that differs.
	var badTile tlog.Tile
	badIndex := -1
check:
	for _, t := range tiles {
		if t.L == 0 {
			continue
		}
		lv := t.L * tileHeight
		if lv >= len(levels) {
			return nil, fmt.Errorf("tile %s should not exist for tree size %d", tr.url(t), cp.Size)
		}
		for i, h := range appendHashes(nil, tr.cached(t)) {
			idx := t.N*tileWidth + int64(i)
			if idx >= int64(len(levels[lv])) || levels[lv][idx] != h {
				badTile, badIndex = t, i
				break check
			}
		}
	}
	switch {
	case rootOK && badIndex < 0:
		return levels[0], nil
	case rootOK:
		return nil, fmt.Errorf("tile %s: hash %d differs from the subtree hash recomputed from the level-0 tiles, which match the checkpoint root",
			tr.url(badTile), badIndex)
	case badIndex >= 0:
		child := tr.logURL + c2spTilePath(badTile.L-1, badTile.N*tileWidth+int64(badIndex), tileWidth)
		return nil, fmt.Errorf("tile %s: the level-0 tiles give neither the checkpoint root nor hash %d of tile %s (a tile below it, from %s down, is wrong)",
			child, badIndex, tr.url(badTile), child)
	case partial0 != nil:
		return nil, fmt.Errorf("tile %s: the level-0 tiles do not give the checkpoint root, and all complete subtrees agree with the higher tiles, so this partial tile (or the signed root) is wrong",
			tr.url(*partial0))
	default:
		return nil, fmt.Errorf("root recomputed from the level-0 tiles (%x) differs from the checkpoint root (%x)", root[:], cp.Root[:])
	}
}

func appendHashes(dst []tlog.Hash, data []byte) []tlog.Hash {
	for len(data) >= tlog.HashSize {
		var h tlog.Hash
		copy(h[:], data)
		dst = append(dst, h)
		data = data[tlog.HashSize:]
	}
	return dst
}

// indexPath writes n as C2SP tlog-tiles path elements: groups of three
// decimal digits, most significant first, all but the last prefixed "x".
func indexPath(n int64) string {
	var groups []string
	for {
		groups = append(groups, fmt.Sprintf("%03d", n%1000))
		n /= 1000
		if n == 0 {
			break
		}
	}
	var b strings.Builder
	for i := len(groups) - 1; i >= 0; i-- {
		if i > 0 {
			b.WriteString("x")
			b.WriteString(groups[i])
			b.WriteString("/")
		} else {
			b.WriteString(groups[i])
		}
	}
	return b.String()
}

// c2spTilePath is the path of a hash tile below the log prefix.
func c2spTilePath(level int, n int64, width int) string {
	p := "tile/" + strconv.Itoa(level) + "/" + indexPath(n)
	if width < tileWidth {
		p += ".p/" + strconv.Itoa(width)
	}
	return p
}

// bundlePath is the path of an entry bundle below the log prefix.
func bundlePath(n int64, width int) string {
	p := "tile/entries/" + indexPath(n)
	if width < tileWidth {
		p += ".p/" + strconv.Itoa(width)
	}
	return p
}

// bundleWidth is the number of entries in bundle n of a tree of the given size.
func bundleWidth(size, n int64) int {
	if rest := size - n*tileWidth; rest < tileWidth {
		return int(rest)
	}
	return tileWidth
}

// parseBundle splits an entry bundle into exactly want entries.
func parseBundle(data []byte, want int) ([][]byte, error) {
	entries := make([][]byte, 0, want)
	for len(data) > 0 {
		if len(data) < 2 {
			return nil, fmt.Errorf("truncated length prefix after %d entries", len(entries))
		}
		l := int(binary.BigEndian.Uint16(data))
		data = data[2:]
		if len(data) < l {
			return nil, fmt.Errorf("entry %d: length %d but only %d bytes left", len(entries), l, len(data))
		}
		if len(entries) == want {
			return nil, fmt.Errorf("more than the %d entries expected", want)
		}
		entries = append(entries, data[:l])
		data = data[l:]
	}
	if len(entries) != want {
		return nil, fmt.Errorf("%d entries, expected %d", len(entries), want)
	}
	return entries, nil
}

func fetchBundle(f *fetcher, logURL string, size, n int64) ([][]byte, string, error) {
	w := bundleWidth(size, n)
	u := logURL + bundlePath(n, w)
	data, err := f.get(u, maxBundleBytes)
	if err != nil {
		return nil, u, err
	}
	entries, err := parseBundle(data, w)
	if err != nil {
		return nil, u, fmt.Errorf("entry bundle %s: %v", u, err)
	}
	return entries, u, nil
}

func fetchEntry(f *fetcher, logURL string, size, i int64) ([]byte, string, error) {
	entries, u, err := fetchBundle(f, logURL, size, i/tileWidth)
	if err != nil {
		return nil, u, err
	}
	return entries[i%tileWidth], u, nil
}

// checkAllBundles fetches every entry bundle and compares the record hash of
// each entry with the authenticated leaf hash. It returns the number of
// entries checked.
func checkAllBundles(f *fetcher, logURL string, size int64, leaves []tlog.Hash, parallel int) (int64, error) {
	nb := (size + tileWidth - 1) / tileWidth
	type result struct {
		n   int64
		cnt int64
		err error
	}
	jobs := make(chan int64)
	results := make(chan result)
	for w := 0; w < parallel; w++ {
		go func() {
			for n := range jobs {
				entries, u, err := fetchBundle(f, logURL, size, n)
				if err != nil {
					results <- result{n, 0, err}
					continue
				}
				var cnt int64
				for j, e := range entries {
					i := n*tileWidth + int64(j)
					if tlog.RecordHash(e) != leaves[i] {
						err = fmt.Errorf("entry bundle %s: entry %d (leaf %d) does not hash to the leaf hash in the level-0 tile", u, j, i)
						break
					}
					cnt++
				}
				results <- result{n, cnt, err}
			}
		}()
	}
	go func() {
		for n := int64(0); n < nb; n++ {
			jobs <- n
		}
		close(jobs)
	}()
	var total int64
	var firstErr error
	firstBad := nb
	for k := int64(0); k < nb; k++ {
		r := <-results
		total += r.cnt
		if r.err != nil && r.n < firstBad {
			firstBad, firstErr = r.n, r.err
		}
	}
	return total, firstErr
}

func parseIndexList(s string) ([]int64, error) {
	if s == "" {
		return nil, nil
	}
	var out []int64
	for _, f := range strings.Split(s, ",") {
		i, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || i < 0 {
			return nil, fmt.Errorf("bad index %q", f)
		}
		out = append(out, i)
	}
	return out, nil
}

func readFileLimited(name string, max int64) ([]byte, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, max)
	}
	return data, nil
}

func resolveURL(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	u := b.ResolveReference(r)
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", errors.New("not an http(s) URL")
	}
	return u.String(), nil
}
