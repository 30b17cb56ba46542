package cloudwatchfake

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

var bothKinds = []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm}

func TestDescribeAlarms(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New()
	a.Add("errors", false, cwtypes.StateValueOk)
	a.Add("health", true, cwtypes.StateValueOk)
	a.Set("health", cwtypes.StateValueAlarm, "child fired")
	out, err := a.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"errors", "health", "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.MetricAlarms) != 1 || len(out.CompositeAlarms) != 0 {
		t.Fatalf("without AlarmTypes only metric alarms are returned: %+v", out)
	}
	out, _ = a.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"errors", "health"}, AlarmTypes: bothKinds})
	if len(out.CompositeAlarms) != 1 || out.CompositeAlarms[0].StateValue != cwtypes.StateValueAlarm || aws.ToString(out.CompositeAlarms[0].StateReason) != "child fired" {
		t.Fatalf("composite = %+v", out.CompositeAlarms)
	}
	a.Delete("errors")
	out, _ = a.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"errors"}, AlarmTypes: bothKinds})
	if len(out.MetricAlarms) != 0 {
		t.Errorf("a deleted alarm was described: %+v", out.MetricAlarms)
	}

	names := make([]string, 101)
	for i := range names {
		names[i] = fmt.Sprint(i)
	}
	var ipv *cwtypes.InvalidParameterValueException
	if _, err := a.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: names}); !errors.As(err, &ipv) {
		t.Errorf("101 names: %v, want InvalidParameterValue", err)
	}
	if _, err := a.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{MaxRecords: aws.Int32(101)}); !errors.As(err, &ipv) {
		t.Errorf("MaxRecords 101: %v, want InvalidParameterValue", err)
	}
	var bad *cwtypes.InvalidNextToken
	if _, err := a.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{NextToken: aws.String("x")}); !errors.As(err, &bad) {
		t.Errorf("a made-up NextToken: %v, want InvalidNextToken", err)
	}
}

func TestDescribeAlarmsPages(t *testing.T) {
	t.Parallel()
	a := New()
	for i := range 120 {
		a.Add(fmt.Sprintf("a%03d", i), i%3 == 0, cwtypes.StateValueOk)
	}
	p := cloudwatch.NewDescribeAlarmsPaginator(a, &cloudwatch.DescribeAlarmsInput{AlarmTypes: bothKinds})
	pages, seen := 0, map[string]bool{}
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if n := len(out.MetricAlarms) + len(out.CompositeAlarms); n > 50 {
			t.Errorf("page of %d alarms, more than the default 50", n)
		}
		for _, m := range out.MetricAlarms {
			seen[aws.ToString(m.AlarmName)] = true
		}
		for _, c := range out.CompositeAlarms {
			seen[aws.ToString(c.AlarmName)] = true
		}
	}
	if pages != 3 || len(seen) != 120 {
		t.Errorf("%d pages, %d alarms; want 3 pages of all 120", pages, len(seen))
	}
}

func TestBeforeCall(t *testing.T) {
	t.Parallel()
	a := New()
	a.BeforeCall = func(context.Context, string) error { return Throttling() }
	if _, err := a.DescribeAlarms(context.Background(), &cloudwatch.DescribeAlarmsInput{}); err == nil || a.Calls() != 1 {
		t.Errorf("err = %v, calls %d", err, a.Calls())
	}
}
