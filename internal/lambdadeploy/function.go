package lambdadeploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/lambdaalias"
)

// readFunction reads $LATEST (waiting for an update started elsewhere to
// end) and works out what changes: the image, and the variables merged
// into the current ones.
func (dp *deployer) readFunction(ctx context.Context) error {
	out, err := dp.getFunction(ctx)
	if err != nil {
		return err
	}
	cfg := out.Configuration
	if cfg.PackageType != types.PackageTypeImage {
		return bad("function", dp.p.function, "a %s function; lambda-deploy deploys container images", strings.ToLower(string(cmp.Or(cfg.PackageType, "Zip"))))
	}
	if cfg.State == types.StatePending || cfg.LastUpdateStatus == types.LastUpdateStatusInProgress {
		dp.log.Logf("%s: an update started elsewhere is in progress (State %s, LastUpdateStatus %s); waiting for it to finish", dp.p.function, cfg.State, cfg.LastUpdateStatus)
		if _, err := dp.waitUpdated(ctx, "waiting for an update started elsewhere"); err != nil && !isFailedUpdate(err) {
			return err
		}
		if out, err = dp.getFunction(ctx); err != nil {
			return err
		}
		cfg = out.Configuration
	}
	if cfg.State == types.StateFailed || cfg.LastUpdateStatus == types.LastUpdateStatusFailed {
		dp.log.Warningf("%s is in state %s, last update %s (%s); this deploy will update it", dp.p.function, cfg.State, cfg.LastUpdateStatus, cmp.Or(aws.ToString(cfg.StateReason), aws.ToString(cfg.LastUpdateStatusReason)))
	}
	dp.latest, dp.code = cfg, out.Code
	dp.revision = aws.ToString(cfg.RevisionId)
	dp.res.FunctionARN = aws.ToString(cfg.FunctionArn)

	cur := resolvedDigest(out.Code)
	dp.imageSame = cur != "" && cur == dp.img.Digest

	var env map[string]string
	dp.envKnown = true
	if e := cfg.Environment; e != nil {
		env = e.Variables
		if e.Error != nil {
			// A value that could not be read is not an empty value: the
			// variables are never written back from nothing.
			dp.envKnown = false
			reason := cmp.Or(aws.ToString(e.Error.ErrorCode), "an error") + ": " + aws.ToString(e.Error.Message)
			if !dp.p.replaceEnv {
				return exitcode.Incompletef("reading the environment of %s: Lambda could not return its variables (%s); nothing was changed. To set the whole environment anew, give --replace-env with every variable the function needs", dp.p.function, reason)
			}
			dp.log.Warningf("the variables of %s cannot be read (%s); --replace-env sets the %d given as the whole environment, and a rollback cannot restore the old ones", dp.p.function, reason, len(dp.p.env))
		}
	}
	dp.newEnv, dp.envDiff = mergeEnv(env, dp.envKnown, dp.p.env, dp.p.unset, dp.p.replaceEnv)
	if n := envSize(dp.newEnv); n > maxEnv {
		return exitcode.BadInputf("--env: with these changes the variables of %s would take %d bytes; Lambda allows 4 KB", dp.p.function, n)
	}
	return nil
}

func (dp *deployer) getFunction(ctx context.Context) (*lambda.GetFunctionOutput, error) {
	out, err := dp.d.Lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(dp.p.function)})
	switch {
	case lambdaalias.IsNotFound(err):
		return nil, bad("function", dp.p.function, "does not exist in this account and region")
	case err != nil:
		return nil, exitcode.Incompletef("reading function %s: %w", dp.p.function, err)
	case out.Configuration == nil:
		return nil, exitcode.Incompletef("reading function %s: no configuration returned", dp.p.function)
	}
	return out, nil
}

// updateCode points $LATEST at image and waits until the update is done.
func (dp *deployer) updateCode(ctx context.Context, image, what string) error {
	err := lambdaalias.RetryConflict(ctx, dp.o, what, func(ctx context.Context) error {
		out, err := dp.d.Lambda.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
			FunctionName: aws.String(dp.p.function), ImageUri: aws.String(image), RevisionId: aws.String(dp.revision),
		})
		if err == nil {
			dp.revision = aws.ToString(out.RevisionId)
		}
		return err
	})
	if err != nil {
		return dp.changeErr(ctx, what, err)
	}
	dp.latestChanged = true
	dp.log.Logf("%s of %s to %s: started", what, dp.p.function, image)
	if err := dp.waitOwnUpdate(ctx, what); err != nil {
		return err
	}
	dp.event(fmt.Sprintf("%s: %s now runs %s", what, dp.p.function, image))
	return nil
}

// updateEnv sets $LATEST's environment to env (the whole set, as Lambda
// replaces it) and waits until the update is done.
func (dp *deployer) updateEnv(ctx context.Context, env map[string]string, what string) error {
	if env == nil {
		env = map[string]string{}
	}
	err := lambdaalias.RetryConflict(ctx, dp.o, what, func(ctx context.Context) error {
		out, err := dp.d.Lambda.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
			FunctionName: aws.String(dp.p.function), Environment: &types.Environment{Variables: env}, RevisionId: aws.String(dp.revision),
		})
		if err == nil {
			dp.revision = aws.ToString(out.RevisionId)
		}
		return err
	})
	if err != nil {
		return dp.changeErr(ctx, what, err)
	}
	dp.latestChanged = true
	if err := dp.waitOwnUpdate(ctx, what); err != nil {
		return err
	}
	dp.event(fmt.Sprintf("%s: %s", what, dp.envDiff.describe(dp.p.env)))
	return nil
}

// publish publishes $LATEST as a version and waits until it is Active.
func (dp *deployer) publish(ctx context.Context) error {
	desc := "lambda-deploy: " + dp.img.String()
	if dp.img.Tag != "" {
		desc = "lambda-deploy: " + dp.img.Repo() + ":" + dp.img.Tag + "@" + dp.img.Digest
	}
	out, err := dp.publishVersion(ctx, "", desc)
	if err != nil {
		return err
	}
	v := aws.ToString(out.Version)
	dp.res.Version = v
	dp.res.CodeSha256 = aws.ToString(out.CodeSha256)
	if d := "sha256:" + dp.res.CodeSha256; d != dp.img.Digest {
		dp.log.Warningf("version %s runs %s, not the image checked (%s)", v, d, dp.img.Digest)
	}
	if out.State != types.StateActive {
		what := fmt.Sprintf("waiting for version %s to be Active", v)
		if _, err := lambdaalias.WaitVersionActive(ctx, dp.d.Lambda, dp.p.function, v, dp.o); err != nil {
			return dp.waitErr(ctx, what, err)
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
	err := lambdaalias.RetryConflict(ctx, dp.o, "publishing a version", func(ctx context.Context) error {
		in := &lambda.PublishVersionInput{FunctionName: aws.String(dp.p.function), RevisionId: aws.String(dp.revision), Description: aws.String(truncate(desc, 256))}
		if codeSha != "" {
			in.CodeSha256 = aws.String(codeSha)
		}
		var err error
		out, err = dp.d.Lambda.PublishVersion(ctx, in)
		return err
	})
	if err != nil {
		return nil, dp.changeErr(ctx, "publishing a version", err)
	}
	return out, nil
}

// waitOwnUpdate waits for the update this deploy started and takes the
// revision it ends with as this deploy's own: the end of an update, Failed
// as well as Successful, changes the RevisionId.
func (dp *deployer) waitOwnUpdate(ctx context.Context, what string) error {
	cfg, err := dp.waitUpdated(ctx, what)
	if cfg != nil {
		dp.revision = aws.ToString(cfg.RevisionId)
	}
	return err
}

// waitUpdated waits for $LATEST's update to end and says how it ended, as
// an error with its exit code.
func (dp *deployer) waitUpdated(ctx context.Context, what string) (*types.FunctionConfiguration, error) {
	cfg, err := lambdaalias.WaitUpdated(ctx, dp.d.Lambda, dp.p.function, dp.o)
	if err != nil {
		return cfg, dp.waitErr(ctx, what, err)
	}
	dp.log.Logf("%s: done (State %s, LastUpdateStatus %s)", what, cfg.State, cfg.LastUpdateStatus)
	return cfg, nil
}

// waitErr gives a wait's error its exit code: a failed update or function
// is a failed check (1), the rest could not finish (3).
func (dp *deployer) waitErr(ctx context.Context, what string, err error) error {
	var uf *lambdaalias.UpdateFailedError
	var sf *lambdaalias.StateFailedError
	var te *lambdaalias.TimeoutError
	var moved string
	if dp.p.hasAlias() && !dp.aliasMoved {
		moved = "; the alias was not moved"
	}
	switch {
	case errors.As(err, &uf):
		return &failedUpdate{exitcode.Failedf("%s of %s: the update failed (%s): %s%s", what, dp.p.function,
			cmp.Or(string(uf.Code), "no reason code"), cmp.Or(uf.Reason, "no reason given"), moved)}
	case errors.As(err, &sf):
		return &failedUpdate{exitcode.Failedf("%s of %s: the function entered state Failed (%s): %s%s", what, dp.p.function,
			cmp.Or(string(sf.Code), "no reason code"), cmp.Or(sf.Reason, "no reason given"), moved)}
	case errors.As(err, &te):
		return exitcode.Incompletef("%s of %s: not finished after --timeout %s", what, dp.p.function, dp.p.timeout)
	case ctx.Err() != nil:
		return exitcode.Incompletef("%s: interrupted (%v)", what, ctx.Err())
	default:
		return exitcode.Incompletef("%s: %w", what, err)
	}
}

// failedUpdate is an update Lambda ended Failed, or a function that
// entered State Failed.
type failedUpdate struct{ err error }

func (f *failedUpdate) Error() string { return f.err.Error() }
func (f *failedUpdate) Unwrap() error { return f.err }

func isFailedUpdate(err error) bool {
	var f *failedUpdate
	return errors.As(err, &f)
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

// changeErr explains a refused change of $LATEST.
func (dp *deployer) changeErr(ctx context.Context, what string, err error) error {
	var busy *lambdaalias.BusyError
	switch {
	case lambdaalias.IsChanged(err):
		return &concurrentChange{exitcode.Failedf("%s of %s: the function was changed by someone else after this deploy read it (revision %s is no longer current; another deploy?); stopped without overwriting that change",
			what, dp.p.function, dp.revision)}
	case errors.As(err, &busy):
		return exitcode.Incompletef("%s of %s: %v (--timeout %s)", what, dp.p.function, busy, dp.p.timeout)
	case ctx.Err() != nil:
		return exitcode.Incompletef("%s of %s: interrupted (%v)", what, dp.p.function, ctx.Err())
	default:
		return exitcode.Incompletef("%s of %s: %w", what, dp.p.function, err)
	}
}

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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
