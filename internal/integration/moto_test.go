package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A server that exits before it answers is reported with what it printed,
// after a few tries, without waiting for the timeout.
func TestStartMotoReportsAnExit(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "moto_server")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho \"cannot bind $4\" >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := StartMoto(ctx, bin, nil)
	if err == nil {
		m.Stop()
		t.Fatal("StartMoto succeeded with a server that exits")
	}
	if got := strings.Count(err.Error(), "it exited"); got != 3 || !strings.Contains(err.Error(), "cannot bind") {
		t.Errorf("error %q: want three tries, each with the server's output", err)
	}
	if ctx.Err() != nil {
		t.Errorf("StartMoto waited for the timeout")
	}
}
