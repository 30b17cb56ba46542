package modelstaleness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/exitcode"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "2w": 14 * 24 * time.Hour,
		"1d12h": 36 * time.Hour, "90m": 90 * time.Minute, "45s": 45 * time.Second, " 3d ": 72 * time.Hour,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "7", "d", "7x", "1.5d", "-1d", "0d", "7d-", "99999999999999999w", "1e3d", "7 d"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestHumanAge(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0: "0s", 42 * time.Second: "42s", 5 * time.Minute: "5m", 5*time.Hour + 12*time.Minute: "5h 12m",
		3 * time.Hour: "3h", 9*24*time.Hour + 4*time.Hour + 30*time.Minute: "9d 4h", 20 * 24 * time.Hour: "20d",
	} {
		if got := HumanAge(d); got != want {
			t.Errorf("HumanAge(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestValidateBadInput: every bad option is exit 2 with a line naming it,
// found before anything is read or asked.
func TestValidateBadInput(t *testing.T) {
	t.Parallel()
	git := func(f func(*Config)) Config {
		c := Config{Model: ModelSpec{Source: SourceGit, Paths: []string{nb}, WarnAfter: "7d"}, Timeout: time.Minute}
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown source", git(func(c *Config) { c.Model.Source = "svn" }), `--source "svn": unknown source (want git, github, s3, ecr, ssm, sagemaker, mlflow)`},
		{"bad duration", git(func(c *Config) { c.Model.WarnAfter = "7x" }), `--warn-after "7x": unknown unit 'x'`},
		{"fractional duration", git(func(c *Config) { c.Model.ErrorAfter = "1.5d" }), `--error-after "1.5d"`},
		{"zero duration", git(func(c *Config) { c.Model.WarnAfter = "0d" }), `--warn-after "0d": must be more than zero`},
		{"warn after error", git(func(c *Config) { c.Model.WarnAfter, c.Model.ErrorAfter = "2w", "7d" }), `--warn-after "2w": is longer than error-after 7d`},
		{"no threshold", git(func(c *Config) { c.Model.WarnAfter = "" }), "give --warn-after, --error-after or both"},
		{"no path", git(func(c *Config) { c.Model.Paths = nil }), "--path: the git source needs at least one path"},
		{"absolute path", git(func(c *Config) { c.Model.Paths = []string{"/etc/passwd"} }), `--path "/etc/passwd": give a path relative to the repository`},
		{"outside", git(func(c *Config) { c.Model.Paths = []string{"a/../../x"} }), "is outside the repository"},
		{"whole repo", git(func(c *Config) { c.Model.Paths = []string{"./"} }), "names the whole repository"},
		{"bad glob", git(func(c *Config) { c.Model.Paths = []string{"models/[a"} }), "not a valid glob"},
		{"bad regex", git(func(c *Config) { c.Model.IgnoreMessages = []string{"(chore"} }), `--ignore-message "(chore": not a regular expression`},
		{"bad ref", git(func(c *Config) { c.Model.Ref = "--output=/tmp/x" }), `--ref "--output=/tmp/x": not a branch, tag or commit name`},
		{"range ref", git(func(c *Config) { c.Model.Ref = "main..dev" }), "not a branch, tag or commit name"},
		{"image for git", git(func(c *Config) { c.Model.Image = "repo:tag" }), "--image: only for --source ecr, not git"},
		{"approved-only for git", git(func(c *Config) { c.Model.ApprovedOnly = true }), "--approved-only: only for --source sagemaker"},
		{"github without repository", git(func(c *Config) { c.Model.Source = SourceGitHub }), "--repository: the github source needs owner/name (default GITHUB_REPOSITORY)"},
		{"github bad repository", git(func(c *Config) { c.Model.Source, c.Model.Repository = SourceGitHub, "https://github.com/o/r" }), `--repository "https://github.com/o/r": want owner/name`},
		{"github glob", git(func(c *Config) {
			c.Model.Source, c.WorkflowRepository, c.Model.Paths = SourceGitHub, "o/r", []string{"*.ipynb"}
		}), "globs need --source git"},
		{"directory for github", git(func(c *Config) { c.Model.Source, c.WorkflowRepository, c.Model.Directory = SourceGitHub, "o/r", "src" }), "--directory: only for --source git"},
		{"s3 without uri", git(func(c *Config) { c.Model.Source, c.Model.Paths = SourceS3, nil }), "--s3-uri: the s3 source needs"},
		{"s3 not a uri", git(func(c *Config) {
			c.Model.Source, c.Model.Paths, c.Model.S3URI = SourceS3, nil, "https://b.s3.amazonaws.com/k"
		}), "want s3://bucket/key"},
		{"s3 bad bucket", git(func(c *Config) { c.Model.Source, c.Model.Paths, c.Model.S3URI = SourceS3, nil, "s3://My_Bucket/k" }), `"My_Bucket" is not a valid bucket name`},
		{"path for s3", git(func(c *Config) { c.Model.Source, c.Model.S3URI = SourceS3, "s3://bucket/k" }), "--path: only for --source git or github, not s3"},
		{"ecr bad tag", git(func(c *Config) { c.Model.Source, c.Model.Paths, c.Model.Image = SourceECR, nil, "repo:bad tag" }), `"bad tag" is not a valid tag`},
		{"ecr bad host", git(func(c *Config) {
			c.Model.Source, c.Model.Paths, c.Model.Image = SourceECR, nil, "docker.io/library/nginx:1"
		}), "is not an ECR registry"},
		{"ecr bad digest", git(func(c *Config) { c.Model.Source, c.Model.Paths, c.Model.Image = SourceECR, nil, "repo@sha256:abc" }), "64 hex digits"},
		{"ssm bad name", git(func(c *Config) { c.Model.Source, c.Model.Paths, c.Model.Parameter = SourceSSM, nil, "has space" }), "not an SSM parameter name"},
		{"sagemaker bad group", git(func(c *Config) {
			c.Model.Source, c.Model.Paths, c.Model.ModelPackageGroup = SourceSageMaker, nil, "under_score"
		}), "not a model package group name"},
		{"fail-on", git(func(c *Config) { c.FailOn = "always" }), `--fail-on "always": want warn, error or never`},
		{"sns arn", git(func(c *Config) { c.SNSTopicARN = "model-alerts" }), `--sns-topic-arn "model-alerts": want arn:aws:sns:`},
		{"sns subject alone", git(func(c *Config) { c.SNSSubject = "x" }), "--sns-subject and --sns-message need --sns-topic-arn"},
		{"email without from", git(func(c *Config) { c.EmailTo = []string{"a@example.com"} }), "--email-to needs --email-from"},
		{"bad email", git(func(c *Config) { c.EmailTo, c.EmailFrom = []string{"not an address"}, "m@example.com" }), `--email-to "not an address": not an email address`},
		{"email header injection", git(func(c *Config) {
			c.EmailTo, c.EmailFrom = []string{"a@example.com"}, "m@example.com\nBcc: x@evil.example"
		}), "holds a line break"},
		{"labels without issue", git(func(c *Config) { c.IssueLabels = []string{"stale"} }), "--issue-labels needs --issue"},
		{"issue without repository", git(func(c *Config) { c.Issue = true }), "--issue: no repository to open issues in"},
		{"bad template", git(func(c *Config) {
			c.EmailTo, c.EmailFrom, c.EmailSubject = []string{"a@example.com"}, "m@example.com", "{{.Name"
		}), "--email-subject: template:"},
		{"template file missing", git(func(c *Config) { c.SNSTopicARN, c.SNSMessage = topic, "@/nonexistent/body.txt" }), `--sns-message "@/nonexistent/body.txt": no such file or directory`},
		{"timeout", git(func(c *Config) { c.Timeout = 0 }), "--timeout 0s: must be more than zero"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := validate(tc.cfg)
			wantCode(t, err, exitcode.BadInput, tc.want)
		})
	}
}

// TestValidateDefaults: the names models get, the defaults of the github
// source and of the issue's repository.
func TestValidateDefaults(t *testing.T) {
	t.Parallel()
	c := Config{Model: ModelSpec{Source: SourceGitHub, Paths: []string{"./" + nb}, ErrorAfter: "7d"}, WorkflowRepository: "my-org/credit-model", Issue: true, Timeout: time.Minute}
	p, err := c.Validate()
	if err != nil {
		t.Fatal(err)
	}
	m := p.Models()[0]
	if m.Spec.Name != nb || m.Spec.Repository != "my-org/credit-model" || m.issueRepo != "my-org/credit-model" || p.failOn != "never" {
		t.Errorf("model %+v, issue repository %s", m.Spec, m.issueRepo)
	}
	c = Config{Model: ModelSpec{Source: SourceECR, Image: "credit/inference:run-1", WarnAfter: "7d"}, IssueRepository: "ops/alerts", Issue: true, Timeout: time.Minute}
	p, err = c.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if m := p.Models()[0]; m.Spec.Name != "credit/inference:run-1" || m.issueRepo != "ops/alerts" {
		t.Errorf("model %+v, issue repository %s", m.Spec, m.issueRepo)
	}
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigFile: models from YAML over the file's defaults over the
// flags; paths as one string or a list.
func TestConfigFile(t *testing.T) {
	t.Parallel()
	file := writeFile(t, t.TempDir(), "models.yaml", `
defaults:
  warn-after: 7d
  ignore-author: ["dependabot[bot]"]
models:
  - name: credit-card
    path: notebooks/credit_card_approval.ipynb
  - name: retail
    source: sagemaker
    model-package-group: retail-forecast
    approved-only: true
    ignore-author: []
    error-after: 2w
  - name: pricing
    source: github
    repository: my-org/pricing
    path: [model/, features.py]
    warn-after: 3d
`)
	c := Config{Model: ModelSpec{Source: SourceGit, ErrorAfter: "30d", Directory: "."}, ConfigFile: file, Timeout: time.Minute}
	p, err := c.Validate()
	if err != nil {
		t.Fatal(err)
	}
	ms := p.Models()
	if len(ms) != 3 {
		t.Fatalf("%d models", len(ms))
	}
	credit, retail, pricing := ms[0].Spec, ms[1].Spec, ms[2].Spec
	if credit.Name != "credit-card" || credit.Source != SourceGit || credit.WarnAfter != "7d" || credit.ErrorAfter != "30d" || len(credit.IgnoreAuthors) != 1 || credit.IgnoreAuthors[0] != "dependabot[bot]" {
		t.Errorf("credit %+v", credit)
	}
	if retail.Source != SourceSageMaker || !retail.ApprovedOnly || retail.ErrorAfter != "2w" || len(retail.IgnoreAuthors) != 0 {
		t.Errorf("retail %+v", retail)
	}
	if pricing.WarnAfter != "3d" || strings.Join(ms[2].paths, ",") != "model,features.py" || pricing.Repository != "my-org/pricing" {
		t.Errorf("pricing %+v %v", pricing, ms[2].paths)
	}
}

func TestConfigFileBad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := "models:\n" + strings.Repeat("  - name: x\n", MaxConfigBytes/12+10)
	for _, tc := range []struct {
		name, content, want string
	}{
		{"unknown key", "models:\n  - name: a\n    path: x\n    warn_after: 7d\n", "line 4: field warn_after not found"},
		{"unknown top key", "model:\n  - name: a\n", "field model not found"},
		{"no models", "models: []\n", "no models"},
		{"empty", "", "empty file"},
		{"no name", "models:\n  - path: x\n    warn-after: 7d\n", "model 1: name: every model needs a name"},
		{"twice", "models:\n  - {name: a, path: x, warn-after: 7d}\n  - {name: A, path: y, warn-after: 7d}\n", `model "A" is named twice`},
		{"bad value", "models:\n  - {name: a, path: x, warn-after: soon}\n", `model "a": warn-after "soon"`},
		{"only for", "models:\n  - {name: a, path: x, image: 'r:t', warn-after: 7d}\n", `model "a": image: only for --source ecr`},
		{"path type", "models:\n  - {name: a, path: {x: 1}, warn-after: 7d}\n", "want a string or a list of strings"},
		{"two documents", "models:\n  - {name: a, path: x, warn-after: 7d}\n---\nmodels: []\n", "more than one YAML document"},
		{"name in defaults", "defaults: {name: a}\nmodels:\n  - {name: b, path: x, warn-after: 7d}\n", "defaults: name is per model"},
		{"too large", big, "larger than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := writeFile(t, dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml", tc.content)
			c := Config{Model: ModelSpec{Source: SourceGit}, ConfigFile: file, Timeout: time.Minute}
			wantCode(t, validate(c), exitcode.BadInput, tc.want)
		})
	}
	ok := writeFile(t, dir, "ok.yaml", "models:\n  - {name: a, path: x, warn-after: 7d}\n")
	c := Config{Model: ModelSpec{Name: "credit"}, ConfigFile: ok, Timeout: time.Minute}
	wantCode(t, validate(c), exitcode.BadInput, `--model "credit": with --config, each model's name is in the file`)
	c = Config{ConfigFile: filepath.Join(dir, "missing.yaml"), Timeout: time.Minute}
	wantCode(t, validate(c), exitcode.BadInput, "no such file or directory")
}
