package lambdadeploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/mlship/mlship/internal/lambdaalias"
)

// rollback puts back what the deploy changed: first the alias (what serves
// traffic), then $LATEST's image and variables. It runs on a context of
// its own, so that a cancelled or timed-out deploy is still undone, bounded
// by Timing.Rollback after a cancellation.
func (dp *deployer) rollback(ctx context.Context, cause error) error {
	if dp.p.noRollback {
		dp.event("--no-rollback: left as it is for inspection")
		return fmt.Errorf("%w; not rolled back (--no-rollback)", cause)
	}
	bound := dp.t.Rollback
	if ctx.Err() == nil {
		bound = max(bound, dp.p.timeout)
	} else {
		dp.log.Logf("interrupted: rolling back now, for at most %s", bound)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bound)
	defer cancel()

	var done, failed []string
	touched := false
	if dp.p.hasAlias() {
		msg, moved, err := dp.rollbackAlias(ctx)
		if err != nil {
			failed = append(failed, err.Error())
		} else if msg != "" {
			done = append(done, msg)
		}
		touched = touched || moved
	}
	msg, changed, err := dp.rollbackLatest(ctx)
	if err != nil {
		failed = append(failed, err.Error())
	} else if msg != "" {
		done = append(done, msg)
	}
	touched = touched || changed

	switch {
	case len(failed) > 0:
		s := strings.Join(failed, "; ")
		if len(done) > 0 {
			s += " (" + strings.Join(done, "; ") + ")"
		}
		dp.event("rollback incomplete: " + s)
		return fmt.Errorf("%w; rolling back failed: %s", cause, s)
	case !touched:
		return cause
	}
	dp.res.RolledBack = true
	s := strings.Join(done, "; ")
	dp.event("rolled back: " + s)
	return fmt.Errorf("%w; rolled back: %s", cause, s)
}

// rollbackAlias points the alias back at the previous version with no
// routing. It reports whether it moved the alias.
func (dp *deployer) rollbackAlias(ctx context.Context) (string, bool, error) {
	p := dp.p
	if dp.prevVersion == "" {
		if !dp.aliasMoved {
			return "", false, nil
		}
		return "", false, fmt.Errorf("alias %s had no previous version (this deploy created it), so it stays on version %s", p.alias, dp.res.Version)
	}
	a, moved, err := lambdaalias.RollBack(ctx, dp.d.Lambda, *dp.alias, dp.prevVersion, dp.o)
	switch {
	case lambdaalias.IsChanged(err):
		return "", false, fmt.Errorf("alias %s was changed by someone else meanwhile; left as they set it", p.alias)
	case err != nil:
		return "", false, fmt.Errorf("moving alias %s back to version %s: %v", p.alias, dp.prevVersion, err)
	case !moved:
		return fmt.Sprintf("alias %s was not moved and stays on version %s", p.alias, dp.prevVersion), false, nil
	}
	dp.alias = &a
	return fmt.Sprintf("alias %s is on version %s with no routing", p.alias, dp.prevVersion), true, nil
}

// rollbackLatest restores $LATEST's image (by digest, so a moved tag does
// not matter) and variables, unless someone else changed it meanwhile. It
// reports whether it changed anything.
func (dp *deployer) rollbackLatest(ctx context.Context) (string, bool, error) {
	if !dp.latestChanged {
		return "", false, nil
	}
	cur, err := dp.getFunction(ctx)
	if err != nil {
		return "", false, err
	}
	if cur.Configuration.LastUpdateStatus == types.LastUpdateStatusInProgress {
		// The deploy's own update, when it was stopped while waiting: its
		// end changes the revision.
		ours := aws.ToString(cur.Configuration.RevisionId) == dp.revision
		if _, err := dp.waitUpdated(ctx, "waiting before the rollback"); err != nil && !isFailedUpdate(err) {
			return "", false, err
		}
		if cur, err = dp.getFunction(ctx); err != nil {
			return "", false, err
		}
		if ours {
			dp.revision = aws.ToString(cur.Configuration.RevisionId)
		}
	}
	prevImage := cmp.Or(aws.ToString(dp.code.ResolvedImageUri), aws.ToString(dp.code.ImageUri))
	codeNow, envNow := resolvedDigest(cur.Code), envOf(cur.Configuration)
	needCode := codeNow != resolvedDigest(dp.code)
	needEnv := dp.envKnown && !maps.Equal(envOf(dp.latest), envNow)
	if !needCode && !needEnv && dp.envKnown {
		return "", false, nil
	}
	// Ours when nothing changed it since this deploy did, or when it still
	// holds exactly what this deploy set (a publish may move the revision).
	rev := aws.ToString(cur.Configuration.RevisionId)
	if rev != dp.revision && (codeNow != dp.img.Digest || !maps.Equal(envNow, dp.newEnv)) {
		return "", false, fmt.Errorf("%s was changed by someone else meanwhile; $LATEST left as they set it", dp.p.function)
	}
	dp.revision = rev
	var done []string
	changed := false
	if needCode {
		if err := dp.updateCode(ctx, prevImage, "rolling back the code"); err != nil {
			return "", false, err
		}
		changed = true
		done = append(done, "$LATEST runs "+prevImage+" again")
	}
	if needEnv {
		dp.envDiff = envDiff{restored: true}
		if err := dp.updateEnv(ctx, envOf(dp.latest), "rolling back the environment"); err != nil {
			return strings.Join(done, ", "), changed, err
		}
		changed = true
		done = append(done, "its previous variables are set again")
	}
	if !dp.envKnown && dp.envDiff.any() {
		return strings.Join(done, ", "), changed, errors.New("the previous variables of " + dp.p.function + " could not be read, so they stay as --replace-env set them")
	}
	return strings.Join(done, ", "), changed, nil
}

func envOf(cfg *types.FunctionConfiguration) map[string]string {
	if cfg == nil || cfg.Environment == nil {
		return nil
	}
	return cfg.Environment.Variables
}
