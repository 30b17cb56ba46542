package metricsexport

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
)

// fakeCloudWatch answers PutMetricData as the CloudWatch API reference
// documents it:
//
//   - Namespace is required: 1-255 ASCII characters without control
//     characters, not starting with ":" and not in the reserved AWS/ space;
//   - at most 1000 metrics per request, at least one;
//   - each datum needs a MetricName (1-255 characters) and a Value that is
//     finite and within -2^360..2^360; at most 30 dimensions, each with a
//     1-255 character ASCII name not starting with ":" and a 1-1024
//     character ASCII value;
//   - the request is at most 1 MB. The payload is measured as the SDK
//     really encodes it (RPC v2 CBOR, uncompressed) by a CloudWatch client
//     whose HTTP client only counts bytes. The reference names no error
//     for this limit; the fake answers with an API error coded
//     RequestEntityTooLarge (HTTP 413).
//
// Validation errors are the SDK's types: InvalidParameterValueException
// and MissingRequiredParameterException. failFrom makes every request from
// that index on (0-based) fail with InternalServiceFault, as a service
// error that outlasted the SDK's retries.
type fakeCloudWatch struct {
	mu       sync.Mutex
	accepted []*cloudwatch.PutMetricDataInput
	sizes    []int
	calls    int
	failFrom int // -1: never

	measure *cloudwatch.Client
	counter *byteCounter
}

func newFakeCloudWatch() *fakeCloudWatch {
	c := &byteCounter{}
	return &fakeCloudWatch{
		failFrom: -1,
		counter:  c,
		measure: cloudwatch.New(cloudwatch.Options{
			Region:                    "us-east-1",
			Credentials:               credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
			HTTPClient:                c,
			RetryMaxAttempts:          1,
			DisableRequestCompression: true,
		}),
	}
}

// byteCounter is an HTTP client that records the body size and answers
// with an empty RPC v2 CBOR success.
type byteCounter struct{ n int }

func (b *byteCounter) Do(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	b.n = len(body)
	h := http.Header{}
	h.Set("Content-Type", "application/cbor")
	h.Set("Smithy-Protocol", "rpc-v2-cbor")
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(bytes.NewReader([]byte{0xa0})), Request: r}, nil
}

func (f *fakeCloudWatch) PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := f.calls
	f.calls++
	if err := validatePut(in); err != nil {
		return nil, err
	}
	if _, err := f.measure.PutMetricData(ctx, in); err != nil {
		return nil, fmt.Errorf("fake: encoding the request: %w", err)
	}
	size := f.counter.n
	if size > MaxRequestBytes {
		return nil, &smithy.GenericAPIError{Code: "RequestEntityTooLarge", Message: fmt.Sprintf("Request size %d exceeded %d bytes", size, MaxRequestBytes)}
	}
	if f.failFrom >= 0 && call >= f.failFrom {
		return nil, &cwtypes.InternalServiceFault{Message: aws.String("Internal service error")}
	}
	f.accepted = append(f.accepted, in)
	f.sizes = append(f.sizes, size)
	return &cloudwatch.PutMetricDataOutput{}, nil
}

func invalid(format string, args ...any) error {
	return &cwtypes.InvalidParameterValueException{Message: aws.String(fmt.Sprintf(format, args...))}
}

func validatePut(in *cloudwatch.PutMetricDataInput) error {
	if in.Namespace == nil {
		return &cwtypes.MissingRequiredParameterException{Message: aws.String("The parameter Namespace is required.")}
	}
	ns := *in.Namespace
	switch {
	case len(ns) < 1 || len(ns) > 255:
		return invalid("The parameter Namespace must be between 1 and 255 characters.")
	case strings.HasPrefix(ns, "AWS/"):
		return invalid("The value AWS/ for parameter Namespace is invalid.")
	case strings.HasPrefix(ns, ":") || asciiPrintable(ns) != nil:
		return invalid("The parameter Namespace must be printable ASCII not starting with ':'.")
	}
	if len(in.MetricData) == 0 {
		return &cwtypes.MissingRequiredParameterException{Message: aws.String("The parameter MetricData is required.")}
	}
	if len(in.MetricData) > MaxMetricsPerRequest {
		return invalid("The collection MetricData must not have a size greater than %d.", MaxMetricsPerRequest)
	}
	for i, d := range in.MetricData {
		name := aws.ToString(d.MetricName)
		switch {
		case d.MetricName == nil:
			return &cwtypes.MissingRequiredParameterException{Message: aws.String(fmt.Sprintf("The parameter MetricData.member.%d.MetricName is required.", i+1))}
		case len(name) < 1 || len(name) > 255:
			return invalid("The parameter MetricData.member.%d.MetricName must be between 1 and 255 characters.", i+1)
		case d.Value == nil:
			return &cwtypes.MissingRequiredParameterException{Message: aws.String(fmt.Sprintf("The parameter MetricData.member.%d.Value is required.", i+1))}
		case math.IsNaN(*d.Value) || math.IsInf(*d.Value, 0) || math.Abs(*d.Value) > maxValue:
			return invalid("The value %v for parameter MetricData.member.%d.Value is invalid.", *d.Value, i+1)
		case len(d.Dimensions) > MaxDimensions:
			return invalid("The collection MetricData.member.%d.Dimensions must not have a size greater than %d.", i+1, MaxDimensions)
		}
		for j, dim := range d.Dimensions {
			n, v := aws.ToString(dim.Name), aws.ToString(dim.Value)
			if n == "" || v == "" || len(n) > 255 || len(v) > 1024 || strings.HasPrefix(n, ":") || asciiPrintable(n) != nil || asciiPrintable(v) != nil {
				return invalid("The parameter MetricData.member.%d.Dimensions.member.%d is invalid.", i+1, j+1)
			}
		}
	}
	return nil
}
