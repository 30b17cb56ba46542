package lambdafake

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// Alarms is a fake CloudWatch alarm store: DescribeAlarms over metric and
// composite alarms whose state tests set. As in CloudWatch, DescribeAlarms
// returns metric alarms only unless AlarmTypes asks for others, silently
// leaves out names that do not exist, and takes at most 100 names.
type Alarms struct {
	// Now is the clock for state timestamps; nil means time.Now.
	Now func() time.Time

	mu     sync.Mutex
	alarms map[string]*fakeAlarm
}

type fakeAlarm struct {
	name      string
	composite bool
	state     cwtypes.StateValue
	reason    string
	updated   time.Time
}

// NewAlarms returns an empty alarm store.
func NewAlarms() *Alarms { return &Alarms{alarms: map[string]*fakeAlarm{}} }

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
		a.alarms = map[string]*fakeAlarm{}
	}
	a.alarms[name] = &fakeAlarm{name: name, composite: composite, state: state, reason: "set by test", updated: a.now()}
}

// Set changes an alarm's state, as CloudWatch would when its metric
// crosses the threshold.
func (a *Alarms) Set(name string, state cwtypes.StateValue, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	al := a.alarms[name]
	if al == nil {
		panic("lambdafake: no alarm " + name)
	}
	al.state, al.reason, al.updated = state, reason, a.now()
}

// DescribeAlarms returns the named alarms of the types asked for.
func (a *Alarms) DescribeAlarms(ctx context.Context, in *cloudwatch.DescribeAlarmsInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(in.AlarmNames) > 100 {
		return nil, &cwtypes.InvalidParameterValueException{Message: aws.String(fmt.Sprintf("The collection AlarmNames must not have a size greater than 100; got %d", len(in.AlarmNames)))}
	}
	kinds := in.AlarmTypes
	if len(kinds) == 0 {
		kinds = []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm}
	}
	out := &cloudwatch.DescribeAlarmsOutput{}
	names := in.AlarmNames
	if len(names) == 0 {
		for n := range a.alarms {
			names = append(names, n)
		}
		slices.Sort(names)
	}
	for _, n := range names {
		al := a.alarms[n]
		if al == nil || (in.StateValue != "" && al.state != in.StateValue) {
			continue
		}
		updated := al.updated
		if al.composite && slices.Contains(kinds, cwtypes.AlarmTypeCompositeAlarm) {
			out.CompositeAlarms = append(out.CompositeAlarms, cwtypes.CompositeAlarm{
				AlarmName: aws.String(al.name), AlarmArn: aws.String("arn:aws:cloudwatch:us-east-1:123456789012:alarm:" + al.name),
				StateValue: al.state, StateReason: aws.String(al.reason), StateUpdatedTimestamp: &updated,
			})
		}
		if !al.composite && slices.Contains(kinds, cwtypes.AlarmTypeMetricAlarm) {
			out.MetricAlarms = append(out.MetricAlarms, cwtypes.MetricAlarm{
				AlarmName: aws.String(al.name), AlarmArn: aws.String("arn:aws:cloudwatch:us-east-1:123456789012:alarm:" + al.name),
				StateValue: al.state, StateReason: aws.String(al.reason), StateUpdatedTimestamp: &updated,
			})
		}
	}
	return out, nil
}
