// Package alarms watches CloudWatch alarms, metric and composite, while a
// change rolls out: it reads them before the change (noting the ones
// already firing, which the change may be meant to fix) and tells, at each
// later read, which have fired since.
package alarms

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// API is the CloudWatch call the watch makes: Client, or
// internal/cloudwatchfake in tests.
type API interface {
	DescribeAlarms(context.Context, *DescribeAlarmsInput) (*DescribeAlarmsOutput, error)
}

// maxNames is how many alarm names DescribeAlarms takes in one call.
const maxNames = 100

// State is one alarm as CloudWatch reported it.
type State struct {
	Name      string
	Composite bool
	Value     string // OK, ALARM or INSUFFICIENT_DATA
	Reason    string
}

// Firing reports whether the alarm is in ALARM.
func (s State) Firing() bool { return s.Value == StateAlarm }

// Describe reads the named alarms, metric and composite, in calls of at
// most 100 names, following every page. Names that do not exist are absent
// from the map (CloudWatch leaves them out silently).
func Describe(ctx context.Context, api API, names []string) (map[string]State, error) {
	states := map[string]State{}
	for chunk := range slices.Chunk(names, maxNames) {
		in := &DescribeAlarmsInput{AlarmNames: chunk, AlarmTypes: []string{TypeMetric, TypeComposite}}
		seen := map[string]bool{}
		for {
			out, err := api.DescribeAlarms(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("reading alarms (DescribeAlarms): %w", err)
			}
			for _, a := range out.MetricAlarms {
				states[a.AlarmName] = State{Name: a.AlarmName, Value: a.StateValue, Reason: a.StateReason}
			}
			for _, a := range out.CompositeAlarms {
				states[a.AlarmName] = State{Name: a.AlarmName, Composite: true, Value: a.StateValue, Reason: a.StateReason}
			}
			// As the SDK's paginator: a token handed out twice would
			// loop forever.
			if out.NextToken == "" || seen[out.NextToken] {
				break
			}
			seen[out.NextToken] = true
			in.NextToken = out.NextToken
		}
	}
	return states, nil
}

// MissingError names alarms that do not exist (as metric or composite
// alarms) in the account and region.
type MissingError struct{ Names []string }

func (e *MissingError) Error() string {
	return fmt.Sprintf("no metric or composite alarm named %s in this account and region", strings.Join(e.Names, ", "))
}

// Watch is a set of alarms read once before a change and again while it
// rolls out.
type Watch struct {
	api     API
	names   []string
	initial map[string]State
	// firingBefore were in ALARM at Start; cleared are those of them seen
	// out of ALARM since, so that firing again counts.
	firingBefore map[string]bool
	cleared      map[string]bool
}

// Start reads the alarms before the change. Every name must exist (else a
// *MissingError). Alarms already firing are recorded: Check ignores them
// until they have cleared.
func Start(ctx context.Context, api API, names []string) (*Watch, error) {
	states, err := Describe(ctx, api, names)
	if err != nil {
		return nil, err
	}
	w := &Watch{api: api, names: slices.Clone(names), initial: states, firingBefore: map[string]bool{}, cleared: map[string]bool{}}
	var missing []string
	for _, n := range names {
		s, ok := states[n]
		switch {
		case !ok:
			missing = append(missing, n)
		case s.Firing():
			w.firingBefore[n] = true
		}
	}
	if len(missing) > 0 {
		return nil, &MissingError{Names: missing}
	}
	return w, nil
}

// Names are the alarms watched, in the order given.
func (w *Watch) Names() []string { return slices.Clone(w.names) }

// Initial is the state an alarm had at Start.
func (w *Watch) Initial(name string) State { return w.initial[name] }

// FiringBefore are the alarms that were in ALARM at Start, in the order
// given.
func (w *Watch) FiringBefore() []string {
	var out []string
	for _, n := range w.names {
		if w.firingBefore[n] {
			out = append(out, n)
		}
	}
	return out
}

// Check reads the alarms again and returns those that fired since Start:
// in ALARM now and not firing at Start, or firing at Start, cleared since
// and firing again. An alarm deleted meanwhile can no longer be watched:
// a *MissingError, never a quiet pass.
func (w *Watch) Check(ctx context.Context) ([]State, error) {
	states, err := Describe(ctx, w.api, w.names)
	if err != nil {
		return nil, err
	}
	var fired []State
	var missing []string
	for _, n := range w.names {
		s, ok := states[n]
		if !ok {
			missing = append(missing, n)
			continue
		}
		if !s.Firing() {
			if w.firingBefore[n] {
				w.cleared[n] = true
			}
			continue
		}
		if !w.firingBefore[n] || w.cleared[n] {
			fired = append(fired, s)
		}
	}
	if len(missing) > 0 {
		return fired, &MissingError{Names: missing}
	}
	return fired, nil
}
