package lambdaalias

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/mlship/mlship/internal/lambdafake"
)

func startUpdate(t *testing.T, l *lambdafake.Lambda) {
	t.Helper()
	if _, err := l.UpdateFunctionCode(context.Background(), &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ImageUri: aws.String(img2)}); err != nil {
		t.Fatal(err)
	}
}

func TestWaitUpdated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("successful", func(t *testing.T) {
		t.Parallel()
		l, c := fixture(t)
		startUpdate(t, l)
		cfg, err := WaitUpdated(ctx, l, "fn", fast(c))
		if err != nil || cfg.LastUpdateStatus != types.LastUpdateStatusSuccessful || cfg.State != types.StateActive {
			t.Fatalf("cfg %+v, err %v", cfg, err)
		}
		// 5 s of update at 1 s a poll.
		if n := countOp(l, "GetFunction"); n < 5 || n > 7 {
			t.Errorf("%d polls for a 5 s update at one second a poll", n)
		}
	})
	t.Run("failed update", func(t *testing.T) {
		t.Parallel()
		l, c := fixture(t)
		l.FailNextUpdate("fn", types.LastUpdateStatusReasonCodeImageDeleted, "the image does not exist")
		startUpdate(t, l)
		cfg, err := WaitUpdated(ctx, l, "fn", fast(c))
		var uf *UpdateFailedError
		if !errors.As(err, &uf) || uf.Code != types.LastUpdateStatusReasonCodeImageDeleted || cfg == nil {
			t.Fatalf("err = %v (cfg %v), want an UpdateFailedError with ImageDeleted", err, cfg)
		}
	})
	t.Run("coming back from Inactive, fails", func(t *testing.T) {
		t.Parallel()
		l, c := fixture(t)
		l.AddFunction(lambdafake.FunctionSpec{Name: "idle", ImageURI: img1, State: types.StateInactive})
		l.FailNextUpdate("idle", types.LastUpdateStatusReasonCodeImageAccessDenied, "no access to the image")
		if _, err := l.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("idle"), ImageUri: aws.String(img2)}); err != nil {
			t.Fatal(err)
		}
		_, err := WaitUpdated(ctx, l, "idle", fast(c))
		var uf *UpdateFailedError
		if !errors.As(err, &uf) {
			t.Fatalf("err = %v, want UpdateFailedError", err)
		}
	})
	t.Run("function already Failed", func(t *testing.T) {
		t.Parallel()
		l, c := fixture(t)
		l.AddFunction(lambdafake.FunctionSpec{Name: "broken", ImageURI: img1, State: types.StateFailed, StateReason: "image deleted", StateReasonCode: types.StateReasonCodeImageDeleted})
		_, err := WaitUpdated(ctx, l, "broken", fast(c))
		var sf *StateFailedError
		if !errors.As(err, &sf) || sf.Code != types.StateReasonCodeImageDeleted {
			t.Fatalf("err = %v, want StateFailedError", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		l, c := fixture(t)
		l.UpdateDuration = 1000 * time.Hour
		startUpdate(t, l)
		o := fast(c)
		o.Timeout = 50 * time.Millisecond
		_, err := WaitUpdated(ctx, l, "fn", o)
		var te *TimeoutError
		if !errors.As(err, &te) || te.Timeout != o.Timeout {
			t.Fatalf("err = %v, want TimeoutError", err)
		}
	})
	t.Run("API error", func(t *testing.T) {
		t.Parallel()
		l, c := fixture(t)
		l.BeforeCall = func(_ context.Context, op, _ string) error { return lambdafake.AccessDenied(op) }
		_, err := WaitUpdated(ctx, l, "fn", fast(c))
		var te *TimeoutError
		var api smithy.APIError
		if errors.As(err, &te) || !errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" {
			t.Fatalf("err = %v, want AccessDeniedException", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		l, c := fixture(t)
		l.UpdateDuration = 1000 * time.Hour
		startUpdate(t, l)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := WaitUpdated(cctx, l, "fn", fast(c))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("version Active", func(t *testing.T) {
		t.Parallel()
		l, c := fixture(t)
		l.PublishDuration = 3 * time.Second
		l.UpdateDuration = 0
		startUpdate(t, l)
		out, err := l.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn")})
		if err != nil || out.State != types.StatePending {
			t.Fatalf("publish: %v, state %s", err, out.State)
		}
		cfg, err := WaitVersionActive(ctx, l, "fn", aws.ToString(out.Version), fast(c))
		if err != nil || cfg.State != types.StateActive {
			t.Fatalf("cfg %+v, err %v", cfg, err)
		}
	})
}

func TestRetryConflict(t *testing.T) {
	t.Parallel()
	conflict := &types.ResourceConflictException{Message: aws.String("An update is in progress")}
	t.Run("retried until it goes through", func(t *testing.T) {
		t.Parallel()
		_, c := fixture(t)
		var n atomic.Int32
		err := RetryConflict(context.Background(), fast(c), "updating", func(context.Context) error {
			if n.Add(1) < 4 {
				return conflict
			}
			return nil
		})
		if err != nil || n.Load() != 4 {
			t.Errorf("err %v after %d calls", err, n.Load())
		}
	})
	t.Run("other errors are not retried", func(t *testing.T) {
		t.Parallel()
		_, c := fixture(t)
		var n atomic.Int32
		denied := lambdafake.AccessDenied("UpdateFunctionCode")
		err := RetryConflict(context.Background(), fast(c), "updating", func(context.Context) error { n.Add(1); return denied })
		if !errors.Is(err, denied) || n.Load() != 1 {
			t.Errorf("err %v after %d calls", err, n.Load())
		}
	})
	t.Run("busy until the timeout", func(t *testing.T) {
		t.Parallel()
		_, c := fixture(t)
		start := c.Now()
		var n atomic.Int32
		o := fast(c)
		err := RetryConflict(context.Background(), o, "updating", func(context.Context) error { n.Add(1); return conflict })
		var busy *BusyError
		if !errors.As(err, &busy) || !IsConflict(err) {
			t.Fatalf("err = %v, want BusyError", err)
		}
		// Backoff 1 s doubling to 4 s, with jitter, within one minute of
		// the manual clock.
		if waited := c.Now().Sub(start); waited > o.Timeout || n.Load() < 10 {
			t.Errorf("%d attempts over %s", n.Load(), waited)
		}
	})
}

func countOp(l *lambdafake.Lambda, op string) int {
	n := 0
	for _, c := range l.Calls() {
		if c.Op == op {
			n++
		}
	}
	return n
}
