package modelstaleness

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/command"
)

// workflow is a GitHub Actions step for the command: the shared fake
// environment, every action input given as INPUT_ (empty when not set, as
// action.yml maps them all), and the streams.
type workflow struct {
	*actiontest.Workflow
	stdout, stderr bytes.Buffer
}

func newWorkflow(t *testing.T, inputs map[string]string, env map[string]string) *workflow {
	t.Helper()
	all := map[string]string{}
	for _, f := range Command().Flags {
		all[command.InputEnv(f.Names()[0])] = ""
	}
	for k, v := range inputs {
		if _, ok := all[command.InputEnv(k)]; !ok {
			t.Fatalf("no input %q", k)
		}
		all[command.InputEnv(k)] = v
	}
	for k, v := range env {
		all[k] = v
	}
	return &workflow{Workflow: actiontest.NewWorkflow(t, all)}
}

func (w *workflow) run(cmd *command.Command, args ...string) int {
	w.stdout.Reset()
	w.stderr.Reset()
	return cmd.Main(append([]string{Name}, args...), command.Env{
		Stdin: strings.NewReader(""), Stdout: &w.stdout, Stderr: &w.stderr, Getenv: w.Getenv,
	})
}

// fakeAWS is the command with the AWS clients replaced and the tests'
// clock.
func fakeAWS(deps Deps) *command.Command {
	return newCommand(func(context.Context, *Plan) (Deps, error) {
		deps.Now = fixedNow
		return deps, nil
	})
}

// TestSeedMonitoringStage is the credit-card pipeline's monitoring stage:
// without a checkout, the GitHub API gives the notebook's last commit; older
// than 7 days it is stale, an email goes out and an issue is opened, and
// `stale` is exported. A second run of the same state sends nothing.
func TestSeedMonitoringStage(t *testing.T) {
	t.Parallel()
	const token = "ghs_0123456789abcdefTOKEN"
	g := newGitHubServer(t, "")
	g.token = token
	g.addCommits("my-org/credit-model", "main",
		ghCommit{SHA: sha(1), Date: daysAgo(30), Author: "Jane", Login: "jane", Message: "Notebook", Paths: []string{"credit_card_approval.ipynb"}},
		ghCommit{SHA: sha(2), Date: daysAgo(9), Author: "Jane", Login: "jane", Message: "Retrain", Paths: []string{"credit_card_approval.ipynb"}},
		ghCommit{SHA: sha(3), Date: daysAgo(1), Author: "Sam", Login: "sam", Message: "Docs", Paths: []string{"README.md"}},
	)
	ses := newSESFake("example.com")
	cmd := fakeAWS(Deps{SES: ses})
	w := newWorkflow(t, map[string]string{
		"source":      "github",
		"repository":  "my-org/credit-model",
		"path":        "credit_card_approval.ipynb",
		"error-after": "7d",
		"issue":       "true",
		"email-to":    "ml-team@example.com\noncall@example.com\n",
		"email-from":  "Model monitor <monitor@example.com>",
		"fail-on":     "never",
		"dry-run":     "false",
		"timeout":     "10m0s",
	}, map[string]string{
		"GITHUB_TOKEN":      token,
		"GITHUB_API_URL":    g.URL,
		"GITHUB_REPOSITORY": "my-org/credit-model",
		"GITHUB_SERVER_URL": "https://github.com",
		"GITHUB_RUN_ID":     "42",
	})
	if code := w.run(cmd); code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, &w.stdout, &w.stderr)
	}
	out := w.Outputs(t)
	want := map[string]string{
		"stale":        "true",
		"state":        "error",
		"age-seconds":  "777600",
		"age-human":    "9d",
		"last-updated": daysAgo(9).Format("2006-01-02T15:04:05Z"),
		"source":       "github",
		"commit":       sha(2),
		"version":      "",
		"notified":     "email sent, issue my-org/credit-model#1 opened",
	}
	for k, v := range want {
		if out[k] != v {
			t.Errorf("output %s = %q, want %q", k, out[k], v)
		}
	}
	var models []ModelResult
	if err := json.Unmarshal([]byte(out["models"]), &models); err != nil || len(models) != 1 || models[0].Name != "credit_card_approval.ipynb" {
		t.Errorf("models output %s: %v", out["models"], err)
	}
	if len(out) != len(want)+1 {
		t.Errorf("outputs %v", out)
	}

	sent := ses.Sent()
	if len(sent) != 1 || strings.Join(sent[0].Destination.ToAddresses, ",") != "ml-team@example.com,oncall@example.com" ||
		!strings.Contains(aws.ToString(sent[0].Content.Simple.Body.Text.Data), "Checked by https://github.com/my-org/credit-model/actions/runs/42") {
		t.Errorf("emails %+v", sent)
	}
	issues := openIssues(g, "my-org/credit-model")
	if len(issues) != 1 || issues[0].Title != "Model credit_card_approval.ipynb is stale" {
		t.Errorf("issues %+v", issues)
	}
	summary := w.SummaryText(t)
	for _, s := range []string{"### Model staleness", "| Model | Source | Last updated | Age | State | Notified |",
		"| credit\\_card\\_approval.ipynb | github my-org/credit-model: credit\\_card\\_approval.ipynb | " + daysAgo(9).Format("2006-01-02T15:04:05Z") + " [`000000000000`](https://github.com/my-org/credit-model/commit/" + sha(2) + ") | 9d | ❌ error (error after 7d) | email sent, issue my-org/credit-model\\#1 opened |"} {
		if !strings.Contains(summary, s) {
			t.Errorf("summary lacks %q:\n%s", s, summary)
		}
	}
	if !strings.Contains(w.stdout.String(), "::add-mask::"+token) || strings.Count(w.stdout.String(), token) != 1 {
		t.Errorf("the token is not masked once, or printed elsewhere:\n%s", &w.stdout)
	}
	if !strings.Contains(w.stdout.String(), "::warning::model credit_card_approval.ipynb is stale (error)") {
		t.Errorf("no warning annotation:\n%s", &w.stdout)
	}

	// The next scheduled run: the same state, nothing sent again.
	w2 := newWorkflow(t, map[string]string{"source": "github", "repository": "my-org/credit-model", "path": "credit_card_approval.ipynb", "error-after": "7d", "issue": "true", "email-to": "ml-team@example.com\noncall@example.com", "email-from": "Model monitor <monitor@example.com>"}, map[string]string{"GITHUB_TOKEN": token, "GITHUB_API_URL": g.URL, "GITHUB_REPOSITORY": "my-org/credit-model"})
	if code := w2.run(cmd); code != 0 {
		t.Fatalf("second run: exit %d\n%s%s", code, &w2.stdout, &w2.stderr)
	}
	if out := w2.Outputs(t); out["notified"] != "" || out["stale"] != "true" || len(ses.Sent()) != 1 || len(g.Issues("my-org/credit-model")) != 1 {
		t.Errorf("second run: notified %q, %d emails, %d issues", out["notified"], len(ses.Sent()), len(g.Issues("my-org/credit-model")))
	}

	// With fail-on: error the stale model fails the step, with one error.
	w3 := newWorkflow(t, map[string]string{"source": "github", "repository": "my-org/credit-model", "path": "credit_card_approval.ipynb", "error-after": "7d", "fail-on": "error"}, map[string]string{"GITHUB_TOKEN": token, "GITHUB_API_URL": g.URL})
	if code := w3.run(cmd); code != 1 {
		t.Fatalf("fail-on error: exit %d", code)
	}
	if n := strings.Count(w3.stdout.String(), "::error::"); n != 1 || !strings.Contains(w3.stdout.String(), "::error::model-staleness: model credit_card_approval.ipynb is stale (error): last updated") {
		t.Errorf("stdout:\n%s", &w3.stdout)
	}
	if w3.Outputs(t)["stale"] != "true" {
		t.Errorf("outputs not written on failure")
	}
}

// TestScheduledCheckOnCheckout is the weekly check on a checkout
// (fetch-depth: 0): the git history of the notebook and the model folder,
// bots ignored, an issue opened when stale. A shallow checkout fails with
// one line saying to fetch the whole history.
func TestScheduledCheckOnCheckout(t *testing.T) {
	t.Parallel()
	origin := newRepo(t)
	origin.commit(daysAgo(40), "", "init", map[string]string{nb: "v1", "models/credit/model.pkl": "w1", "README.md": "r"})
	human := origin.commit(daysAgo(12), "::error::forged <jane@example.com>", "::warning::forged too\n::set-output name=stale::false", map[string]string{"models/credit/model.pkl": "w2"})
	origin.commit(daysAgo(3), "dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>", "Bump deps", map[string]string{nb: "v2"})
	origin.commit(daysAgo(1), "", "docs", map[string]string{"README.md": "s"})
	checkout := filepath.Join(t.TempDir(), "checkout")
	origin.git("clone", "-q", "file://"+origin.dir, checkout)

	g := newGitHubServer(t, "")
	env := map[string]string{"GITHUB_TOKEN": "ghs_x", "GITHUB_API_URL": g.URL, "GITHUB_REPOSITORY": "my-org/credit-model"}
	g.set(func(g *githubServer) { g.repo("my-org/credit-model") })
	inputs := map[string]string{
		"directory":     checkout,
		"path":          nb + "\nmodels/**/*.pkl\n",
		"ignore-author": "dependabot[bot]",
		"warn-after":    "7d",
		"error-after":   "14d",
		"issue":         "true",
		"issue-labels":  "model-staleness",
		"model":         "credit-card",
	}
	w := newWorkflow(t, inputs, env)
	if code := w.run(fakeAWS(Deps{})); code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, &w.stdout, &w.stderr)
	}
	out := w.Outputs(t)
	if out["stale"] != "true" || out["state"] != "warn" || out["commit"] != human || out["source"] != "git" || out["age-human"] != "12d" || out["notified"] != "issue my-org/credit-model#1 opened" {
		t.Errorf("outputs %v", out)
	}
	if is := openIssues(g, "my-org/credit-model"); len(is) != 1 || is[0].Title != "Model credit-card is stale" || is[0].Labels[0] != "model-staleness" {
		t.Errorf("issues %+v", is)
	}
	if !strings.Contains(w.SummaryText(t), "| credit-card | git ") {
		t.Errorf("summary:\n%s", w.SummaryText(t))
	}
	// The commit's author and message are text from outside: printed, never
	// taken for workflow commands.
	for _, c := range actiontest.Commands(w.stdout.String()) {
		if strings.Contains(c, "forged") || strings.Contains(c, "set-output") {
			t.Errorf("text from a commit became a workflow command: %s", c)
		}
	}
	if !strings.Contains(w.stdout.String(), "(error::forged)") { // git drops the leading "::" of a name
		t.Errorf("the author is not in the log:\n%s", &w.stdout)
	}

	// The default actions/checkout: one commit deep.
	shallow := filepath.Join(t.TempDir(), "shallow")
	origin.git("clone", "-q", "--depth", "1", "file://"+origin.dir, shallow)
	inputs["directory"] = shallow
	w = newWorkflow(t, inputs, env)
	if code := w.run(fakeAWS(Deps{})); code != 2 {
		t.Fatalf("shallow: exit %d\n%s%s", code, &w.stdout, &w.stderr)
	}
	if lines := strings.Count(w.stdout.String(), "::error::"); lines != 1 || !strings.Contains(w.stdout.String(), "fetch-depth: 0") {
		t.Errorf("stdout:\n%s", &w.stdout)
	}
	if out := w.Outputs(t); out["state"] != "unknown" || out["last-updated"] != "" || out["stale"] != "true" {
		t.Errorf("shallow outputs %v", out)
	}
}

// TestConfigRun: several models in one run through the command, one
// summary table, the worst state deciding; --json in camelCase.
func TestConfigRun(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit(daysAgo(2), "", "retrain", map[string]string{nb: "v1"})
	g := newGitHubServer(t, "")
	seedRepo(g)
	s := newS3Server(t, "models")
	s.put(t, "models", "retail/model.onnx", daysAgo(20))
	file := writeFile(t, t.TempDir(), "models.yaml", `
models:
  - name: credit-card
    directory: `+r.dir+`
    path: `+nb+`
  - name: credit-api
    source: github
    repository: my-org/credit-model
    path: `+nb+`
  - name: retail
    source: s3
    s3-uri: s3://models/retail/model.onnx
    error-after: 14d
`)
	cmd := fakeAWS(Deps{S3: s.client})
	w := newWorkflow(t, map[string]string{"config": file, "warn-after": "7d", "fail-on": "warn"}, map[string]string{"GITHUB_API_URL": g.URL})
	if code := w.run(cmd); code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, &w.stdout, &w.stderr)
	}
	out := w.Outputs(t)
	if out["state"] != "error" || out["source"] != "s3" || out["last-updated"] != daysAgo(20).Format("2006-01-02T15:04:05Z") {
		t.Errorf("outputs %v", out)
	}
	summary := w.SummaryText(t)
	for _, s := range []string{"| credit-card | git ", "✅ fresh", "| credit-api | github ", "⚠️ warn", "| retail | s3 s3://models/retail/model.onnx", "❌ error (warn after 7d, error after 14d)"} {
		if !strings.Contains(summary, s) {
			t.Errorf("summary lacks %q:\n%s", s, summary)
		}
	}
	if !strings.Contains(w.stdout.String(), "model credit-api: model credit-api is stale (warn)") || !strings.Contains(w.stdout.String(), "model retail: model retail is stale (error)") {
		t.Errorf("the error does not name both stale models:\n%s", &w.stdout)
	}

	// Locally with --json: camelCase keys, the worst model on top.
	local := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := cmd.Main(append([]string{Name}, args...), command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
		return code, stdout.String(), stderr.String()
	}
	two := writeFile(t, t.TempDir(), "models.yaml", "models:\n  - {name: credit-card, directory: "+r.dir+", path: "+nb+", warn-after: 7d}\n  - {name: retail, source: s3, s3-uri: s3://models/retail/model.onnx, error-after: 14d}\n")
	code, stdout, stderr := local("--config", two, "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	if res["state"] != "error" || res["stale"] != true || res["model"] != "retail" || res["ageSeconds"] != float64(20*24*3600) || res["lastUpdated"] != daysAgo(20).Format("2006-01-02T15:04:05Z") {
		t.Errorf("json %s", stdout)
	}
	first := res["models"].([]any)[0].(map[string]any)
	for _, k := range []string{"lastUpdated", "ageSeconds", "ageHuman", "warnAfter", "commit", "notified"} {
		if _, ok := first[k]; !ok {
			t.Errorf("model JSON lacks %s: %v", k, first)
		}
	}

	// A model that cannot be judged: exit 2, one error line and no partial
	// result.
	bad := writeFile(t, t.TempDir(), "models.yaml", "models:\n  - {name: credit-card, directory: "+r.dir+", path: "+nb+", warn-after: 7d}\n  - {name: gone, source: s3, s3-uri: s3://models/gone.onnx, warn-after: 7d}\n")
	code, stdout, stderr = local("--config", bad, "--json")
	if code != 2 || stdout != "" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	if !strings.Contains(stderr, "\nmodel-staleness: model gone: s3-uri \"s3://models/gone.onnx\": no such object") || strings.Count(stderr, "model-staleness: ") != 1 {
		t.Errorf("stderr: %s", stderr)
	}
}

// TestBadInputFirst: bad input is exit 2 with one line, before any request.
func TestBadInputFirst(t *testing.T) {
	t.Parallel()
	g := newGitHubServer(t, "")
	seedRepo(g)
	ses := newSESFake("example.com")
	for _, args := range [][]string{
		{"--source", "github", "--repository", "my-org/credit-model", "--path", nb, "--warn-after", "7x", "--issue"},
		{"--source", "gitlab", "--path", nb, "--warn-after", "7d"},
		{"--source", "github", "--repository", "my-org/credit-model", "--path", nb, "--warn-after", "2w", "--error-after", "7d"},
		{"--source", "github", "--repository", "my-org/credit-model", "--path", nb, "--warn-after", "7d", "--email-to", "a@example.com", "--email-from", "m@example.com", "--email-body", "{{.Age"},
		{"--path", nb, "--warn-after", "7d", "stray-argument"},
	} {
		var stdout, stderr bytes.Buffer
		env := map[string]string{"GITHUB_API_URL": g.URL, "GITHUB_REPOSITORY": "my-org/credit-model"}
		code := fakeAWS(Deps{SES: ses}).Main(append([]string{Name}, args...), command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }})
		if code != 2 || strings.Count(stderr.String(), "\n") != 1 || !strings.HasPrefix(stderr.String(), "model-staleness: ") {
			t.Errorf("%v: exit %d, stderr %q", args, code, &stderr)
		}
	}
	if n := len(g.Requests("")); n != 0 || len(ses.Sent()) != 0 {
		t.Errorf("%d requests before the input was checked", n)
	}
}

// TestHelp lists, beside each source's flags, which source they serve.
func TestHelp(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := Command().Main([]string{Name, "--help"}, command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}); code != 0 {
		t.Fatalf("exit %d: %s", code, &stderr)
	}
	for _, s := range []string{"--path value", "git, github: a file or folder", "--s3-uri value", "s3: s3://bucket/key", "--image REPO:TAG", "ecr: the image", "--parameter NAME", "ssm:", "--approved-only", "sagemaker: only Approved", "--state-file FILE"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("help lacks %q", s)
		}
	}
}
