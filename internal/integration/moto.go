// Package integration runs each tool's main path against moto
// (moto_server), an AWS emulator independent of the tools and of their
// fakes, through the real AWS SDK. The suite is its test files; this file
// starts and stops moto_server. `make integration` runs it.
package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/mlship/mlship/internal/wait"
)

// Moto is a moto_server process answering on a loopback port.
type Moto struct {
	// URL is the server's base URL, for AWS_ENDPOINT_URL.
	URL string

	cmd    *exec.Cmd
	exited chan struct{}
	log    *limitedBuffer
}

// StartMoto starts the moto_server program bin on a free port of
// 127.0.0.1 and returns once it answers, or with an error (including what
// moto printed) when it exits first or does not answer within ctx.
func StartMoto(ctx context.Context, bin string, env []string) (*Moto, error) {
	var errs []error
	// A port found free can be taken before moto binds it: try a few.
	for range 3 {
		m, err := startMoto(ctx, bin, env)
		if err == nil {
			return m, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func startMoto(ctx context.Context, bin string, env []string) (*Moto, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	m := &Moto{
		URL:    "http://127.0.0.1:" + strconv.Itoa(port),
		exited: make(chan struct{}),
		log:    &limitedBuffer{max: 64 << 10},
	}
	m.cmd = exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	m.cmd.Env = env
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		_ = m.cmd.Wait()
		close(m.exited)
	}()
	if err := m.waitReady(ctx); err != nil {
		m.Stop()
		return nil, fmt.Errorf("starting %s on port %d: %w; its output:\n%s", bin, port, err, m.log.String())
	}
	return m, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls moto's own API with backoff until it answers.
func (m *Moto) waitReady(ctx context.Context) error {
	delay := 20 * time.Millisecond
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/moto-api/", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /moto-api/: %s", resp.Status)
		}
		select {
		case <-m.exited:
			return fmt.Errorf("it exited (%v)", m.cmd.ProcessState)
		default:
		}
		if werr := wait.Sleep(ctx, delay); werr != nil {
			return fmt.Errorf("not answering (%v): %w", err, werr)
		}
		delay = min(2*delay, time.Second)
	}
}

// Post sends body as JSON to one of moto's own endpoints (path such as
// /moto-api/config) and fails unless moto accepts it.
func (m *Moto) Post(ctx context.Context, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, b)
	}
	return nil
}

// Output is what moto has printed so far (its request log), at most the
// last 64 KiB.
func (m *Moto) Output() string { return m.log.String() }

// Stop ends the process and waits for it.
func (m *Moto) Stop() {
	select {
	case <-m.exited:
		return
	default:
	}
	_ = m.cmd.Process.Kill()
	<-m.exited
}

// limitedBuffer keeps the last max bytes written to it; moto logs every
// request.
type limitedBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	if over := len(l.b) - l.max; over > 0 {
		l.b = append(l.b[:0], l.b[over:]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}
