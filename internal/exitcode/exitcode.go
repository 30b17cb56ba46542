// Package exitcode defines the exit codes every mlship tool shares and the
// error that carries one from deep inside a tool to main.
package exitcode

import (
	"fmt"
)

const (
	OK         = 0 // done, including a warning in warn mode
	Failed     = 1 // the check failed: denied, threshold exceeded, unhealthy
	BadInput   = 2 // bad input or configuration
	Incomplete = 3 // could not finish: AWS, registry or network error after retries
)

// Error is an error with the exit code it should end the process with.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Wrap gives err an exit code. A nil err stays nil.
func Wrap(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// BadInputf reports bad input or configuration (exit 2).
func BadInputf(format string, a ...any) error {
	return &Error{Code: BadInput, Err: fmt.Errorf(format, a...)}
}

// Failedf reports a failed check (exit 1).
func Failedf(format string, a ...any) error {
	return &Error{Code: Failed, Err: fmt.Errorf(format, a...)}
}

// Incompletef reports that the work could not be finished (exit 3).
func Incompletef(format string, a ...any) error {
	return &Error{Code: Incomplete, Err: fmt.Errorf(format, a...)}
}

// Of returns the exit code for err: 0 for nil, the carried code for an
// *Error, and Incomplete for anything else (an unexpected failure is never
// reported as a failed check or as success). An error that joins several
// (errors.Join) gets the most serious code among them, and the codes are
// numbered so that more serious is larger: could not finish (3) outranks
// bad input (2), which outranks a failed check (1).
func Of(err error) int {
	if err == nil {
		return OK
	}
	return worst(err, Incomplete)
}

// worst is the largest code in err's tree. A part that carries no code
// counts as plain: Incomplete at the top, and nothing inside an *Error,
// whose own code stands for what it wraps.
func worst(err error, plain int) int {
	switch u := err.(type) {
	case *Error:
		return max(u.Code, worst(u.Err, -1))
	case interface{ Unwrap() []error }:
		w := -1
		for _, e := range u.Unwrap() {
			if e != nil {
				w = max(w, worst(e, plain))
			}
		}
		if w < 0 {
			return plain
		}
		return w
	case interface{ Unwrap() error }:
		if inner := u.Unwrap(); inner != nil {
			return worst(inner, plain)
		}
	}
	return plain
}
