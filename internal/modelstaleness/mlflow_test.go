package modelstaleness

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/exitcode"
)

// seedMLflow is the credit-card model: version 1 archived (40 days old),
// version 2 in Production (created 9 days ago, promoted yesterday, so
// last_updated is 1 day), version 3 registered 2 days ago and not promoted,
// version 4 a failed registration; alias champion on version 2.
func seedMLflow(s *mlflowServer) {
	s.addModel("credit-card",
		fakeVersion{Version: "1", Created: ms(daysAgo(40)), LastUpdated: ms(daysAgo(9)), Stage: "Archived"},
		fakeVersion{Version: "2", Created: ms(daysAgo(9)), LastUpdated: ms(daysAgo(1)), Stage: "Production"},
		fakeVersion{Version: "3", Created: ms(daysAgo(2)), LastUpdated: ms(daysAgo(2))},
		fakeVersion{Version: "4", Created: ms(daysAgo(0.5)), LastUpdated: ms(daysAgo(0.5)), Status: "FAILED_REGISTRATION"},
	)
	s.setAlias("credit-card", "champion", "2")
	s.addModel("empty")
}

func mlSpec(s *mlflowServer, model string) ModelSpec {
	return ModelSpec{Source: SourceMLflow, MLflowURI: s.URL, RegisteredModel: model, WarnAfter: "7d", ErrorAfter: "14d"}
}

func mlDeps(s *mlflowServer) (Deps, *sleeper, *logger) {
	sl, l := &sleeper{}, &logger{}
	return Deps{MLflow: s.Client(), Sleep: sl.Sleep, Log: l, Now: fixedNow}, sl, l
}

// TestMLflowNewestVersion: without a stage or alias, the newest READY
// version of the registered model counts, by its creation time.
func TestMLflowNewestVersion(t *testing.T) {
	t.Parallel()
	s := newMLflowServer(t)
	seedMLflow(s)
	deps, _, _ := mlDeps(s)
	m := mustRun(t, mlSpec(s, "credit-card"), deps)
	if m.State != StateFresh || m.Version != "3" || m.Source != SourceMLflow || m.LastUpdated != daysAgo(2).Format(time.RFC3339) || m.Item != "version 3" {
		t.Errorf("result %+v", m)
	}
	if m.Name != "credit-card" || m.Target != s.URL+" credit-card" {
		t.Errorf("name %q target %q", m.Name, m.Target)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].Method != "GET" || reqs[0].Path != "/api/2.0/mlflow/registered-models/get" || reqs[0].query().Get("name") != "credit-card" || reqs[0].Authorization != "" {
		t.Errorf("requests %+v", reqs)
	}

	// A base URL with a path (a server behind a proxy prefix) and a
	// trailing slash.
	res, err := runSpec(t, ModelSpec{Source: SourceMLflow, MLflowURI: s.URL + "/", RegisteredModel: "credit-card", WarnAfter: "7d"}, deps)
	if err != nil || res.Version != "3" || res.Source != SourceMLflow {
		t.Errorf("trailing slash: %+v %v", res, err)
	}
	outs := map[string]string{}
	for _, o := range res.Outputs() {
		outs[o.Name] = o.Value
	}
	if outs["version"] != "3" || outs["source"] != "mlflow" {
		t.Errorf("outputs %v", outs)
	}

	_, err = runSpec(t, mlSpec(s, "empty"), deps)
	wantCode(t, err, exitcode.BadInput, `--registered-model "empty": the registered model has no version`)
}

// TestMLflowStage: --stage (in any case) asks get-latest-versions for that
// stage; the version's creation time counts, not its promotion.
func TestMLflowStage(t *testing.T) {
	t.Parallel()
	s := newMLflowServer(t)
	seedMLflow(s)
	deps, _, _ := mlDeps(s)
	spec := mlSpec(s, "credit-card")
	spec.Stage = "production"
	m := mustRun(t, spec, deps)
	if m.State != StateWarn || m.Version != "2" || m.LastUpdated != daysAgo(9).Format(time.RFC3339) || m.Item != "version 2 (Production)" || m.Target != s.URL+" credit-card (stage Production)" {
		t.Errorf("result %+v", m)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/api/2.0/mlflow/registered-models/get-latest-versions" {
		t.Fatalf("requests %+v", reqs)
	}
	var body struct {
		Name   string   `json:"name"`
		Stages []string `json:"stages"`
	}
	if err := json.Unmarshal([]byte(reqs[0].Body), &body); err != nil || body.Name != "credit-card" || len(body.Stages) != 1 || body.Stages[0] != "Production" {
		t.Errorf("body %s: %v", reqs[0].Body, err)
	}

	spec.Stage = "Staging"
	_, err := runSpec(t, spec, deps)
	wantCode(t, err, exitcode.BadInput, `--stage "Staging": registered model credit-card has no version in stage Staging`)

	spec = mlSpec(s, "gone")
	spec.Stage = "Production"
	_, err = runSpec(t, spec, deps)
	wantCode(t, err, exitcode.BadInput, `--registered-model "gone": no such registered model`, "RESOURCE_DOES_NOT_EXIST")

	spec.Stage = "Prod"
	wantCode(t, validate(Config{Model: spec, Timeout: time.Minute}), exitcode.BadInput, `--stage "Prod": want None, Staging, Production or Archived`)
}

// TestMLflowAlias: --alias reads the version it points at; a missing alias
// and a missing model are bad input, told apart.
func TestMLflowAlias(t *testing.T) {
	t.Parallel()
	s := newMLflowServer(t)
	seedMLflow(s)
	deps, _, _ := mlDeps(s)
	spec := mlSpec(s, "credit-card")
	spec.Alias = "champion"
	m := mustRun(t, spec, deps)
	if m.State != StateWarn || m.Version != "2" || m.Target != s.URL+" credit-card@champion" {
		t.Errorf("result %+v", m)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].Method != "GET" || reqs[0].Path != "/api/2.0/mlflow/registered-models/alias" || reqs[0].query().Get("alias") != "champion" || reqs[0].query().Get("name") != "credit-card" {
		t.Errorf("requests %+v", reqs)
	}

	spec.Alias = "challenger"
	res, err := runSpec(t, spec, deps)
	wantCode(t, err, exitcode.BadInput, `--alias "challenger": registered model credit-card has no such alias`, "Registered model alias challenger not found.")
	if res == nil || res.Models[0].State != StateUnknown || !res.Stale || res.AgeSeconds != nil {
		t.Errorf("result %+v", res)
	}

	spec = mlSpec(s, "gone")
	spec.Alias = "champion"
	_, err = runSpec(t, spec, deps)
	wantCode(t, err, exitcode.BadInput, `--registered-model "gone": no such registered model`)

	for _, bad := range []string{"latest", "V3", "has space"} {
		spec.Alias = bad
		wantCode(t, validate(Config{Model: spec, Timeout: time.Minute}), exitcode.BadInput, `--alias "`+bad+`": not an MLflow alias name`)
	}
}

// TestMLflowMissingModel: a model the registry does not know is state
// unknown and exit 2, as a missing object of the other sources.
func TestMLflowMissingModel(t *testing.T) {
	t.Parallel()
	s := newMLflowServer(t)
	seedMLflow(s)
	deps, _, _ := mlDeps(s)
	res, err := runSpec(t, mlSpec(s, "gone"), deps)
	wantCode(t, err, exitcode.BadInput, `--registered-model "gone": no such registered model at `+s.URL, "404 RESOURCE_DOES_NOT_EXIST: Registered Model with name=gone not found")
	if res == nil || res.State != StateUnknown || !res.Stale || res.LastUpdated != "" {
		t.Errorf("result %+v", res)
	}

	// Not an MLflow server: Flask's HTML 404, not "no such model".
	spec := mlSpec(s, "credit-card")
	spec.MLflowURI = s.URL + "/not-mlflow"
	_, err = runSpec(t, spec, deps)
	wantCode(t, err, exitcode.BadInput, "answered 404 without MLflow's error JSON: is --mlflow-uri an MLflow tracking server's base URL?")
}

// TestMLflowAuth: MLFLOW_TRACKING_TOKEN is sent as a bearer token, else
// the user name and password as basic auth; a refusal is one clear line.
func TestMLflowAuth(t *testing.T) {
	t.Parallel()
	s := newMLflowServer(t)
	seedMLflow(s)
	s.token = "dapi-secret"
	deps, _, _ := mlDeps(s)
	cfg := Config{Model: mlSpec(s, "credit-card"), Timeout: time.Minute, MLflowToken: "dapi-secret", MLflowUsername: "ignored", MLflowPassword: "ignored"}
	if _, err := runConfig(context.Background(), cfg, deps); err != nil {
		t.Fatal(err)
	}
	if r := s.Requests(); r[len(r)-1].Authorization != "Bearer dapi-secret" {
		t.Errorf("authorization %q", r[len(r)-1].Authorization)
	}

	cfg.MLflowToken = "wrong"
	_, err := runConfig(context.Background(), cfg, deps)
	wantCode(t, err, exitcode.BadInput, "reading registered model credit-card: MLflow refused the credentials (401 You are not authenticated.", "check MLFLOW_TRACKING_TOKEN")
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the token is in the error: %v", err)
	}
	cfg.MLflowToken, cfg.MLflowUsername, cfg.MLflowPassword = "", "", ""
	_, err = runConfig(context.Background(), cfg, deps)
	wantCode(t, err, exitcode.BadInput, "the server wants credentials: set MLFLOW_TRACKING_TOKEN")

	b := newMLflowServer(t)
	seedMLflow(b)
	b.user, b.pass = "ci", "p@ss:word"
	bdeps, _, _ := mlDeps(b)
	cfg = Config{Model: mlSpec(b, "credit-card"), Timeout: time.Minute, MLflowUsername: "ci", MLflowPassword: "p@ss:word"}
	if _, err := runConfig(context.Background(), cfg, bdeps); err != nil {
		t.Fatal(err)
	}
	if got := b.Requests()[0].Authorization; got != "Basic "+base64.StdEncoding.EncodeToString([]byte("ci:p@ss:word")) {
		t.Errorf("authorization %q", got)
	}
	cfg.MLflowPassword = "nope"
	_, err = runConfig(context.Background(), cfg, bdeps)
	wantCode(t, err, exitcode.BadInput, "MLflow refused the credentials (401")
}

// TestMLflowRetries: 429 and 5xx are retried with backoff (the server's
// Retry-After when it gives one), within --timeout; then exit 3.
func TestMLflowRetries(t *testing.T) {
	t.Parallel()
	s := newMLflowServer(t)
	seedMLflow(s)
	deps, sl, l := mlDeps(s)
	s.fail(503, "", 2)
	s.fail(429, "7", 1)
	m := mustRun(t, mlSpec(s, "credit-card"), deps)
	if m.Version != "3" {
		t.Errorf("result %+v", m)
	}
	if w := sl.Waits(); len(w) != 3 || w[0] != time.Second || w[1] != 2*time.Second || w[2] != 7*time.Second {
		t.Errorf("waits %v", w)
	}
	if !strings.Contains(l.text(), "reading registered model credit-card: MLflow answered 503 INTERNAL_ERROR: try again: waiting 1s before retry 1 of 4") {
		t.Errorf("log:\n%s", l.text())
	}

	s.fail(500, "", mlflowRetries+1)
	res, err := runSpec(t, mlSpec(s, "credit-card"), deps)
	wantCode(t, err, exitcode.Incomplete, "reading registered model credit-card: 500 INTERNAL_ERROR: try again (after 4 retries)")
	if res == nil || res.State != StateUnknown {
		t.Errorf("result %+v", res)
	}

	// A wait longer than what is left of --timeout is not started.
	s2 := newMLflowServer(t)
	seedMLflow(s2)
	s2.fail(503, "120", 1)
	deps2, sl2, _ := mlDeps(s2)
	_, err = runConfig(context.Background(), Config{Model: mlSpec(s2, "credit-card"), Timeout: 30 * time.Second}, deps2)
	wantCode(t, err, exitcode.Incomplete, "the next retry, in 2m0s, would be past --timeout 30s")
	if len(sl2.Waits()) != 0 {
		t.Errorf("waited %v", sl2.Waits())
	}
}

// TestMLflowBadTimestamps: a creation_timestamp that is missing, zero,
// negative or not a number leaves the model unknown, never fresh; one
// written as a string (proto3's JSON mapping of int64) is read.
func TestMLflowBadTimestamps(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ts   json.RawMessage
	}{
		{"missing", nil},
		{"zero", json.RawMessage("0")},
		{"negative", json.RawMessage("-5")},
		{"text", json.RawMessage(`"yesterday"`)},
		{"float", json.RawMessage("1.7e12")},
		{"null", json.RawMessage("null")},
		{"far future", json.RawMessage("99999999999999999")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newMLflowServer(t)
			s.addModel("m", fakeVersion{Version: "1", Created: tc.ts, LastUpdated: ms(daysAgo(1))})
			deps, _, _ := mlDeps(s)
			res, err := runSpec(t, mlSpec(s, "m"), deps)
			wantCode(t, err, exitcode.Incomplete, "registered model m version 1: MLflow gave no usable creation_timestamp", "cannot be judged")
			if res == nil || res.State != StateUnknown || !res.Stale || res.AgeSeconds != nil {
				t.Errorf("result %+v", res)
			}
		})
	}
	s := newMLflowServer(t)
	s.addModel("m", fakeVersion{Version: "1", Created: json.RawMessage(`"` + string(ms(daysAgo(3))) + `"`)})
	deps, _, _ := mlDeps(s)
	if m := mustRun(t, mlSpec(s, "m"), deps); m.LastUpdated != daysAgo(3).Format(time.RFC3339) {
		t.Errorf("string timestamp: %+v", m)
	}
}

// TestMLflowAnswerLimit: an answer larger than MaxMLflowBytes is not read.
func TestMLflowAnswerLimit(t *testing.T) {
	t.Parallel()
	s := newMLflowServer(t)
	seedMLflow(s)
	s.pad = MaxMLflowBytes
	deps, _, _ := mlDeps(s)
	_, err := runSpec(t, mlSpec(s, "credit-card"), deps)
	wantCode(t, err, exitcode.Incomplete, "reading registered model credit-card: the answer of "+s.URL+"/api/2.0/mlflow/registered-models/get is larger than")
}

// TestMLflowValidate: the mlflow source's options are checked before any
// request.
func TestMLflowValidate(t *testing.T) {
	t.Parallel()
	base := ModelSpec{Source: SourceMLflow, MLflowURI: "https://mlflow.example.com", RegisteredModel: "credit-card", WarnAfter: "7d"}
	for _, tc := range []struct {
		name string
		edit func(*ModelSpec)
		env  string
		want string
	}{
		{"no model", func(s *ModelSpec) { s.RegisteredModel = "" }, "", "--registered-model: the mlflow source needs the registered model's name"},
		{"stage and alias", func(s *ModelSpec) { s.Stage, s.Alias = "Production", "champion" }, "", `--alias "champion": give --stage or --alias, not both`},
		{"no uri", func(s *ModelSpec) { s.MLflowURI = "" }, "", "--mlflow-uri: the mlflow source needs the tracking server's URL (default MLFLOW_TRACKING_URI)"},
		{"file uri", func(s *ModelSpec) { s.MLflowURI = "" }, "file:///tmp/mlruns", `--mlflow-uri "file:///tmp/mlruns": want the tracking server's http(s):// URL`},
		{"databricks", func(s *ModelSpec) { s.MLflowURI = "databricks" }, "", "a Databricks profile is not read"},
		{"credentials", func(s *ModelSpec) { s.MLflowURI = "https://ci:secret@mlflow.example.com" }, "", "holds credentials"},
		{"other source", func(s *ModelSpec) { s.Source, s.Paths = SourceGit, []string{"x"} }, "", "--registered-model: only for --source mlflow, not git"},
		{"name line", func(s *ModelSpec) { s.RegisteredModel = "a\nb" }, "", "one line of at most 256 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := base
			tc.edit(&spec)
			wantCode(t, validate(Config{Model: spec, Timeout: time.Minute, MLflowTrackingURI: tc.env}), exitcode.BadInput, tc.want)
		})
	}
	// MLFLOW_TRACKING_URI is the default, and does not trouble other
	// sources.
	spec := base
	spec.MLflowURI = ""
	p, err := (&Config{Model: spec, Timeout: time.Minute, MLflowTrackingURI: "http://mlflow:5000/"}).Validate()
	if err != nil || p.Models()[0].mlflowURL != "http://mlflow:5000" || p.NeedsAWS() || p.NeedsGitHub() {
		t.Errorf("env default: %v", err)
	}
	if err := validate(Config{Model: gitSpec(".", "x"), Timeout: time.Minute, MLflowTrackingURI: "http://mlflow:5000"}); err != nil {
		t.Errorf("git source with MLFLOW_TRACKING_URI set: %v", err)
	}
}

// TestMLflowCommand is the step as a workflow runs it: MLFLOW_TRACKING_URI
// and the token from the environment, the token masked, the version and
// source as outputs; bad combinations are exit 2 before any request.
func TestMLflowCommand(t *testing.T) {
	t.Parallel()
	const token = "mlflow-token-0123456789SECRET"
	s := newMLflowServer(t)
	seedMLflow(s)
	s.token = token
	cmd := fakeAWS(Deps{MLflow: s.Client()})
	w := newWorkflow(t, map[string]string{
		"source":           "mlflow",
		"registered-model": "credit-card",
		"alias":            "champion",
		"error-after":      "7d",
		"fail-on":          "error",
		"timeout":          "10m0s",
	}, map[string]string{"MLFLOW_TRACKING_URI": s.URL, "MLFLOW_TRACKING_TOKEN": token})
	if code := w.run(cmd); code != 1 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, &w.stdout, &w.stderr)
	}
	out := w.Outputs(t)
	if out["source"] != "mlflow" || out["version"] != "2" || out["state"] != "error" || out["last-updated"] != daysAgo(9).Format(time.RFC3339) {
		t.Errorf("outputs %v", out)
	}
	if !strings.Contains(w.stdout.String(), "::add-mask::"+token) || strings.Count(w.stdout.String(), token) != 1 {
		t.Errorf("the token is not masked once, or printed elsewhere:\n%s", &w.stdout)
	}
	if !strings.Contains(w.SummaryText(t), "| credit-card | mlflow "+s.URL+" credit-card&#64;champion | "+daysAgo(9).Format(time.RFC3339)+" version 2 (Production) |") {
		t.Errorf("summary:\n%s", w.SummaryText(t))
	}

	// Basic auth: the password is masked too.
	b := newMLflowServer(t)
	seedMLflow(b)
	b.user, b.pass = "ci", "basic-password-SECRET"
	wb := newWorkflow(t, map[string]string{"source": "mlflow", "mlflow-uri": b.URL, "registered-model": "credit-card", "warn-after": "7d"},
		map[string]string{"MLFLOW_TRACKING_USERNAME": "ci", "MLFLOW_TRACKING_PASSWORD": b.pass})
	if code := wb.run(fakeAWS(Deps{MLflow: b.Client()})); code != 0 {
		t.Fatalf("basic auth: exit %d\n%s%s", code, &wb.stdout, &wb.stderr)
	}
	if !strings.Contains(wb.stdout.String(), "::add-mask::"+b.pass) || strings.Count(wb.stdout.String(), b.pass) != 1 || wb.Outputs(t)["version"] != "3" {
		t.Errorf("basic auth: the password is not masked once, or the run failed:\n%s", &wb.stdout)
	}

	before := len(s.Requests())
	for _, tc := range []struct {
		inputs map[string]string
		want   string
	}{
		{map[string]string{"source": "mlflow", "registered-model": "credit-card", "stage": "Production", "alias": "champion", "warn-after": "7d"}, `--alias "champion": give --stage or --alias, not both`},
		{map[string]string{"source": "mlflow", "warn-after": "7d"}, "--registered-model: the mlflow source needs the registered model's name"},
	} {
		w := newWorkflow(t, tc.inputs, map[string]string{"MLFLOW_TRACKING_URI": s.URL})
		if code := w.run(cmd); code != 2 || strings.Count(w.stdout.String(), "::error::") != 1 || !strings.Contains(w.stdout.String(), "::error::model-staleness: "+tc.want) {
			t.Errorf("%v: exit %d, stdout %q", tc.inputs, code, &w.stdout)
		}
	}
	if n := len(s.Requests()) - before; n != 0 {
		t.Errorf("%d requests before the input was checked", n)
	}
}

// TestMLflowConfigFile: models of the mlflow source in --config, with the
// same keys as the flags (mlflow-uri in defaults, stage and alias per
// model).
func TestMLflowConfigFile(t *testing.T) {
	t.Parallel()
	s := newMLflowServer(t)
	seedMLflow(s)
	s.addModel("churn", fakeVersion{Version: "12", Created: ms(daysAgo(20)), Stage: "Staging"})
	models := `
defaults:
  source: mlflow
  mlflow-uri: ` + s.URL + `
  warn-after: 7d
  error-after: 14d
models:
  - name: credit-production
    registered-model: credit-card
    stage: Production
  - name: credit-champion
    registered-model: credit-card
    alias: champion
  - name: churn
    registered-model: churn
`
	bad := writeFile(t, t.TempDir(), "bad.yaml", models+"  - {name: both, registered-model: churn, stage: staging, alias: champion}\n")
	wantCode(t, validate(Config{ConfigFile: bad, Timeout: time.Minute}), exitcode.BadInput, `model "both": alias "champion": give --stage or --alias, not both`)

	file := writeFile(t, t.TempDir(), "models.yaml", models)
	deps, _, _ := mlDeps(s)
	res, err := runConfig(context.Background(), Config{ConfigFile: file, Timeout: time.Minute}, deps)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range res.Models {
		got[m.Name] = m.State + " v" + m.Version
	}
	if got["credit-production"] != "warn v2" || got["credit-champion"] != "warn v2" || got["churn"] != "error v12" || len(got) != 3 {
		t.Errorf("models %v", got)
	}
	if res.Model != "churn" || res.Version != "12" || res.Source != SourceMLflow {
		t.Errorf("worst %+v", res)
	}
}

// TestMLflowUnreachable: a server that cannot be reached is retried like
// a 5xx, and the log says it was not reached, not that it answered.
func TestMLflowUnreachable(t *testing.T) {
	t.Parallel()
	s := newMLflowServer(t)
	deps, sl, l := mlDeps(s)
	s.Close()
	_, err := runSpec(t, mlSpec(s, "credit-card"), deps)
	wantCode(t, err, exitcode.Incomplete, "(after 4 retries)")
	if len(sl.Waits()) != mlflowRetries {
		t.Errorf("waits %v, want %d", sl.Waits(), mlflowRetries)
	}
	if !strings.Contains(l.text(), "reading registered model credit-card: could not reach MLflow") || strings.Contains(l.text(), "MLflow answered") {
		t.Errorf("log:\n%s", l.text())
	}
}
