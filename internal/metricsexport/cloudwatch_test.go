package metricsexport

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	"github.com/mlship/mlship/internal/exitcode"
)

func numericMetrics(n int, name func(int) string) []Metric {
	ms := make([]Metric, n)
	for i := range ms {
		v := fmt.Sprintf("0.%d", i+1)
		text, f, _, _ := numberText(v)
		ms[i] = Metric{Name: name(i), Value: v, Kind: KindNumber, jsonText: text, float: f, File: "m.env", Line: i + 1}
	}
	return ms
}

func dims(n, nameLen, valueLen int) []cwtypes.Dimension {
	var ds []cwtypes.Dimension
	for i := range n {
		name := fmt.Sprintf("%03d", i) + strings.Repeat("n", nameLen-3)
		ds = append(ds, cwtypes.Dimension{Name: aws.String(name), Value: aws.String(strings.Repeat("v", valueLen))})
	}
	return ds
}

// TestFakeCloudWatchLimits checks that the fake enforces what the API
// reference documents, so that the batching tests mean something.
func TestFakeCloudWatchLimits(t *testing.T) {
	t.Parallel()
	now := time.Now()
	datum := func(name string, v float64, d []cwtypes.Dimension) cwtypes.MetricDatum {
		return cwtypes.MetricDatum{MetricName: aws.String(name), Value: aws.Float64(v), Timestamp: &now, Dimensions: d}
	}
	many := func(n int, d []cwtypes.Dimension) []cwtypes.MetricDatum {
		var data []cwtypes.MetricDatum
		for i := range n {
			data = append(data, datum(fmt.Sprint("m", i), 1, d))
		}
		return data
	}
	// The subtests run in parallel: each matches the error into a target
	// of its own.
	invalidValue := func(err error) bool {
		var e *cwtypes.InvalidParameterValueException
		return errors.As(err, &e)
	}
	missing := func(err error) bool {
		var e *cwtypes.MissingRequiredParameterException
		return errors.As(err, &e)
	}
	tooLarge := func(err error) bool {
		var e smithy.APIError
		return errors.As(err, &e) && e.ErrorCode() == "RequestEntityTooLarge"
	}
	tests := []struct {
		name string
		in   *cloudwatch.PutMetricDataInput
		want func(error) bool // the expected error, nil for success
	}{
		{"1000 metrics", &cloudwatch.PutMetricDataInput{Namespace: aws.String("N"), MetricData: many(1000, nil)}, nil},
		{"1001 metrics", &cloudwatch.PutMetricDataInput{Namespace: aws.String("N"), MetricData: many(1001, nil)}, invalidValue},
		{"no namespace", &cloudwatch.PutMetricDataInput{MetricData: many(1, nil)}, missing},
		{"no data", &cloudwatch.PutMetricDataInput{Namespace: aws.String("N")}, missing},
		{"reserved namespace", &cloudwatch.PutMetricDataInput{Namespace: aws.String("AWS/EC2"), MetricData: many(1, nil)}, invalidValue},
		{"NaN", &cloudwatch.PutMetricDataInput{Namespace: aws.String("N"), MetricData: []cwtypes.MetricDatum{datum("x", math.NaN(), nil)}}, invalidValue},
		{"+Inf", &cloudwatch.PutMetricDataInput{Namespace: aws.String("N"), MetricData: []cwtypes.MetricDatum{datum("x", math.Inf(1), nil)}}, invalidValue},
		{"2^361", &cloudwatch.PutMetricDataInput{Namespace: aws.String("N"), MetricData: []cwtypes.MetricDatum{datum("x", math.Ldexp(1, 361), nil)}}, invalidValue},
		{"2^360", &cloudwatch.PutMetricDataInput{Namespace: aws.String("N"), MetricData: []cwtypes.MetricDatum{datum("x", -math.Ldexp(1, 360), nil)}}, nil},
		{"30 dimensions", &cloudwatch.PutMetricDataInput{Namespace: aws.String("N"), MetricData: many(1, dims(30, 10, 10))}, nil},
		{"31 dimensions", &cloudwatch.PutMetricDataInput{Namespace: aws.String("N"), MetricData: many(1, dims(31, 10, 10))}, invalidValue},
		{"dimension value 1025", &cloudwatch.PutMetricDataInput{Namespace: aws.String("N"), MetricData: many(1, dims(1, 10, 1025))}, invalidValue},
		{"metric name 256", &cloudwatch.PutMetricDataInput{Namespace: aws.String("N"), MetricData: []cwtypes.MetricDatum{datum(strings.Repeat("m", 256), 1, nil)}}, invalidValue},
		{"over 1 MB", &cloudwatch.PutMetricDataInput{Namespace: aws.String("N"), MetricData: many(40, dims(30, 255, 1024))}, tooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeCloudWatch()
			_, err := f.PutMetricData(context.Background(), tt.in)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if !tt.want(err) {
				t.Fatalf("error %v (%T)", err, err)
			}
		})
	}
}

func TestPutMetricsBatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		n        int
		dims     []cwtypes.Dimension
		nameLen  int
		requests int // 0: more than one, exact count not fixed
	}{
		{"one request", 2, nil, 8, 1},
		{"exactly 1000", 1000, dims(1, 5, 10), 8, 1},
		{"by count", 2500, dims(2, 5, 10), 20, 3},
		{"by size", 300, dims(30, 255, 1024), 255, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ms := numericMetrics(tt.n, func(i int) string {
				s := fmt.Sprintf("metric_%d_", i)
				return s + strings.Repeat("x", max(0, tt.nameLen-len(s)))
			})
			data, skipped, err := metricData(ms, tt.dims, nil, time.Now())
			if err != nil || len(skipped) > 0 {
				t.Fatal(err, skipped)
			}
			f := newFakeCloudWatch()
			put, requests, err := putMetrics(context.Background(), f, "MLModels/credit", data, &testLog{})
			if err != nil {
				t.Fatal(err)
			}
			if put != tt.n || requests != len(f.accepted) {
				t.Errorf("put %d in %d requests; the fake accepted %d requests", put, requests, len(f.accepted))
			}
			if tt.requests > 0 && requests != tt.requests {
				t.Errorf("%d requests, want %d", requests, tt.requests)
			}
			if tt.requests == 0 && requests < 2 {
				t.Errorf("%d request(s): the size limit did not split the data", requests)
			}
			// In order, none lost or sent twice, every request near its
			// limits but within them.
			i := 0
			for r, in := range f.accepted {
				for _, d := range in.MetricData {
					if *d.MetricName != ms[i].Name {
						t.Fatalf("request %d: %s, want %s", r, *d.MetricName, ms[i].Name)
					}
					i++
				}
				if f.sizes[r] > MaxRequestBytes {
					t.Errorf("request %d has %d bytes", r, f.sizes[r])
				}
			}
			if tt.name == "by size" && f.sizes[0] < MaxRequestBytes/3 {
				t.Errorf("first request only %d bytes: batches are needlessly small", f.sizes[0])
			}
		})
	}
}

// TestDatumSizeBound checks the batcher's size estimate against the SDK's
// real encoding for small and large data.
func TestDatumSizeBound(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, d := range []cwtypes.MetricDatum{
		{MetricName: aws.String("a"), Value: aws.Float64(1), Timestamp: &now},
		{MetricName: aws.String(strings.Repeat("m", 255)), Value: aws.Float64(-1.5e100), Timestamp: &now, Unit: cwtypes.StandardUnitKilobytesSecond, Dimensions: dims(30, 255, 1024)},
		{MetricName: aws.String("x"), Value: aws.Float64(0.1), Timestamp: &now, Unit: cwtypes.StandardUnitPercent, Dimensions: dims(30, 3, 1)},
	} {
		f := newFakeCloudWatch()
		one := &cloudwatch.PutMetricDataInput{Namespace: aws.String("N"), MetricData: []cwtypes.MetricDatum{d}}
		two := &cloudwatch.PutMetricDataInput{Namespace: aws.String("N"), MetricData: []cwtypes.MetricDatum{d, d}}
		if _, err := f.PutMetricData(context.Background(), one); err != nil {
			t.Fatal(err)
		}
		if _, err := f.PutMetricData(context.Background(), two); err != nil {
			t.Fatal(err)
		}
		real := f.sizes[1] - f.sizes[0]
		if est := datumSize(d); est < real {
			t.Errorf("estimate %d bytes, real %d", est, real)
		}
		if f.sizes[0]-real > requestOverhead {
			t.Errorf("request overhead %d bytes, allowed %d", f.sizes[0]-real, requestOverhead)
		}
	}
}

func TestPutMetricsFailure(t *testing.T) {
	t.Parallel()
	ms := numericMetrics(2500, func(i int) string { return fmt.Sprint("m", i) })
	data, _, err := metricData(ms, nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeCloudWatch()
	f.failFrom = 1
	put, requests, err := putMetrics(context.Background(), f, "N", data, &testLog{})
	if exitcode.Of(err) != exitcode.Incomplete {
		t.Fatalf("error %v, want exit 3", err)
	}
	var fault *cwtypes.InternalServiceFault
	if !errors.As(err, &fault) || !strings.Contains(err.Error(), "putting metrics to CloudWatch namespace N (1000 of 2500 put)") {
		t.Errorf("error %v", err)
	}
	if put != 1000 || requests != 1 || f.calls != 2 {
		t.Errorf("put %d in %d requests after %d calls; want 1000 in 1, stopping after the failed call", put, requests, f.calls)
	}
}

func TestMetricData(t *testing.T) {
	t.Parallel()
	ms := mustParse(t, "m.env", "latency_ms=12\nACCURACY=0.9\nMODEL=credit\nsize_bytes=1024\n")
	c := Config{Files: []string{"m.env"}, Namespace: "N", Dimensions: []string{"Model=credit"}, Units: []string{"*_ms=milliseconds", "*_bytes=Bytes", "latency*=Seconds"}}
	p, err := c.Validate()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	data, skipped, err := metricData(ms, p.dims, p.units, at)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range data {
		got = append(got, fmt.Sprintf("%s=%v %s %s=%s %s", *d.MetricName, *d.Value, d.Unit, *d.Dimensions[0].Name, *d.Dimensions[0].Value, d.Timestamp.Format(time.RFC3339)))
	}
	want := "latency_ms=12 Milliseconds Model=credit 2026-01-02T03:04:05Z|ACCURACY=0.9 None Model=credit 2026-01-02T03:04:05Z|size_bytes=1024 Bytes Model=credit 2026-01-02T03:04:05Z"
	if g := strings.Join(got, "|"); g != want {
		t.Errorf("data\n got %s\nwant %s", g, want)
	}
	if len(skipped) != 1 || skipped[0] != "MODEL" {
		t.Errorf("skipped %v", skipped)
	}

	for _, tt := range []struct{ env, want string }{
		{"huge=1e200\n", "m.env:1: huge = 1e200 is outside the range CloudWatch takes (-2^360 to 2^360)"},
		{strings.Repeat("n", 256) + "=1\n", "m.env:1: metric name \"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\"... is longer than the 255 characters CloudWatch takes; shorten it with --rename"},
	} {
		_, _, err := metricData(mustParse(t, "m.env", tt.env), nil, nil, at)
		if exitcode.Of(err) != exitcode.BadInput || err.Error() != tt.want {
			t.Errorf("error %v, want %s", err, tt.want)
		}
	}
}
