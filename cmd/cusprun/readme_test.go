package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// readmeCommands returns the README's example command lines that call
// bin/cusprun (joined across trailing backslashes), except serve, which
// does not end.
func readmeCommands(t *testing.T, readme string) []string {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(lines[i], "    bin/cusprun ") {
			continue
		}
		for strings.HasSuffix(l, "\\") && i+1 < len(lines) {
			i++
			l = strings.TrimSuffix(l, "\\") + " " + strings.TrimSpace(lines[i])
		}
		if !strings.HasPrefix(l, "bin/cusprun serve") {
			out = append(out, l)
		}
	}
	return out
}

// TestReadmeExamples runs every example of the README as written, in
// order, from the repository's root: each exits 0 and prints JSON. Paths
// under /tmp are moved into the test's own folder and ../shared is the
// shared folder the tests are given; nothing else is changed.
func TestReadmeExamples(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	shared := os.Getenv("CUSPRUN_SHARED")
	if shared == "" {
		shared = filepath.Join(root, "..", "shared")
	}
	if _, err := os.Stat(filepath.Join(shared, "models", "tiny-multi")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("../shared is missing in CI: %v", err)
		}
		t.Skipf("../shared not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "cusprun")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	tmp := t.TempDir()
	cmds := readmeCommands(t, filepath.Join(root, "README.md"))
	if len(cmds) < 8 {
		t.Fatalf("found only %d example commands in README.md", len(cmds))
	}
	for _, c := range cmds {
		run := strings.ReplaceAll(c, "/tmp/", tmp+"/")
		run = strings.ReplaceAll(run, "../shared", shared)
		run = bin + strings.TrimPrefix(run, "bin/cusprun")
		cmd := exec.Command("bash", "-c", run)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CUSPRUN_CACHE="+filepath.Join(tmp, "cache"))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("README example failed: %s\n%v\n%s", c, err, tail(stderr.String()))
		}
		if s := strings.TrimSpace(string(out)); !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
			t.Errorf("README example %s printed %q, not JSON", c, tail(s))
		}
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}
