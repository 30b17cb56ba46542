//go:build integration

package integration

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	"github.com/mlship/mlship/internal/cloudwatchclient"
)

// The SDK's own CloudWatch client speaks Smithy RPC v2 CBOR, which moto does
// not serve: moto answers its /service/.../operation/... request with an
// HTML 404 page, which the CBOR decoder reads as "unexpected minor value
// 28" ('<' is 0x3c: major type 1, minor 28). This is why the tools build
// their client with cloudwatchclient; if moto starts serving CBOR, this
// test says so and docs/emulators.md needs updating.
func TestMotoDoesNotServeCloudWatchCBOR(t *testing.T) {
	needMoto(t)
	t.Parallel()
	client := cloudwatch.NewFromConfig(awsConfig(t))
	_, err := client.DescribeAlarms(context.Background(), &cloudwatch.DescribeAlarmsInput{})
	if err == nil {
		t.Fatal("moto now answers CloudWatch in RPC v2 CBOR: update docs/emulators.md and internal/cloudwatchclient")
	}
	t.Logf("the SDK client against moto: %v", err)
	var de *smithy.DeserializationError
	var re *awshttp.ResponseError
	if !errors.As(err, &de) || !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusNotFound {
		t.Fatalf("DescribeAlarms in CBOR: %v; want a 404 the SDK could not read", err)
	}
}

// The tools' client speaks AWS JSON 1.0 to moto: data in, alarms out, and
// CloudWatch's errors decoded to the SDK's types.
func TestCloudWatchClientAgainstMoto(t *testing.T) {
	needMoto(t)
	t.Parallel()
	ctx := context.Background()
	client := cloudwatchclient.New(awsConfig(t))
	ns := unique("mlship-it")
	_, err := client.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{
		Namespace: aws.String(ns),
		MetricData: []cwtypes.MetricDatum{{
			MetricName: aws.String("accuracy"), Value: aws.Float64(0.93), Unit: cwtypes.StandardUnitNone,
			Dimensions: []cwtypes.Dimension{{Name: aws.String("Model"), Value: aws.String("credit")}},
		}},
	})
	if err != nil {
		t.Fatalf("PutMetricData: %v", err)
	}
	lm, err := client.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String(ns)})
	if err != nil {
		t.Fatalf("ListMetrics: %v", err)
	}
	if len(lm.Metrics) != 1 || aws.ToString(lm.Metrics[0].MetricName) != "accuracy" ||
		len(lm.Metrics[0].Dimensions) != 1 || aws.ToString(lm.Metrics[0].Dimensions[0].Value) != "credit" {
		t.Errorf("ListMetrics = %+v", lm.Metrics)
	}

	alarm := unique("mlship-it-alarm")
	putAlarm(t, client, alarm)
	if _, err := client.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{
		AlarmName: aws.String(alarm), StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("errors above 1"),
	}); err != nil {
		t.Fatalf("SetAlarmState: %v", err)
	}
	da, err := client.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{alarm}})
	if err != nil {
		t.Fatalf("DescribeAlarms: %v", err)
	}
	if len(da.MetricAlarms) != 1 || da.MetricAlarms[0].StateValue != cwtypes.StateValueAlarm ||
		aws.ToString(da.MetricAlarms[0].StateReason) != "errors above 1" {
		t.Errorf("DescribeAlarms = %+v", da.MetricAlarms)
	}

	_, err = client.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{
		AlarmName: aws.String(unique("no-such-alarm")), StateValue: cwtypes.StateValueOk, StateReason: aws.String("x"),
	})
	var nf *cwtypes.ResourceNotFound
	if !errors.As(err, &nf) {
		t.Errorf("SetAlarmState on a missing alarm: %v (%T), want ResourceNotFound", err, errors.Unwrap(err))
	}
}

// putAlarm creates a metric alarm, state INSUFFICIENT_DATA.
func putAlarm(t *testing.T, client *cloudwatch.Client, name string) {
	t.Helper()
	_, err := client.PutMetricAlarm(context.Background(), &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String(name), Namespace: aws.String("AWS/Lambda"), MetricName: aws.String("Errors"),
		Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1),
		Threshold: aws.Float64(1), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanOrEqualToThreshold,
	})
	if err != nil {
		t.Fatalf("PutMetricAlarm %s: %v", name, err)
	}
}
