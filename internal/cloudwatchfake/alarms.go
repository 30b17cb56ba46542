// Package cloudwatchfake is an in-memory CloudWatch alarm store for the
// tests of every tool that watches alarms. It answers DescribeAlarms as
// CloudWatch documents it:
//
//   - metric alarms only unless AlarmTypes asks for composite ones too;
//   - names that do not exist are left out silently, not an error;
//   - at most 100 AlarmNames (InvalidParameterValue beyond), MaxRecords
//     from 1 to 100 (default 50), results in pages joined by NextToken, and
//     a NextToken it did not hand out is InvalidNextToken;
//   - alarms sorted by name.
//
// BeforeCall injects errors (Throttling, AccessDenied) the way a real
// client would see them after its retries.
package cloudwatchfake

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	"github.com/mlship/mlship/internal/alarms"
)

// Alarms is a fake CloudWatch alarm store whose states tests set.
type Alarms struct {
	Region  string
	Account string
	// Now is the clock for state timestamps; nil means time.Now.
	Now func() time.Time
	// BeforeCall, when set, runs at the start of every call; an error it
	// returns is the call's result.
	BeforeCall func(ctx context.Context, op string) error

	mu     sync.Mutex
	alarms map[string]*alarm
	calls  int
}

type alarm struct {
	name      string
	composite bool
	state     cwtypes.StateValue
	reason    string
	updated   time.Time
}

// New returns an empty alarm store in us-east-1, account 123456789012.
func New() *Alarms {
	return &Alarms{Region: "us-east-1", Account: "123456789012", alarms: map[string]*alarm{}}
}

func (a *Alarms) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Add creates a metric alarm (or a composite one) in state.
func (a *Alarms) Add(name string, composite bool, state cwtypes.StateValue) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.alarms == nil {
		a.alarms = map[string]*alarm{}
	}
	a.alarms[name] = &alarm{name: name, composite: composite, state: state, reason: "set by test", updated: a.now()}
}

// Set changes an alarm's state, as CloudWatch does when its metric crosses
// the threshold (or a composite's rule becomes true).
func (a *Alarms) Set(name string, state cwtypes.StateValue, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	al := a.alarms[name]
	if al == nil {
		panic("cloudwatchfake: no alarm " + name)
	}
	al.state, al.reason, al.updated = state, reason, a.now()
}

// Delete removes an alarm, as DeleteAlarms would.
func (a *Alarms) Delete(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.alarms, name)
}

// Calls is how many DescribeAlarms calls were made (failed ones too).
func (a *Alarms) Calls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

// DescribeAlarms returns the named alarms (all of them without names) of
// the types asked for, a page at a time.
func (a *Alarms) DescribeAlarms(ctx context.Context, in *alarms.DescribeAlarmsInput) (*alarms.DescribeAlarmsOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.calls++
	a.mu.Unlock()
	if a.BeforeCall != nil {
		if err := a.BeforeCall(ctx, "DescribeAlarms"); err != nil {
			return nil, err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(in.AlarmNames) > 100 {
		return nil, apiError("InvalidParameterValue", fmt.Sprintf("The collection AlarmNames must not have a size greater than 100; got %d", len(in.AlarmNames)))
	}
	limit := int(in.MaxRecords)
	switch {
	case in.MaxRecords == 0:
		limit = 50
	case limit < 1 || limit > 100:
		return nil, apiError("InvalidParameterValue", fmt.Sprintf("MaxRecords must be between 1 and 100; got %d", limit))
	}
	kinds := in.AlarmTypes
	if len(kinds) == 0 {
		kinds = []string{alarms.TypeMetric}
	}
	for _, k := range kinds {
		if k != alarms.TypeMetric && k != alarms.TypeComposite {
			return nil, apiError("ValidationError", fmt.Sprintf("1 validation error detected: Value '[%s]' at 'alarmTypes' failed to satisfy constraint", k))
		}
	}
	names := slices.Clone(in.AlarmNames)
	if len(names) == 0 {
		for n := range a.alarms {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	var match []*alarm
	for _, n := range names {
		al := a.alarms[n]
		if al == nil || (in.StateValue != "" && string(al.state) != in.StateValue) {
			continue
		}
		kind := alarms.TypeMetric
		if al.composite {
			kind = alarms.TypeComposite
		}
		if slices.Contains(kinds, kind) {
			match = append(match, al)
		}
	}
	start := 0
	if tok := in.NextToken; tok != "" {
		i, err := strconv.Atoi(tok)
		if err != nil || i <= 0 || i > len(match) {
			return nil, apiError("InvalidNextToken", "The service cannot find the NextToken given.")
		}
		start = i
	}
	end := min(start+limit, len(match))
	out := &alarms.DescribeAlarmsOutput{}
	for _, al := range match[start:end] {
		d := alarms.Alarm{
			AlarmName: al.name, AlarmArn: fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", a.Region, a.Account, al.name),
			StateValue: string(al.state), StateReason: al.reason,
			StateUpdatedTimestamp: float64(al.updated.UnixMilli()) / 1000,
		}
		if al.composite {
			out.CompositeAlarms = append(out.CompositeAlarms, d)
		} else {
			out.MetricAlarms = append(out.MetricAlarms, d)
		}
	}
	if end < len(match) {
		out.NextToken = strconv.Itoa(end)
	}
	return out, nil
}

// apiError is an error CloudWatch answers, with its AWS Query code, as
// internal/alarms' client reports it.
func apiError(code, msg string) error {
	return &smithy.GenericAPIError{Code: code, Message: msg, Fault: smithy.FaultClient}
}

// Throttling is the error CloudWatch answers a caller over its rate, as
// the client reports it once its retries are spent.
func Throttling() error {
	return &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded", Fault: smithy.FaultClient}
}

// AccessDenied is the error an IAM policy without cloudwatch:<op> causes.
func AccessDenied(op string) error {
	return &smithy.GenericAPIError{
		Code:    "AccessDenied",
		Message: fmt.Sprintf("User: arn:aws:iam::123456789012:user/ci is not authorized to perform: cloudwatch:%s", op),
		Fault:   smithy.FaultClient,
	}
}
