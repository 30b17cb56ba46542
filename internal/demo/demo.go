package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/mlship/mlship/internal/lambdafake"
	"github.com/mlship/mlship/internal/trivytest"
)

// The run the demo plays: what GITHUB_RUN_ID and GITHUB_RUN_NUMBER say.
const (
	runID     = "4242"
	runNumber = "42"
)

// tools are the binaries the demo runs, from `make build`.
var tools = []string{"ecr-push", "image-scan", "metrics-export", "policy-gate", "lambda-deploy", "health-rollback", "model-staleness"}

// options say where the demo finds what it needs.
type options struct {
	bin  string // directory of the tool binaries
	repo string // the checkout: fixtures under testdata/demo, the git history
	dir  string // the demo's own files (emptied first)
	out  io.Writer
}

// Step is one line of the report: a step of the pipeline, the tool runs it
// took, what they did and gave.
type Step struct {
	ID       string
	Title    string
	Did      []string // what happened, one line each
	Runs     []*stepRun
	Duration time.Duration
}

// Report is what the demo did.
type Report struct {
	Steps      []*Step
	Total      time.Duration
	Processes  int               // tool processes started
	AllStopped bool              // every one of them has exited
	Servers    int               // servers started, all closed at the end
	Services   map[string]string // name -> URL of each server
}

// Step returns the step with the ID, or nil.
func (r *Report) Step(id string) *Step {
	for _, s := range r.Steps {
		if s.ID == id {
			return s
		}
	}
	return nil
}

type demo struct {
	opt    options
	work   string
	svc    *services
	r      *runner
	report *Report

	image    string // digest of the image pushed
	previous string // digest of the image the live version runs before
	good     string // metrics file of the model that passes
	bad      string // metrics file of the model that does not
	deployed *stepRun
}

// run plays the pipeline and prints what happens and the report. The
// report is returned also when a step did not go as it should (the error
// says which).
func run(ctx context.Context, opt options) (*Report, error) {
	start := time.Now()
	d := &demo{opt: opt, report: &Report{}}
	for _, t := range tools {
		if _, err := os.Stat(filepath.Join(opt.bin, t)); err != nil {
			return nil, fmt.Errorf("%s: the demo runs the tools built by `make build`: %w", filepath.Join(opt.bin, t), err)
		}
	}
	if err := d.prepareDir(); err != nil {
		return nil, err
	}
	d.intro()
	err := d.services(ctx)
	steps := []func(context.Context) error{d.push, d.scan, d.metrics, d.gate, d.deploy, d.deployBroken, d.health, d.staleness}
	for _, step := range steps {
		if err != nil {
			break
		}
		err = step(ctx)
	}
	if d.svc != nil {
		d.svc.Close()
		d.report.Servers = len(d.svc.servers)
	}
	d.report.Total = time.Since(start)
	d.report.AllStopped = true
	if d.r != nil {
		d.report.Processes, d.report.AllStopped = d.r.stopped()
	}
	d.print(err)
	return d.report, err
}

// prepareDir empties the demo's directory, refusing one that holds
// anything but an earlier demo's files.
func (d *demo) prepareDir() error {
	dir, err := filepath.Abs(d.opt.dir)
	if err != nil {
		return err
	}
	marker := filepath.Join(dir, ".mlship-demo")
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case len(entries) > 0:
		if _, err := os.Stat(marker); err != nil {
			return fmt.Errorf("-dir %s: not empty and not an earlier demo's directory; give an empty or new one", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	d.work = dir
	return os.WriteFile(marker, []byte("files of `make demo`, replaced by the next run\n"), 0o644)
}

func (d *demo) path(parts ...string) string {
	return filepath.Join(append([]string{d.work}, parts...)...)
}

func (d *demo) fixture(parts ...string) string {
	return filepath.Join(append([]string{d.opt.repo, "testdata", "demo"}, parts...)...)
}

func (d *demo) printf(format string, args ...any) { fmt.Fprintf(d.opt.out, format, args...) }

func (d *demo) intro() {
	d.printf(`mlship demo: pipeline 1 of the design, the credit-card approval model on
Lambda, end to end on this machine. Each step runs a tool built by
"make build" as a workflow step runs it (inputs as INPUT_* variables, the
outputs read back from its GITHUB_OUTPUT file), and the next step takes
those outputs. No AWS account and no Docker engine: ECR, S3 and Lambda are
local stand-ins, started below.

`)
}

// begin starts a step of the report.
func (d *demo) begin(id, title string) *Step {
	s := &Step{ID: id, Title: title}
	d.report.Steps = append(d.report.Steps, s)
	d.printf("\n== %s. %s\n", id, title)
	return s
}

// tool runs a tool as a step of s and checks its exit code.
func (d *demo) tool(ctx context.Context, s *Step, want int, tool string, inputs ...kv) (*stepRun, error) {
	res, err := d.r.run(ctx, tool, inputs...)
	if res != nil {
		s.Runs = append(s.Runs, res)
		s.Duration += res.Duration
	}
	if err != nil {
		return res, err
	}
	if res.Code != want {
		return res, fmt.Errorf("step %s: %s exited %d, want %d", s.ID, tool, res.Code, want)
	}
	d.printf("  → exit %d in %s; %d outputs read back from its GITHUB_OUTPUT: %s\n", res.Code, round(res.Duration), len(res.Outputs), strings.Join(slices.Sorted(maps.Keys(res.Outputs)), ", "))
	if err := d.appendSummary(tool, res.Summary); err != nil {
		return res, err
	}
	return res, nil
}

func (s *Step) did(format string, args ...any) {
	s.Did = append(s.Did, fmt.Sprintf(format, args...))
}

// appendSummary adds a step's summary to the job summary page the demo
// keeps, as the runner shows the steps' summaries one after the other.
func (d *demo) appendSummary(tool, summary string) error {
	if strings.TrimSpace(summary) == "" {
		return nil
	}
	f, err := os.OpenFile(d.path("job-summary.md"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "<!-- %s -->\n%s\n", tool, summary)
	return errors.Join(err, f.Close())
}

// ---- 1. the stand-ins ----

func (d *demo) services(ctx context.Context) error {
	start := time.Now()
	s := d.begin("1", "Local services on loopback, and the state before this run")
	svc, err := startServices()
	if err != nil {
		return err
	}
	d.svc = svc
	d.report.Services = map[string]string{
		"registry": svc.regURL, "ECR API": svc.ecrURL, "S3": svc.s3URL, "Lambda API": svc.lambdaURL,
		"AWS guard": svc.guardURL, "health endpoint": svc.health.URL,
	}
	if err := svc.writeDockerConfig(d.path("docker")); err != nil {
		return err
	}
	if err := os.MkdirAll(d.path("runner-temp"), 0o755); err != nil {
		return err
	}
	d.r = &runner{bin: d.opt.bin, repo: d.opt.repo, work: d.work, out: d.opt.out, env: d.environment()}
	d.printf("  OCI registry        %s  go-containerregistry's registry, with ECR's rules (internal/ecrfake)\n", svc.regURL)
	d.printf("  ECR API             %s  a stand-in (internal/ecrfake), AWS_ENDPOINT_URL_ECR\n", svc.ecrURL)
	d.printf("  S3                  %s  gofakes3, in memory, AWS_ENDPOINT_URL_S3\n", svc.s3URL)
	d.printf("  Lambda API          %s  A STAND-IN, NOT AWS LAMBDA (internal/lambdafake), AWS_ENDPOINT_URL_LAMBDA\n", svc.lambdaURL)
	d.printf("                      It keeps functions, versions and aliases in memory, with Lambda's update\n")
	d.printf("                      delays, conflicts and errors, and runs an image by loading its\n")
	d.printf("                      /%s and scoring the event in Go. The same lambda-deploy flags\n", modelPath)
	d.printf("                      work against LocalStack: AWS_ENDPOINT_URL=http://localhost:4566.\n")
	d.printf("  other AWS services  %s  refused (AWS_ENDPOINT_URL): nothing reaches AWS\n", svc.guardURL)

	// The previous release: the repository, its image, the function
	// running it behind the alias.
	if _, err := svc.ecr.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName:             aws.String(repository),
		ImageTagMutability:         ecrtypes.ImageTagMutabilityImmutable,
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true},
	}); err != nil {
		return err
	}
	prev, err := buildImage(d.fixture("image"), d.fixture("previous"))
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(svc.regHost+"/"+repository+":4241", name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.Write(ref, prev, remote.WithContext(ctx), remote.WithAuth(svc.pullAuth())); err != nil {
		return fmt.Errorf("pushing the previous release's image: %w", err)
	}
	dig, err := prev.Digest()
	if err != nil {
		return err
	}
	d.previous = dig.String()
	svc.lambda.AddFunction(lambdafake.FunctionSpec{
		Name:     function,
		ImageURI: svc.ecr.Host() + "/" + repository + "@" + d.previous,
		Env:      map[string]string{"LOG_LEVEL": "info", "FEATURE_STORE_URL": "https://features.internal.example"},
		Handler:  svc.runtime.handler,
	})
	v, err := svc.lambda.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(function), Description: aws.String("model 2026.02.1")})
	if err != nil {
		return err
	}
	if _, err := svc.lambda.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(function), Name: aws.String(alias), FunctionVersion: v.Version}); err != nil {
		return err
	}
	d.printf("\n  Before this run (the previous release, set up in the stand-ins):\n")
	d.printf("    ECR repository %s (IMMUTABLE, scan on push), image 4241 = %s (model 2026.02.1)\n", repository, short(d.previous))
	d.printf("    Lambda function %s, version %s runs it, alias %s -> %s\n", function, aws.ToString(v.Version), alias, aws.ToString(v.Version))
	s.did("registry, ECR API, S3 and Lambda API stand-ins on loopback")
	s.did("previous release: image 4241, version 1 behind alias live")
	s.Duration = time.Since(start)
	return nil
}

// environment is what every step runs in: this machine's environment
// without anything AWS, GitHub, Docker or Trivy of the user's, and the
// demo's stand-ins and workflow files.
func (d *demo) environment() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "AWS_"), strings.HasPrefix(k, "GITHUB_"), strings.HasPrefix(k, "INPUT_"),
			strings.HasPrefix(k, "RUNNER_"), strings.HasPrefix(k, "ACTIONS_"), strings.HasPrefix(k, "TRIVY_"),
			strings.HasPrefix(k, "DOCKER_"), k == "CI":
			continue
		}
		env = append(env, kv)
	}
	sha := "0000000000000000000000000000000000000000"
	if out, err := exec.Command("git", "-C", d.opt.repo, "rev-parse", "HEAD").Output(); err == nil {
		sha = strings.TrimSpace(string(out))
	}
	return append(env,
		"GITHUB_ACTIONS=true",
		"GITHUB_RUN_ID="+runID,
		"GITHUB_RUN_NUMBER="+runNumber,
		"GITHUB_RUN_ATTEMPT=1",
		"GITHUB_SHA="+sha,
		"GITHUB_REF_NAME=main",
		"GITHUB_REPOSITORY=mlship/mlship",
		"GITHUB_WORKSPACE="+d.opt.repo,
		"RUNNER_TEMP="+d.path("runner-temp"),
		"AWS_REGION="+region,
		"AWS_ACCESS_KEY_ID=mlship-demo",
		"AWS_SECRET_ACCESS_KEY=mlship-demo",
		"AWS_CONFIG_FILE="+d.path("aws", "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+d.path("aws", "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL="+d.svc.guardURL,
		"AWS_ENDPOINT_URL_ECR="+d.svc.ecrURL,
		"AWS_ENDPOINT_URL_S3="+d.svc.s3URL,
		"AWS_ENDPOINT_URL_LAMBDA="+d.svc.lambdaURL,
		"DOCKER_CONFIG="+d.path("docker"),
	)
}

// ---- 2. build and push ----

func (d *demo) push(ctx context.Context) error {
	s := d.begin("2", "Build the inference image from testdata/demo/image and push it (ecr-push)")
	img, err := buildImage(d.fixture("image"))
	if err != nil {
		return err
	}
	dig, err := img.Digest()
	if err != nil {
		return err
	}
	layout := d.path("build", "image")
	if err := trivytest.WriteOCILayout(layout, img, runID); err != nil {
		return err
	}
	d.printf("  built %s: an OCI layout of one layer (Alpine 3.21 files and the model), %s\n", d.rel(layout), short(dig.String()))
	before := d.ecrCalls()
	res, err := d.tool(ctx, s, 0, "ecr-push",
		kv{"repository", repository},
		kv{"oci-layout", layout},
		kv{"tag", "{run_id}"},
		kv{"create-repository", "true"},
		kv{"scan-on-push", "true"},
		kv{"tag-mutability", "IMMUTABLE"},
	)
	if err != nil {
		return err
	}
	d.printf("  the ECR API stand-in answered %s\n", countsSince(before, d.ecrCalls()))
	d.image = res.Outputs["image-digest"]
	if d.image != dig.String() {
		return fmt.Errorf("step 2: ecr-push reported digest %s, the image built is %s", d.image, dig)
	}
	if got, ok := d.svc.ecr.TagDigest(repository, runID); !ok || got != d.image {
		return fmt.Errorf("step 2: ECR has %s:%s at %q, want %s", repository, runID, got, d.image)
	}
	s.did("pushed %s:%s, digest %s (%s bytes)", repository, res.Outputs["tags"], short(d.image), res.Outputs["pushed-bytes"])
	return nil
}

// ---- 3. scan ----

func (d *demo) scan(ctx context.Context) error {
	s := d.begin("3", "Scan the pushed image with the Trivy built into image-scan (image-scan)")
	cache := d.path("trivy-cache")
	if err := trivytest.WriteDB(cache, trivytest.AlpineFixture); err != nil {
		return err
	}
	d.printf("  built a vulnerability database in %s (internal/trivytest: Alpine 3.21 advisories)\n", d.rel(cache))
	sarif := d.path("reports", "image-scan.sarif")
	if err := os.MkdirAll(filepath.Dir(sarif), 0o755); err != nil {
		return err
	}
	res, err := d.tool(ctx, s, 0, "image-scan",
		kv{"image", d.r.last("ecr-push")["image-ref"]},
		kv{"fail-on", "CRITICAL"},
		kv{"cache-dir", cache},
		kv{"skip-db-update", "true"},
		kv{"sarif-file", sarif},
		kv{"json-file", d.path("reports", "image-scan.json")},
		kv{"summary-file", d.path("reports", "image-scan-summary.json")},
	)
	if err != nil {
		return err
	}
	var doc struct {
		Runs []json.RawMessage `json:"runs"`
	}
	b, err := os.ReadFile(sarif)
	if err == nil {
		err = json.Unmarshal(b, &doc)
	}
	if err != nil || len(doc.Runs) == 0 {
		return fmt.Errorf("step 3: the SARIF report %s: %v (%d runs)", sarif, err, len(doc.Runs))
	}
	o := res.Outputs
	s.did("%s findings: critical %s, high %s, medium %s, low %s, unknown %s; passed %s (fail-on CRITICAL)", o["total"], o["critical"], o["high"], o["medium"], o["low"], o["unknown"], o["passed"])
	s.did("SARIF %s", d.rel(sarif))
	return nil
}

// ---- 4. metrics ----

func (d *demo) metrics(ctx context.Context) error {
	s := d.begin("4", "Export the model tests' metrics and upload model_metrics.html to S3 (metrics-export)")
	d.printf("  the model tests of two candidate models wrote testdata/demo/model-good.env and model-bad.env\n")
	res, err := d.tool(ctx, s, 0, "metrics-export",
		kv{"file", d.fixture("model-good.env")},
		kv{"upload", d.fixture("model_metrics.html")},
		kv{"bucket", bucket},
		kv{"prefix", "runs/" + runID + "/"},
		kv{"s3-path-style", "true"},
		kv{"output-file", d.path("metrics", "good.json")},
	)
	if err != nil {
		return err
	}
	d.good = res.Outputs["metrics-file"]
	url := res.Outputs["report-url"]
	if err := checkURL(ctx, url, d.fixture("model_metrics.html")); err != nil {
		return fmt.Errorf("step 4: the report URL: %w", err)
	}
	d.printf("  GET %s: 200, the uploaded report\n", url)
	s.did("good model: ACCURACY=%s, EQUAL_OPPORTUNITY_FAIRNESS_PERCENT=%s", res.Outputs["ACCURACY"], res.Outputs["EQUAL_OPPORTUNITY_FAIRNESS_PERCENT"])
	s.did("report %s", url)

	res, err = d.tool(ctx, s, 0, "metrics-export",
		kv{"file", d.fixture("model-bad.env")},
		kv{"output-file", d.path("metrics", "bad.json")},
	)
	if err != nil {
		return err
	}
	d.bad = res.Outputs["metrics-file"]
	s.did("bad model: ACCURACY=%s, EQUAL_OPPORTUNITY_FAIRNESS_PERCENT=%s", res.Outputs["ACCURACY"], res.Outputs["EQUAL_OPPORTUNITY_FAIRNESS_PERCENT"])
	return nil
}

// checkURL fetches url and compares it with the file.
func checkURL(ctx context.Context, url, file string) error {
	want, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || string(got) != string(want) {
		return fmt.Errorf("GET %s: status %d, %d bytes; want 200 and %s", url, resp.StatusCode, len(got), file)
	}
	return nil
}

// ---- 5. gate ----

func (d *demo) gate(ctx context.Context) error {
	s := d.begin("5", "Gate both models on accuracy >= 0.9 and fairness gap <= 21 (policy-gate, builtin:model-quality)")
	gate := func(want int, input, decision string) (*stepRun, error) {
		return d.tool(ctx, s, want, "policy-gate",
			kv{"policy", "builtin:model-quality"},
			kv{"data", d.fixture("thresholds.yaml")},
			kv{"input", input},
			kv{"decision-file", d.path("gate", decision)},
		)
	}
	if err := os.MkdirAll(d.path("gate"), 0o755); err != nil {
		return err
	}
	good, err := gate(0, d.good, "good.json")
	if err != nil {
		return err
	}
	if good.Outputs["allowed"] != "true" {
		return fmt.Errorf("step 5: the good model: allowed %q, want true", good.Outputs["allowed"])
	}
	s.did("good model allowed")
	bad, err := gate(1, d.bad, "bad.json")
	if err != nil {
		return err
	}
	if bad.Outputs["allowed"] != "false" {
		return fmt.Errorf("step 5: the bad model: allowed %q, want false", bad.Outputs["allowed"])
	}
	var msgs []struct{ Msg string }
	_ = json.Unmarshal([]byte(bad.Outputs["messages"]), &msgs)
	var texts []string
	for _, m := range msgs {
		texts = append(texts, m.Msg)
	}
	s.did("bad model denied (exit 1): %s", strings.Join(texts, "; "))
	return nil
}

// ---- 6. deploy ----

func (d *demo) deployInputs(tag string) []kv {
	push := d.r.last("ecr-push")
	return []kv{
		{"function", function},
		{"alias", alias},
		{"repository", push["repository"]},
		{"tag", tag},
		{"env", "PIPELINE_RUN=" + runID},
		{"strategy", "canary"},
		{"percent", "10"},
		{"interval", "2s"},
		{"payload", "@" + d.fixture("event.json")},
		{"expect-status", "200"},
		{"expect", "body.approved=true"},
		{"timeout", "1m"},
	}
}

func (d *demo) deploy(ctx context.Context) error {
	s := d.begin("6", "Deploy the allowed model to Lambda: canary 10% for 2s, smoke event, then all traffic (lambda-deploy)")
	if d.r.last("policy-gate") == nil || d.r.runs("policy-gate")[0]["allowed"] != "true" {
		return fmt.Errorf("step 6: the gate did not allow the model")
	}
	push := d.r.last("ecr-push")
	d.printf("  the registry is on loopback here, so lambda-deploy takes ecr-push's repository and tag\n")
	d.printf("  outputs (ECR's image-uri output works as it is against AWS)\n")
	inputs := append(d.deployInputs(push["tags"]), kv{"state-file", d.path("deploy", "state.json")})
	if err := os.MkdirAll(d.path("deploy"), 0o755); err != nil {
		return err
	}
	calls := len(d.svc.lambda.Calls())
	res, err := d.tool(ctx, s, 0, "lambda-deploy", inputs...)
	if err != nil {
		return err
	}
	d.printf("  the Lambda API stand-in answered %s\n", d.lambdaCalls(calls))
	d.deployed = res
	a, _ := d.svc.lambda.Alias(function, alias)
	latest := d.svc.lambda.Latest(function)
	switch {
	case aws.ToString(a.FunctionVersion) != res.Outputs["version"] || a.RoutingConfig != nil:
		return fmt.Errorf("step 6: alias %s is at %s (routing %v), want version %s and no routing", alias, aws.ToString(a.FunctionVersion), a.RoutingConfig, res.Outputs["version"])
	case d.latestDigest() != d.image:
		return fmt.Errorf("step 6: $LATEST runs %s, want %s", d.latestDigest(), d.image)
	case latest.Environment.Variables["LOG_LEVEL"] != "info" || latest.Environment.Variables["PIPELINE_RUN"] != runID:
		return fmt.Errorf("step 6: $LATEST's variables are %v", slices.Sorted(maps.Keys(latest.Environment.Variables)))
	}
	s.did("alias %s: version %s -> %s (10%% for 2s, then 100%%)", alias, res.Outputs["previous-version"], res.Outputs["version"])
	s.did("smoke event answered %s", smokeBody(res.Outputs["smoke-response"]))
	s.did("variables merged: PIPELINE_RUN set, LOG_LEVEL and FEATURE_STORE_URL kept")
	return nil
}

func (d *demo) deployBroken(ctx context.Context) error {
	s := d.begin("6b", "A second image whose model file is cut short: the smoke test fails and the deploy rolls back")
	img, err := buildImage(d.fixture("image"), d.fixture("broken"))
	if err != nil {
		return err
	}
	layout := d.path("build", "broken")
	if err := trivytest.WriteOCILayout(layout, img, runID+"-2"); err != nil {
		return err
	}
	d.printf("  built %s: the same image with testdata/demo/broken/%s on top\n", d.rel(layout), modelPath)
	push, err := d.tool(ctx, s, 0, "ecr-push",
		kv{"repository", repository},
		kv{"oci-layout", layout},
		kv{"tag", "{run_id}-2"},
	)
	if err != nil {
		return err
	}
	before, _ := d.svc.lambda.Alias(function, alias)
	calls := len(d.svc.lambda.Calls())
	res, err := d.tool(ctx, s, 1, "lambda-deploy", d.deployInputs(push.Outputs["tags"])...)
	if err != nil {
		return err
	}
	d.printf("  the Lambda API stand-in answered %s\n", d.lambdaCalls(calls))
	after, _ := d.svc.lambda.Alias(function, alias)
	switch {
	case res.Outputs["rolled-back"] != "true":
		return fmt.Errorf("step 6b: rolled-back %q, want true", res.Outputs["rolled-back"])
	case aws.ToString(after.FunctionVersion) != aws.ToString(before.FunctionVersion) || after.RoutingConfig != nil:
		return fmt.Errorf("step 6b: alias %s moved to %s", alias, aws.ToString(after.FunctionVersion))
	case d.latestDigest() != d.image:
		return fmt.Errorf("step 6b: $LATEST runs %s after the rollback, want %s", d.latestDigest(), d.image)
	}
	s.did("pushed %s:%s; version %s published, its smoke test failed (Runtime.ModelLoadError)", repository, push.Outputs["tags"], res.Outputs["version"])
	s.did("rolled back: $LATEST runs %s again, alias %s stayed on version %s", short(d.image), alias, aws.ToString(after.FunctionVersion))
	return nil
}

// smokeBody is the body of a proxy response, or the response itself.
func smokeBody(response string) string {
	var r proxyResponse
	if err := json.Unmarshal([]byte(response), &r); err != nil || r.Body == "" {
		return response
	}
	return fmt.Sprintf("status %d %s", r.StatusCode, r.Body)
}

// ecrCalls counts the calls the ECR stand-in answered, by operation.
func (d *demo) ecrCalls() map[string]int {
	n := map[string]int{}
	for _, op := range []string{"GetAuthorizationToken", "DescribeRepositories", "CreateRepository", "DescribeImages", "BatchGetImage", "PutImage"} {
		n[op] = d.svc.ecr.Calls(op)
	}
	return n
}

// lambdaCalls sums up the Lambda calls after the first since.
func (d *demo) lambdaCalls(since int) string {
	n := map[string]int{}
	var order []string
	for _, c := range d.svc.lambda.Calls()[since:] {
		if n[c.Op] == 0 {
			order = append(order, c.Op)
		}
		n[c.Op]++
	}
	var parts []string
	for _, op := range order {
		parts = append(parts, fmt.Sprintf("%s %d", op, n[op]))
	}
	return strings.Join(parts, ", ")
}

// countsSince shows the counts that grew from before to after.
func countsSince(before, after map[string]int) string {
	var parts []string
	for _, op := range slices.Sorted(maps.Keys(after)) {
		if d := after[op] - before[op]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", op, d))
		}
	}
	return strings.Join(parts, ", ")
}

// ---- the report ----

func (d *demo) print(err error) {
	d.printf("\n== Report\n")
	for _, s := range d.report.Steps {
		tools := map[string]bool{}
		var names []string
		for _, r := range s.Runs {
			if !tools[r.Tool] {
				tools[r.Tool] = true
				names = append(names, r.Tool)
			}
		}
		label := strings.Join(names, ", ")
		if label == "" {
			label = "stand-ins"
		}
		d.printf("  %-3s %-40s %7s\n", s.ID, label, round(s.Duration))
		for _, line := range s.Did {
			d.printf("        %s\n", line)
		}
	}
	stopped := "every one has exited"
	if !d.report.AllStopped {
		stopped = "NOT ALL HAVE EXITED"
	}
	d.printf("\n  %d tool processes run (%s); %d servers closed.\n", d.report.Processes, stopped, d.report.Servers)
	if d.work != "" {
		d.printf("  Files: %s (each step's GITHUB_OUTPUT and summary under steps/, the job summary in job-summary.md).\n", d.rel(d.work))
	}
	if err != nil {
		d.printf("  FAILED after %s: %v\n", round(d.report.Total), err)
		return
	}
	d.printf("  Done in %s.\n", round(d.report.Total))
}

// latestDigest is the image $LATEST runs: Lambda's CodeSha256 is its
// manifest digest.
func (d *demo) latestDigest() string {
	return "sha256:" + aws.ToString(d.svc.lambda.Latest(function).CodeSha256)
}

func (d *demo) rel(p string) string {
	if r, err := filepath.Rel(d.opt.repo, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// ---- helpers ----

func round(t time.Duration) string {
	if t < time.Second {
		return t.Round(time.Millisecond).String()
	}
	return t.Round(100 * time.Millisecond).String()
}

func short(digest string) string {
	if len(digest) > len("sha256:")+12 {
		return digest[:len("sha256:")+12] + "…"
	}
	return digest
}

// abs makes the paths absolute: the steps run in the checkout.
func (o *options) abs() error {
	for _, p := range []*string{&o.bin, &o.repo, &o.dir} {
		a, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = a
	}
	return nil
}
