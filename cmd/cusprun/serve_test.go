package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// TestServe: the site is served from memory with the right types, the
// encodings the client accepts (zstd, gzip, none), a strict CSP, and
// nothing outside the site folder.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	page := []byte(`<!doctype html><html><head><script src="app.js"></script></head><body>` + strings.Repeat("cusprun ", 200) + `</body></html>`)
	wasm := append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte{0}, 4000)...)
	os.WriteFile(filepath.Join(dir, "index.html"), page, 0o644)
	os.WriteFile(filepath.Join(dir, "cusprun.wasm"), wasm, 0o644)
	os.WriteFile(filepath.Join(dir, "app.js"), []byte("'use strict';"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret.key"), []byte("no"), 0o644)
	site, err := loadSite(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(siteHandler(site))
	defer srv.Close()
	get := func(path, enc string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Accept-Encoding", enc)
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	for _, c := range []struct{ enc, want string }{{"gzip, deflate, br, zstd", "zstd"}, {"gzip", "gzip"}, {"", ""}, {"zstd;q=0, gzip", "gzip"}} {
		res, body := get("/cusprun.wasm", c.enc)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/wasm" {
			t.Fatalf("wasm: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
		}
		if got := res.Header.Get("Content-Encoding"); got != c.want {
			t.Errorf("Accept-Encoding %q: got encoding %q, want %q", c.enc, got, c.want)
		}
		var plain []byte
		switch c.want {
		case "zstd":
			d, _ := zstd.NewReader(nil)
			plain, err = d.DecodeAll(body, nil)
		case "gzip":
			r, _ := gzip.NewReader(bytes.NewReader(body))
			plain, err = io.ReadAll(r)
		default:
			plain = body
		}
		if err != nil || !bytes.Equal(plain, wasm) {
			t.Errorf("%s body does not decode to the file (%v)", c.want, err)
		}
	}
	res, _ := get("/", "")
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "connect-src 'self'", "script-src 'self' 'wasm-unsafe-eval'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "http") {
		t.Errorf("CSP %q allows inline code or another host", csp)
	}
	if res.Header.Get("Content-Type") != "text/html; charset=utf-8" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("index: %v", res.Header)
	}
	for _, p := range []string{"/secret.key", "/../serve.go", "/nope.js"} {
		if res, _ := get(p, ""); res.StatusCode != 404 {
			t.Errorf("%s: status %d, want 404", p, res.StatusCode)
		}
	}
	if res, _ := get("/app.js", ""); res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("app.js type %q", res.Header.Get("Content-Type"))
	}
	req, _ := http.NewRequest("POST", srv.URL+"/", nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 405 {
		t.Errorf("POST: %v %v", res.StatusCode, err)
	}
}
