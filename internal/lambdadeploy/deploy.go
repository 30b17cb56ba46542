package lambdadeploy

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/alarms"
	"github.com/mlship/mlship/internal/ecrref"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/lambdaalias"
	"github.com/mlship/mlship/internal/ssmclient"
	"github.com/mlship/mlship/internal/wait"
)

// LambdaAPI is the part of the Lambda API lambda-deploy calls.
type LambdaAPI interface {
	GetFunction(context.Context, *lambda.GetFunctionInput, ...func(*lambda.Options)) (*lambda.GetFunctionOutput, error)
	UpdateFunctionCode(context.Context, *lambda.UpdateFunctionCodeInput, ...func(*lambda.Options)) (*lambda.UpdateFunctionCodeOutput, error)
	UpdateFunctionConfiguration(context.Context, *lambda.UpdateFunctionConfigurationInput, ...func(*lambda.Options)) (*lambda.UpdateFunctionConfigurationOutput, error)
	PublishVersion(context.Context, *lambda.PublishVersionInput, ...func(*lambda.Options)) (*lambda.PublishVersionOutput, error)
	GetAlias(context.Context, *lambda.GetAliasInput, ...func(*lambda.Options)) (*lambda.GetAliasOutput, error)
	CreateAlias(context.Context, *lambda.CreateAliasInput, ...func(*lambda.Options)) (*lambda.CreateAliasOutput, error)
	UpdateAlias(context.Context, *lambda.UpdateAliasInput, ...func(*lambda.Options)) (*lambda.UpdateAliasOutput, error)
	Invoke(context.Context, *lambda.InvokeInput, ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// ECRAPI is the part of the ECR API lambda-deploy calls.
type ECRAPI interface {
	DescribeImages(context.Context, *ecr.DescribeImagesInput, ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error)
}

// SSMAPI is the part of the SSM API lambda-deploy calls
// (internal/ssmclient).
type SSMAPI interface {
	GetParameter(ctx context.Context, name string, decrypt bool) (p ssmclient.Parameter, found bool, err error)
}

// RollbackTimeout bounds a rollback that a cancellation (SIGINT, SIGTERM)
// started: it runs on a context of its own, and the command's grace after
// the signal is longer.
const RollbackTimeout = 2 * time.Minute

// Timing holds how often lambda-deploy polls, how it backs off and how
// long a rollback may take. Tests shorten it; DefaultTiming is for real
// use.
type Timing struct {
	lambdaalias.Timing
	// AlarmEvery is how often alarms are read while a traffic share is held.
	AlarmEvery time.Duration
	// Rollback bounds a rollback after a cancellation; 0 is RollbackTimeout.
	Rollback time.Duration
}

// DefaultTiming polls a running update four times a second at first and
// at least once a second, and reads alarms every 30 s.
func DefaultTiming() Timing {
	return Timing{Timing: lambdaalias.DefaultTiming(), AlarmEvery: 30 * time.Second, Rollback: RollbackTimeout}
}

// Deps are the clients and settings Run works with.
type Deps struct {
	Lambda     LambdaAPI
	CloudWatch alarms.API // needed only with alarms
	ECR        ECRAPI
	SSM        SSMAPI // needed only with a tag parameter
	// Region is the AWS region of the clients; it names the registry when
	// the image is given as a repository name and tag.
	Region string
	Log    action.Logger
	Timing Timing
}

// deployer is one run: what it read, what it changed, what it would put
// back.
type deployer struct {
	p   *Plan
	d   Deps
	t   Timing
	o   lambdaalias.Options
	log action.Logger
	res *Result

	img       ecrref.Image // the checked image, with its digest
	latest    *types.FunctionConfiguration
	code      *types.FunctionCodeLocation
	envKnown  bool   // $LATEST's variables could be read
	revision  string // $LATEST's revision as this deploy last saw it
	newEnv    map[string]string
	envDiff   envDiff
	imageSame bool

	alias       *lambdaalias.Alias // as last read or written; nil: it did not exist
	aliasBefore lambdaalias.Alias
	aliasMoved  bool
	prevVersion string

	latestChanged bool // $LATEST's code or configuration was changed
	armed         bool // a failure from here on is rolled back
	watch         *alarms.Watch
	state         lambdaalias.PreviousState
}

// Run carries out a plan (from Config.Validate) and returns what it did.
// The Result is returned with the error too once something was changed, so
// that outputs such as rolled-back are written when the deploy fails; a run
// that fails before any change returns no result, only its error.
func Run(ctx context.Context, p *Plan, d Deps) (*Result, error) {
	if p == nil {
		return nil, exitcode.Incompletef("internal error: Run needs the plan Config.Validate returns")
	}
	t := d.Timing
	if t.PollMin == 0 {
		t = DefaultTiming()
	}
	if t.AlarmEvery <= 0 {
		t.AlarmEvery = DefaultTiming().AlarmEvery
	}
	if t.Rollback <= 0 {
		t.Rollback = RollbackTimeout
	}
	dp := &deployer{p: p, d: d, t: t, log: d.Log, res: &Result{
		Function: p.function, Alias: p.alias, Strategy: p.strategy, DryRun: p.dryRun, Plan: []string{}, Events: []string{},
	}}
	if dp.log == nil {
		dp.log = nopLogger{}
	}
	dp.o = lambdaalias.Options{Timeout: p.timeout, Timing: t.Timing, Log: dp.log}
	err := p.checkRegion(d.Region)
	if err == nil {
		err = dp.run(ctx)
	}
	if err != nil && dp.armed && !isConcurrentChange(err) {
		err = dp.rollback(ctx, err)
	}
	if err != nil && !dp.armed {
		return nil, err
	}
	if err != nil {
		dp.res.Failure = err.Error()
	}
	return dp.res, err
}

// run is the deploy from start to end: read everything, record, change
// $LATEST, publish, test, shift.
func (dp *deployer) run(ctx context.Context) error {
	if err := dp.resolveImage(ctx); err != nil {
		return err
	}
	if err := dp.readFunction(ctx); err != nil {
		return err
	}
	if err := dp.readAlias(ctx); err != nil {
		return err
	}
	if err := dp.startWatch(ctx); err != nil {
		return err
	}
	dp.describe()
	if dp.p.dryRun {
		dp.res.Events = append(dp.res.Events, "dry run: nothing was changed")
		return nil
	}
	dp.log.Logf("plan:\n  %s", joinLines(dp.res.Plan))
	if err := dp.prepareFiles(); err != nil {
		return err
	}

	// From the first change on, a failure is rolled back.
	dp.armed = true
	if dp.alias != nil && dp.alias.Version == "$LATEST" {
		if err := dp.keepLatest(ctx); err != nil {
			return err
		}
	}
	if !dp.imageSame {
		if err := dp.updateCode(ctx, dp.img.String(), "updating the code"); err != nil {
			return err
		}
	}
	if dp.envDiff.any() {
		if err := dp.updateEnv(ctx, dp.newEnv, "updating the environment"); err != nil {
			return err
		}
	}
	if err := dp.publish(ctx); err != nil {
		return err
	}
	if err := dp.smoke(ctx, dp.res.Version, "before it takes traffic"); err != nil {
		return err
	}
	if err := dp.checkAlarms(ctx, "after publishing"); err != nil {
		return err
	}
	return dp.shift(ctx)
}

func (dp *deployer) event(s string) {
	dp.res.Events = append(dp.res.Events, s)
	dp.log.Logf("%s", s)
}

func (dp *deployer) sleep(ctx context.Context, d time.Duration) error {
	if dp.t.Sleep != nil {
		return dp.t.Sleep(ctx, d)
	}
	return wait.Sleep(ctx, d)
}

type nopLogger struct{}

func (nopLogger) Logf(string, ...any)     {}
func (nopLogger) Warningf(string, ...any) {}
