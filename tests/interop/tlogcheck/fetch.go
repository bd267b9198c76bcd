// SPDX-License-Identifier: BSD-3-Clause

// HTTP(S) access: timeouts, body limits, client certificates, key pinning,
// and the tlog.TileReader that maps tiles to C2SP tlog-tiles URLs.

package main

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

func newHTTPClient(timeout time.Duration, certFile, keyFile, pin string) (*http.Client, error) {
	if certFile == "" && pin == "" {
		return &http.Client{Timeout: timeout}, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("-cert %s / -key %s: %v", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if pin != "" {
		want, err := base64.StdEncoding.DecodeString(pin)
		if err != nil || len(want) != sha256.Size {
			return nil, fmt.Errorf("-pin %q: not the base64 of a SHA-256 digest", pin)
		}
		// The chain is not checked against any CA: the server is
		// identified by its public key alone. Without a session cache
		// there is no resumption, so this runs on every connection.
		cfg.InsecureSkipVerify = true
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("server sent no certificate")
			}
			leaf, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return fmt.Errorf("server certificate: %v", err)
			}
			got := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
			if base64.StdEncoding.EncodeToString(got[:]) != pin {
				return fmt.Errorf("server key pin mismatch: got %s, want %s",
					base64.StdEncoding.EncodeToString(got[:]), pin)
			}
			return nil
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	tr.ForceAttemptHTTP2 = true
	return &http.Client{Timeout: timeout, Transport: tr}, nil
}

type fetcher struct {
	client *http.Client
}

// get fetches u, requiring status 200 and a body of at most max bytes.
func (f *fetcher) get(u string, max int64) ([]byte, error) {
	resp, err := f.client.Get(u)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP status %s", u, resp.Status)
	}
	if resp.ContentLength > max {
		return nil, fmt.Errorf("GET %s: Content-Length %d exceeds the limit of %d bytes", u, resp.ContentLength, max)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading body: %v", u, err)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("GET %s: body exceeds the limit of %d bytes", u, max)
	}
	return body, nil
}

// tileReader implements tlog.TileReader over C2SP paths. Fetched tiles are
// cached; they are trusted only once tlog.TileHashReader has checked them.
type tileReader struct {
	f      *fetcher
	logURL string
	mu     sync.Mutex
	cache  map[tlog.Tile][]byte
}

func (r *tileReader) Height() int { return tileHeight }

func (r *tileReader) url(t tlog.Tile) string {
	return r.logURL + c2spTilePath(t.L, t.N, t.W)
}

func (r *tileReader) cached(t tlog.Tile) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cache[t]
}

func (r *tileReader) tile(t tlog.Tile) ([]byte, error) {
	if t.H != tileHeight || t.L < 0 || t.N < 0 || t.W < 1 || t.W > tileWidth {
		return nil, fmt.Errorf("unexpected tile request %+v", t)
	}
	if d := r.cached(t); d != nil {
		return d, nil
	}
	u := r.url(t)
	data, err := r.f.get(u, maxTileBytes)
	if err != nil {
		return nil, err
	}
	if len(data) != t.W*tlog.HashSize {
		return nil, fmt.Errorf("tile %s: %d bytes, expected %d (%d hashes)", u, len(data), t.W*tlog.HashSize, t.W)
	}
	r.mu.Lock()
	r.cache[t] = data
	r.mu.Unlock()
	return data, nil
}

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		d, err := r.tile(t)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

func (r *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// prefetch loads the given tiles with a few concurrent requests and returns
// the error of the first tile (in list order) that failed.
func (r *tileReader) prefetch(tiles []tlog.Tile, parallel int) error {
	errs := make([]error, len(tiles))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				_, errs[i] = r.tile(tiles[i])
			}
		}()
	}
	for i := range tiles {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
