// Package cli holds the cusprun verbs (DESIGN §4) so that the native command
// (cmd/cusprun) and the WASI build hosted by wazero (wasm/wasi) run the same
// code. Every verb prints JSON on stdout, progress on stderr, and on failure
// one line on stderr and a non-zero exit status. Verbs that only make sense
// natively (serve, the gpu and wasm engines) are registered by cmd/cusprun.
package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/cusprun/cusprun/core/job"
	"github.com/cusprun/cusprun/core/model"
)

// Verb runs one subcommand and returns what to print as JSON.
type Verb func(args []string) (any, error)

type entry struct {
	help string
	run  Verb
}

var verbs = map[string]entry{}

// Register adds a verb.
func Register(name, help string, run Verb) { verbs[name] = entry{help, run} }

// Stdout and Stderr are where verbs write (tests may swap them).
var (
	Stdout io.Writer = os.Stdout
	Stderr io.Writer = os.Stderr
)

// Backends maps engine names beyond "cpu" to constructors; cmd/cusprun adds
// "gpu". "wasm" is handled by WasmRunner.
var Backends = map[string]func() (model.Backend, func(), error){}

// WasmRunner, when set (natively), runs a whole verb inside the WASI build.
var WasmRunner func(verb string, args []string) (any, error)

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

// Main runs the verb named in args[0] and returns the exit status.
func Main(args []string) int {
	if len(args) < 1 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(Stdout)
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" || args[0] == "version" {
		fmt.Fprintf(Stdout, "cusprun %s\n", VersionString())
		return 0
	}
	v, ok := verbs[args[0]]
	if !ok {
		fmt.Fprintf(Stderr, "cusprun: unknown verb %q\n", args[0])
		usage(Stderr)
		return 2
	}
	out, err := v.run(args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		fmt.Fprintf(Stderr, "cusprun %s: %s\n", args[0], msg)
		var ee *ExitError
		if errors.As(err, &ee) {
			return ee.Code
		}
		return 1
	}
	if out != nil {
		if raw, ok := out.(json.RawMessage); ok {
			Stdout.Write(append(raw, '\n'))
			return 0
		}
		if err := json.NewEncoder(Stdout).Encode(out); err != nil {
			var uv *json.UnsupportedValueError
			if errors.As(err, &uv) {
				// The encoder writes nothing when it fails, so stdout stays empty.
				err = fmt.Errorf("the result holds %s, which is no number: the model's weights or config make its arithmetic overflow", uv.Str)
			}
			fmt.Fprintf(Stderr, "cusprun %s: %v\n", args[0], err)
			return 1
		}
	}
	return 0
}

// newFlags makes a flag set for a verb that reports errors instead of exiting.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("cusprun "+name, flag.ContinueOnError)
	fs.SetOutput(Stderr)
	return fs
}

// parse parses flags, refusing positional arguments. Asked for help, a
// verb prints it on stdout (it is the answer, not an error).
func parse(fs *flag.FlagSet, args []string) error {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(Stdout)
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// Quiet silences Logf (a verb's --quiet): errors still print.
var Quiet bool

// Logf prints progress on stderr.
func Logf(format string, a ...any) {
	if !Quiet {
		fmt.Fprintf(Stderr, format+"\n", a...)
	}
}

// checkSizes refuses --max-docs and --max-tokens values that select
// nothing (eval and ppl): a negative count, or documents cut to their BOS
// token alone, which predict no token.
func checkSizes(maxDocs, maxTokens int) error {
	if maxDocs < 0 {
		return fmt.Errorf("--max-docs %d: give a count of documents, or 0 for all", maxDocs)
	}
	if maxTokens < job.MinTokens {
		return fmt.Errorf("--max-tokens %d: a document needs at least %d tokens (the BOS token and one more)", maxTokens, job.MinTokens)
	}
	return nil
}
