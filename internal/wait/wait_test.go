package wait_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/wait"
)

func TestSleep(t *testing.T) {
	t.Parallel()
	if err := wait.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A cancelled context ends a long sleep at once (the test would time
	// out otherwise).
	if err := wait.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep on a cancelled context = %v", err)
	}
	if err := wait.Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep(0) on a cancelled context = %v", err)
	}
}
