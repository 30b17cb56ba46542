package lambdadeploy

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/mlship/mlship/internal/exitcode"
)

// StateSchema names the format of the previous-state record.
const StateSchema = "mlship.lambda-deploy.previous-state/v1"

// PreviousState is what the function and alias were before a deploy
// changed them, written as JSON before the first change so that a later
// job (or health-rollback) can put the alias back exactly. Environment
// values are not recorded, only their names: they may be secret.
type PreviousState struct {
	Schema       string    `json:"schema"`
	RecordedAt   time.Time `json:"recordedAt"`
	FunctionName string    `json:"functionName"`
	FunctionARN  string    `json:"functionArn"`
	// Alias is the alias's state; nil when the deploy used no alias.
	Alias *AliasState `json:"alias,omitempty"`
	// KeptVersion is set when the alias pointed at $LATEST: the version the
	// deploy published of the old $LATEST, to restore instead of $LATEST.
	KeptVersion string      `json:"keptVersion,omitempty"`
	Latest      LatestState `json:"latest"`
	Deploy      DeployState `json:"deploy"`
}

// AliasState is an alias as it was.
type AliasState struct {
	Name   string `json:"name"`
	Exists bool   `json:"exists"`
	// FunctionVersion and AdditionalVersionWeights are the routing to
	// restore: UpdateAlias with both (an empty map removes routing).
	FunctionVersion          string             `json:"functionVersion,omitempty"`
	AdditionalVersionWeights map[string]float64 `json:"additionalVersionWeights,omitempty"`
	RevisionID               string             `json:"revisionId,omitempty"`
}

// LatestState is $LATEST as it was.
type LatestState struct {
	ImageURI         string   `json:"imageUri"`
	ResolvedImageURI string   `json:"resolvedImageUri,omitempty"`
	CodeSha256       string   `json:"codeSha256"`
	RevisionID       string   `json:"revisionId"`
	EnvironmentKeys  []string `json:"environmentKeys"`
}

// DeployState is what the deploy set out to do.
type DeployState struct {
	ImageURI    string `json:"imageUri"`
	ImageDigest string `json:"imageDigest"`
	Strategy    string `json:"strategy"`
}

func (dp *deployer) recordState() {
	cfg := dp.cfg
	st := PreviousState{
		Schema:       StateSchema,
		RecordedAt:   time.Now().UTC(),
		FunctionName: aws.ToString(dp.latest.FunctionName),
		FunctionARN:  aws.ToString(dp.latest.FunctionArn),
		KeptVersion:  dp.state.KeptVersion,
		Latest: LatestState{
			ImageURI:         aws.ToString(dp.code.ImageUri),
			ResolvedImageURI: aws.ToString(dp.code.ResolvedImageUri),
			CodeSha256:       aws.ToString(dp.latest.CodeSha256),
			RevisionID:       aws.ToString(dp.latest.RevisionId),
			EnvironmentKeys:  []string{},
		},
		Deploy: DeployState{ImageURI: dp.img.URI, ImageDigest: dp.img.Digest, Strategy: cfg.Strategy},
	}
	if dp.latest.Environment != nil {
		st.Latest.EnvironmentKeys = slices.Sorted(maps.Keys(dp.latest.Environment.Variables))
	}
	if cfg.hasAlias() {
		st.Alias = &AliasState{Name: cfg.Alias, Exists: dp.aliasFound}
		if dp.aliasFound {
			st.Alias.FunctionVersion = dp.aliasVersion
			st.Alias.AdditionalVersionWeights = maps.Clone(dp.aliasWeights)
			st.Alias.RevisionID = dp.aliasRevision
		}
	}
	dp.state = st
}

// writeState records the previous state in cfg.StateFile.
func (dp *deployer) writeState() error {
	dp.recordState()
	if dp.cfg.StateFile == "" {
		return nil
	}
	b, err := json.MarshalIndent(dp.state, "", "  ")
	if err != nil {
		return exitcode.Incompletef("recording the previous state: %w", err)
	}
	if err := os.WriteFile(dp.cfg.StateFile, append(b, '\n'), 0o600); err != nil {
		return exitcode.Incompletef("recording the previous state: %w", err)
	}
	dp.res.PreviousStateFile = dp.cfg.StateFile
	return nil
}

// plan says what the deploy will do, from what was read; it is logged
// before any change and is the whole output of a dry run.
func (dp *deployer) plan() {
	cfg := dp.cfg
	var lines []string
	add := func(label, format string, args ...any) {
		lines = append(lines, fmt.Sprintf("%-9s %s", label, fmt.Sprintf(format, args...)))
	}
	add("function", "%s (State %s, last update %s)", dp.res.FunctionARN, dp.latest.State, dp.latest.LastUpdateStatus)
	cur := aws.ToString(dp.code.ImageUri)
	if dp.imageSame {
		add("image", "unchanged: %s (%s)", cur, dp.img.Digest)
	} else {
		add("image", "%s -> %s (%s)", cur, dp.img.URI, dp.img.Digest)
	}
	env := dp.envDiff.describe(cfg.Env)
	if len(dp.envDiff.notPresent) > 0 {
		env += fmt.Sprintf(" (not set, nothing to unset: %s)", strings.Join(dp.envDiff.notPresent, ", "))
	}
	add("env", "%s", env)
	if dp.aliasFound && dp.aliasVersion == "$LATEST" {
		add("version", "publish the current $LATEST first (the alias points at it), to shift from and roll back to")
	}
	if dp.imageSame && !dp.envDiff.any() {
		add("version", "publish (Lambda returns the existing version when $LATEST has not changed since it)")
	} else {
		add("version", "publish a new version of the updated $LATEST")
	}
	switch {
	case !cfg.hasAlias():
		add("alias", "none: only $LATEST is updated and a version published")
	case !dp.aliasFound:
		add("alias", "%s does not exist: create it on the new version", cfg.Alias)
	default:
		add("alias", "%s: version %s -> the new version, %s", cfg.Alias, dp.aliasVersion, describeSteps(cfg))
	}
	if cfg.Payload != nil {
		var exp []string
		if cfg.ExpectStatus != 0 {
			exp = append(exp, fmt.Sprintf("statusCode=%d", cfg.ExpectStatus))
		}
		for _, e := range cfg.Expect {
			exp = append(exp, e.Path+"="+e.Raw)
		}
		check := "no function error"
		if len(exp) > 0 {
			check += ", " + strings.Join(exp, ", ")
		}
		add("smoke", "invoke with the %d-byte payload before any traffic and after each shift; expect %s", len(cfg.Payload), check)
	} else {
		add("smoke", "none (no --payload)")
	}
	if len(cfg.Alarms) > 0 {
		var parts []string
		for _, n := range cfg.Alarms {
			s := dp.alarmStates[n]
			p := fmt.Sprintf("%s (%s", n, s.state)
			if s.state == "ALARM" {
				p += ", firing before the deploy"
			}
			parts = append(parts, p+")")
		}
		add("alarms", "%s, read between steps", strings.Join(parts, ", "))
	}
	switch {
	case cfg.NoRollback:
		add("rollback", "off (--no-rollback): a failed check leaves everything for inspection")
	case !cfg.hasAlias():
		add("rollback", "on a failed check, $LATEST goes back to %s and its previous variables", cmp.Or(aws.ToString(dp.code.ResolvedImageUri), aws.ToString(dp.code.ImageUri)))
	case !dp.aliasFound:
		add("rollback", "none possible: the alias has no previous version")
	default:
		add("rollback", "on a failed check, alias %s goes back to version %s with no routing", cfg.Alias, dp.prevVersionForPlan())
	}
	dp.res.Plan = lines
	dp.log.Logf("plan:\n  %s", strings.Join(lines, "\n  "))
}

func (dp *deployer) prevVersionForPlan() string {
	if dp.aliasVersion == "$LATEST" {
		return "(the published copy of $LATEST)"
	}
	return dp.aliasVersion
}

func describeSteps(cfg *Config) string {
	last := cfg.Steps[len(cfg.Steps)-1]
	var s string
	switch cfg.Strategy {
	case Canary:
		s = fmt.Sprintf("canary: %s for %s, then 100%%", pct(cfg.Steps[0].Weight), cfg.Steps[0].Hold)
	case Linear:
		n := len(cfg.Steps) - 1
		s = fmt.Sprintf("linear: %s more every %s (%d step%s), then 100%%", pct(cfg.Steps[0].Weight), cfg.Interval, n, plural(n))
	default:
		s = "all at once"
	}
	if last.Hold > 0 {
		s += fmt.Sprintf(", then watched for %s", last.Hold)
	}
	return s
}
