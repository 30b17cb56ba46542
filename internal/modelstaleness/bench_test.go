//go:build unix

package modelstaleness

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// benchCommits is the size of the benchmark's repository.
const benchCommits = 50_000

// The benchmark's paths: one changed by the last commit, one only by the
// tenth, one glob matching only files of the first thousand commits.
const (
	benchRecent = "notebooks/model.ipynb"
	benchEarly  = "models/early.pkl"
	benchGlob   = "data/**/*.csv"
)

var (
	benchOnce sync.Once
	benchDir  string
	benchErr  error
)

// benchRepo builds, once per process, a repository of benchCommits commits
// with git fast-import: each commit changes one of 100 source files; the
// paths above change where their names say.
func benchRepo(b *testing.B) string {
	b.Helper()
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "model-staleness-bench-")
		if benchErr != nil {
			return
		}
		if benchErr = buildBenchRepo(benchDir); benchErr != nil {
			os.RemoveAll(benchDir)
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDir
}

func buildBenchRepo(dir string) error {
	run := func(stdin func(*bufio.Writer) error, args ...string) error {
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		var errb strings.Builder
		cmd.Stderr = &errb
		if stdin == nil {
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("git %v: %v: %s", args, err, errb.String())
			}
			return nil
		}
		in, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		w := bufio.NewWriterSize(in, 1<<20)
		werr := stdin(w)
		if werr == nil {
			werr = w.Flush()
		}
		in.Close()
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("git %v: %v: %s", args, err, errb.String())
		}
		return werr
	}
	if err := run(nil, "init", "-q", "-b", "main"); err != nil {
		return err
	}
	start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	return run(func(w *bufio.Writer) error {
		for i := 1; i <= benchCommits; i++ {
			fmt.Fprintf(w, "commit refs/heads/main\ncommitter Bench <bench@example.com> %d +0000\n", start+int64(i)*600)
			msg := fmt.Sprintf("change %d", i)
			fmt.Fprintf(w, "data %d\n%s\n", len(msg), msg)
			file := func(path, content string) {
				fmt.Fprintf(w, "M 100644 inline %s\ndata %d\n%s\n", path, len(content), content)
			}
			file(fmt.Sprintf("src/mod%02d/file.py", i%100), fmt.Sprintf("# %d\n", i))
			if i == 1 || i == benchCommits {
				file(benchRecent, fmt.Sprintf("{\"v\": %d}\n", i))
			}
			if i == 10 {
				file(benchEarly, "weights\n")
			}
			if i <= 1000 && i%100 == 0 {
				file(fmt.Sprintf("data/part%d/train.csv", i/100), fmt.Sprintf("a,b\n%d,1\n", i))
			}
		}
		return nil
	}, "fast-import", "--quiet")
}

// TestMain removes the benchmark's repository.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// childCPU is the CPU time the processes this one has waited for used so
// far: on a loaded machine it tells git's work apart from waiting for a core.
func childCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs fn b.N times and reports, beside the wall time, the CPU time of
// the git processes per run (git-cpu-ns/op).
func loop(b *testing.B, fn func()) {
	before := childCPU(b)
	for b.Loop() {
		fn()
	}
	b.ReportMetric(float64(childCPU(b)-before)/float64(b.N), "git-cpu-ns/op")
}

// BenchmarkGitSource compares the git source with `git log -1 --format=%cI
// -- <path>` on the same 50,000-commit repository: a path changed by the
// newest commit (both stop at once), one changed only near the first (both
// walk the whole history) and a glob. bench/compare.sh checks the ratio.
func BenchmarkGitSource(b *testing.B) {
	if _, err := exec.LookPath("git"); err != nil {
		b.Skip("git is not on PATH")
	}
	dir := benchRepo(b)
	for _, p := range []struct{ name, path string }{
		{"recent", benchRecent},
		{"early", benchEarly},
		{"glob", benchGlob},
	} {
		b.Run("tool/"+p.name, func(b *testing.B) {
			cfg := Config{Model: ModelSpec{Source: SourceGit, Directory: dir, Paths: []string{p.path}, WarnAfter: "7d"}, Timeout: time.Minute}
			p, err := cfg.Validate()
			if err != nil {
				b.Fatal(err)
			}
			m := p.Models()[0]
			loop(b, func() {
				if _, err := gitLastChange(context.Background(), "", m); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run("git-log/"+p.name, func(b *testing.B) {
			spec := pathspecs([]string{p.path})[0]
			if !strings.ContainsAny(p.path, "*") {
				spec = p.path
			}
			loop(b, func() {
				out, err := exec.Command("git", "-C", dir, "log", "-1", "--format=%cI", "--", spec).Output()
				if err != nil || len(out) == 0 {
					b.Fatalf("git log: %v %q", err, out)
				}
			})
		})
	}
}
