// Command cusprun prunes a small general LLM into a smaller expert model.
// Every verb prints JSON on stdout, progress on stderr, and on failure one
// line on stderr and a non-zero exit status (DESIGN §4).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// verb is one subcommand.
type verb struct {
	help string
	run  func(args []string) (any, error)
}

var verbs = map[string]verb{}

func register(name, help string, run func(args []string) (any, error)) {
	verbs[name] = verb{help, run}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: cusprun VERB [flags]   (cusprun VERB -h for its flags)")
	var names []string
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, verbs[n].help)
	}
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage(os.Stdout)
		return
	}
	v, ok := verbs[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "cusprun: unknown verb %q\n", os.Args[1])
		usage(os.Stderr)
		os.Exit(2)
	}
	out, err := v.run(os.Args[2:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		fmt.Fprintf(os.Stderr, "cusprun %s: %s\n", os.Args[1], msg)
		os.Exit(1)
	}
	if out != nil {
		enc := json.NewEncoder(os.Stdout)
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(os.Stderr, "cusprun %s: %v\n", os.Args[1], err)
			os.Exit(1)
		}
	}
}

// newFlags makes a flag set for a verb that reports errors instead of exiting.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("cusprun "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}

// parse parses flags, refusing positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// logf prints progress on stderr.
func logf(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
