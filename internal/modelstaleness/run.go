package modelstaleness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-github/v93/github"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/wait"
)

// Deps are what a run talks to. Clients a run does not use may be nil.
type Deps struct {
	// Git is the git binary; empty looks up "git" on PATH.
	Git       string
	GitHub    *github.Client
	S3        S3API
	ECR       ECRAPI
	SSM       SSMAPI
	SageMaker SageMakerAPI
	SNS       SNSAPI
	SES       SESAPI
	// MLflow is the HTTP client for MLflow tracking servers; nil for one
	// with a minute's timeout per request and the environment's proxy.
	MLflow *http.Client
	Log    action.Logger
	Now    func() time.Time
	// Sleep waits for d or until ctx is done (waiting out a GitHub
	// secondary rate limit, or before an MLflow retry); tests shorten it.
	Sleep func(ctx context.Context, d time.Duration) error
}

type nopLogger struct{}

func (nopLogger) Logf(string, ...any)     {}
func (nopLogger) Warningf(string, ...any) {}

// change is when a model last changed, as its source found it.
type change struct {
	at       time.Time
	commit   string // git and github
	author   string
	subject  string // the commit's first line
	url      string // a link to the commit
	item     string // the object, image, parameter version or package found
	version  string // mlflow: the model version
	warnings []string
}

// Run finds when each model last changed, judges it against its
// thresholds, sends the notifications, and records what it sent. A model
// that could not be judged is reported with state unknown and its error;
// the others are still judged and notified. The error's exit code is the
// worst: a model that could not be judged or a notification that could not
// be sent (2 or 3), else a state --fail-on fails on (1).
func Run(ctx context.Context, p *Plan, deps Deps) (*Result, error) {
	if p == nil {
		return nil, exitcode.Incompletef("internal error: Run needs the Plan of Config.Validate")
	}
	cfg := p.cfg
	if deps.Log == nil {
		deps.Log = nopLogger{}
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Sleep == nil {
		deps.Sleep = wait.Sleep
	}
	if p.NeedsGitHub() && deps.GitHub == nil {
		return nil, errors.New("internal error: no GitHub client")
	}

	// The state file is input: a file that cannot be read is bad input now,
	// before anything is asked or sent, and is never written over.
	state, err := readStateFile(cfg.StateFile)
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	gh := &githubAPI{client: deps.GitHub, sleep: deps.Sleep, log: deps.Log, timeout: cfg.Timeout}
	ml := &mlflowAPI{
		client: deps.MLflow, sleep: deps.Sleep, log: deps.Log, timeout: cfg.Timeout,
		token: cfg.MLflowToken, user: cfg.MLflowUsername, pass: cfg.MLflowPassword,
		noCredentialsGiven: cfg.MLflowToken == "" && cfg.MLflowUsername == "" && cfg.MLflowPassword == "",
	}
	if ml.client == nil {
		ml.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}}
	}
	now := deps.Now().UTC()
	res := &Result{DryRun: cfg.DryRun, CheckedAt: now.Format(time.RFC3339)}
	var errs []error
	name := func(m *Model) string {
		if len(p.models) > 1 {
			return "model " + m.Spec.Name + ": "
		}
		return ""
	}
	for _, m := range p.models {
		mr := ModelResult{
			Name:       m.Spec.Name,
			Source:     m.Spec.Source,
			Target:     m.target(),
			WarnAfter:  m.Spec.WarnAfter,
			ErrorAfter: m.Spec.ErrorAfter,
			Notified:   []string{},
		}
		ch, err := find(ctx, m, deps, gh, ml)
		if err != nil {
			mr.State, mr.Stale, mr.Error = StateUnknown, true, err.Error()
			errs = append(errs, exitcode.Wrap(exitcode.Of(err), fmt.Errorf("%s%w", name(m), err)))
			res.Models = append(res.Models, mr)
			continue
		}
		mr.judge(m, ch, now)
		for _, w := range mr.Warnings {
			deps.Log.Warningf("%s%s", name(m), w)
		}
		deps.Log.Logf("%s: last updated %s (%s ago)%s: %s", mr.Name, mr.LastUpdated, mr.AgeHuman, mr.by(), mr.verdict())
		res.Models = append(res.Models, mr)
	}

	n := &notifier{cfg: &cfg, p: p, deps: deps, gh: gh, state: state, now: now, issues: map[string][]*github.Issue{}}
	for i, m := range p.models {
		if err := n.notify(ctx, m, &res.Models[i]); err != nil {
			errs = append(errs, exitcode.Wrap(exitcode.Of(err), fmt.Errorf("%s%w", name(m), err)))
		}
	}
	if !cfg.DryRun && cfg.StateFile != "" && n.stateChanged {
		if err := writeStateFile(cfg.StateFile, state); err != nil {
			errs = append(errs, err)
		}
	}
	res.sum()

	code := exitcode.OK
	for _, e := range errs {
		code = max(code, exitcode.Of(e))
	}
	for i, m := range p.models {
		mr := &res.Models[i]
		if mr.State == StateUnknown || !fails(p.failOn, mr.State) {
			if mr.State == StateWarn || mr.State == StateError {
				deps.Log.Warningf("model %s is stale (%s): last updated %s, %s ago", mr.Name, mr.State, mr.LastUpdated, mr.AgeHuman)
			}
			continue
		}
		errs = append(errs, exitcode.Failedf("%smodel %s is stale (%s): last updated %s, %s ago (%s)", name(m), mr.Name, mr.State, mr.LastUpdated, mr.AgeHuman, mr.thresholds()))
		code = max(code, exitcode.Failed)
	}
	if len(errs) == 0 {
		return res, nil
	}
	if len(errs) == 1 {
		return res, exitcode.Wrap(code, errs[0])
	}
	return res, exitcode.Wrap(code, errors.Join(errs...))
}

// fails reports whether --fail-on fails the run on state.
func fails(failOn, state string) bool {
	switch failOn {
	case "warn":
		return state == StateWarn || state == StateError
	case "error":
		return state == StateError
	}
	return false
}

func find(ctx context.Context, m *Model, deps Deps, gh *githubAPI, ml *mlflowAPI) (*change, error) {
	switch m.Spec.Source {
	case SourceGit:
		return gitLastChange(ctx, deps.Git, m)
	case SourceGitHub:
		return gh.lastChange(ctx, m)
	case SourceS3:
		if deps.S3 == nil {
			return nil, errors.New("internal error: no S3 client")
		}
		return s3LastChange(ctx, deps.S3, m)
	case SourceECR:
		if deps.ECR == nil {
			return nil, errors.New("internal error: no ECR client")
		}
		return ecrLastChange(ctx, deps.ECR, m)
	case SourceSSM:
		if deps.SSM == nil {
			return nil, errors.New("internal error: no SSM client")
		}
		return ssmLastChange(ctx, deps.SSM, m)
	case SourceSageMaker:
		if deps.SageMaker == nil {
			return nil, errors.New("internal error: no SageMaker client")
		}
		return sageMakerLastChange(ctx, deps.SageMaker, m)
	case SourceMLflow:
		return ml.lastChange(ctx, m)
	}
	return nil, fmt.Errorf("internal error: source %q", m.Spec.Source)
}

// target says what a model's source reads, for people.
func (m *Model) target() string {
	s := m.Spec
	ref := ""
	if s.Ref != "" {
		ref = "@" + s.Ref
	}
	switch s.Source {
	case SourceGit:
		dir := ""
		if s.Directory != "." && s.Directory != "" {
			dir = s.Directory + ": "
		}
		return dir + strings.Join(m.paths, ", ") + ref
	case SourceGitHub:
		return s.Repository + ref + ": " + strings.Join(m.paths, ", ")
	case SourceS3:
		return s.S3URI
	case SourceECR:
		if m.image.registryID != "" {
			return m.image.registryID + "/" + m.image.String()
		}
		return m.image.String()
	case SourceSSM:
		return s.Parameter
	case SourceSageMaker:
		if s.ApprovedOnly {
			return s.ModelPackageGroup + " (approved only)"
		}
		return s.ModelPackageGroup
	case SourceMLflow:
		t := m.mlflowURL + " " + s.RegisteredModel
		switch {
		case s.Alias != "":
			t += "@" + s.Alias
		case m.stage != "":
			t += " (stage " + m.stage + ")"
		}
		return t
	}
	return ""
}

// judge fills in the age and state of a model that changed at ch.
func (mr *ModelResult) judge(m *Model, ch *change, now time.Time) {
	at := ch.at.UTC()
	age := now.Sub(at)
	mr.Warnings = append(mr.Warnings, ch.warnings...)
	if age < 0 {
		mr.Warnings = append(mr.Warnings, fmt.Sprintf("last updated %s is %s in the future (a clock is wrong); taking the age as 0", at.Format(time.RFC3339), HumanAge(-age)))
		age = 0
	}
	secs := int64(age / time.Second)
	mr.LastUpdated = at.Format(time.RFC3339)
	mr.AgeSeconds = &secs
	mr.AgeHuman = HumanAge(age)
	mr.Commit, mr.Author, mr.Subject, mr.URL, mr.Item, mr.Version = ch.commit, ch.author, ch.subject, ch.url, ch.item, ch.version
	switch {
	case m.errorAfter > 0 && age >= m.errorAfter:
		mr.State = StateError
	case m.warnAfter > 0 && age >= m.warnAfter:
		mr.State = StateWarn
	default:
		mr.State = StateFresh
	}
	mr.Stale = mr.State != StateFresh
}
