package lambdaalias

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/wait"
)

// DefaultTimeout bounds each wait (and the retrying of a conflict) when
// Options.Timeout is zero.
const DefaultTimeout = 10 * time.Minute

// Timing is how often Lambda is polled and how a conflict backs off.
// Tests shorten it and give it a clock of their own.
type Timing struct {
	// PollMin and PollMax bound the SDK waiters' delay between GetFunction
	// calls while an update runs. PollMax also bounds how late the end of
	// an update is noticed.
	PollMin, PollMax time.Duration
	// ConflictMin and ConflictMax bound the backoff (with jitter) after a
	// ResourceConflictException.
	ConflictMin, ConflictMax time.Duration
	// Sleep waits for d or until ctx ends; nil is wait.Sleep.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock the conflict retry measures its deadline with; nil
	// is time.Now.
	Now func() time.Time
}

// DefaultTiming polls a running update four times a second at first and
// at least once a second, and backs off from half a second to 8 s after a
// conflict.
func DefaultTiming() Timing {
	return Timing{
		PollMin: 250 * time.Millisecond, PollMax: time.Second,
		ConflictMin: 500 * time.Millisecond, ConflictMax: 8 * time.Second,
	}
}

func (t Timing) withDefaults() Timing {
	d := DefaultTiming()
	if t.PollMin <= 0 {
		t.PollMin = d.PollMin
	}
	if t.PollMax < t.PollMin {
		t.PollMax = max(d.PollMax, t.PollMin)
	}
	if t.ConflictMin <= 0 {
		t.ConflictMin = d.ConflictMin
	}
	if t.ConflictMax < t.ConflictMin {
		t.ConflictMax = max(d.ConflictMax, t.ConflictMin)
	}
	return t
}

func (t Timing) sleep(ctx context.Context, d time.Duration) error {
	if t.Sleep != nil {
		return t.Sleep(ctx, d)
	}
	return wait.Sleep(ctx, d)
}

func (t Timing) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// Options say how long to wait, how to poll, and where progress goes.
type Options struct {
	// Timeout bounds each wait for an update and the retrying of a
	// conflict; zero is DefaultTimeout.
	Timeout time.Duration
	Timing  Timing
	// Log gets progress (a conflict being retried); nil logs nothing.
	Log action.Logger
}

func (o Options) timeout() time.Duration { return cmp.Or(o.Timeout, DefaultTimeout) }

func (o Options) logf(format string, args ...any) {
	if o.Log != nil {
		o.Log.Logf(format, args...)
	}
}

// BusyError is a change Lambda kept refusing with
// ResourceConflictException (an update in progress) until the timeout.
type BusyError struct {
	Timeout time.Duration
	Err     error // the last ResourceConflictException
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("another update was still in progress after %s (%s)", e.Timeout, APIMessage(e.Err))
}

func (e *BusyError) Unwrap() error { return e.Err }

// RetryConflict calls fn until Lambda stops refusing it with
// ResourceConflictException, backing off exponentially with jitter, for at
// most o.Timeout (then a *BusyError; a cancelled ctx ends it with ctx's
// error). Any other result of fn is returned as it is. what names the
// change in the progress line.
func RetryConflict(ctx context.Context, o Options, what string, fn func(context.Context) error) error {
	t := o.Timing.withDefaults()
	deadline := t.now().Add(o.timeout())
	delay := t.ConflictMin
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if !IsConflict(err) {
			return err
		}
		if t.now().Add(delay).After(deadline) {
			return &BusyError{Timeout: o.timeout(), Err: err}
		}
		if attempt == 1 {
			o.logf("%s: busy (%s); retrying with backoff", what, APIMessage(err))
		}
		if err := t.sleep(ctx, delay/2+rand.N(delay/2+1)); err != nil {
			return err
		}
		delay = min(2*delay, t.ConflictMax)
	}
}

// UpdateFailedError is an update of $LATEST that Lambda ended with
// LastUpdateStatus Failed.
type UpdateFailedError struct {
	Function string
	Code     types.LastUpdateStatusReasonCode
	Reason   string
}

func (e *UpdateFailedError) Error() string {
	return fmt.Sprintf("the update of %s failed (%s): %s", e.Function, cmp.Or(string(e.Code), "no reason code"), cmp.Or(e.Reason, "no reason given"))
}

// StateFailedError is a function (or version) that entered State Failed
// while it was waited for.
type StateFailedError struct {
	Function string
	Code     types.StateReasonCode
	Reason   string
}

func (e *StateFailedError) Error() string {
	return fmt.Sprintf("%s entered state Failed (%s): %s", e.Function, cmp.Or(string(e.Code), "no reason code"), cmp.Or(e.Reason, "no reason given"))
}

// TimeoutError is a wait that did not end within its timeout.
type TimeoutError struct {
	Function string
	Timeout  time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s: not finished after %s", e.Function, e.Timeout)
}

// callError marks an error that a GetFunction call returned inside a
// waiter, to tell it from the waiter's own (untyped) errors.
type callError struct{ err error }

func (e *callError) Error() string { return e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// FunctionGetter is the Lambda call the waits make.
type FunctionGetter interface {
	GetFunction(context.Context, *lambda.GetFunctionInput, ...func(*lambda.Options)) (*lambda.GetFunctionOutput, error)
}

// WaitUpdated waits with the SDK's FunctionUpdatedV2 waiter until the last
// update of function's $LATEST is no longer InProgress and then, if it is
// not Active (coming back from Inactive, or Pending), with FunctionActiveV2
// until it is. It returns the configuration it ended with. An update that
// ended Failed is an *UpdateFailedError, returned with the configuration;
// a function that entered State Failed a *StateFailedError; a wait past
// o.Timeout a *TimeoutError; a cancelled ctx its error; an API error as it
// is.
func WaitUpdated(ctx context.Context, api FunctionGetter, function string, o Options) (*types.FunctionConfiguration, error) {
	t := o.Timing.withDefaults()
	in := &lambda.GetFunctionInput{FunctionName: aws.String(function)}
	w := lambda.NewFunctionUpdatedV2Waiter(api, func(wo *lambda.FunctionUpdatedV2WaiterOptions) {
		wo.MinDelay, wo.MaxDelay = t.PollMin, t.PollMax
		wo.Retryable = func(_ context.Context, _ *lambda.GetFunctionInput, out *lambda.GetFunctionOutput, err error) (bool, error) {
			if err != nil {
				return false, &callError{err}
			}
			return out.Configuration == nil || out.Configuration.LastUpdateStatus == types.LastUpdateStatusInProgress, nil
		}
	})
	out, err := w.WaitForOutput(ctx, in, o.timeout())
	if err != nil {
		return nil, waitErr(ctx, function, o.timeout(), err)
	}
	cfg := out.Configuration
	if cfg.State != types.StateActive && cfg.State != "" && cfg.State != types.StateFailed {
		if cfg, err = waitActive(ctx, api, in, function, o); err != nil {
			return nil, err
		}
	}
	if cfg.LastUpdateStatus == types.LastUpdateStatusFailed {
		return cfg, &UpdateFailedError{Function: function, Code: cfg.LastUpdateStatusReasonCode, Reason: aws.ToString(cfg.LastUpdateStatusReason)}
	}
	if cfg.State == types.StateFailed {
		return cfg, &StateFailedError{Function: function, Code: cfg.StateReasonCode, Reason: aws.ToString(cfg.StateReason)}
	}
	return cfg, nil
}

// WaitVersionActive waits with the SDK's FunctionActiveV2 waiter until a
// published version of function is Active.
func WaitVersionActive(ctx context.Context, api FunctionGetter, function, version string, o Options) (*types.FunctionConfiguration, error) {
	in := &lambda.GetFunctionInput{FunctionName: aws.String(function), Qualifier: aws.String(version)}
	cfg, err := waitActive(ctx, api, in, function+":"+version, o)
	if err != nil {
		return nil, err
	}
	if cfg.State == types.StateFailed {
		return cfg, &StateFailedError{Function: function + ":" + version, Code: cfg.StateReasonCode, Reason: aws.ToString(cfg.StateReason)}
	}
	return cfg, nil
}

// waitActive polls until State is Active or Failed (the SDK waiter's own
// rule for Failed is an untyped error, so the rule is given here).
func waitActive(ctx context.Context, api FunctionGetter, in *lambda.GetFunctionInput, name string, o Options) (*types.FunctionConfiguration, error) {
	t := o.Timing.withDefaults()
	w := lambda.NewFunctionActiveV2Waiter(api, func(wo *lambda.FunctionActiveV2WaiterOptions) {
		wo.MinDelay, wo.MaxDelay = t.PollMin, t.PollMax
		wo.Retryable = func(_ context.Context, _ *lambda.GetFunctionInput, out *lambda.GetFunctionOutput, err error) (bool, error) {
			if err != nil {
				return false, &callError{err}
			}
			if out.Configuration == nil {
				return true, nil
			}
			s := out.Configuration.State
			return s != types.StateActive && s != types.StateFailed, nil
		}
	})
	out, err := w.WaitForOutput(ctx, in, o.timeout())
	if err != nil {
		return nil, waitErr(ctx, name, o.timeout(), err)
	}
	return out.Configuration, nil
}

// waitErr tells apart what can end a waiter with an error: the caller's
// context, a GetFunction error, and the waiter's own timeout (the waiter
// returns an untyped error for it, or the deadline of its own context).
func waitErr(ctx context.Context, name string, timeout time.Duration, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("waiting for %s: %w", name, ctx.Err())
	}
	var ce *callError
	if errors.As(err, &ce) && !errors.Is(ce.err, context.DeadlineExceeded) {
		return fmt.Errorf("waiting for %s: %w", name, ce.err)
	}
	return &TimeoutError{Function: name, Timeout: timeout}
}

// IsConflict reports whether err is Lambda's ResourceConflictException:
// an update or a publish in progress (or, from CreateAlias, an alias that
// exists already).
func IsConflict(err error) bool {
	var rc *types.ResourceConflictException
	return errors.As(err, &rc)
}

// IsChanged reports whether Lambda refused a change because its RevisionId
// is no longer current: someone else changed the function or alias since
// it was read.
func IsChanged(err error) bool {
	var pf *types.PreconditionFailedException
	return errors.As(err, &pf)
}

// IsNotFound reports whether err is Lambda's ResourceNotFoundException.
func IsNotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
}

// APIMessage is an AWS error's code and message, or the error's text when
// it is not an AWS error.
func APIMessage(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		if m := api.ErrorMessage(); m != "" {
			return api.ErrorCode() + ": " + m
		}
		return api.ErrorCode()
	}
	return err.Error()
}
