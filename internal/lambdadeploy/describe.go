package lambdadeploy

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/mlship/mlship/internal/lambdaalias"
)

// describe says what the deploy will do, from what was read: it is logged
// before any change and is the whole output of a dry run.
func (dp *deployer) describe() {
	p := dp.p
	var lines []string
	add := func(label, format string, args ...any) {
		lines = append(lines, fmt.Sprintf("%-9s %s", label, fmt.Sprintf(format, args...)))
	}
	add("function", "%s (State %s, last update %s)", dp.res.FunctionARN, dp.latest.State, dp.latest.LastUpdateStatus)
	cur := aws.ToString(dp.code.ImageUri)
	checked := dp.img.String()
	if dp.img.Tag != "" {
		checked += " (tag " + dp.img.Tag + ")"
	}
	if dp.imageSame {
		add("image", "unchanged: %s", checked)
	} else {
		add("image", "%s -> %s", cur, checked)
	}
	env := dp.envDiff.describe(p.env)
	if len(dp.envDiff.notPresent) > 0 {
		env += fmt.Sprintf(" (not set, nothing to unset: %s)", strings.Join(dp.envDiff.notPresent, ", "))
	}
	add("env", "%s", env)
	if dp.alias != nil && dp.alias.Version == "$LATEST" {
		add("version", "publish the current $LATEST first (the alias points at it), to shift from and roll back to")
	}
	if dp.imageSame && !dp.envDiff.any() {
		add("version", "publish (Lambda returns the existing version when $LATEST has not changed since it)")
	} else {
		add("version", "publish a new version of the updated $LATEST")
	}
	switch {
	case !p.hasAlias():
		add("alias", "none: only $LATEST is updated and a version published")
	case dp.alias == nil:
		add("alias", "%s does not exist: create it on the new version", p.alias)
	default:
		add("alias", "%s: version %s -> the new version, %s", p.alias, dp.alias.Version, describeSteps(p))
	}
	if p.payload != nil {
		var exp []string
		if p.expectStatus != 0 {
			exp = append(exp, fmt.Sprintf("statusCode=%d", p.expectStatus))
		}
		for _, e := range p.expect {
			exp = append(exp, e.Path+"="+e.Raw)
		}
		check := "no function error"
		if len(exp) > 0 {
			check += ", " + strings.Join(exp, ", ")
		}
		add("smoke", "invoke with the %d-byte payload before any traffic and after each shift; expect %s", len(p.payload), check)
	} else {
		add("smoke", "none (no --payload)")
	}
	if dp.watch != nil {
		var parts []string
		for _, n := range dp.watch.Names() {
			s := dp.watch.Initial(n)
			part := fmt.Sprintf("%s (%s", n, s.Value)
			if s.Firing() {
				part += ", firing before the deploy"
			}
			parts = append(parts, part+")")
		}
		add("alarms", "%s, read between steps", strings.Join(parts, ", "))
	}
	prevImage := cmp.Or(aws.ToString(dp.code.ResolvedImageUri), aws.ToString(dp.code.ImageUri))
	switch {
	case p.noRollback:
		add("rollback", "off (--no-rollback): a failed check leaves everything for inspection")
	case !p.hasAlias():
		add("rollback", "on a failed check, $LATEST goes back to %s and its previous variables", prevImage)
	case dp.alias == nil:
		add("rollback", "on a failed check, $LATEST goes back to %s; the new alias has no previous version", prevImage)
	default:
		add("rollback", "on a failed check, alias %s goes back to version %s with no routing, then $LATEST to %s and its previous variables", p.alias, dp.prevVersionForPlan(), prevImage)
	}
	dp.res.Plan = lines
}

func (dp *deployer) prevVersionForPlan() string {
	if dp.alias.Version == "$LATEST" {
		return "(the published copy of $LATEST)"
	}
	return dp.alias.Version
}

func describeSteps(p *Plan) string {
	last := p.steps[len(p.steps)-1]
	var s string
	switch p.strategy {
	case Canary:
		s = fmt.Sprintf("canary: %s for %s, then 100%%", lambdaalias.Percent(p.steps[0].Weight), p.steps[0].Hold)
	case Linear:
		n := len(p.steps) - 1
		s = fmt.Sprintf("linear: %s more every %s (%d step%s), then 100%%", lambdaalias.Percent(p.steps[0].Weight), p.interval, n, plural(n))
	default:
		s = "all at once"
	}
	if last.Hold > 0 {
		s += fmt.Sprintf(", then watched for %s", last.Hold)
	}
	return s
}

func joinLines(lines []string) string { return strings.Join(lines, "\n  ") }
