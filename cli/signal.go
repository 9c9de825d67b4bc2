package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cusprun/cusprun/core/export"
)

// ExitError is an error with its own exit status (130 after SIGINT, 143
// after SIGTERM, as shells report a process a signal ended).
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }

// interruptible returns a context that ends on SIGINT or SIGTERM, and a
// function that stops listening and tells whether a signal came (and
// which exit status it means). A job that does not return within a few
// seconds of the signal is not waited for: every staging is removed and
// the process exits with that status, so a signal never leaves a partial
// output behind nor goes unanswered.
func interruptible(out string) (context.Context, func() (int, bool)) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	var code int
	got := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			code = 130
			if s == syscall.SIGTERM {
				code = 143
			}
			close(got)
			cancel()
			select {
			case <-stop:
			case <-time.After(5 * time.Second):
				export.AbortAll()
				Logf("cusprun: interrupted; nothing written at %s", out)
				os.Exit(code)
			}
		case <-stop:
		}
	}()
	return ctx, func() (int, bool) {
		signal.Stop(ch)
		select {
		case <-got:
			close(stop)
			return code, true
		default:
			close(stop)
			return 0, false
		}
	}
}
