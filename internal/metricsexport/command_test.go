package metricsexport

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/command"
)

const shared = "../../testdata/metrics/"

// TestMainWorkflow runs the tool as the credit-approval pipeline does, with
// every input given as an INPUT_ variable the way action.yml passes them.
func TestMainWorkflow(t *testing.T) {
	t.Parallel()
	w := actiontest.NewStep(t, map[string]string{
		"file":     shared + "model_metrics.env",
		"rename":   "EQUAL_OPPORTUNITY_FAIRNESS_PERCENT=fairnessScoreEqualOpportunity",
		"baseline": shared + "baseline_metrics.json",
		"compare":  "ACCURACY:higher:0.01\nfairnessScoreEqualOpportunity:lower:5%\n",
		// An action maps every input, given or not.
		"fail-on-regression": "false",
		"s3-path-style":      "false",
		"upload":             "",
	})
	if code := w.Run(Command()); code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, &w.Stdout, &w.Stderr)
	}
	out := w.Outputs(t)
	want := map[string]string{
		"ACCURACY":                      "0.93",
		"fairnessScoreEqualOpportunity": "12.5",
		"metrics":                       `{"ACCURACY":0.93,"fairnessScoreEqualOpportunity":12.5}`,
		"report-urls":                   "[]",
		"report-url":                    "",
		"deltas":                        `{"ACCURACY":0.01,"fairnessScoreEqualOpportunity":-1.5}`,
		"regressed":                     "false",
		"regressions":                   "[]",
		"metrics-omitted":               "0",
	}
	for k, v := range want {
		if out[k] != v {
			t.Errorf("output %s = %q, want %q", k, out[k], v)
		}
	}
	if len(out) != len(want)+1 {
		t.Errorf("outputs %v", out)
	}
	file := out["metrics-file"]
	if filepath.Dir(file) != w.Env["RUNNER_TEMP"] {
		t.Errorf("metrics-file %s is not in RUNNER_TEMP", file)
	}
	var policyInput map[string]float64
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &policyInput); err != nil || policyInput["ACCURACY"] != 0.93 || policyInput["fairnessScoreEqualOpportunity"] != 12.5 {
		t.Errorf("metrics file %s: %v", data, err)
	}
	summary := w.SummaryText(t)
	for _, s := range []string{
		"### Model metrics",
		"| Metric | Value | Baseline | Change |",
		"| ACCURACY | 0.93 | 0.92 | +0.01 ✅ |",
		"| fairnessScoreEqualOpportunity | 12.5 | 14.0 | -1.5 ✅ |",
	} {
		if !strings.Contains(summary, s) {
			t.Errorf("summary lacks %q:\n%s", s, summary)
		}
	}
	if !strings.Contains(w.Stdout.String(), "read 2 metrics from "+shared+"model_metrics.env") {
		t.Errorf("log: %s", &w.Stdout)
	}
}

// TestMainRegression: a regression with --fail-on-regression exits 1 with
// one error line, and the outputs are still written.
func TestMainRegression(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"m.env": "ACCURACY=0.90\n", "base.env": "ACCURACY=0.92\n"})
	w := actiontest.NewStep(t, nil)
	code := w.Run(Command(), "--file", filepath.Join(dir, "m.env"), "--baseline", filepath.Join(dir, "base.env"),
		"--compare", "ACCURACY:higher:0.01", "--fail-on-regression", "--output-file", filepath.Join(dir, "out", "metrics.json"))
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, &w.Stdout, &w.Stderr)
	}
	out := w.Outputs(t)
	if out["regressed"] != "true" || out["regressions"] != `["ACCURACY"]` || out["deltas"] != `{"ACCURACY":-0.02}` || out["ACCURACY"] != "0.90" {
		t.Errorf("outputs %v", out)
	}
	if out["metrics-file"] != filepath.Join(dir, "out", "metrics.json") {
		t.Errorf("metrics-file %s", out["metrics-file"])
	}
	wantErr := "::error::metrics-export: regression against " + filepath.Join(dir, "base.env") +
		": ACCURACY fell from 0.92 to 0.90 (higher is better, tolerance 0.01)\n"
	if !strings.HasSuffix(w.Stdout.String(), wantErr) {
		t.Errorf("stdout does not end with the error line:\n%s", &w.Stdout)
	}
	if !strings.Contains(w.SummaryText(t), "| ACCURACY | 0.90 | 0.92 | -0.02 ❌ regressed |") {
		t.Errorf("summary:\n%s", w.SummaryText(t))
	}

	// Without --fail-on-regression it is a warning.
	w = actiontest.NewStep(t, nil)
	code = w.Run(Command(), "--file", filepath.Join(dir, "m.env"), "--baseline", filepath.Join(dir, "base.env"), "--compare", "ACCURACY:higher:0.01")
	if code != 0 || !strings.Contains(w.Stdout.String(), "::warning::regression against") || w.Outputs(t)["regressed"] != "true" {
		t.Errorf("warn mode: exit %d\n%s", code, &w.Stdout)
	}
}

func TestMainBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"good.env":   "ACCURACY=0.9\n",
		"bad.env":    "ACCURACY=0.9\nthis line is wrong\n",
		"empty.env":  "# no metrics yet\n",
		"text.env":   "ACCURACY=high\n",
		"base.env":   "ACCURACY=0.9\n",
		"clash.json": `{"ACCURACY": 1, "accuracy": 2}`,
		"fixed.env":  "regressed=0\n",
		"r.html":     "<html>",
	})
	p := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"malformed line", []string{"--file", p("bad.env")}, p("bad.env") + `:2: expected KEY=VALUE, found "this line is wrong"`},
		{"missing file", []string{"--file", p("nope.env")}, `--file "` + p("nope.env") + `": no such file or directory`},
		{"glob without match", []string{"--file", p("*.yaml")}, `--file "` + p("*.yaml") + `": no file matches`},
		{"directory", []string{"--file", dir}, `--file "` + dir + `": is a directory, not a metrics file`},
		{"empty set", []string{"--file", p("empty.env")}, "no metrics in " + p("empty.env")},
		{"all excluded", []string{"--file", p("good.env"), "--exclude", "*"}, "no metrics left in " + p("good.env") + " after --include/--exclude"},
		{"not a number", []string{"--file", p("text.env"), "--baseline", p("base.env"), "--compare", "ACCURACY:higher"}, p("text.env") + `:1: ACCURACY: "high" is not a number (--compare ACCURACY)`},
		{"case clash", []string{"--file", p("clash.json")}, p("clash.json") + ":1: metric accuracy and ACCURACY (" + p("clash.json") + ":1) both become output accuracy"},
		{"fixed output name", []string{"--file", p("fixed.env")}, p("fixed.env") + ":1: metric regressed would overwrite the regressed output; rename it with --rename regressed=NEW"},
		{"rename of nothing", []string{"--file", p("good.env"), "--rename", "F1=f1"}, `--rename "F1=f1": no metric named F1`},
		{"no file", nil, "--file is required (or INPUT_FILE)"},
		{"unknown flag", []string{"--file", p("good.env"), "--bucekt", "x"}, "--bucekt: no such option (see --help)"},
		{"argument", []string{"--file", p("good.env"), "extra"}, `unexpected argument "extra": every input is an option (see --help)`},
		{"upload without bucket", []string{"--file", p("good.env"), "--upload", p("r.html")}, "--upload needs --bucket"},
		{"missing baseline", []string{"--file", p("good.env"), "--baseline", p("nope.json")}, `--baseline "` + p("nope.json") + `": no such file or directory`},
		{"output metric of nothing", []string{"--file", p("good.env"), "--output-metrics", "F1"}, `--output-metrics "F1": no metric matches`},
		{"several problems", []string{"--file", p("good.env"), "--format", "toml", "--presign", "soon"}, `2 problems: --format "toml": want auto, env, json or yaml; --presign "soon": want a duration such as 1h, 12h or 7d`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := actiontest.NewStep(t, nil)
			if code := w.Run(Command(), tt.args...); code != 2 {
				t.Fatalf("exit %d, want 2\nstdout: %s", code, &w.Stdout)
			}
			lines := strings.Split(strings.TrimSpace(w.Stdout.String()), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "::error::metrics-export: "+tt.want) {
				t.Errorf("error line\n got %s\nwant ::error::metrics-export: %s", last, tt.want)
			}
			if data, _ := os.ReadFile(w.OutputFile); len(data) > 0 {
				t.Errorf("outputs written on bad input:\n%s", data)
			}
			if entries, _ := os.ReadDir(w.Env["RUNNER_TEMP"]); len(entries) > 0 {
				t.Errorf("metrics file written on bad input")
			}
		})
	}
}

// TestMainLocal: outside a workflow the result is printed and errors go to
// stderr.
func TestMainLocal(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	tmp := t.TempDir()
	code := Command().Main([]string{Name, "--file", shared + "model_metrics.env", "--output-file", filepath.Join(tmp, "m.json")},
		command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, &stderr)
	}
	want := "ACCURACY = 0.93\nEQUAL_OPPORTUNITY_FAIRNESS_PERCENT = 12.5\nmetrics file: " + filepath.Join(tmp, "m.json") + "\n"
	if stdout.String() != want {
		t.Errorf("stdout\n%s\nwant\n%s", &stdout, want)
	}
	stdout.Reset()
	code = Command().Main([]string{Name, "--file", shared + "model_metrics.env", "--json", "--output-file", filepath.Join(tmp, "m.json")},
		command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
	var res struct {
		Metrics []struct{ Name, Value, Output, Type, File string }
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); code != 0 || err != nil || len(res.Metrics) != 2 || res.Metrics[0].Type != "number" {
		t.Errorf("--json: exit %d, %v\n%s", code, err, &stdout)
	}
}

// TestMainS3 drives Command() end to end against gofakes3 with the AWS
// configuration the tool loads itself (AWS_ENDPOINT_URL, path-style as
// for MinIO or LocalStack). It sets process environment variables, so it
// does not run in parallel.
func TestMainS3(t *testing.T) {
	srv := newS3Server(t, false, "reports")
	endpoint := strings.Replace(srv.URL, "localhost", "127.0.0.1", 1)
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":            endpoint,
		"AWS_REGION":                  "eu-west-1",
		"AWS_ACCESS_KEY_ID":           "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY":       "secret",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
	inputs := map[string]string{
		"file":          shared + "model_metrics.env",
		"upload":        shared + "model_metrics.html",
		"bucket":        "reports",
		"prefix":        "credit-approval/run-7",
		"s3-path-style": "true",
	}
	w := actiontest.NewStep(t, inputs)
	if code := w.Run(Command()); code != 0 {
		t.Fatalf("exit %d\nstdout: %s", code, &w.Stdout)
	}
	out := w.Outputs(t)
	wantURL := endpoint + "/reports/credit-approval/run-7/model_metrics.html"
	if out["report-url"] != wantURL || out["report-urls"] != `["`+wantURL+`"]` {
		t.Errorf("report-url %s, report-urls %s; want %s", out["report-url"], out["report-urls"], wantURL)
	}
	html, _ := os.ReadFile(shared + "model_metrics.html")
	if status, ctype, body := get(t, wantURL); status != 200 || ctype != "text/html; charset=utf-8" || body != string(html) {
		t.Errorf("GET %s: %d %s", wantURL, status, ctype)
	}
	if !strings.Contains(w.SummaryText(t), "- [model\\_metrics.html]("+wantURL+") (s3://reports/credit-approval/run-7/model\\_metrics.html)") {
		t.Errorf("summary:\n%s", w.SummaryText(t))
	}

	// A second run finds the report there and does not upload it again.
	w = actiontest.NewStep(t, inputs)
	if code := w.Run(Command()); code != 0 || w.Outputs(t)["report-url"] != wantURL {
		t.Fatalf("second run: exit %d\n%s", code, &w.Stdout)
	}
	if puts := srv.Requests("PUT"); len(puts) != 1 {
		t.Errorf("PUT requests %q, want one", puts)
	}

	// A bucket that does not exist: exit 3, the metrics are output, and no
	// report is.
	inputs["bucket"] = "no-such-bucket"
	w = actiontest.NewStep(t, inputs)
	if code := w.Run(Command()); code != 3 {
		t.Fatalf("missing bucket: exit %d, want 3\n%s", code, &w.Stdout)
	}
	out = w.Outputs(t)
	if out["ACCURACY"] != "0.93" || out["report-urls"] != "[]" || out["report-url"] != "" {
		t.Errorf("outputs after a failed upload: %v", out)
	}
	if !strings.Contains(w.Stdout.String(), "::error::metrics-export: uploading "+shared+"model_metrics.html to s3://no-such-bucket/credit-approval/run-7/model_metrics.html: ") ||
		!strings.Contains(w.Stdout.String(), "NoSuchBucket") {
		t.Errorf("error line:\n%s", &w.Stdout)
	}
	if !strings.Contains(w.SummaryText(t), "**Not finished:**") {
		t.Errorf("summary:\n%s", w.SummaryText(t))
	}

	// No region: bad input before anything is read or sent.
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	w = actiontest.NewStep(t, inputs)
	if code := w.Run(Command()); code != 2 || !strings.Contains(w.Stdout.String(), "no AWS region") {
		t.Errorf("no region: exit %d\n%s", code, &w.Stdout)
	}
}

// TestMainVirtualHostedCloudWatch runs the command with virtual-hosted S3
// addressing, presigned URLs and CloudWatch, through the clients hook.
func TestMainVirtualHostedCloudWatch(t *testing.T) {
	t.Parallel()
	srv := newS3Server(t, true, "ml-reports")
	cw := newFakeCloudWatch()
	cmd := newCommand(func(_ context.Context, cfg *Config) (Deps, error) {
		if cfg.PathStyle {
			t.Error("path-style asked for")
		}
		d := srv.deps()
		d.CloudWatch = cw
		return d, nil
	})
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"metrics.yaml":        "accuracy: 0.93\nlatency_ms: 41\nmodel: credit\neval:\n  f1: 0.8\n",
		"report/index.html":   "<html>",
		"report/img/roc.png":  "png",
		"report/img/pr.svg":   "<svg/>",
		"report/raw/data.bin": "x",
	})
	w := actiontest.NewStep(t, map[string]string{
		"file":                 filepath.Join(dir, "metrics.yaml"),
		"upload":               filepath.Join(dir, "report", "*.html") + "\n" + filepath.Join(dir, "report", "img"),
		"bucket":               "ml-reports",
		"prefix":               "runs/9/",
		"presign":              "1h",
		"cloudwatch-namespace": "MLModels",
		"dimension":            "Model=credit-approval\nStage=staging",
		"unit":                 "*_ms=Milliseconds",
	})
	if code := w.Run(cmd); code != 0 {
		t.Fatalf("exit %d\nstdout: %s", code, &w.Stdout)
	}
	out := w.Outputs(t)
	var urls []string
	if err := json.Unmarshal([]byte(out["report-urls"]), &urls); err != nil || len(urls) != 3 {
		t.Fatalf("report-urls %s: %v", out["report-urls"], err)
	}
	host := strings.Replace(srv.URL, "//localhost", "//ml-reports.localhost", 1)
	for i, key := range []string{"runs/9/index.html", "runs/9/pr.svg", "runs/9/roc.png"} {
		if !strings.HasPrefix(urls[i], host+"/"+key+"?") || !strings.Contains(urls[i], "X-Amz-Expires=3600") {
			t.Errorf("URL %d: %s", i, urls[i])
		}
	}
	if out["report-url"] != urls[0] || out["eval.f1"] != "0.8" || out["model"] != "credit" {
		t.Errorf("outputs %v", out)
	}
	if len(cw.accepted) != 1 {
		t.Fatalf("%d CloudWatch requests", len(cw.accepted))
	}
	req := cw.accepted[0]
	var got []string
	for _, d := range req.MetricData {
		got = append(got, *d.MetricName+":"+string(d.Unit)+":"+*d.Dimensions[0].Value+":"+*d.Dimensions[1].Value)
		if time.Since(*d.Timestamp) > time.Hour {
			t.Errorf("timestamp %v", d.Timestamp)
		}
	}
	want := "accuracy:None:credit-approval:staging latency_ms:Milliseconds:credit-approval:staging eval.f1:None:credit-approval:staging"
	if *req.Namespace != "MLModels" || strings.Join(got, " ") != want {
		t.Errorf("put %s %s", *req.Namespace, strings.Join(got, " "))
	}
	if s := w.SummaryText(t); !strings.Contains(s, "Put 3 metrics to CloudWatch namespace MLModels.") || !strings.Contains(s, "- [index.html]("+host+"/runs/9/index.html?") {
		t.Errorf("summary:\n%s", s)
	}
}
