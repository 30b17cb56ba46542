package healthrollback

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/alarms"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
	"github.com/mlship/mlship/internal/lambdaalias"
	mwait "github.com/mlship/mlship/internal/wait"
)

// Deps are what Run works with; each is needed only by the inputs that use
// it.
type Deps struct {
	Kube       *kube.Client // --service, --deployment
	CloudWatch alarms.API   // --alarm
	Lambda     LambdaAPI    // --function
	// HTTP makes the probes; nil is a client that follows no redirect and
	// opens a connection per probe.
	HTTP         *http.Client
	Log          action.Logger
	Now          func() time.Time                                 // nil: time.Now
	Sleep        func(ctx context.Context, d time.Duration) error // nil: wait.Sleep
	LambdaTiming lambdaalias.Timing
}

type runner struct {
	cfg *Config
	d   Deps
	log action.Logger
	res *Result
	ref *kube.Ref
}

func (r *runner) now() time.Time {
	if r.d.Now != nil {
		return r.d.Now()
	}
	return time.Now()
}

func (r *runner) sleep(ctx context.Context, d time.Duration) error {
	if r.d.Sleep != nil {
		return r.d.Sleep(ctx, d)
	}
	return mwait.Sleep(ctx, d)
}

func (r *runner) httpClient() *http.Client {
	if r.d.HTTP != nil {
		return r.d.HTTP
	}
	return newHTTPClient()
}

func (r *runner) event(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	r.res.Events = append(r.res.Events, line)
	r.log.Logf("%s", line)
}

// Run judges the health of what cfg names (validated) and, when it is
// unhealthy and cfg has a rollback target, rolls it back. The Result comes
// with the error too: its outputs are written when the check fails.
func Run(ctx context.Context, cfg *Config, d Deps) (*Result, error) {
	r := &runner{cfg: cfg, d: d, log: d.Log, res: &Result{DryRun: cfg.DryRun, FailedChecks: []Check{}}}
	if r.log == nil {
		r.log = nopLogger{}
	}
	start := r.now()
	err := r.run(ctx)
	r.res.Took = r.now().Sub(start)
	r.res.TookSeconds = r.res.Took.Round(time.Millisecond).Seconds()
	if err != nil {
		r.res.Failure = err.Error()
	}
	return r.res, err
}

func (r *runner) run(ctx context.Context) error {
	cfg := r.cfg
	// Everything a rollback needs is read first: a target that does not
	// exist, or an alarm, is bad input before anything is judged.
	switch {
	case cfg.ref != nil:
		if err := r.prepareDeployment(ctx); err != nil {
			return err
		}
	case cfg.Function != "":
		if err := r.prepareAlias(ctx); err != nil {
			return err
		}
	}
	var watch *alarms.Watch
	if len(cfg.Alarms) > 0 {
		var err error
		watch, err = alarms.Start(ctx, r.d.CloudWatch, cfg.Alarms)
		var missing *alarms.MissingError
		switch {
		case errors.As(err, &missing):
			return exitcode.BadInputf("--alarm %q: %v", strings.Join(missing.Names, ", "), err)
		case err != nil:
			return exitcode.Incompletef("%v", err)
		}
		if f := watch.FiringBefore(); len(f) > 0 && cfg.IgnoreFiring {
			r.log.Warningf("alarms already in ALARM, ignored until they clear: %s", strings.Join(f, ", "))
		}
	}
	urls := make([]string, 0, len(cfg.urls)+1)
	for _, u := range cfg.urls {
		urls = append(urls, u.String())
	}
	if cfg.service != nil {
		svc := *cfg.service
		if svc.Namespace == "" {
			svc.Namespace = cmp.Or(cfg.Namespace, nsOfRef(r.ref), r.d.Kube.Namespace, "default")
		}
		u, err := serviceURL(ctx, r.d.Kube, svc, cfg.Port, cfg.Path, cfg.AddressTimeout, r.log.Logf)
		if err != nil {
			return err
		}
		r.log.Logf("probing service %s at %s", svc, u)
		urls = append(urls, u)
	}
	r.res.URLs = urls

	v, err := r.judge(ctx, urls, watch)
	if v != nil {
		r.res.Healthy = v.healthy
		r.res.Attempts = v.attempts
		r.res.AlarmsFiringBefore = v.firingBefore
		sortChecks(v.checks)
		r.res.FailedChecks = append(r.res.FailedChecks, v.checks...)
		if !v.firstFailure.IsZero() {
			r.res.FirstFailure = v.firstFailure
		}
	}
	if err != nil {
		return err
	}
	if v.healthy {
		r.event("healthy: %s", r.passed(urls, watch))
		return nil
	}
	var why []string
	for _, c := range v.checks {
		why = append(why, c.String())
	}
	unhealthy := "unhealthy: " + strings.Join(why, "; ")
	r.log.Logf("%s", unhealthy)

	var rbErr error
	rbStart := r.now()
	defer func() { r.res.RollbackTook = r.now().Sub(rbStart) }()
	switch {
	case cfg.ref != nil:
		rbErr = r.rollbackDeployment(ctx)
	case cfg.Function != "":
		rbErr = r.rollbackAlias(ctx)
	default:
		return exitcode.Failedf("%s", unhealthy)
	}
	var ref *refusal
	switch {
	case errors.As(rbErr, &ref):
		r.event("not rolled back: %s", ref.why)
		return exitcode.Failedf("%s; not rolled back: %s", unhealthy, ref.why)
	case rbErr != nil:
		return exitcode.Incompletef("%s; and the rollback could not finish: %v", unhealthy, rbErr)
	case cfg.DryRun:
		return exitcode.Failedf("%s; dry run: %s", unhealthy, r.res.Events[len(r.res.Events)-1])
	}
	return exitcode.Failedf("%s; %s", unhealthy, r.res.Events[len(r.res.Events)-1])
}

func (r *runner) passed(urls []string, watch *alarms.Watch) string {
	var parts []string
	if len(urls) > 0 {
		parts = append(parts, fmt.Sprintf("%s passed %d probes in a row", plural(len(urls), "URL", "URLs"), r.cfg.Successes))
	}
	if watch != nil {
		parts = append(parts, fmt.Sprintf("no alarm fired (%s)", strings.Join(watch.Names(), ", ")))
	}
	return strings.Join(parts, "; ")
}

func nsOfRef(r *kube.Ref) string {
	if r == nil {
		return ""
	}
	return r.Namespace
}

type nopLogger struct{}

func (nopLogger) Logf(string, ...any)     {}
func (nopLogger) Warningf(string, ...any) {}
