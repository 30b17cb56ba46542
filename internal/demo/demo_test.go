package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/toolset"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/ecrfake"
)

// binDir holds the tool binaries: built once for the test run as
// `make build` builds them, or, when MLSHIP_DEMO_BIN names a directory
// (relative to the checkout), the binaries there: after `make build`,
// `MLSHIP_DEMO_BIN=bin go test ./internal/demo` builds nothing.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		if dir := os.Getenv("MLSHIP_DEMO_BIN"); dir != "" {
			if !filepath.IsAbs(dir) {
				dir = filepath.Join("..", "..", dir)
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			binDir = abs
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "mlship-demo-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		args := []string{"build", "-trimpath", "-tags", toolset.BuildTags, "-ldflags", "-s -w", "-o", dir + string(filepath.Separator)}
		for _, t := range tools {
			args = append(args, "./cmd/"+t)
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = filepath.Join("..", "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building the tools: %v\n%s", err, out)
			return 1
		}
		binDir = dir
		return m.Run()
	}())
}

// TestDemo runs the whole demo and checks its report: each step's exit
// codes and outputs, the files it wrote, that every process and server
// stopped, and that its output cannot act as a workflow command.
func TestDemo(t *testing.T) {
	t.Parallel()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep, err := run(context.Background(), options{bin: binDir, repo: repo, dir: filepath.Join(t.TempDir(), "demo"), out: &out})
	text := out.String()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, text)
	}
	if t.Failed() || testing.Verbose() {
		t.Log(text)
	}

	var ids []string
	for _, s := range rep.Steps {
		ids = append(ids, s.ID)
	}
	if got, want := strings.Join(ids, " "), "1 2 3 4 5 6 6b 7 7b"; got != want {
		t.Fatalf("steps %q, want %q", got, want)
	}
	// outputs returns the outputs of the n-th tool run of step id, after
	// checking its tool and exit code.
	outputs := func(id string, n int, tool string, code int) map[string]string {
		t.Helper()
		s := rep.Step(id)
		if len(s.Runs) <= n {
			t.Fatalf("step %s ran %d tools, want a run %d", id, len(s.Runs), n+1)
		}
		r := s.Runs[n]
		if r.Tool != tool || r.Code != code {
			t.Fatalf("step %s run %d: %s exited %d, want %s exiting %d", id, n+1, r.Tool, r.Code, tool, code)
		}
		return r.Outputs
	}

	img, err := buildImage(filepath.Join(repo, "testdata/demo/image"))
	if err != nil {
		t.Fatal(err)
	}
	dig, _ := img.Digest()
	push := outputs("2", 0, "ecr-push", 0)
	if push["image-digest"] != dig.String() || push["tags"] != runID || push["repository"] != repository ||
		!strings.HasPrefix(push["image-ref"], "127.0.0.1:") || !strings.HasSuffix(push["image-ref"], "/"+repository+"@"+dig.String()) {
		t.Errorf("ecr-push outputs %v, want digest %s", push, dig)
	}

	// The fixture image against the fixture database: busybox's HIGH
	// (no fix) and LOW, zlib's MEDIUM, ca-certificates' UNKNOWN; openssl
	// and musl are past their fixes.
	scan := outputs("3", 0, "image-scan", 0)
	for k, want := range map[string]string{"critical": "0", "high": "1", "medium": "1", "low": "1", "unknown": "1", "total": "4", "passed": "true"} {
		if scan[k] != want {
			t.Errorf("image-scan %s = %q, want %q", k, scan[k], want)
		}
	}
	if b, err := os.ReadFile(scan["sarif-file"]); err != nil || !bytes.Contains(b, []byte("CVE-2099-0002")) {
		t.Errorf("SARIF %s: %v, %d bytes without CVE-2099-0002", scan["sarif-file"], err, len(b))
	}

	good := outputs("4", 0, "metrics-export", 0)
	if good["ACCURACY"] != "0.934" || good["EQUAL_OPPORTUNITY_FAIRNESS_PERCENT"] != "12.5" ||
		!strings.HasPrefix(good["report-url"], "http://127.0.0.1:") || !strings.HasSuffix(good["report-url"], "/"+bucket+"/runs/"+runID+"/model_metrics.html") {
		t.Errorf("metrics-export (good) outputs %v", good)
	}
	if bad := outputs("4", 1, "metrics-export", 0); bad["ACCURACY"] != "0.871" || bad["report-url"] != "" {
		t.Errorf("metrics-export (bad) outputs %v", bad)
	}

	if g := outputs("5", 0, "policy-gate", 0); g["allowed"] != "true" || g["deny-count"] != "0" {
		t.Errorf("policy-gate (good) outputs %v", g)
	}
	if g := outputs("5", 1, "policy-gate", 1); g["allowed"] != "false" || g["deny-count"] != "2" ||
		!strings.Contains(g["messages"], "accuracy 0.871 is below the minimum 0.9") {
		t.Errorf("policy-gate (bad) outputs %v", g)
	}

	dep := outputs("6", 0, "lambda-deploy", 0)
	if dep["version"] != "2" || dep["previous-version"] != "1" || dep["rolled-back"] != "false" || dep["image-digest"] != dig.String() ||
		dep["image-uri"] != ecrfake.DefaultAccount+".dkr.ecr."+region+".amazonaws.com/"+repository+"@"+dig.String() ||
		!strings.Contains(dep["smoke-response"], `\"approved\":true`) || !strings.Contains(dep["smoke-response"], "2026.03.2") {
		t.Errorf("lambda-deploy outputs %v", dep)
	}
	if _, err := os.Stat(dep["previous-state-file"]); err != nil {
		t.Errorf("previous-state-file: %v", err)
	}

	broken := outputs("6b", 0, "ecr-push", 0)
	if broken["tags"] != runID+"-2" || broken["image-digest"] == dig.String() {
		t.Errorf("ecr-push (broken) outputs %v", broken)
	}
	rb := outputs("6b", 1, "lambda-deploy", 1)
	if rb["rolled-back"] != "true" || rb["version"] != "3" || !strings.Contains(rb["smoke-response"], "Runtime.ModelLoadError") {
		t.Errorf("lambda-deploy (broken) outputs %v", rb)
	}
	if log := rep.Step("6b").Runs[1].Log; !strings.Contains(log, "Error: ") || !strings.Contains(log, "rolled back") {
		t.Errorf("lambda-deploy (broken) log has no error line naming the rollback:\n%s", log)
	}

	if h := outputs("7", 0, "health-rollback", 0); h["healthy"] != "true" || h["rolled-back"] != "false" || h["failed-checks"] != "[]" {
		t.Errorf("health-rollback (healthy) outputs %v", h)
	}
	if h := outputs("7", 1, "health-rollback", 1); h["healthy"] != "false" || h["rolled-back"] != "true" || h["restored-version"] != "1" ||
		!strings.Contains(h["failed-checks"], `"status":503`) {
		t.Errorf("health-rollback (unhealthy) outputs %v", h)
	}

	// model-staleness reads this checkout's history of the model file, or,
	// in a shallow clone, a repository the demo makes (last change 40
	// days ago).
	stale := outputs("7b", 0, "model-staleness", 0)
	if shallow, _ := exec.Command("git", "-C", repo, "rev-parse", "--is-shallow-repository").Output(); strings.TrimSpace(string(shallow)) == "false" {
		last, err := exec.Command("git", "-C", repo, "log", "-1", "--format=%H %ct", "--", modelFile).Output()
		if err != nil {
			t.Fatal(err)
		}
		var commit string
		var unix int64
		fmt.Sscan(string(last), &commit, &unix)
		if stale["commit"] != commit || stale["last-updated"] != time.Unix(unix, 0).UTC().Format(time.RFC3339) || stale["source"] != "git" {
			t.Errorf("model-staleness outputs %v, want commit %s at %s", stale, commit, time.Unix(unix, 0).UTC())
		}
	} else if stale["state"] != "error" || stale["stale"] != "true" {
		t.Errorf("model-staleness on the demo's repository: %v", stale)
	}

	if rep.Processes != 12 || !rep.AllStopped {
		t.Errorf("processes: %d started, all stopped %v; want 12, true", rep.Processes, rep.AllStopped)
	}
	if len(rep.Services) != rep.Servers || rep.Servers < 5 {
		t.Errorf("services %v, %d servers", rep.Services, rep.Servers)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for name, url := range rep.Services {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			t.Errorf("%s at %s still answers after the demo", name, url)
		}
	}

	// The report: a line per step with its time, what it did, the end.
	for _, want := range []string{
		"== Report",
		"  2   ecr-push",
		"  3   image-scan",
		"4 findings: critical 0, high 1, medium 1, low 1, unknown 1; passed true (fail-on CRITICAL)",
		"  5   policy-gate",
		"good model allowed",
		"bad model denied (exit 1): ",
		"alias live: version 1 -> 2 (10% for 2s, then 100%)",
		"  6b  ecr-push, lambda-deploy",
		"rolled back: $LATEST runs " + short(dig.String()) + " again, alias live stayed on version 2",
		"  7b  model-staleness",
		"  7   health-rollback",
		"unhealthy (503): alias live rolled back from version 2 to 1, the version lambda-deploy recorded",
		"12 tool processes run (every one has exited)",
		"Done in ",
		"A STAND-IN, NOT AWS LAMBDA",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	// Printed in a workflow, the demo's output gives the runner no command
	// (no mask, no annotation), and the registry password never shows.
	if cmds := actiontest.Commands(text); len(cmds) > 0 {
		t.Errorf("the output holds workflow commands: %q", cmds)
	}
	if strings.Contains(text, ecrfake.DefaultPassword) {
		t.Error("the registry password is in the output")
	}
}

func TestLogView(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	l := newLogView(&out)
	fmt.Fprint(l, "::add-mask::s3cr3t\nlogin with s3cr3t\n::group::Plan\n  step 1\n::endgroup::\n")
	fmt.Fprint(l, "::error title=policy-gate::denied: accuracy%0Aand fairness\n::stop-commands::tok\n::warning::not a command\n::tok::\n::debug::hidden\npartial")
	l.flush()
	want := strings.Join([]string{
		"    │ login with ***",
		"    │ ▸ Plan",
		"    │   step 1",
		"    │ Error (policy-gate): denied: accuracy",
		"    │ and fairness",
		"    │ ::warning::not a command",
		"    │ partial",
	}, "\n") + "\n"
	if out.String() != want {
		t.Errorf("log view:\n%s\nwant:\n%s", &out, want)
	}
	if cmds := actiontest.Commands(out.String()); len(cmds) > 0 {
		t.Errorf("commands left: %q", cmds)
	}
}

func TestPrepareDirRefusesOtherFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &demo{opt: options{dir: dir}}
	if err := d.prepareDir(); err == nil || !strings.Contains(err.Error(), "not an earlier demo's directory") {
		t.Fatalf("prepareDir = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Fatalf("the file was removed: %v", err)
	}
	// An earlier demo's directory is emptied.
	other := filepath.Join(t.TempDir(), "demo")
	d = &demo{opt: options{dir: other}}
	if err := d.prepareDir(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "old"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.prepareDir(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(other, "old")); !os.IsNotExist(err) {
		t.Errorf("an earlier demo's file was kept: %v", err)
	}
}

// TestStalenessOnAShallowCheckout: in a shallow clone the demo says so and
// reads a repository it makes, in which the model is 40 days old.
func TestStalenessOnAShallowCheckout(t *testing.T) {
	t.Parallel()
	src, clone := t.TempDir(), filepath.Join(t.TempDir(), "clone")
	model, err := os.ReadFile(filepath.Join("..", "..", modelFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(src, filepath.Dir(modelFile)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, modelFile), model, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main", src},
		{"-C", src, "add", "."},
		{"-C", src, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "one"},
		{"-C", src, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "two"},
		{"clone", "-q", "--depth", "1", "file://" + src, clone},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	var out bytes.Buffer
	work := t.TempDir()
	d := &demo{opt: options{bin: binDir, repo: clone, out: &out}, work: work, report: &Report{}}
	d.r = &runner{bin: binDir, repo: clone, work: work, out: &out, env: append(os.Environ(), "GITHUB_ACTIONS=true", "RUNNER_TEMP="+work)}
	if err := d.staleness(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, &out)
	}
	if !strings.Contains(out.String(), "the checkout is shallow") {
		t.Errorf("the output does not say the checkout is shallow:\n%s", &out)
	}
	o := d.report.Step("7b").Runs[0].Outputs
	if o["state"] != "error" || o["stale"] != "true" || !strings.HasPrefix(o["age-human"], "40d") {
		t.Errorf("model-staleness outputs %v", o)
	}
}

// cancelOn cancels when the text written to it holds a string.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	what   string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.what) {
		c.cancel()
	}
	return len(p), nil
}

func (c *cancelOn) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// TestDemoInterrupted: a demo interrupted during the canary interrupts
// lambda-deploy as a cancelled job would (it rolls back), then stops every
// process and server it started.
func TestDemoInterrupted(t *testing.T) {
	t.Parallel()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelOn{what: "holding at 10%", cancel: cancel}
	rep, err := run(ctx, options{bin: binDir, repo: repo, dir: filepath.Join(t.TempDir(), "demo"), out: out})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("run = %v, want context.Canceled\n%s", err, out)
	}
	s := rep.Step("6")
	if s == nil || len(s.Runs) != 1 || !strings.Contains(s.Runs[0].Log, "rolled back: alias live is on version 1") {
		t.Errorf("step 6 did not roll back when interrupted:\n%s", out)
	}
	if rep.Step("6b") != nil || !rep.AllStopped || rep.Processes != 7 {
		t.Errorf("after the interruption: step 6b %v, all stopped %v, %d processes", rep.Step("6b") != nil, rep.AllStopped, rep.Processes)
	}
	for name, url := range rep.Services {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			t.Errorf("%s at %s still answers", name, url)
		}
	}
	if !strings.Contains(out.String(), "FAILED after ") {
		t.Errorf("no FAILED line:\n%s", out)
	}
}
