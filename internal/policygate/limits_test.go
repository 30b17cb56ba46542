package policygate_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/policygate"
)

// billionLaughs is a few hundred bytes of YAML whose aliases expand to
// about 10^9 values.
const billionLaughs = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`

// Every file is read with a limit, before it is parsed.
func TestInputsReadWithLimits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.json")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(40 << 30); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	bomb := writeFile(t, "bomb.yaml", billionLaughs)
	// Few aliases of a large value: within the YAML decoder's own alias
	// ratio, and still 100 MB once expanded.
	wide := writeFile(t, "wide.yaml", "big: &big \""+strings.Repeat("x", 1<<20)+"\"\nall: ["+strings.Repeat("*big,", 99)+"*big]\n")
	loop := writeFile(t, "loop.yaml", "a: &a [1, *a]\n")
	bigPolicy := writeFile(t, "big.rego", "package big\n"+strings.Repeat("# padding\n", 4<<20))
	quality := []string{"-p", "builtin:model-quality", "--param", "min_accuracy=0.9"}

	tests := []struct {
		name  string
		args  []string
		stdin io.Reader
		want  string
	}{
		{"/dev/zero", []string{"--input", "/dev/zero"}, nil, `--input "/dev/zero": larger than the 32 MiB limit`},
		{"a 40 GiB file", []string{"--input", huge}, nil, `--input "` + huge + `": larger than the 32 MiB limit`},
		{"endless standard input", []string{"--input", "-"}, zeros{}, `--input "-": reading standard input: larger than the 32 MiB limit`},
		{"named input", []string{"--input", "metrics=/dev/zero"}, nil, `--input "metrics=/dev/zero": larger than the 32 MiB limit`},
		{"alias bomb in an input", []string{"--input", bomb}, nil, `--input "` + bomb + `": its YAML aliases expand it past the 32 MiB limit`},
		{"large aliased value", []string{"--input", wide}, nil, `--input "` + wide + `": its YAML aliases expand it past the 32 MiB limit`},
		{"alias inside its anchor", []string{"--input", loop}, nil, `--input "` + loop + `": its YAML aliases expand it past the 32 MiB limit`},
		{"alias bomb in a data file", []string{"--set", "accuracy=1", "--data", bomb}, nil, `--data "` + bomb + `": its YAML aliases expand it past the 32 MiB limit`},
		{"data file from /dev/zero", []string{"--set", "accuracy=1", "--data", "/dev/zero"}, nil, `--data "/dev/zero": larger than the 32 MiB limit`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			stdin := tt.stdin
			if stdin == nil {
				stdin = strings.NewReader("")
			}
			code := policygate.Command().Main(append([]string{"policy-gate"}, append(quality, tt.args...)...), command.Env{
				Stdin: stdin, Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
			})
			if code != 2 || stderr.String() != "policy-gate: "+tt.want+"\n" {
				t.Errorf("exit %d, stderr %q\nwant exit 2, %q", code, stderr.String(), "policy-gate: "+tt.want+"\n")
			}
		})
	}

	r := local(t, "", "-p", bigPolicy, "--set", "a=1")
	if want := `policy-gate: --policy "` + bigPolicy + `": larger than the 32 MiB limit` + "\n"; r.code != 2 || r.stderr != want {
		t.Errorf("large policy: exit %d, stderr %q, want %q", r.code, r.stderr, want)
	}
	r = local(t, "", "-p", filepath.Dir(bigPolicy), "--set", "a=1")
	if want := `policy-gate: --policy "` + filepath.Dir(bigPolicy) + `": ` + bigPolicy + `: larger than the 32 MiB limit` + "\n"; r.code != 2 || r.stderr != want {
		t.Errorf("large policy in a directory: exit %d, stderr %q, want %q", r.code, r.stderr, want)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// stalledInput gives a document's first bytes, then blocks until it is
// released, as a producer on the other end of a pipe would.
type stalledInput struct {
	head    []byte
	started chan struct{} // closed at the first read past head
	release chan struct{}
	once    sync.Once
}

func (s *stalledInput) Read(p []byte) (int, error) {
	if len(s.head) > 0 {
		n := copy(p, s.head)
		s.head = s.head[n:]
		return n, nil
	}
	s.once.Do(func() { close(s.started) })
	<-s.release
	return 0, io.EOF
}

// mainWithSIGTERM runs policy-gate as the process does and sends the
// process SIGTERM once ready is closed, as a runner does on a cancelled
// job. Not parallel: the signal reaches every run in the process.
func mainWithSIGTERM(t *testing.T, stdin io.Reader, ready <-chan struct{}, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- policygate.Command().Main(append([]string{"policy-gate"}, args...), command.Env{
			Stdin: stdin, Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
		})
	}()
	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("the run ended (exit %d) before the signal: %s", code, stderr.String())
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return <-done, stderr.String()
}

// SIGTERM stops a run waiting for its input at once: it does not wait out
// the shared command code's grace period.
func TestSIGTERMStopsARunReadingItsInput(t *testing.T) {
	in := &stalledInput{head: []byte(`{"accuracy": `), started: make(chan struct{}), release: make(chan struct{})}
	defer close(in.release)
	code, stderr := mainWithSIGTERM(t, in, in.started, "-p", "builtin:model-quality", "--param", "min_accuracy=0.9", "--input", "-")
	if code != 3 || stderr != "policy-gate: interrupted while reading --input \"-\": terminated signal received\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// SIGTERM stops CPU-bound evaluation: a policy that would take hours
// returns with exit 3 and its own line, within the grace period. The
// policy calls a local server first, so the signal is sent once it is
// being evaluated.
func TestSIGTERMStopsCPUBoundEvaluation(t *testing.T) {
	evaluating := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		once.Do(func() { close(evaluating) })
	}))
	defer srv.Close()
	pol := writeFile(t, "slow.rego", `package slow
import rego.v1
deny contains "never" if {
	http.send({"method": "GET", "url": input.ready}).status_code == 200
	some a in input.items
	some b in input.items
	some c in input.items
	a + b + c < 0
}
`)
	items := strings.TrimSuffix(strings.Repeat("1,", 3000), ",")
	in := strings.NewReader(`{"ready": "` + srv.URL + `", "items": [` + items + `]}`)
	code, stderr := mainWithSIGTERM(t, in, evaluating, "-p", pol, "--input", "-")
	if code != 3 || stderr != "policy-gate: interrupted while evaluating data.slow: terminated signal received\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
