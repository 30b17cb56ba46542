package cloudwatchfake

import (
	"context"
	"errors"
	"fmt"
	"testing"

	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	"github.com/mlship/mlship/internal/alarms"
)

var bothKinds = []string{alarms.TypeMetric, alarms.TypeComposite}

func TestDescribeAlarms(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New()
	a.Add("errors", false, cwtypes.StateValueOk)
	a.Add("health", true, cwtypes.StateValueOk)
	a.Set("health", cwtypes.StateValueAlarm, "child fired")
	out, err := a.DescribeAlarms(ctx, &alarms.DescribeAlarmsInput{AlarmNames: []string{"errors", "health", "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.MetricAlarms) != 1 || len(out.CompositeAlarms) != 0 {
		t.Fatalf("without AlarmTypes only metric alarms are returned: %+v", out)
	}
	out, _ = a.DescribeAlarms(ctx, &alarms.DescribeAlarmsInput{AlarmNames: []string{"errors", "health"}, AlarmTypes: bothKinds})
	if len(out.CompositeAlarms) != 1 || out.CompositeAlarms[0].StateValue != alarms.StateAlarm || out.CompositeAlarms[0].StateReason != "child fired" {
		t.Fatalf("composite = %+v", out.CompositeAlarms)
	}
	a.Delete("errors")
	out, _ = a.DescribeAlarms(ctx, &alarms.DescribeAlarmsInput{AlarmNames: []string{"errors"}, AlarmTypes: bothKinds})
	if len(out.MetricAlarms) != 0 {
		t.Errorf("a deleted alarm was described: %+v", out.MetricAlarms)
	}

	names := make([]string, 101)
	for i := range names {
		names[i] = fmt.Sprint(i)
	}
	if _, err := a.DescribeAlarms(ctx, &alarms.DescribeAlarmsInput{AlarmNames: names}); code(err) != "InvalidParameterValue" {
		t.Errorf("101 names: %v, want InvalidParameterValue", err)
	}
	if _, err := a.DescribeAlarms(ctx, &alarms.DescribeAlarmsInput{MaxRecords: 101}); code(err) != "InvalidParameterValue" {
		t.Errorf("MaxRecords 101: %v, want InvalidParameterValue", err)
	}
	if _, err := a.DescribeAlarms(ctx, &alarms.DescribeAlarmsInput{NextToken: "x"}); code(err) != "InvalidNextToken" {
		t.Errorf("a made-up NextToken: %v, want InvalidNextToken", err)
	}
	if _, err := a.DescribeAlarms(ctx, &alarms.DescribeAlarmsInput{AlarmTypes: []string{"Metric"}}); code(err) != "ValidationError" {
		t.Errorf("an unknown alarm type: %v, want ValidationError", err)
	}
}

func TestDescribeAlarmsPages(t *testing.T) {
	t.Parallel()
	a := New()
	for i := range 120 {
		a.Add(fmt.Sprintf("a%03d", i), i%3 == 0, cwtypes.StateValueOk)
	}
	in := &alarms.DescribeAlarmsInput{AlarmTypes: bothKinds}
	pages, seen := 0, map[string]bool{}
	for {
		out, err := a.DescribeAlarms(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if n := len(out.MetricAlarms) + len(out.CompositeAlarms); n > 50 {
			t.Errorf("page of %d alarms, more than the default 50", n)
		}
		for _, m := range out.MetricAlarms {
			seen[m.AlarmName] = true
		}
		for _, c := range out.CompositeAlarms {
			seen[c.AlarmName] = true
		}
		if out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	if pages != 3 || len(seen) != 120 {
		t.Errorf("%d pages, %d alarms; want 3 pages of all 120", pages, len(seen))
	}
}

func TestBeforeCall(t *testing.T) {
	t.Parallel()
	a := New()
	a.BeforeCall = func(context.Context, string) error { return Throttling() }
	if _, err := a.DescribeAlarms(context.Background(), &alarms.DescribeAlarmsInput{}); err == nil || a.Calls() != 1 {
		t.Errorf("err = %v, calls %d", err, a.Calls())
	}
}

// code is an API error's code ("" for another error).
func code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}
