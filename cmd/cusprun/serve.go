package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/cusprun/cusprun/cli"
)

func init() {
	cli.Register("serve", "serve the browser app (site/) on --addr, precompressed, with a strict CSP", runServe)
}

// CSP allows nothing but this origin: no inline script, no other host, and
// WebAssembly compilation ('wasm-unsafe-eval'). Downloads are blob: URLs
// made by the page, and so is the engine's worker (built from this
// origin's wasm_exec.js and worker.js, so that restarting it after a
// cancel makes no request).
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' blob: data:; " +
	"connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one file of the site, kept in memory with its compressed forms.
type asset struct {
	typ         string
	etag        string
	raw, gz, zs []byte
}

var siteTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".wasm": "application/wasm",
	".svg":  "image/svg+xml",
	".json": "application/json",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
}

// siteDir finds the built site: --dir, $CUSPRUN_SITE, site/ beside the
// binary's folder (bin/../site) or ./site.
func siteDir(flagDir string) (string, error) {
	var tries []string
	if flagDir != "" {
		tries = append(tries, flagDir)
	}
	if d := os.Getenv("CUSPRUN_SITE"); d != "" {
		tries = append(tries, d)
	}
	if exe, err := os.Executable(); err == nil {
		tries = append(tries, filepath.Join(filepath.Dir(filepath.Dir(exe)), "site"))
	}
	tries = append(tries, "site")
	for _, d := range tries {
		if st, err := os.Stat(filepath.Join(d, "index.html")); err == nil && !st.IsDir() {
			return d, nil
		}
	}
	return "", fmt.Errorf("no built site found (tried %s); run ./build.sh build", strings.Join(tries, ", "))
}

// loadSite reads every plain file directly in dir and compresses it once.
func loadSite(dir string) (map[string]*asset, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		return nil, err
	}
	defer zw.Close()
	site := map[string]*asset{}
	for _, e := range ents {
		name := e.Name()
		typ, ok := siteTypes[strings.ToLower(filepath.Ext(name))]
		if !ok || !e.Type().IsRegular() || strings.HasPrefix(name, ".") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(raw)
		a := &asset{typ: typ, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, raw: raw}
		if len(raw) > 256 && !strings.HasPrefix(typ, "image/png") {
			var gz bytes.Buffer
			g, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
			g.Write(raw)
			g.Close()
			if gz.Len() < len(raw) {
				a.gz = gz.Bytes()
			}
			if zs := zw.EncodeAll(raw, nil); len(zs) < len(raw) {
				a.zs = zs
			}
		}
		site["/"+name] = a
	}
	if site["/index.html"] == nil {
		return nil, fmt.Errorf("%s has no index.html", dir)
	}
	return site, nil
}

// accepts reports whether an Accept-Encoding header allows enc (q=0 refuses).
func accepts(header, enc string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), enc) {
			continue
		}
		p := strings.ReplaceAll(params, " ", "")
		return !(p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000")
	}
	return false
}

// siteHandler serves the in-memory site with security headers.
func siteHandler(site map[string]*asset) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := r.URL.Path
		if p == "/" {
			p = "/index.html"
		}
		a := site[p]
		if a == nil {
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", a.typ)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		h.Set("Vary", "Accept-Encoding")
		if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		body := a.raw
		ae := r.Header.Get("Accept-Encoding")
		switch {
		case a.zs != nil && accepts(ae, "zstd"):
			h.Set("Content-Encoding", "zstd")
			body = a.zs
		case a.gz != nil && accepts(ae, "gzip"):
			h.Set("Content-Encoding", "gzip")
			body = a.gz
		}
		h.Set("Content-Length", fmt.Sprint(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		w.Write(body)
	})
}

func runServe(args []string) (any, error) {
	fs := flag.NewFlagSet("cusprun serve", flag.ContinueOnError)
	fs.SetOutput(cli.Stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	dir := fs.String("dir", "", "the built site (default: site/ beside bin/, or ./site)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	d, err := siteDir(*dir)
	if err != nil {
		return nil, err
	}
	site, err := loadSite(d)
	if err != nil {
		return nil, err
	}
	if _, ok := site["/cusprun.wasm"]; !ok {
		return nil, fmt.Errorf("%s has no cusprun.wasm; run ./build.sh build", d)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return nil, err
	}
	var names []string
	for n := range site {
		names = append(names, n)
	}
	sort.Strings(names)
	// The URL on stderr (scripts wait for it); the JSON line only when done.
	cli.Logf("serving %s (%s) at http://%s/", d, strings.Join(names, " "), ln.Addr())
	srv := &http.Server{Handler: siteHandler(site)}
	return nil, srv.Serve(ln)
}
