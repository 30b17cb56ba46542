package lambdadeploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/mlship/mlship/internal/alarms"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/lambdaalias"
)

// readAlias reads the alias the deploy moves, if any.
func (dp *deployer) readAlias(ctx context.Context) error {
	p := dp.p
	if !p.hasAlias() {
		return nil
	}
	a, err := lambdaalias.Get(ctx, dp.d.Lambda, p.function, p.alias)
	switch {
	case lambdaalias.IsNotFound(err):
		dp.log.Logf("alias %s does not exist yet; it will be created on the new version", p.alias)
		if p.strategy != AllAtOnce {
			dp.log.Warningf("alias %s does not exist: there is no previous version to shift traffic from, so the %s shift becomes all-at-once", p.alias, p.strategy)
		}
		return nil
	case err != nil:
		return exitcode.Incompletef("%w", err)
	}
	dp.alias, dp.aliasBefore = &a, a
	if a.Routed() {
		dp.log.Warningf("alias %s already routes traffic to more than one version (%s): an earlier shift did not finish; this deploy replaces that routing", p.alias, a)
	}
	dp.prevVersion = a.Version
	dp.res.PreviousVersion = a.Version
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
	dp.event(fmt.Sprintf("alias %s pointed at $LATEST: published its code as version %s to shift from and roll back to", dp.p.alias, dp.prevVersion))
	return nil
}

// shift moves the alias to the new version step by step, testing and
// watching after each step, and ends with no routing left.
func (dp *deployer) shift(ctx context.Context) error {
	p := dp.p
	v := dp.res.Version
	last := p.steps[len(p.steps)-1]
	if !p.hasAlias() {
		return dp.hold(ctx, last.Hold, "after the update")
	}
	if dp.alias == nil {
		a, err := lambdaalias.Create(ctx, dp.d.Lambda, p.function, p.alias, v, "managed by lambda-deploy")
		switch {
		case lambdaalias.IsConflict(err):
			return &concurrentChange{exitcode.Failedf("creating alias %s of %s: it was created by someone else meanwhile; stopped without changing it", p.alias, p.function)}
		case err != nil:
			return exitcode.Incompletef("%w", err)
		}
		dp.alias, dp.aliasMoved = &a, true
		dp.event(fmt.Sprintf("created alias %s on version %s", p.alias, v))
		if err := dp.smoke(ctx, p.alias, "after promotion"); err != nil {
			return err
		}
		return dp.hold(ctx, last.Hold, "after promotion")
	}
	if dp.alias.Version == v && !dp.alias.Routed() {
		dp.event(fmt.Sprintf("alias %s already on version %s with no routing; nothing to shift", p.alias, v))
		return dp.hold(ctx, last.Hold, "after promotion")
	}
	steps := p.steps
	if dp.prevVersion == v {
		steps = steps[len(steps)-1:] // only the routing left to clear
	}
	for _, s := range steps {
		if s.Weight < 1 {
			at := "at " + lambdaalias.Percent(s.Weight)
			if err := dp.moveAlias(ctx, dp.prevVersion, map[string]float64{v: s.Weight}); err != nil {
				return err
			}
			dp.event(fmt.Sprintf("alias %s: %s of traffic on version %s, the rest on %s", p.alias, lambdaalias.Percent(s.Weight), v, dp.prevVersion))
			if err := dp.smoke(ctx, v, at); err != nil {
				return err
			}
			if err := dp.hold(ctx, s.Hold, at); err != nil {
				return err
			}
			continue
		}
		if err := dp.moveAlias(ctx, v, nil); err != nil {
			return err
		}
		dp.event(fmt.Sprintf("alias %s: all traffic on version %s (was %s)", p.alias, v, dp.prevVersion))
		if err := dp.smoke(ctx, p.alias, "after promotion"); err != nil {
			return err
		}
		if err := dp.hold(ctx, s.Hold, "after promotion"); err != nil {
			return err
		}
	}
	return nil
}

// moveAlias moves the alias, refusing to overwrite a change made by
// someone else since this deploy last read or wrote it.
func (dp *deployer) moveAlias(ctx context.Context, version string, weights map[string]float64) error {
	a, err := lambdaalias.Update(ctx, dp.d.Lambda, *dp.alias, version, weights, dp.o)
	if err != nil {
		return dp.aliasErr(ctx, err)
	}
	dp.alias, dp.aliasMoved = &a, true
	return nil
}

func (dp *deployer) aliasErr(ctx context.Context, err error) error {
	switch {
	case lambdaalias.IsChanged(err):
		return &concurrentChange{exitcode.Failedf("moving alias %s of %s: the alias was changed by someone else after this deploy read it (another deploy?); left as they set it", dp.p.alias, dp.p.function)}
	case ctx.Err() != nil:
		return exitcode.Incompletef("moving alias %s of %s: interrupted (%v)", dp.p.alias, dp.p.function, ctx.Err())
	default:
		return exitcode.Incompletef("%w", err)
	}
}

// hold watches the alarms for d, reading them every Timing.AlarmEvery.
func (dp *deployer) hold(ctx context.Context, d time.Duration, when string) error {
	if d <= 0 {
		return dp.checkAlarms(ctx, when)
	}
	if dp.watch == nil {
		dp.log.Logf("holding %s for %s", when, d)
		if err := dp.sleep(ctx, d); err != nil {
			return exitcode.Incompletef("holding %s: interrupted (%v)", when, err)
		}
		return nil
	}
	dp.log.Logf("holding %s for %s, reading alarms every %s", when, d, min(d, dp.t.AlarmEvery))
	for left := d; left > 0; {
		step := min(left, dp.t.AlarmEvery)
		if err := dp.sleep(ctx, step); err != nil {
			return exitcode.Incompletef("holding %s: interrupted (%v)", when, err)
		}
		left -= step
		if err := dp.checkAlarms(ctx, when); err != nil {
			return err
		}
	}
	return nil
}

// startWatch reads the alarms before anything changes.
func (dp *deployer) startWatch(ctx context.Context) error {
	p := dp.p
	if len(p.alarms) == 0 {
		return nil
	}
	if dp.d.CloudWatch == nil {
		return exitcode.Incompletef("reading alarms: no CloudWatch client")
	}
	w, err := alarms.Start(ctx, dp.d.CloudWatch, p.alarms)
	var missing *alarms.MissingError
	switch {
	case errors.As(err, &missing):
		return bad("alarm", missing.Names[0], "%v", err)
	case err != nil:
		return exitcode.Incompletef("%w", err)
	}
	firing := w.FiringBefore()
	for _, n := range firing {
		dp.log.Warningf("alarm %s is already firing before the deploy: %s", n, w.Initial(n).Reason)
	}
	dp.res.AlarmsFiringBefore = firing
	if len(firing) > 0 && p.requireAlarmsOK {
		return exitcode.Failedf("alarm %s already firing before the deploy and --require-alarms-ok is set; nothing was changed", strings.Join(firing, ", "))
	}
	dp.watch = w
	return nil
}

// checkAlarms fails when an alarm fires that was not firing before the
// deploy (or that cleared during it and fired again).
func (dp *deployer) checkAlarms(ctx context.Context, when string) error {
	if dp.watch == nil {
		return nil
	}
	fired, err := dp.watch.Check(ctx)
	var missing *alarms.MissingError
	switch {
	case errors.As(err, &missing):
		return exitcode.Incompletef("reading alarms %s: %v; the deploy cannot be watched", when, err)
	case err != nil:
		return exitcode.Incompletef("reading alarms %s: %w", when, err)
	case len(fired) > 0:
		var parts []string
		for _, s := range fired {
			parts = append(parts, fmt.Sprintf("%s (%s)", s.Name, s.Reason))
		}
		return exitcode.Failedf("alarm fired %s: %s", when, strings.Join(parts, "; "))
	}
	return nil
}
