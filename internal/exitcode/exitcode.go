// Package exitcode defines the exit codes every mlship tool shares and the
// error that carries one from deep inside a tool to main.
package exitcode

import (
	"errors"
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
// reported as a failed check or as success).
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Incomplete
}
