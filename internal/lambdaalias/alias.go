// Package lambdaalias is what the tools that change a Lambda alias share:
// reading and moving an alias with its RevisionId (so that a change made
// meanwhile by someone else is refused, never overwritten), its weighted
// routing within Lambda's limits, rolling it back to a recorded version,
// retrying Lambda's ResourceConflictException with backoff, waiting for
// updates with the SDK's waiters, and the previous-state record
// lambda-deploy writes before its first change and health-rollback reads.
//
// Errors are typed (*BusyError, *UpdateFailedError, *StateFailedError,
// *TimeoutError, *RoutingError) or wrap the SDK's own, which IsChanged,
// IsConflict and IsNotFound recognise; nothing here matches message text.
package lambdaalias

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Getter is the Lambda call that reads an alias.
type Getter interface {
	GetAlias(context.Context, *lambda.GetAliasInput, ...func(*lambda.Options)) (*lambda.GetAliasOutput, error)
}

// Updater is the Lambda call that moves an alias.
type Updater interface {
	UpdateAlias(context.Context, *lambda.UpdateAliasInput, ...func(*lambda.Options)) (*lambda.UpdateAliasOutput, error)
}

// Creator is the Lambda call that creates an alias.
type Creator interface {
	CreateAlias(context.Context, *lambda.CreateAliasInput, ...func(*lambda.Options)) (*lambda.CreateAliasOutput, error)
}

// GetUpdater reads and moves aliases.
type GetUpdater interface {
	Getter
	Updater
}

// Alias is an alias as Lambda last reported it.
type Alias struct {
	Function string // as the caller named it (name or ARN)
	Name     string
	ARN      string
	// Version is the primary version; Weights the additional version and
	// its share of the traffic (none, or one entry).
	Version    string
	Weights    map[string]float64
	RevisionID string
}

// Routed reports whether the alias sends traffic to more than one version.
func (a Alias) Routed() bool { return len(a.Weights) > 0 }

// PrimaryShare is the share of traffic the primary version gets.
func (a Alias) PrimaryShare() float64 {
	sum := 0.0
	for _, w := range a.Weights {
		sum += w
	}
	return 1 - sum
}

// String describes the routing: "version 7", or "90% on 7, 10% on 8".
func (a Alias) String() string {
	if !a.Routed() {
		return "version " + a.Version
	}
	parts := []string{fmt.Sprintf("%s on %s", Percent(a.PrimaryShare()), a.Version)}
	for _, v := range slices.Sorted(maps.Keys(a.Weights)) {
		parts = append(parts, fmt.Sprintf("%s on %s", Percent(a.Weights[v]), v))
	}
	return strings.Join(parts, ", ")
}

// Get reads an alias. A missing alias (or function) is an error that
// IsNotFound recognises.
func Get(ctx context.Context, api Getter, function, name string) (Alias, error) {
	out, err := api.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(function), Name: aws.String(name)})
	if err != nil {
		return Alias{}, fmt.Errorf("reading alias %s of %s: %w", name, function, err)
	}
	return fromConfig(function, name, out.AliasArn, out.FunctionVersion, out.RoutingConfig, out.RevisionId), nil
}

func fromConfig(function, name string, arn, version *string, rc *types.AliasRoutingConfiguration, rev *string) Alias {
	a := Alias{Function: function, Name: name, ARN: aws.ToString(arn), Version: aws.ToString(version), RevisionID: aws.ToString(rev)}
	if rc != nil && len(rc.AdditionalVersionWeights) > 0 {
		a.Weights = maps.Clone(rc.AdditionalVersionWeights)
	}
	return a
}

// Create creates an alias on version with no routing. An alias that exists
// already is an error that IsConflict recognises (not retried).
func Create(ctx context.Context, api Creator, function, name, version, description string) (Alias, error) {
	out, err := api.CreateAlias(ctx, &lambda.CreateAliasInput{
		FunctionName: aws.String(function), Name: aws.String(name), FunctionVersion: aws.String(version), Description: aws.String(description),
	})
	if err != nil {
		return Alias{}, fmt.Errorf("creating alias %s of %s on version %s: %w", name, function, version, err)
	}
	return fromConfig(function, name, out.AliasArn, out.FunctionVersion, out.RoutingConfig, out.RevisionId), nil
}

// Update points cur's alias at version with weights as its additional
// routing (nil or empty: none), carrying cur.RevisionID: when someone else
// moved the alias since cur was read, Lambda refuses (IsChanged) and
// nothing is overwritten. Routing outside Lambda's limits is a
// *RoutingError, before any call. A ResourceConflictException is retried
// as RetryConflict does.
func Update(ctx context.Context, api Updater, cur Alias, version string, weights map[string]float64, o Options) (Alias, error) {
	if err := CheckRouting(version, weights); err != nil {
		return Alias{}, err
	}
	if weights == nil {
		weights = map[string]float64{}
	}
	what := fmt.Sprintf("moving alias %s of %s to version %s", cur.Name, cur.Function, version)
	in := &lambda.UpdateAliasInput{
		FunctionName: aws.String(cur.Function), Name: aws.String(cur.Name), FunctionVersion: aws.String(version),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: weights},
	}
	if cur.RevisionID != "" {
		in.RevisionId = aws.String(cur.RevisionID)
	}
	var out *lambda.UpdateAliasOutput
	err := RetryConflict(ctx, o, what, func(ctx context.Context) error {
		var err error
		out, err = api.UpdateAlias(ctx, in)
		return err
	})
	if err != nil {
		return Alias{}, fmt.Errorf("%s: %w", what, err)
	}
	return fromConfig(cur.Function, cur.Name, out.AliasArn, out.FunctionVersion, out.RoutingConfig, out.RevisionId), nil
}

// RoutingError is routing Lambda would refuse.
type RoutingError struct {
	Version string
	Weights map[string]float64
	Problem string
}

func (e *RoutingError) Error() string {
	return fmt.Sprintf("routing version %s with %v: %s", e.Version, e.Weights, e.Problem)
}

// CheckRouting applies Lambda's limits on an alias's routing: a primary
// version, at most one additional version, never $LATEST when there is
// routing, never the primary version again, and a weight more than 0 and
// less than 1 (Lambda takes 0 and 1 too, but neither routes anything).
func CheckRouting(version string, weights map[string]float64) error {
	bad := func(p string) error { return &RoutingError{Version: version, Weights: weights, Problem: p} }
	switch {
	case version == "":
		return bad("no primary version")
	case len(weights) == 0:
		return nil
	case len(weights) > 1:
		return bad("Lambda routes to at most one additional version")
	case version == "$LATEST":
		return bad("an alias on $LATEST cannot route by weight")
	}
	for v, w := range weights {
		switch {
		case v == "$LATEST":
			return bad("$LATEST cannot take a weight")
		case v == version:
			return bad("the additional version is the primary one")
		case !isVersion(v):
			return bad(fmt.Sprintf("%q is not a published version", v))
		case math.IsNaN(w) || w <= 0 || w >= 1:
			return bad(fmt.Sprintf("the weight %v is not more than 0 and less than 1", w))
		}
	}
	return nil
}

func isVersion(v string) bool {
	n, err := strconv.Atoi(v)
	return err == nil && n > 0
}

// RollBack points cur's alias back at version with no routing, the way a
// failed deploy is undone. cur is the alias as the caller last read or
// wrote it, so that a change made since by someone else is refused
// (IsChanged), never overwritten. It makes no call when the alias is there
// already.
func RollBack(ctx context.Context, api Updater, cur Alias, version string, o Options) (Alias, bool, error) {
	if cur.Version == version && !cur.Routed() {
		return cur, false, nil
	}
	a, err := Update(ctx, api, cur, version, nil, o)
	if err != nil {
		return cur, false, err
	}
	return a, true, nil
}

// RollBackTo reads the alias st names and points it back at the version st
// recorded (RollbackVersion), with no routing. It reports whether it moved
// the alias. A record without an alias, or of an alias that did not exist
// before the deploy, has no version to go back to: an error.
func RollBackTo(ctx context.Context, api GetUpdater, st *PreviousState, o Options) (Alias, bool, error) {
	version, err := st.RollbackVersion()
	if err != nil {
		return Alias{}, false, err
	}
	function := st.FunctionARN
	if function == "" {
		function = st.FunctionName
	}
	cur, err := Get(ctx, api, function, st.Alias.Name)
	if err != nil {
		return Alias{}, false, err
	}
	return RollBack(ctx, api, cur, version, o)
}

// Percent formats a weight as a percentage: 0.1 is "10%", 0.125 "12.5%".
func Percent(w float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.4f", w*100), "0"), ".") + "%"
}
