package metricsexport

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/exitcode"
)

// CloudWatchAPI is the part of the CloudWatch client the tool calls.
type CloudWatchAPI interface {
	PutMetricData(context.Context, *cloudwatch.PutMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

// PutMetricData limits, from the CloudWatch API reference.
const (
	MaxMetricsPerRequest = 1000
	// MaxRequestBytes is the request size limit ("1 MB"), taken as
	// 1,000,000 bytes of uncompressed payload so that a batch fits whichever
	// way the service counts.
	MaxRequestBytes = 1_000_000
	// MaxMetricNameLength is the longest metric name.
	MaxMetricNameLength = 255
)

// maxValue is the largest magnitude CloudWatch accepts: 2^360.
var maxValue = math.Ldexp(1, 360)

// CloudWatchResult says what was put.
type CloudWatchResult struct {
	Namespace string `json:"namespace"`
	// Put is how many metrics CloudWatch accepted, in Requests requests.
	Put      int `json:"put"`
	Requests int `json:"requests"`
	// Skipped are metrics that are not numbers.
	Skipped []string `json:"skipped,omitempty"`
}

// metricData turns the numeric metrics into CloudWatch data, with the
// dimensions and the unit of the first --unit pattern that matches. A value
// CloudWatch cannot hold is bad input.
func metricData(ms []Metric, dims []cwtypes.Dimension, units []unitRule, at time.Time) (data []cwtypes.MetricDatum, skipped []string, err error) {
	for i := range ms {
		m := &ms[i]
		f, ok := m.Number()
		if !ok {
			skipped = append(skipped, m.Name)
			continue
		}
		if len(m.Name) > MaxMetricNameLength {
			return nil, nil, exitcode.BadInputf("%s: metric name %.40q... is longer than the %d characters CloudWatch takes; shorten it with --rename", m.Where(), m.Name, MaxMetricNameLength)
		}
		if math.Abs(f) > maxValue {
			return nil, nil, exitcode.BadInputf("%s: %s = %s is outside the range CloudWatch takes (-2^360 to 2^360)", m.Where(), m.Name, m.Value)
		}
		unit := cwtypes.StandardUnitNone
		for _, u := range units {
			if matchName(u.pattern, m.Name) {
				unit = u.unit
				break
			}
		}
		data = append(data, cwtypes.MetricDatum{
			MetricName: aws.String(m.Name),
			Value:      aws.Float64(f),
			Unit:       unit,
			Timestamp:  aws.Time(at),
			Dimensions: dims,
		})
	}
	return data, skipped, nil
}

// datumSize is an upper bound of the bytes one datum takes in a request:
// its strings plus a generous allowance for field names, lengths, the
// value and the timestamp (the real encoding takes about half of it).
func datumSize(d cwtypes.MetricDatum) int {
	n := 96 + len(aws.ToString(d.MetricName)) + len(d.Unit)
	for _, dim := range d.Dimensions {
		n += 32 + len(aws.ToString(dim.Name)) + len(aws.ToString(dim.Value))
	}
	return n
}

// requestOverhead bounds what a request holds besides its data.
const requestOverhead = 1024

// batches splits data into requests of at most MaxMetricsPerRequest data and
// MaxRequestBytes bytes.
func batches(namespace string, data []cwtypes.MetricDatum) [][]cwtypes.MetricDatum {
	var out [][]cwtypes.MetricDatum
	start, size := 0, requestOverhead+len(namespace)
	for i, d := range data {
		n := datumSize(d)
		if i > start && (i-start == MaxMetricsPerRequest || size+n > MaxRequestBytes) {
			out = append(out, data[start:i])
			start, size = i, requestOverhead+len(namespace)
		}
		size += n
	}
	if start < len(data) {
		out = append(out, data[start:])
	}
	return out
}

// putMetrics sends data in batches, one request after another, and stops at
// the first that fails; the result counts only what CloudWatch accepted.
func putMetrics(ctx context.Context, client CloudWatchAPI, namespace string, data []cwtypes.MetricDatum, log action.Logger) (put, requests int, err error) {
	for _, b := range batches(namespace, data) {
		_, err := client.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String(namespace), MetricData: b})
		if err != nil {
			return put, requests, exitcode.Wrap(exitcode.Incomplete,
				fmt.Errorf("putting metrics to CloudWatch namespace %s (%d of %d put): %w", namespace, put, len(data), err))
		}
		put += len(b)
		requests++
	}
	log.Logf("put %d metrics to CloudWatch namespace %s in %d request(s)", put, namespace, requests)
	return put, requests, nil
}
