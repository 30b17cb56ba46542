package metricsexport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/command"
)

// billionLaughs is the YAML alias bomb: nine levels of nine aliases to the
// level below, 9^9 (387 million) values from a file of under 1 KiB.
func billionLaughs(leaf string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "a: &a [%s]\n", strings.TrimSuffix(strings.Repeat(leaf+",", 9), ","))
	for c := 'b'; c <= 'i'; c++ {
		fmt.Fprintf(&b, "%c: &%c [%s]\n", c, c, strings.TrimSuffix(strings.Repeat("*"+string(c-1)+",", 9), ","))
	}
	return b.String()
}

// TestMainInputLimits: every metrics or baseline file is read with a limit
// before it is parsed, and what it holds is bounded too. Over a limit the
// run exits 2 with one line naming the input and the limit, and writes
// nothing.
func TestMainInputLimits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	deep := strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)
	writeFiles(t, dir, map[string]string{
		"good.env":   "ACCURACY=0.9\n",
		"bomb.yaml":  billionLaughs(`"lol"`),
		"empty.yaml": billionLaughs("[]"),
		"deep.json":  deep,
		"deep.yaml":  "a: " + strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1) + "\n",
	})
	p := func(name string) string { return filepath.Join(dir, name) }
	// A file over the size limit, sparse so that the test writes nothing.
	big, err := os.Create(p("big.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	big.Close()

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"alias bomb", []string{"--file", p("bomb.yaml")}, `--file "` + p("bomb.yaml") + `": its YAML aliases stand for more than 100000 values (the limit)`},
		{"alias bomb of empty lists", []string{"--file", p("empty.yaml")}, `--file "` + p("empty.yaml") + `": its YAML aliases stand for more than 100000 values (the limit)`},
		{"alias bomb as baseline", []string{"--file", p("good.env"), "--baseline", p("bomb.yaml")}, `--baseline "` + p("bomb.yaml") + `": its YAML aliases stand for more than 100000 values (the limit)`},
		{"alias bomb in a glob", []string{"--file", p("*.yaml")}, `--file "` + p("*.yaml") + `": ` + p("bomb.yaml") + `: its YAML aliases stand for more than 100000 values (the limit)`},
		{"endless file", []string{"--file", "/dev/zero", "--format", "env"}, `--file "/dev/zero": larger than the 64 MiB limit`},
		{"large file", []string{"--file", p("big.json")}, `--file "` + p("big.json") + `": 64.0 MiB is larger than the 64 MiB limit`},
		{"deep JSON", []string{"--file", p("deep.json")}, p("deep.json") + ":1: a.a.a"},
		{"deep YAML", []string{"--file", p("deep.yaml")}, p("deep.yaml") + ":1: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if strings.HasPrefix(tt.args[1], "/dev/") {
				if _, err := os.Stat(tt.args[1]); err != nil {
					t.Skipf("SKIPPED, not passed: %v", err)
				}
			}
			w := actiontest.NewStep(t, nil)
			if code := w.Run(Command(), tt.args...); code != 2 {
				t.Fatalf("exit %d, want 2\nstdout: %s", code, &w.Stdout)
			}
			var errs []string
			for _, l := range strings.Split(w.Stdout.String(), "\n") {
				if strings.HasPrefix(l, "::error") {
					errs = append(errs, l)
				}
			}
			if len(errs) != 1 || !strings.HasPrefix(errs[0], "::error::metrics-export: "+tt.want) {
				t.Errorf("error lines %q\nwant one starting ::error::metrics-export: %s", errs, tt.want)
			}
			if strings.HasPrefix(tt.name, "deep") && !strings.Contains(errs[0], "levels deep (the limit)") {
				t.Errorf("error line %q does not name the depth limit", errs[0])
			}
			if data, _ := os.ReadFile(w.OutputFile); len(data) > 0 {
				t.Errorf("outputs written on bad input:\n%.300s", data)
			}
			if entries, _ := os.ReadDir(w.Env["RUNNER_TEMP"]); len(entries) > 0 {
				t.Errorf("metrics file written on bad input")
			}
		})
	}
}

// TestParseMetricsLimit: more metrics than MaxMetrics in one file is an
// error in every format, found without holding them all.
func TestParseMetricsLimit(t *testing.T) {
	t.Parallel()
	for _, format := range []string{FormatEnv, FormatJSON} {
		var b strings.Builder
		if format == FormatJSON {
			b.WriteString("[")
		}
		for i := range 11 {
			if format == FormatJSON {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString("1")
			} else {
				fmt.Fprintf(&b, "M%d=1\n", i)
			}
		}
		data := b.String()
		if format == FormatJSON {
			data = `{"m": ` + data + "]}"
		}
		_, err := parse("m."+format, []byte(data), format, 10)
		var le *limitError
		if err == nil || !strings.Contains(err.Error(), "more than 1000000 metrics (the limit)") || !errors.As(err, &le) {
			t.Errorf("%s: error %v, want the metrics limit", format, err)
		}
		if ms, err := parse("m."+format, []byte(data), format, 11); err != nil || len(ms) != 11 {
			t.Errorf("%s: at the limit: %d metrics, %v", format, len(ms), err)
		}
	}
}

// manyMetrics writes n metrics as KEY=VALUE lines.
func manyMetrics(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "metric_%06d=0.%06d\n", i, i)
	}
	f := filepath.Join(t.TempDir(), "many.env")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// outputBytes is the size of a step's outputs as GitHub counts them
// (UTF-16).
func outputBytes(outs map[string]string) int {
	n := 0
	for k, v := range outs {
		n += action.UTF16Size(k) + action.UTF16Size(v)
	}
	return n
}

// TestMainManyMetrics: 100,000 metrics as a workflow step. The outputs stay
// within GitHub's limits: the first MaxMetricOutputs metrics get outputs and
// are in "metrics", the rest are only in the metrics file, and a warning
// says so.
func TestMainManyMetrics(t *testing.T) {
	t.Parallel()
	const n = 100_000
	file := manyMetrics(t, n)
	w := actiontest.NewStep(t, map[string]string{"file": file})
	if code := w.Run(Command()); code != 0 {
		t.Fatalf("exit %d\n%.2000s", code, &w.Stderr)
	}
	out := w.Outputs(t)
	info, err := os.Stat(w.OutputFile)
	if err != nil {
		t.Fatal(err)
	}
	if size := outputBytes(out); size > action.OutputBudget || info.Size() > action.OutputBudget {
		t.Errorf("outputs take %d bytes as GitHub counts them (%d in GITHUB_OUTPUT), over %d", size, info.Size(), action.OutputBudget)
	}
	if out["metric_000000"] != "0.000000" || out["metric_000999"] != "0.000999" {
		t.Errorf("the first %d metrics have no outputs: %q %q", MaxMetricOutputs, out["metric_000000"], out["metric_000999"])
	}
	if _, ok := out["metric_001000"]; ok {
		t.Errorf("metric %d of %d has an output", MaxMetricOutputs+1, n)
	}
	if len(out) != MaxMetricOutputs+len(fixedOutputs) {
		t.Errorf("%d outputs, want %d", len(out), MaxMetricOutputs+len(fixedOutputs))
	}
	if out["metrics-omitted"] != strconv.Itoa(n-MaxMetricOutputs) {
		t.Errorf("metrics-omitted = %q, want %d", out["metrics-omitted"], n-MaxMetricOutputs)
	}
	var inOutput map[string]float64
	if err := json.Unmarshal([]byte(out["metrics"]), &inOutput); err != nil || len(inOutput) != MaxMetricOutputs {
		t.Errorf("metrics output holds %d metrics (%v), want %d", len(inOutput), err, MaxMetricOutputs)
	}
	data, err := os.ReadFile(out["metrics-file"])
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]float64
	if err := json.Unmarshal(data, &all); err != nil || len(all) != n || all["metric_099999"] != 0.099999 {
		t.Errorf("metrics file holds %d metrics (%v), want all %d", len(all), err, n)
	}
	warn := regexp.MustCompile(`(?m)^::warning::99000 of 100000 metrics have no step output and are not in the metrics output: outputs carry at most 1000 metrics .*; all are in the metrics file ` + regexp.QuoteMeta(out["metrics-file"]) + `, or name the ones you need with --output-metrics$`)
	if !warn.MatchString(w.Stdout.String()) {
		t.Errorf("no warning that says what was left out:\n%.3000s", w.Stdout.String())
	}
	if s := w.SummaryText(t); len(s) > action.SummaryBudget || !strings.Contains(s, "99700 more metrics are in the metrics file") {
		t.Errorf("summary of %d bytes:\n%.500s", len(s), s)
	}
}

// TestMainOutputMetrics: --output-metrics names the metrics that get
// outputs; the others are only in the metrics file, without a warning.
func TestMainOutputMetrics(t *testing.T) {
	t.Parallel()
	file := manyMetrics(t, 5000)
	w := actiontest.NewStep(t, map[string]string{"file": file, "output-metrics": "metric_0049??\nmetric_000007"})
	if code := w.Run(Command()); code != 0 {
		t.Fatalf("exit %d\n%s", code, &w.Stdout)
	}
	out := w.Outputs(t)
	if len(out) != 101+len(fixedOutputs) || out["metric_000007"] != "0.000007" || out["metric_004999"] != "0.004999" || out["metrics-omitted"] != "4899" {
		t.Errorf("%d outputs, metric_000007=%q metric_004999=%q metrics-omitted=%q", len(out), out["metric_000007"], out["metric_004999"], out["metrics-omitted"])
	}
	if _, ok := out["metric_000008"]; ok {
		t.Error("a metric --output-metrics does not name has an output")
	}
	var inOutput map[string]float64
	if err := json.Unmarshal([]byte(out["metrics"]), &inOutput); err != nil || len(inOutput) != 101 {
		t.Errorf("metrics output holds %d metrics (%v), want 101", len(inOutput), err)
	}
	if strings.Contains(w.Stdout.String(), "::warning") {
		t.Errorf("a warning for the metrics the user left out:\n%s", &w.Stdout)
	}
}

// TestResultJSONIsCamelCase: --json prints the result with camelCase keys,
// as kubectl and the AWS CLI do, everywhere in it.
func TestResultJSONIsCamelCase(t *testing.T) {
	t.Parallel()
	srv := newS3Server(t, false, "reports")
	cw := newFakeCloudWatch()
	cmd := newCommand(func(_ context.Context, cfg *Config) (Deps, error) {
		d := srv.deps()
		d.CloudWatch = cw
		return d, nil
	})
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"m.json": `{"acc": 0.8, "new": 1, "name": "x"}`, "b.json": `{"acc": 0.9}`, "r.html": "<html>"})
	var stdout, stderr strings.Builder
	code := cmd.Main([]string{Name, "--json", "--file", filepath.Join(dir, "m.json"), "--baseline", filepath.Join(dir, "b.json"),
		"--compare", "acc:higher", "--compare", "new:higher", "--upload", filepath.Join(dir, "r.html"), "--bucket", "reports",
		"--cloudwatch-namespace", "N", "--output-metrics", "acc", "--output-file", filepath.Join(dir, "out.json")},
		command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, &stderr)
	}
	var doc any
	if err := json.Unmarshal([]byte(stdout.String()), &doc); err != nil {
		t.Fatalf("%v\n%s", err, &stdout)
	}
	camel := regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	keys := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				keys[k] = true
				if !camel.MatchString(k) {
					t.Errorf("key %q is not camelCase", k)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	for _, k := range []string{"metricsFile", "metricsOmitted", "newMetrics", "cloudWatch", "contentType", "comparisons", "reports"} {
		if !keys[k] {
			t.Errorf("result has no %q key:\n%s", k, &stdout)
		}
	}
}

// TestMetricsFileInTempDir: without --output-file the metrics file goes to
// command.TempDir: RUNNER_TEMP in a workflow, the system's temporary
// directory elsewhere. It sets TMPDIR, so it does not run in parallel.
func TestMetricsFileInTempDir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var stdout, stderr strings.Builder
	code := Command().Main([]string{Name, "--file", shared + "model_metrics.env", "--json"},
		command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
	var res Result
	if err := json.Unmarshal([]byte(stdout.String()), &res); code != 0 || err != nil {
		t.Fatalf("exit %d, %v: %s%s", code, err, &stdout, &stderr)
	}
	if filepath.Dir(res.MetricsFile) != tmp {
		t.Errorf("metrics file %s, want one in %s", res.MetricsFile, tmp)
	}
}
