package exitcode_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mlship/mlship/internal/exitcode"
)

func TestOfPrecedence(t *testing.T) {
	t.Parallel()
	failed := exitcode.Failedf("denied")
	bad := exitcode.BadInputf("--x: bad")
	incomplete := exitcode.Incompletef("network")
	plain := errors.New("connection reset")
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, exitcode.OK},
		{"failed", failed, exitcode.Failed},
		{"bad input", bad, exitcode.BadInput},
		{"plain is could not finish", plain, exitcode.Incomplete},
		{"wrapped failed", fmt.Errorf("deploying: %w", failed), exitcode.Failed},
		{"code wraps plain", exitcode.Wrap(exitcode.Failed, plain), exitcode.Failed},
		{"failed then incomplete", errors.Join(failed, incomplete), exitcode.Incomplete},
		{"incomplete then failed", errors.Join(incomplete, failed), exitcode.Incomplete},
		{"failed and a plain error", errors.Join(failed, plain), exitcode.Incomplete},
		{"failed and bad input", errors.Join(failed, bad), exitcode.BadInput},
		{"joined inside a code", exitcode.Wrap(exitcode.Failed, errors.Join(plain, incomplete)), exitcode.Incomplete},
		{"nested joins", errors.Join(errors.Join(failed), fmt.Errorf("x: %w", errors.Join(bad, failed))), exitcode.BadInput},
		{"canceled", context.Canceled, exitcode.Incomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := exitcode.Of(tt.err); got != tt.want {
				t.Errorf("Of(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
