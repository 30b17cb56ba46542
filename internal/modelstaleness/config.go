package modelstaleness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mlship/mlship/internal/awsconfig"
	"github.com/mlship/mlship/internal/ecrref"
	"github.com/mlship/mlship/internal/exitcode"
)

// Sources are the places "last updated" can come from.
const (
	SourceGit       = "git"
	SourceGitHub    = "github"
	SourceS3        = "s3"
	SourceECR       = "ecr"
	SourceSSM       = "ssm"
	SourceSageMaker = "sagemaker"
	SourceMLflow    = "mlflow"
)

var sources = []string{SourceGit, SourceGitHub, SourceS3, SourceECR, SourceSSM, SourceSageMaker, SourceMLflow}

// States of a model, from best to worst. Unknown is a model that could not
// be judged.
const (
	StateFresh   = "fresh"
	StateWarn    = "warn"
	StateError   = "error"
	StateUnknown = "unknown"
)

func stateRank(s string) int {
	switch s {
	case StateFresh:
		return 0
	case StateWarn:
		return 1
	case StateError:
		return 2
	}
	return 3
}

// Limits on what is read.
const (
	MaxConfigBytes   = 1 << 20
	MaxTemplateBytes = 64 << 10
	MaxModels        = 200
)

// ModelSpec is one model as given: on the command line, or as one entry of
// the --config file (whose keys are the flag names).
type ModelSpec struct {
	Name              string
	Source            string
	Paths             []string
	IgnoreAuthors     []string
	IgnoreMessages    []string
	Directory         string
	Repository        string
	Ref               string
	S3URI             string
	Image             string
	Parameter         string
	ModelPackageGroup string
	ApprovedOnly      bool
	MLflowURI         string
	RegisteredModel   string
	Stage             string
	Alias             string
	WarnAfter         string
	ErrorAfter        string
}

// Config is everything a run needs, as given.
type Config struct {
	// Model is the model the flags describe; with ConfigFile, the defaults
	// of every model in it.
	Model      ModelSpec
	ConfigFile string

	FailOn  string // warn, error or never
	DryRun  bool
	Timeout time.Duration

	Token  string // GitHub token (--token or GITHUB_TOKEN)
	APIURL string // GITHUB_API_URL; empty for api.github.com
	// WorkflowRepository is GITHUB_REPOSITORY: the default --repository and
	// where issues go.
	WorkflowRepository string
	RunURL             string // this workflow run, for messages

	// MLflowTrackingURI is MLFLOW_TRACKING_URI: the default --mlflow-uri.
	MLflowTrackingURI string
	// MLflow credentials, as MLflow's clients read them from the
	// environment: a bearer token, or a user name and password.
	MLflowToken, MLflowUsername, MLflowPassword string

	Issue           bool
	IssueRepository string
	IssueLabels     []string
	IssueTitle      string // template; empty for the default

	SNSTopicARN string
	SNSSubject  string // template
	SNSMessage  string // template

	EmailTo      []string
	EmailFrom    string
	EmailSubject string // template
	EmailBody    string // template

	StateFile string

	Region    string
	PathStyle bool // S3 path-style addressing
}

// Plan is a checked Config, with what Validate parsed: what Run takes.
type Plan struct {
	cfg    Config
	models []*Model
	failOn string
	labels []string
	tmpl   templates
}

// Model is one model, checked and parsed.
type Model struct {
	Spec ModelSpec
	// where names the model in messages: "" for the command line, or
	// `models.yaml: model "credit"`.
	where string

	ignoreMessages []*regexp.Regexp
	warnAfter      time.Duration // 0: no warn threshold
	errorAfter     time.Duration // 0: no error threshold
	paths          []string      // cleaned

	bucket, key string // s3
	prefix      bool   // s3: the newest object under key
	image       imageRef
	issueRepo   string
	mlflowURL   string // the tracking server's base URL, without a trailing /
	stage       string // mlflow: the canonical stage name
}

type imageRef struct {
	registryID string
	repository string
	tag        string
	digest     string
}

func (i imageRef) String() string {
	s := i.repository
	switch {
	case i.digest != "":
		s += "@" + i.digest
	case i.tag != "":
		s += ":" + i.tag
	}
	return s
}

type templates struct {
	issueTitle, snsSubject, snsMessage, emailSubject, emailBody *template.Template
}

// Default templates; their data is a Message.
const (
	DefaultSubject = `Model {{.Name}} is stale: last updated {{.Age}} ago ({{.State}})`
	DefaultBody    = `The model {{.Name}} was last updated {{.LastUpdated}}, {{.Age}} ago.
State: {{.State}} ({{.Thresholds}}).
Source: {{.Source}} {{.Target}}
{{- if .Commit}}
Last change: commit {{.Commit}}{{if .Author}} by {{.Author}}{{end}}{{if .Subject}}: {{.Subject}}{{end}}
{{- end}}
{{- if .RunURL}}
Checked by {{.RunURL}}
{{- end}}
`
	DefaultIssueTitle = `Model {{.Name}} is stale`
)

var (
	repoRe      = regexp.MustCompile(`^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$`)
	bucketRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	paramRe     = regexp.MustCompile(`^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter)?/?[a-zA-Z0-9_.\-/]+(:[a-zA-Z0-9_.-]{1,100})?$`)
	groupRe     = regexp.MustCompile(`^([a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}|arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package-group/[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})$`)
	topicRe     = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$`)
	refBadChars = regexp.MustCompile(`[\x00-\x20\x7f~^:?*\[\\]`)
	labelRe     = regexp.MustCompile(`^[^,\r\n]{1,50}$`)
)

// NeedsAWS reports whether the run calls AWS.
func (p *Plan) NeedsAWS() bool {
	if p.cfg.SNSTopicARN != "" || len(p.cfg.EmailTo) > 0 {
		return true
	}
	for _, m := range p.models {
		switch m.Spec.Source {
		case SourceS3, SourceECR, SourceSSM, SourceSageMaker:
			return true
		}
	}
	return false
}

// NeedsGitHub reports whether the run calls the GitHub API.
func (p *Plan) NeedsGitHub() bool {
	if p.cfg.Issue {
		return true
	}
	for _, m := range p.models {
		if m.Spec.Source == SourceGitHub {
			return true
		}
	}
	return false
}

// Models are the models of the run.
func (p *Plan) Models() []*Model { return p.models }

// Region is the AWS region given (empty: the environment's).
func (p *Plan) Region() string { return p.cfg.Region }

// PathStyle reports whether S3 is addressed path-style.
func (p *Plan) PathStyle() bool { return p.cfg.PathStyle }

// Validate checks every option, reads the --config file and the template
// files, and returns the Plan Run takes. Nothing is sent before it passes;
// each problem is bad input (exit 2) naming the option.
func (c *Config) Validate() (*Plan, error) {
	p := &Plan{cfg: *c}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch c.FailOn {
	case "warn", "error", "never":
		p.failOn = c.FailOn
	case "":
		p.failOn = "never"
	default:
		bad("--fail-on %q: want warn, error or never", c.FailOn)
	}
	if c.Timeout <= 0 {
		bad("--timeout %s: must be more than zero", c.Timeout)
	}
	if err := awsconfig.CheckRegion(c.Region); err != nil {
		errs = append(errs, err)
	}

	if c.ConfigFile != "" && c.Model.Name != "" {
		return nil, exitcode.BadInputf("--model %q: with --config, each model's name is in the file", c.Model.Name)
	}
	if c.ConfigFile != "" {
		specs, err := readConfigFile(c.ConfigFile, c.Model)
		if err != nil {
			return nil, err
		}
		for i, s := range specs {
			where := fmt.Sprintf("%s: model %q", c.ConfigFile, s.Name)
			if s.Name == "" {
				where = fmt.Sprintf("%s: model %d", c.ConfigFile, i+1)
			}
			m, err := c.checkModel(s, where)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			p.models = append(p.models, m)
		}
		seen := map[string]bool{}
		for _, s := range specs {
			if s.Name == "" {
				continue
			}
			if seen[strings.ToLower(s.Name)] {
				bad("%s: model %q is named twice (names tell models apart in issues and the state file)", c.ConfigFile, s.Name)
			}
			seen[strings.ToLower(s.Name)] = true
		}
	} else {
		m, err := c.checkModel(c.Model, "")
		if err != nil {
			errs = append(errs, err)
		} else {
			p.models = append(p.models, m)
		}
	}

	for _, l := range c.IssueLabels {
		for _, part := range strings.Split(l, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if !labelRe.MatchString(part) {
				bad("--issue-labels %q: a label is 1 to 50 characters", part)
				continue
			}
			if !slices.Contains(p.labels, part) {
				p.labels = append(p.labels, part)
			}
		}
	}
	if !c.Issue {
		if c.IssueRepository != "" {
			bad("--issue-repository needs --issue")
		}
		if len(p.labels) > 0 {
			bad("--issue-labels needs --issue")
		}
		if c.IssueTitle != "" {
			bad("--issue-title needs --issue")
		}
	}
	if c.IssueRepository != "" && !repoRe.MatchString(c.IssueRepository) {
		bad("--issue-repository %q: want owner/name", c.IssueRepository)
	}

	if c.SNSTopicARN != "" && !topicRe.MatchString(c.SNSTopicARN) {
		bad("--sns-topic-arn %q: want arn:aws:sns:REGION:ACCOUNT:TOPIC", c.SNSTopicARN)
	}
	if c.SNSTopicARN == "" && (c.SNSSubject != "" || c.SNSMessage != "") {
		bad("--sns-subject and --sns-message need --sns-topic-arn")
	}
	for _, to := range c.EmailTo {
		if err := checkAddress(to); err != nil {
			bad("--email-to %q: %v", to, err)
		}
	}
	switch {
	case len(c.EmailTo) > 0 && c.EmailFrom == "":
		bad("--email-to needs --email-from (an address or domain verified in SES)")
	case len(c.EmailTo) == 0 && c.EmailFrom != "":
		bad("--email-from needs --email-to")
	case c.EmailFrom != "":
		if err := checkAddress(c.EmailFrom); err != nil {
			bad("--email-from %q: %v", c.EmailFrom, err)
		}
	}
	if len(c.EmailTo) > 50 {
		bad("--email-to: %d addresses, SES takes at most 50", len(c.EmailTo))
	}
	if len(c.EmailTo) == 0 && (c.EmailSubject != "" || c.EmailBody != "") {
		bad("--email-subject and --email-body need --email-to")
	}

	var tmpl templates
	for _, t := range []struct {
		flag, text, def string
		dst             **template.Template
	}{
		{"issue-title", c.IssueTitle, DefaultIssueTitle, &tmpl.issueTitle},
		{"sns-subject", c.SNSSubject, DefaultSubject, &tmpl.snsSubject},
		{"sns-message", c.SNSMessage, DefaultBody, &tmpl.snsMessage},
		{"email-subject", c.EmailSubject, DefaultSubject, &tmpl.emailSubject},
		{"email-body", c.EmailBody, DefaultBody, &tmpl.emailBody},
	} {
		parsed, err := parseTemplate(t.flag, t.text, t.def)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		*t.dst = parsed
	}
	p.tmpl = tmpl

	if c.StateFile != "" && strings.ContainsAny(c.StateFile, "\r\n\x00") {
		bad("--state-file %q: not a file name", c.StateFile)
	}

	if len(errs) > 0 {
		return nil, exitcode.Wrap(exitcode.BadInput, errors.Join(errs...))
	}
	if c.Issue {
		for _, m := range p.models {
			m.issueRepo = cmpOr(c.IssueRepository, githubRepo(m), c.WorkflowRepository)
			if m.issueRepo == "" {
				return nil, exitcode.BadInputf("--issue: no repository to open issues in: set --issue-repository (or run in a workflow, where GITHUB_REPOSITORY is set)")
			}
		}
	}
	return p, nil
}

func githubRepo(m *Model) string {
	if m.Spec.Source == SourceGitHub {
		return m.Spec.Repository
	}
	return ""
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func checkAddress(a string) error {
	if strings.ContainsAny(a, "\r\n") {
		return errors.New("holds a line break")
	}
	if _, err := mail.ParseAddress(a); err != nil {
		return errors.New("not an email address")
	}
	return nil
}

// parseTemplate parses a template given as text or as @FILE, and runs it
// once on sample data so a misspelt field is bad input now and not a failed
// notification later.
func parseTemplate(flag, text, def string) (*template.Template, error) {
	src := text
	if file, ok := strings.CutPrefix(text, "@"); ok {
		b, err := readLimited(file, MaxTemplateBytes)
		if err != nil {
			return nil, exitcode.BadInputf("--%s %q: %v", flag, text, err)
		}
		src = string(b)
	}
	if src == "" {
		src = def
	}
	t, err := template.New(flag).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, exitcode.BadInputf("--%s: %v", flag, err)
	}
	if err := t.Execute(io.Discard, sampleMessage()); err != nil {
		return nil, exitcode.BadInputf("--%s: %v", flag, err)
	}
	return t, nil
}

func readLimited(file string, limit int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkModel checks one model and parses its values. where is "" for the
// command line (problems name the flags) or names the model in the config
// file (problems name its keys).
func (c *Config) checkModel(s ModelSpec, where string) (*Model, error) {
	m := &Model{Spec: s, where: where}
	var errs []error
	opt := func(name string) string {
		if where == "" {
			return "--" + name
		}
		return where + ": " + name
	}
	bad := func(name, value, format string, args ...any) {
		if value != "" {
			errs = append(errs, fmt.Errorf("%s %q: %s", opt(name), value, fmt.Sprintf(format, args...)))
		} else {
			errs = append(errs, fmt.Errorf("%s: %s", opt(name), fmt.Sprintf(format, args...)))
		}
	}
	if where != "" && s.Name == "" {
		bad("name", "", "every model needs a name")
	}
	if len(s.Name) > 200 || strings.ContainsAny(s.Name, "\r\n\x00") {
		key := "model"
		if where != "" {
			key = "name"
		}
		bad(key, s.Name, "a name is one line of at most 200 characters")
	}
	src := s.Source
	if src == "" {
		src = SourceGit
		m.Spec.Source = src
	}
	if !slices.Contains(sources, src) {
		bad("source", s.Source, "unknown source (want %s)", strings.Join(sources, ", "))
		return nil, exitcode.Wrap(exitcode.BadInput, errors.Join(errs...))
	}
	onlyFor := func(name string, set bool, srcs ...string) {
		if set && !slices.Contains(srcs, src) {
			bad(name, "", "only for --source %s, not %s", strings.Join(srcs, " or "), src)
		}
	}
	onlyFor("path", len(s.Paths) > 0, SourceGit, SourceGitHub)
	onlyFor("ignore-author", len(s.IgnoreAuthors) > 0, SourceGit, SourceGitHub)
	onlyFor("ignore-message", len(s.IgnoreMessages) > 0, SourceGit, SourceGitHub)
	onlyFor("s3-uri", s.S3URI != "", SourceS3)
	onlyFor("image", s.Image != "", SourceECR)
	onlyFor("parameter", s.Parameter != "", SourceSSM)
	onlyFor("model-package-group", s.ModelPackageGroup != "", SourceSageMaker)
	onlyFor("approved-only", s.ApprovedOnly, SourceSageMaker)
	onlyFor("mlflow-uri", s.MLflowURI != "", SourceMLflow)
	onlyFor("registered-model", s.RegisteredModel != "", SourceMLflow)
	onlyFor("stage", s.Stage != "", SourceMLflow)
	onlyFor("alias", s.Alias != "", SourceMLflow)
	if s.Directory != "" && s.Directory != "." {
		onlyFor("directory", true, SourceGit)
	}

	switch src {
	case SourceGit, SourceGitHub:
		if len(s.Paths) == 0 {
			bad("path", "", "the %s source needs at least one path", src)
		}
		for _, p := range s.Paths {
			clean, err := cleanPath(p, src == SourceGit)
			if err != nil {
				bad("path", p, "%v", err)
				continue
			}
			if !slices.Contains(m.paths, clean) {
				m.paths = append(m.paths, clean)
			}
		}
		for _, a := range s.IgnoreAuthors {
			if strings.TrimSpace(a) == "" {
				bad("ignore-author", "", "empty author")
			}
		}
		for _, p := range s.IgnoreMessages {
			re, err := regexp.Compile(p)
			if err != nil || p == "" {
				bad("ignore-message", p, "not a regular expression (RE2 syntax, e.g. '^chore')")
				continue
			}
			m.ignoreMessages = append(m.ignoreMessages, re)
		}
		if s.Ref != "" && (strings.HasPrefix(s.Ref, "-") || strings.Contains(s.Ref, "..") || refBadChars.MatchString(s.Ref) || len(s.Ref) > 255) {
			bad("ref", s.Ref, "not a branch, tag or commit name")
		}
		if src == SourceGitHub {
			m.Spec.Repository = cmpOr(s.Repository, c.WorkflowRepository)
			if m.Spec.Repository == "" {
				bad("repository", "", "the github source needs owner/name (default GITHUB_REPOSITORY)")
			} else if !repoRe.MatchString(m.Spec.Repository) {
				bad("repository", m.Spec.Repository, "want owner/name")
			}
		}
		if src == SourceGit && m.Spec.Directory == "" {
			m.Spec.Directory = "."
		}
	case SourceS3:
		if err := m.parseS3(); err != nil {
			bad("s3-uri", s.S3URI, "%v", err)
		}
	case SourceECR:
		img, err := parseImage(s.Image)
		if err != nil {
			bad("image", s.Image, "%v", err)
		}
		m.image = img
	case SourceSSM:
		if s.Parameter == "" {
			bad("parameter", "", "the ssm source needs a parameter name")
		} else if !paramRe.MatchString(s.Parameter) {
			bad("parameter", s.Parameter, "not an SSM parameter name or ARN")
		}
	case SourceSageMaker:
		if s.ModelPackageGroup == "" {
			bad("model-package-group", "", "the sagemaker source needs a model package group name")
		} else if !groupRe.MatchString(s.ModelPackageGroup) {
			bad("model-package-group", s.ModelPackageGroup, "not a model package group name or ARN")
		}
	case SourceMLflow:
		c.checkMLflow(m, bad)
	}

	var err error
	if s.WarnAfter != "" {
		if m.warnAfter, err = ParseDuration(s.WarnAfter); err != nil {
			bad("warn-after", s.WarnAfter, "%v", err)
		}
	}
	if s.ErrorAfter != "" {
		if m.errorAfter, err = ParseDuration(s.ErrorAfter); err != nil {
			bad("error-after", s.ErrorAfter, "%v", err)
		}
	}
	switch {
	case s.WarnAfter == "" && s.ErrorAfter == "":
		bad("warn-after", "", "give --warn-after, --error-after or both (e.g. 7d)")
	case m.warnAfter > 0 && m.errorAfter > 0 && m.warnAfter > m.errorAfter:
		bad("warn-after", s.WarnAfter, "is longer than error-after %s", s.ErrorAfter)
	}
	if m.Spec.Name == "" {
		m.Spec.Name = m.defaultName()
	}
	if len(errs) > 0 {
		return nil, exitcode.Wrap(exitcode.BadInput, errors.Join(errs...))
	}
	return m, nil
}

// defaultName names a model by what is read.
func (m *Model) defaultName() string {
	s := m.Spec
	switch s.Source {
	case SourceS3:
		return s.S3URI
	case SourceECR:
		return m.image.String()
	case SourceSSM:
		return s.Parameter
	case SourceSageMaker:
		return s.ModelPackageGroup
	case SourceMLflow:
		return s.RegisteredModel
	}
	return strings.Join(m.paths, ", ")
}

// cleanPath checks a --path and returns it relative to the repository (or
// to --directory for git), without "./".
func cleanPath(p string, globs bool) (string, error) {
	if strings.TrimSpace(p) == "" {
		return "", errors.New("empty path")
	}
	if strings.ContainsAny(p, "\x00\r\n") {
		return "", errors.New("holds a control character")
	}
	p = strings.ReplaceAll(p, `\`, "/")
	if strings.HasPrefix(p, "/") {
		return "", errors.New("give a path relative to the repository, not an absolute one")
	}
	clean := path.Clean(p)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", errors.New("is outside the repository")
	}
	if clean == "." {
		return "", errors.New("names the whole repository; give the model's files or folder")
	}
	if !globs && strings.ContainsAny(clean, "*?[") {
		return "", errors.New("the github source takes plain paths (files or folders); globs need --source git")
	}
	if globs && strings.ContainsAny(clean, "*?[") {
		if _, err := path.Match(clean, ""); err != nil {
			return "", errors.New("not a valid glob")
		}
	}
	return clean, nil
}

func (m *Model) parseS3() error {
	u := m.Spec.S3URI
	if u == "" {
		return errors.New("the s3 source needs s3://bucket/key or s3://bucket/prefix/")
	}
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return errors.New("want s3://bucket/key or s3://bucket/prefix/")
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if !bucketRe.MatchString(bucket) || strings.Contains(bucket, "..") {
		return fmt.Errorf("%q is not a valid bucket name", bucket)
	}
	if strings.ContainsAny(key, "\r\n\x00") {
		return errors.New("the key holds a control character")
	}
	m.bucket, m.key = bucket, key
	m.prefix = key == "" || strings.HasSuffix(key, "/")
	return nil
}

// parseImage reads repo, repo:tag or repo@sha256:..., optionally with the
// registry host in front.
func parseImage(s string) (imageRef, error) {
	var img imageRef
	if s == "" {
		return img, errors.New("the ecr source needs repo, repo:tag or repo@sha256:digest")
	}
	name := s
	if host, rest, ok := strings.Cut(s, "/"); ok && strings.Contains(host, ".") {
		h, ok := ecrref.ParseHost(host)
		if !ok {
			return img, fmt.Errorf("%q is not an ECR registry (ACCOUNT.dkr.ecr.REGION.amazonaws.com)", host)
		}
		img.registryID, name = h.Account, rest
	}
	if n, d, ok := strings.Cut(name, "@"); ok {
		if !ecrref.ValidDigest(d) {
			return img, errors.New("the digest must be sha256: and 64 hex digits")
		}
		name, img.digest = n, d
	} else if i := strings.LastIndex(name, ":"); i >= 0 {
		if !ecrref.ValidTag(name[i+1:]) {
			return img, fmt.Errorf("%q is not a valid tag", name[i+1:])
		}
		name, img.tag = name[:i], name[i+1:]
	}
	if !ecrref.ValidRepository(name) {
		return img, fmt.Errorf("%q is not a valid repository name", name)
	}
	img.repository = name
	return img, nil
}

// configFile is the --config file.
type configFile struct {
	Defaults *specYAML  `yaml:"defaults"`
	Models   []specYAML `yaml:"models"`
}

// specYAML is a ModelSpec as written in the config file: unset keys are nil
// and keep the defaults.
type specYAML struct {
	Name              *string     `yaml:"name"`
	Source            *string     `yaml:"source"`
	Path              *stringList `yaml:"path"`
	IgnoreAuthor      *stringList `yaml:"ignore-author"`
	IgnoreMessage     *stringList `yaml:"ignore-message"`
	Directory         *string     `yaml:"directory"`
	Repository        *string     `yaml:"repository"`
	Ref               *string     `yaml:"ref"`
	S3URI             *string     `yaml:"s3-uri"`
	Image             *string     `yaml:"image"`
	Parameter         *string     `yaml:"parameter"`
	ModelPackageGroup *string     `yaml:"model-package-group"`
	ApprovedOnly      *bool       `yaml:"approved-only"`
	MLflowURI         *string     `yaml:"mlflow-uri"`
	RegisteredModel   *string     `yaml:"registered-model"`
	Stage             *string     `yaml:"stage"`
	Alias             *string     `yaml:"alias"`
	WarnAfter         *string     `yaml:"warn-after"`
	ErrorAfter        *string     `yaml:"error-after"`
}

// stringList is one string or a list of them.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*l = stringList{s}
		return nil
	case yaml.SequenceNode:
		var ss []string
		if err := n.Decode(&ss); err != nil {
			return err
		}
		*l = ss
		return nil
	}
	return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
}

func (y *specYAML) apply(s ModelSpec) ModelSpec {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setList := func(dst *[]string, v *stringList) {
		if v != nil {
			*dst = slices.Clone([]string(*v))
		}
	}
	set(&s.Name, y.Name)
	set(&s.Source, y.Source)
	setList(&s.Paths, y.Path)
	setList(&s.IgnoreAuthors, y.IgnoreAuthor)
	setList(&s.IgnoreMessages, y.IgnoreMessage)
	set(&s.Directory, y.Directory)
	set(&s.Repository, y.Repository)
	set(&s.Ref, y.Ref)
	set(&s.S3URI, y.S3URI)
	set(&s.Image, y.Image)
	set(&s.Parameter, y.Parameter)
	set(&s.ModelPackageGroup, y.ModelPackageGroup)
	if y.ApprovedOnly != nil {
		s.ApprovedOnly = *y.ApprovedOnly
	}
	set(&s.MLflowURI, y.MLflowURI)
	set(&s.RegisteredModel, y.RegisteredModel)
	set(&s.Stage, y.Stage)
	set(&s.Alias, y.Alias)
	set(&s.WarnAfter, y.WarnAfter)
	set(&s.ErrorAfter, y.ErrorAfter)
	return s
}

// readConfigFile reads the models of a --config file. Its defaults, then
// each model's own keys, are laid over base (the flags).
func readConfigFile(file string, base ModelSpec) ([]ModelSpec, error) {
	b, err := readLimited(file, MaxConfigBytes)
	if err != nil {
		return nil, exitcode.BadInputf("--config %q: %v", file, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var cf configFile
	if err := dec.Decode(&cf); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, exitcode.BadInputf("--config %q: empty file; want a models: list", file)
		}
		return nil, exitcode.BadInputf("--config %q: %v", file, oneLineYAML(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, exitcode.BadInputf("--config %q: holds more than one YAML document", file)
	}
	if len(cf.Models) == 0 {
		return nil, exitcode.BadInputf("--config %q: no models (want a models: list)", file)
	}
	if len(cf.Models) > MaxModels {
		return nil, exitcode.BadInputf("--config %q: %d models, at most %d", file, len(cf.Models), MaxModels)
	}
	if cf.Defaults != nil {
		if cf.Defaults.Name != nil {
			return nil, exitcode.BadInputf("--config %q: defaults: name is per model", file)
		}
		base = cf.Defaults.apply(base)
	}
	specs := make([]ModelSpec, 0, len(cf.Models))
	for _, y := range cf.Models {
		specs = append(specs, y.apply(base))
	}
	return specs, nil
}

func oneLineYAML(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
