package lambdadeploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/mlship/mlship/internal/exitcode"
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

// CloudWatchAPI is the part of the CloudWatch API lambda-deploy calls.
type CloudWatchAPI interface {
	DescribeAlarms(context.Context, *cloudwatch.DescribeAlarmsInput, ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
}

// ECRAPI is the part of the ECR API lambda-deploy calls.
type ECRAPI interface {
	DescribeImages(context.Context, *ecr.DescribeImagesInput, ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error)
}

// SSMAPI is the part of the SSM API lambda-deploy calls.
type SSMAPI interface {
	GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// Logger reports progress and warnings.
type Logger interface {
	Logf(format string, args ...any)
	Warningf(format string, args ...any)
}

// Timing holds how often lambda-deploy polls and how it backs off. Tests
// shorten it; DefaultTiming is for real use.
type Timing struct {
	// PollMin and PollMax bound the SDK waiters' delay between GetFunction
	// calls while an update runs. PollMax also bounds how late the end of
	// an update is noticed.
	PollMin, PollMax time.Duration
	// ConflictMin and ConflictMax bound the backoff (with jitter) after a
	// ResourceConflictException.
	ConflictMin, ConflictMax time.Duration
	// AlarmEvery is how often alarms are read while a traffic share is held.
	AlarmEvery time.Duration
	// Sleep waits for d or until ctx ends; nil uses a timer. Tests replace
	// it to run minutes-long canaries at once.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultTiming polls a running update four times a second at first and
// at least once a second, and reads alarms every 30 s.
func DefaultTiming() Timing {
	return Timing{
		PollMin: 250 * time.Millisecond, PollMax: time.Second,
		ConflictMin: 500 * time.Millisecond, ConflictMax: 8 * time.Second,
		AlarmEvery: 30 * time.Second,
	}
}

// Deps are the clients and settings Run works with.
type Deps struct {
	Lambda     LambdaAPI
	CloudWatch CloudWatchAPI // needed only with alarms
	ECR        ECRAPI
	SSM        SSMAPI // needed only with a tag parameter
	// Region is the AWS region of the clients; it names the registry when
	// the image is given as a repository name and tag.
	Region string
	Log    Logger
	Timing Timing
}

type deployer struct {
	cfg *Config
	d   Deps
	t   Timing
	log Logger
	res *Result

	img       *ImageRef
	latest    *types.FunctionConfiguration
	code      *types.FunctionCodeLocation
	revision  string // $LATEST's revision as this deploy last saw it
	newEnv    map[string]string
	envDiff   envDiff
	imageSame bool

	aliasFound    bool
	aliasVersion  string
	aliasWeights  map[string]float64
	aliasRevision string
	aliasMoved    bool
	prevVersion   string

	latestChanged bool // $LATEST's code or configuration was changed
	armed         bool // a failure from here on is rolled back
	alarms        *alarmWatch
	alarmStates   map[string]alarmState
	state         PreviousState
}

// Run deploys cfg (validated) and returns what it did. The Result is
// returned with the error too, so that outputs such as rolled-back are
// written when the deploy fails.
func Run(ctx context.Context, cfg *Config, d Deps) (*Result, error) {
	if d.Timing.PollMin == 0 {
		d.Timing = DefaultTiming()
	}
	dp := &deployer{cfg: cfg, d: d, t: d.Timing, log: d.Log, res: &Result{
		Function: cfg.Function, Alias: cfg.Alias, Strategy: cfg.Strategy, DryRun: cfg.DryRun,
	}}
	if dp.log == nil {
		dp.log = nopLogger{}
	}
	err := dp.run(ctx)
	if err != nil && dp.armed && !isConcurrentChange(err) {
		err = dp.rollback(ctx, err)
	}
	if err != nil {
		dp.res.Failure = err.Error()
	}
	return dp.res, err
}

func (dp *deployer) run(ctx context.Context) error {
	cfg := dp.cfg
	if err := dp.resolveImage(ctx); err != nil {
		return err
	}
	if err := dp.readFunction(ctx); err != nil {
		return err
	}
	if err := dp.readAlias(ctx); err != nil {
		return err
	}
	if err := dp.watchAlarms(ctx); err != nil {
		return err
	}
	dp.plan()
	if cfg.DryRun {
		dp.event("dry run: nothing was changed")
		return nil
	}
	if err := dp.writeState(); err != nil {
		return err
	}

	if dp.aliasFound && dp.aliasVersion == "$LATEST" {
		if err := dp.keepLatest(ctx); err != nil {
			return err
		}
	}
	if !dp.cfg.hasAlias() {
		dp.armed = true // from the first change of $LATEST on
	}
	if !dp.imageSame {
		if err := dp.updateCode(ctx, dp.img.URI, "updating the code"); err != nil {
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
	dp.armed = true
	if err := dp.smoke(ctx, dp.res.Version, "before it takes traffic"); err != nil {
		return err
	}
	if err := dp.checkAlarms(ctx, "after publishing"); err != nil {
		return err
	}
	return dp.shift(ctx)
}

// ---- image ----

func (dp *deployer) resolveImage(ctx context.Context) error {
	cfg := dp.cfg
	var ref ImageRef
	switch {
	case cfg.Image != nil:
		ref = *cfg.Image
	case cfg.TagParameter != "":
		val, err := dp.readParameter(ctx)
		if err != nil {
			return err
		}
		if cfg.Repository == "" {
			r, err := ParseImageURI(val)
			if err != nil {
				return exitcode.BadInputf("tag-parameter: %s holds %q, which is not an image URI (give --repository when it holds a tag)", cfg.TagParameter, val)
			}
			if err := cfg.CheckRegion(dp.d.Region); err != nil {
				return err
			}
			if r.Region != dp.d.Region && dp.d.Region != "" {
				return exitcode.BadInputf("tag-parameter: the image %s is in %s, not in the function's region %s", val, r.Region, dp.d.Region)
			}
			ref = *r
		} else {
			if !tagRe.MatchString(val) {
				return exitcode.BadInputf("tag-parameter: %s holds %q, which is not an image tag", cfg.TagParameter, val)
			}
			ref = dp.repoImage(val)
		}
	default:
		ref = dp.repoImage(cfg.Tag)
	}

	in := &ecr.DescribeImagesInput{RepositoryName: aws.String(ref.Repository)}
	if ref.Registry != "" {
		in.RegistryId = aws.String(ref.Registry)
	}
	id := ecrtypes.ImageIdentifier{}
	if ref.Digest != "" {
		id.ImageDigest = aws.String(ref.Digest)
	}
	if ref.Tag != "" {
		id.ImageTag = aws.String(ref.Tag)
	}
	in.ImageIds = []ecrtypes.ImageIdentifier{id}
	out, err := dp.d.ECR.DescribeImages(ctx, in)
	var inf *ecrtypes.ImageNotFoundException
	var rnf *ecrtypes.RepositoryNotFoundException
	switch {
	case errors.As(err, &inf), errors.As(err, &rnf):
		return exitcode.Failedf("checking the image: %s does not exist in ECR (%s); nothing was changed", imageName(ref), apiMessage(err))
	case err != nil:
		return exitcode.Incompletef("checking the image %s in ECR: %w", imageName(ref), err)
	case len(out.ImageDetails) == 0:
		return exitcode.Failedf("checking the image: %s does not exist in ECR; nothing was changed", imageName(ref))
	}
	det := out.ImageDetails[0]
	ref.Digest = aws.ToString(det.ImageDigest)
	if ref.Registry == "" {
		ref.Registry = aws.ToString(det.RegistryId)
		ref.Host = registryHost(ref.Registry, dp.d.Region)
		ref.Region = dp.d.Region
	}
	if ref.URI == "" {
		ref.URI = ref.Host + "/" + ref.Repository + ":" + ref.Tag
	}
	dp.img = &ref
	dp.res.ImageURI = ref.URI
	dp.res.ImageDigest = ref.Digest
	dp.log.Logf("image %s exists in ECR (%s)", ref.URI, ref.Digest)
	return nil
}

func (dp *deployer) repoImage(tag string) ImageRef {
	if r := dp.cfg.repoRef; r != nil {
		ref := *r
		ref.Tag = tag
		ref.URI = ref.Host + "/" + ref.Repository + ":" + tag
		return ref
	}
	return ImageRef{Repository: dp.cfg.Repository, Tag: tag}
}

func (dp *deployer) readParameter(ctx context.Context) (string, error) {
	name := dp.cfg.TagParameter
	if dp.d.SSM == nil {
		return "", exitcode.Incompletef("reading %s: no SSM client", name)
	}
	out, err := dp.d.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	var nf *ssmtypes.ParameterNotFound
	switch {
	case errors.As(err, &nf):
		return "", exitcode.BadInputf("tag-parameter: SSM parameter %s does not exist", name)
	case err != nil:
		return "", exitcode.Incompletef("reading SSM parameter %s: %w", name, err)
	case out.Parameter == nil || strings.TrimSpace(aws.ToString(out.Parameter.Value)) == "":
		return "", exitcode.BadInputf("tag-parameter: SSM parameter %s is empty", name)
	}
	val := strings.TrimSpace(aws.ToString(out.Parameter.Value))
	dp.log.Logf("SSM parameter %s holds %s", name, val)
	return val, nil
}

func registryHost(account, region string) string {
	host := account + ".dkr.ecr." + region + ".amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		host += ".cn"
	}
	return host
}

func imageName(r ImageRef) string {
	if r.URI != "" {
		return r.URI
	}
	if r.Tag != "" {
		return r.Repository + ":" + r.Tag
	}
	return r.Repository + "@" + r.Digest
}

// ---- reading the function and alias ----

func (dp *deployer) readFunction(ctx context.Context) error {
	out, err := dp.getFunction(ctx)
	if err != nil {
		return err
	}
	cfg := out.Configuration
	if cfg.PackageType != types.PackageTypeImage {
		return exitcode.BadInputf("function: %s is a %s function; lambda-deploy deploys container images", dp.cfg.Function, strings.ToLower(string(cmp.Or(cfg.PackageType, "Zip"))))
	}
	if cfg.State == types.StatePending || cfg.LastUpdateStatus == types.LastUpdateStatusInProgress {
		dp.log.Logf("%s: an update started elsewhere is in progress (State %s, LastUpdateStatus %s); waiting for it to finish", dp.cfg.Function, cfg.State, cfg.LastUpdateStatus)
		if _, err := dp.waitUpdated(ctx, "waiting for an update started elsewhere", true); err != nil {
			return err
		}
		if out, err = dp.getFunction(ctx); err != nil {
			return err
		}
		cfg = out.Configuration
	}
	if cfg.State == types.StateFailed || cfg.LastUpdateStatus == types.LastUpdateStatusFailed {
		dp.log.Warningf("%s is in state %s, last update %s (%s); this deploy will update it", dp.cfg.Function, cfg.State, cfg.LastUpdateStatus, cmp.Or(aws.ToString(cfg.StateReason), aws.ToString(cfg.LastUpdateStatusReason)))
	}
	dp.latest, dp.code = cfg, out.Code
	dp.revision = aws.ToString(cfg.RevisionId)
	dp.res.FunctionARN = aws.ToString(cfg.FunctionArn)

	cur := resolvedDigest(out.Code)
	dp.imageSame = cur != "" && cur == dp.img.Digest
	var env map[string]string
	if cfg.Environment != nil {
		env = cfg.Environment.Variables
	}
	dp.newEnv, dp.envDiff = mergeEnv(env, dp.cfg.Env, dp.cfg.Unset)
	if n := envSize(dp.newEnv); n > 4096 {
		return exitcode.BadInputf("env: with these changes %s's variables would take %d bytes; Lambda allows 4 KB", dp.cfg.Function, n)
	}
	return nil
}

func (dp *deployer) getFunction(ctx context.Context) (*lambda.GetFunctionOutput, error) {
	out, err := dp.d.Lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(dp.cfg.Function)})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		return nil, exitcode.BadInputf("function: %s does not exist in this account and region", dp.cfg.Function)
	case err != nil:
		return nil, exitcode.Incompletef("reading function %s: %w", dp.cfg.Function, err)
	case out.Configuration == nil:
		return nil, exitcode.Incompletef("reading function %s: no configuration returned", dp.cfg.Function)
	}
	return out, nil
}

func (dp *deployer) readAlias(ctx context.Context) error {
	if !dp.cfg.hasAlias() {
		return nil
	}
	out, err := dp.d.Lambda.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(dp.cfg.Function), Name: aws.String(dp.cfg.Alias)})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		dp.log.Logf("alias %s does not exist yet; it will be created on the new version", dp.cfg.Alias)
		if dp.cfg.Strategy != AllAtOnce {
			dp.log.Warningf("alias %s does not exist: there is no previous version to shift traffic from, so the %s shift becomes all-at-once", dp.cfg.Alias, dp.cfg.Strategy)
		}
		return nil
	case err != nil:
		return exitcode.Incompletef("reading alias %s of %s: %w", dp.cfg.Alias, dp.cfg.Function, err)
	}
	dp.aliasFound = true
	dp.aliasVersion = aws.ToString(out.FunctionVersion)
	dp.aliasRevision = aws.ToString(out.RevisionId)
	if out.RoutingConfig != nil && len(out.RoutingConfig.AdditionalVersionWeights) > 0 {
		dp.aliasWeights = maps.Clone(out.RoutingConfig.AdditionalVersionWeights)
		dp.log.Warningf("alias %s already routes traffic to more than one version (%s on %s, %s): an earlier shift did not finish; this deploy replaces that routing",
			dp.cfg.Alias, dp.aliasVersion, primaryShare(dp.aliasWeights), formatWeights(dp.aliasWeights))
	}
	dp.prevVersion = dp.aliasVersion
	dp.res.PreviousVersion = dp.aliasVersion
	return nil
}

// keepLatest publishes the current $LATEST, which the alias points at, so
// that there is a version to shift from and to roll back to.
func (dp *deployer) keepLatest(ctx context.Context) error {
	out, err := dp.publishVersion(ctx, aws.ToString(dp.latest.CodeSha256), "lambda-deploy: previous $LATEST, kept for rollback")
	if err != nil {
		return err
	}
	dp.prevVersion = aws.ToString(out.Version)
	dp.res.PreviousVersion = dp.prevVersion
	dp.state.KeptVersion = dp.prevVersion
	if err := dp.writeState(); err != nil {
		return err
	}
	dp.event(fmt.Sprintf("alias %s pointed at $LATEST: published its code as version %s to shift from and roll back to", dp.cfg.Alias, dp.prevVersion))
	return nil
}

// ---- changing $LATEST ----

// updateCode points $LATEST at image and waits until the update is done.
func (dp *deployer) updateCode(ctx context.Context, image, what string) error {
	err := dp.retryConflict(ctx, what, func(ctx context.Context) error {
		out, err := dp.d.Lambda.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
			FunctionName: aws.String(dp.cfg.Function), ImageUri: aws.String(image), RevisionId: aws.String(dp.revision),
		})
		if err == nil {
			dp.revision = aws.ToString(out.RevisionId)
		}
		return err
	})
	if err != nil {
		return dp.changeErr(what, err)
	}
	dp.latestChanged = true
	dp.log.Logf("%s of %s to %s: started", what, dp.cfg.Function, image)
	if err := dp.waitOwnUpdate(ctx, what); err != nil {
		return err
	}
	dp.event(fmt.Sprintf("%s: %s now runs %s", what, dp.cfg.Function, image))
	return nil
}

// updateEnv sets $LATEST's environment to env (the whole set, as Lambda
// replaces it) and waits until the update is done.
func (dp *deployer) updateEnv(ctx context.Context, env map[string]string, what string) error {
	if env == nil {
		env = map[string]string{}
	}
	err := dp.retryConflict(ctx, what, func(ctx context.Context) error {
		out, err := dp.d.Lambda.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
			FunctionName: aws.String(dp.cfg.Function), Environment: &types.Environment{Variables: env}, RevisionId: aws.String(dp.revision),
		})
		if err == nil {
			dp.revision = aws.ToString(out.RevisionId)
		}
		return err
	})
	if err != nil {
		return dp.changeErr(what, err)
	}
	dp.latestChanged = true
	if err := dp.waitOwnUpdate(ctx, what); err != nil {
		return err
	}
	dp.event(fmt.Sprintf("%s: %s", what, dp.envDiff.describe(dp.cfg.Env)))
	return nil
}

func (dp *deployer) publish(ctx context.Context) error {
	out, err := dp.publishVersion(ctx, "", "lambda-deploy: "+dp.img.URI)
	if err != nil {
		return err
	}
	v := aws.ToString(out.Version)
	dp.res.Version = v
	dp.res.CodeSha256 = aws.ToString(out.CodeSha256)
	if d := "sha256:" + dp.res.CodeSha256; dp.img.Digest != "" && d != dp.img.Digest {
		dp.log.Warningf("the image tag moved after it was checked: version %s runs %s, not %s", v, d, dp.img.Digest)
	}
	if out.State != types.StateActive {
		w := lambda.NewFunctionActiveV2Waiter(dp.d.Lambda, func(o *lambda.FunctionActiveV2WaiterOptions) {
			o.MinDelay, o.MaxDelay = dp.t.PollMin, dp.t.PollMax
		})
		if err := w.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(dp.cfg.Function), Qualifier: aws.String(v)}, dp.cfg.Timeout); err != nil {
			return dp.waitErr(ctx, fmt.Sprintf("waiting for version %s to be Active", v), err)
		}
	}
	if v == dp.prevVersion {
		dp.event(fmt.Sprintf("version %s already holds this code and configuration; no new version published", v))
	} else {
		dp.res.Changed = true
		dp.event(fmt.Sprintf("published version %s", v))
	}
	return nil
}

func (dp *deployer) publishVersion(ctx context.Context, codeSha, desc string) (*lambda.PublishVersionOutput, error) {
	var out *lambda.PublishVersionOutput
	err := dp.retryConflict(ctx, "publishing a version", func(ctx context.Context) error {
		in := &lambda.PublishVersionInput{FunctionName: aws.String(dp.cfg.Function), RevisionId: aws.String(dp.revision), Description: aws.String(truncate(desc, 256))}
		if codeSha != "" {
			in.CodeSha256 = aws.String(codeSha)
		}
		var err error
		out, err = dp.d.Lambda.PublishVersion(ctx, in)
		return err
	})
	if err != nil {
		return nil, dp.changeErr("publishing a version", err)
	}
	return out, nil
}

// waitOwnUpdate waits for the update this deploy started and takes the
// revision it ends with as this deploy's own: the end of an update, Failed
// as well as Successful, changes the RevisionId.
func (dp *deployer) waitOwnUpdate(ctx context.Context, what string) error {
	cfg, err := dp.waitUpdated(ctx, what, false)
	if cfg != nil {
		dp.revision = aws.ToString(cfg.RevisionId)
	}
	return err
}

// waitUpdated waits with the SDK's FunctionUpdatedV2 waiter until $LATEST's
// last update is no longer InProgress, then (if it is coming back from
// Inactive) with FunctionActiveV2 until it is Active. A Failed update is an
// error naming LastUpdateStatusReason, returned with the configuration,
// unless acceptFailed.
func (dp *deployer) waitUpdated(ctx context.Context, what string, acceptFailed bool) (*types.FunctionConfiguration, error) {
	in := &lambda.GetFunctionInput{FunctionName: aws.String(dp.cfg.Function)}
	start := time.Now()
	w := lambda.NewFunctionUpdatedV2Waiter(dp.d.Lambda, func(o *lambda.FunctionUpdatedV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = dp.t.PollMin, dp.t.PollMax
		o.Retryable = func(_ context.Context, _ *lambda.GetFunctionInput, out *lambda.GetFunctionOutput, err error) (bool, error) {
			if err != nil {
				return false, err
			}
			if out.Configuration == nil {
				return true, nil
			}
			return out.Configuration.LastUpdateStatus == types.LastUpdateStatusInProgress, nil
		}
	})
	out, err := w.WaitForOutput(ctx, in, dp.cfg.Timeout)
	if err != nil {
		return nil, dp.waitErr(ctx, what, err)
	}
	cfg := out.Configuration
	if cfg.LastUpdateStatus == types.LastUpdateStatusFailed && !acceptFailed {
		var moved string
		if dp.cfg.hasAlias() && !dp.aliasMoved {
			moved = "; the alias was not moved"
		}
		return cfg, exitcode.Failedf("%s of %s: the update failed (%s): %s%s", what, dp.cfg.Function,
			cmp.Or(cfg.LastUpdateStatusReasonCode, "no reason code"), cmp.Or(aws.ToString(cfg.LastUpdateStatusReason), "no reason given"), moved)
	}
	if cfg.State != types.StateActive && cfg.State != "" {
		aw := lambda.NewFunctionActiveV2Waiter(dp.d.Lambda, func(o *lambda.FunctionActiveV2WaiterOptions) {
			o.MinDelay, o.MaxDelay = dp.t.PollMin, dp.t.PollMax
		})
		aout, err := aw.WaitForOutput(ctx, in, dp.cfg.Timeout)
		if err != nil && !acceptFailed {
			return nil, dp.waitErr(ctx, what+" (waiting for State Active)", err)
		}
		if aout != nil {
			cfg = aout.Configuration
		}
	}
	dp.log.Logf("%s: done in %s (State %s, LastUpdateStatus %s)", what, time.Since(start).Round(time.Millisecond), cfg.State, cfg.LastUpdateStatus)
	return cfg, nil
}

func (dp *deployer) waitErr(ctx context.Context, what string, err error) error {
	var api smithy.APIError
	switch {
	case ctx.Err() != nil:
		return exitcode.Incompletef("%s: %v", what, ctx.Err())
	case errors.As(err, &api):
		return exitcode.Incompletef("%s: %w", what, err)
	case strings.Contains(err.Error(), "Failure"):
		var reason string
		if out, gerr := dp.d.Lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(dp.cfg.Function)}); gerr == nil && out.Configuration != nil {
			reason = ": " + cmp.Or(aws.ToString(out.Configuration.StateReason), aws.ToString(out.Configuration.LastUpdateStatusReason))
		}
		return exitcode.Failedf("%s of %s: the function entered state Failed%s", what, dp.cfg.Function, reason)
	default:
		return exitcode.Incompletef("%s of %s: not finished after --timeout %s", what, dp.cfg.Function, dp.cfg.Timeout)
	}
}

// retryConflict calls fn until it is not refused with
// ResourceConflictException (an update in progress), backing off with
// jitter, for at most --timeout.
func (dp *deployer) retryConflict(ctx context.Context, what string, fn func(context.Context) error) error {
	deadline := time.Now().Add(dp.cfg.Timeout)
	delay := dp.t.ConflictMin
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		var rc *types.ResourceConflictException
		if !errors.As(err, &rc) {
			return err
		}
		if time.Now().Add(delay).After(deadline) {
			return exitcode.Incompletef("%s of %s: another update was still in progress after --timeout %s (%s)", what, dp.cfg.Function, dp.cfg.Timeout, apiMessage(err))
		}
		if attempt == 1 {
			dp.log.Logf("%s: %s is busy (%s); retrying with backoff", what, dp.cfg.Function, apiMessage(err))
		}
		wait := delay/2 + rand.N(delay/2+1)
		if err := dp.sleep(ctx, wait); err != nil {
			return exitcode.Incompletef("%s: %v", what, err)
		}
		delay = min(2*delay, dp.t.ConflictMax)
	}
}

func (dp *deployer) sleep(ctx context.Context, d time.Duration) error {
	if dp.t.Sleep != nil {
		return dp.t.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// concurrentChange is a change refused because someone else changed the
// function or alias since this deploy read it.
type concurrentChange struct{ err error }

func (c *concurrentChange) Error() string { return c.err.Error() }
func (c *concurrentChange) Unwrap() error { return c.err }

func isConcurrentChange(err error) bool {
	var c *concurrentChange
	return errors.As(err, &c)
}

// changeErr explains a refused change.
func (dp *deployer) changeErr(what string, err error) error {
	var pf *types.PreconditionFailedException
	var rc *types.ResourceConflictException
	var ex *exitcode.Error
	switch {
	case errors.As(err, &ex):
		return err
	case errors.As(err, &pf):
		return &concurrentChange{exitcode.Failedf("%s of %s: the function was changed by someone else after this deploy read it (revision %s is no longer current; another deploy?); stopped without overwriting that change",
			what, dp.cfg.Function, dp.revision)}
	case errors.As(err, &rc):
		return exitcode.Incompletef("%s of %s: %s", what, dp.cfg.Function, apiMessage(err))
	default:
		return exitcode.Incompletef("%s of %s: %w", what, dp.cfg.Function, err)
	}
}

// ---- traffic ----

func (dp *deployer) shift(ctx context.Context) error {
	cfg := dp.cfg
	v := dp.res.Version
	if !cfg.hasAlias() {
		return dp.hold(ctx, cfg.Steps[len(cfg.Steps)-1].Hold, "after the update")
	}
	if !dp.aliasFound {
		out, err := dp.d.Lambda.CreateAlias(ctx, &lambda.CreateAliasInput{
			FunctionName: aws.String(cfg.Function), Name: aws.String(cfg.Alias), FunctionVersion: aws.String(v),
			Description: aws.String("managed by lambda-deploy"),
		})
		var rc *types.ResourceConflictException
		if errors.As(err, &rc) {
			return &concurrentChange{exitcode.Failedf("creating alias %s of %s: it was created by someone else meanwhile; stopped without changing it", cfg.Alias, cfg.Function)}
		} else if err != nil {
			return exitcode.Incompletef("creating alias %s of %s: %w", cfg.Alias, cfg.Function, err)
		}
		dp.aliasRevision = aws.ToString(out.RevisionId)
		dp.aliasMoved = true
		dp.event(fmt.Sprintf("created alias %s on version %s", cfg.Alias, v))
		if err := dp.smoke(ctx, cfg.Alias, "after promotion"); err != nil {
			return err
		}
		return dp.hold(ctx, cfg.Steps[len(cfg.Steps)-1].Hold, "after promotion")
	}
	if dp.aliasVersion == v && len(dp.aliasWeights) == 0 {
		dp.event(fmt.Sprintf("alias %s already on version %s with no routing; nothing to shift", cfg.Alias, v))
		return dp.hold(ctx, cfg.Steps[len(cfg.Steps)-1].Hold, "after promotion")
	}
	steps := cfg.Steps
	if dp.prevVersion == v {
		steps = steps[len(steps)-1:] // only the routing left to clear
	}
	for _, s := range steps {
		if s.Weight < 1 {
			if err := dp.updateAlias(ctx, dp.prevVersion, map[string]float64{v: s.Weight}); err != nil {
				return err
			}
			dp.event(fmt.Sprintf("alias %s: %s of traffic on version %s, the rest on %s", cfg.Alias, pct(s.Weight), v, dp.prevVersion))
			if err := dp.smoke(ctx, v, fmt.Sprintf("at %s", pct(s.Weight))); err != nil {
				return err
			}
			if err := dp.hold(ctx, s.Hold, fmt.Sprintf("at %s", pct(s.Weight))); err != nil {
				return err
			}
			continue
		}
		if err := dp.updateAlias(ctx, v, map[string]float64{}); err != nil {
			return err
		}
		dp.event(fmt.Sprintf("alias %s: all traffic on version %s (was %s)", cfg.Alias, v, dp.prevVersion))
		if err := dp.smoke(ctx, cfg.Alias, "after promotion"); err != nil {
			return err
		}
		if err := dp.hold(ctx, s.Hold, "after promotion"); err != nil {
			return err
		}
	}
	return nil
}

// updateAlias moves the alias, refusing to overwrite a change made by
// someone else since this deploy last read or wrote it.
func (dp *deployer) updateAlias(ctx context.Context, version string, weights map[string]float64) error {
	out, err := dp.d.Lambda.UpdateAlias(ctx, &lambda.UpdateAliasInput{
		FunctionName: aws.String(dp.cfg.Function), Name: aws.String(dp.cfg.Alias), FunctionVersion: aws.String(version),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: weights},
		RevisionId:    aws.String(dp.aliasRevision),
	})
	var pf *types.PreconditionFailedException
	switch {
	case errors.As(err, &pf):
		return &concurrentChange{exitcode.Failedf("moving alias %s of %s: the alias was changed by someone else after this deploy read it (another deploy?); left as they set it", dp.cfg.Alias, dp.cfg.Function)}
	case err != nil:
		return exitcode.Incompletef("moving alias %s of %s to version %s: %w", dp.cfg.Alias, dp.cfg.Function, version, err)
	}
	dp.aliasRevision = aws.ToString(out.RevisionId)
	dp.aliasMoved = true
	return nil
}

// hold watches the alarms for d, reading them every Timing.AlarmEvery.
func (dp *deployer) hold(ctx context.Context, d time.Duration, when string) error {
	if d <= 0 {
		return dp.checkAlarms(ctx, when)
	}
	if dp.alarms == nil {
		dp.log.Logf("holding %s for %s", when, d)
		if err := dp.sleep(ctx, d); err != nil {
			return exitcode.Incompletef("holding %s: %v", when, err)
		}
		return nil
	}
	dp.log.Logf("holding %s for %s, reading alarms every %s", when, d, min(d, dp.t.AlarmEvery))
	for left := d; left > 0; {
		step := min(left, dp.t.AlarmEvery)
		if err := dp.sleep(ctx, step); err != nil {
			return exitcode.Incompletef("holding %s: %v", when, err)
		}
		left -= step
		if err := dp.checkAlarms(ctx, when); err != nil {
			return err
		}
	}
	return nil
}

// ---- rollback ----

func (dp *deployer) rollback(ctx context.Context, cause error) error {
	if dp.cfg.NoRollback {
		dp.event("--no-rollback: left as it is for inspection")
		return fmt.Errorf("%w; not rolled back (--no-rollback)", cause)
	}
	// Roll back even when the deploy was cancelled or timed out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(dp.cfg.Timeout, time.Minute))
	defer cancel()
	if dp.cfg.hasAlias() {
		return dp.rollbackAlias(ctx, cause)
	}
	return dp.rollbackLatest(ctx, cause)
}

func (dp *deployer) rollbackAlias(ctx context.Context, cause error) error {
	cfg := dp.cfg
	if dp.prevVersion == "" {
		dp.event(fmt.Sprintf("no previous version of alias %s to roll back to", cfg.Alias))
		return fmt.Errorf("%w; not rolled back: alias %s had no previous version", cause, cfg.Alias)
	}
	if dp.aliasMoved || len(dp.aliasWeights) > 0 || dp.aliasVersion != dp.prevVersion {
		if err := dp.updateAlias(ctx, dp.prevVersion, map[string]float64{}); err != nil {
			dp.event("rollback failed: " + err.Error())
			return fmt.Errorf("%w; rolling back failed: %v", cause, err)
		}
		dp.event(fmt.Sprintf("rolled back: alias %s on version %s with no routing", cfg.Alias, dp.prevVersion))
	} else {
		dp.event(fmt.Sprintf("rolled back: alias %s was not moved and stays on version %s", cfg.Alias, dp.prevVersion))
	}
	dp.res.RolledBack = true
	return fmt.Errorf("%w; rolled back: alias %s is on version %s", cause, cfg.Alias, dp.prevVersion)
}

// rollbackLatest restores $LATEST's image (by digest, so a moved tag does
// not matter) and environment when no alias is used.
func (dp *deployer) rollbackLatest(ctx context.Context, cause error) error {
	if !dp.latestChanged {
		return cause
	}
	cur, err := dp.getFunction(ctx)
	if err != nil {
		return fmt.Errorf("%w; rolling back failed: %v", cause, err)
	}
	if cur.Configuration.LastUpdateStatus == types.LastUpdateStatusInProgress {
		// The deploy's own update, when it was stopped while waiting: its
		// end changes the revision.
		ours := aws.ToString(cur.Configuration.RevisionId) == dp.revision
		if _, err := dp.waitUpdated(ctx, "waiting before the rollback", true); err != nil {
			return fmt.Errorf("%w; rolling back failed: %v", cause, err)
		}
		if cur, err = dp.getFunction(ctx); err != nil {
			return fmt.Errorf("%w; rolling back failed: %v", cause, err)
		}
		if ours {
			dp.revision = aws.ToString(cur.Configuration.RevisionId)
		}
	}
	if rev := aws.ToString(cur.Configuration.RevisionId); rev != dp.revision {
		dp.event("rollback skipped: the function was changed by someone else meanwhile")
		return fmt.Errorf("%w; not rolled back: %s was changed by someone else meanwhile", cause, dp.cfg.Function)
	}
	prevImage := aws.ToString(dp.code.ResolvedImageUri)
	if prevImage == "" {
		prevImage = aws.ToString(dp.code.ImageUri)
	}
	if resolvedDigest(cur.Code) != resolvedDigest(dp.code) {
		if err := dp.updateCode(ctx, prevImage, "rolling back the code"); err != nil {
			dp.event("rollback failed: " + err.Error())
			return fmt.Errorf("%w; rolling back failed: %v", cause, err)
		}
	}
	var prevEnv map[string]string
	if dp.latest.Environment != nil {
		prevEnv = dp.latest.Environment.Variables
	}
	var curEnv map[string]string
	if cur.Configuration.Environment != nil {
		curEnv = cur.Configuration.Environment.Variables
	}
	if !maps.Equal(prevEnv, curEnv) {
		dp.envDiff = envDiff{restored: true}
		if err := dp.updateEnv(ctx, prevEnv, "rolling back the environment"); err != nil {
			dp.event("rollback failed: " + err.Error())
			return fmt.Errorf("%w; rolling back failed: %v", cause, err)
		}
	}
	dp.res.RolledBack = true
	dp.event(fmt.Sprintf("rolled back: $LATEST runs %s again", prevImage))
	return fmt.Errorf("%w; rolled back: $LATEST runs %s again", cause, prevImage)
}

// ---- helpers ----

func (dp *deployer) event(s string) {
	dp.res.Events = append(dp.res.Events, s)
	dp.log.Logf("%s", s)
}

func (c *Config) hasAlias() bool { return c.Alias != "" }

func resolvedDigest(code *types.FunctionCodeLocation) string {
	if code == nil {
		return ""
	}
	if _, d, ok := strings.Cut(aws.ToString(code.ResolvedImageUri), "@"); ok {
		return d
	}
	if _, d, ok := strings.Cut(aws.ToString(code.ImageUri), "@"); ok {
		return d
	}
	return ""
}

func apiMessage(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		if m := api.ErrorMessage(); m != "" {
			return api.ErrorCode() + ": " + m
		}
		return api.ErrorCode()
	}
	return err.Error()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func pct(w float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.4f", w*100), "0"), ".") + "%"
}

func formatWeights(w map[string]float64) string {
	keys := slices.Sorted(maps.Keys(w))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s on %s", pct(w[k]), k))
	}
	return strings.Join(parts, ", ")
}

func primaryShare(w map[string]float64) string {
	sum := 0.0
	for _, v := range w {
		sum += v
	}
	return pct(1 - sum)
}

type nopLogger struct{}

func (nopLogger) Logf(string, ...any)     {}
func (nopLogger) Warningf(string, ...any) {}
