package cloudwatchclient_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/mlship/mlship/internal/awsconfig"
	"github.com/mlship/mlship/internal/cloudwatchclient"
)

func config(endpoint string, hc aws.HTTPClient) aws.Config {
	cfg := aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
		HTTPClient:       hc,
	}
	if endpoint != "" {
		cfg.BaseEndpoint = aws.String(endpoint)
	}
	return cfg
}

// recorder answers every request with one canned response and keeps the
// requests.
type recorder struct {
	mu     sync.Mutex
	reqs   []*http.Request
	bodies []string
	status int
	header http.Header
	body   []byte
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	var b []byte
	if req.Body != nil {
		b, _ = io.ReadAll(req.Body)
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.bodies = append(r.bodies, string(b))
	r.mu.Unlock()
	return &http.Response{
		StatusCode: r.status, Header: r.header.Clone(), Body: io.NopCloser(bytes.NewReader(r.body)), Request: req,
	}, nil
}

// Without an endpoint override the client is the SDK's own: RPC v2 CBOR to
// the regional endpoint, as real AWS is called.
func TestAWSKeepsTheSDKProtocol(t *testing.T) {
	t.Parallel()
	rec := &recorder{status: 200, header: http.Header{"Smithy-Protocol": {"rpc-v2-cbor"}, "Content-Type": {"application/cbor"}}, body: []byte{0xa0}}
	client := cloudwatchclient.New(config("", rec))
	if _, err := client.DescribeAlarms(context.Background(), &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"errors"}}); err != nil {
		t.Fatalf("DescribeAlarms: %v", err)
	}
	req := rec.reqs[0]
	if got := req.URL.String(); got != "https://monitoring.us-east-1.amazonaws.com/service/GraniteServiceVersion20100801/operation/DescribeAlarms" {
		t.Errorf("URL %s", got)
	}
	if req.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" || req.Header.Get("Content-Type") != "application/cbor" {
		t.Errorf("headers %v", req.Header)
	}
	if id := client.Options().Protocol.ID(); id.Name != "rpcv2Cbor" {
		t.Errorf("protocol %v", id)
	}
}

// jsonServer is a CloudWatch endpoint speaking AWS JSON 1.0.
func jsonServer(t *testing.T, seen *[]string) *httptest.Server {
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("gzip: %v", err)
				return
			}
			rd = zr
		}
		body, _ := io.ReadAll(rd)
		target := r.Header.Get("X-Amz-Target")
		mu.Lock()
		*seen = append(*seen, target+" "+r.Header.Get("Content-Type")+" "+r.URL.Path)
		mu.Unlock()
		var in map[string]any
		if err := json.Unmarshal(body, &in); err != nil {
			t.Errorf("%s: body is not JSON: %q", target, body)
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		switch target {
		case "GraniteServiceVersion20100801.PutMetricData":
			if in["Namespace"] != "MLModels" {
				t.Errorf("PutMetricData body %s", body)
			}
			w.Write([]byte(`{}`))
		case "GraniteServiceVersion20100801.DescribeAlarms":
			w.Write([]byte(`{"MetricAlarms":[{"AlarmName":"errors","StateValue":"ALARM","StateReason":"3 errors"}],"CompositeAlarms":[]}`))
		case "GraniteServiceVersion20100801.SetAlarmState":
			w.Header().Set("X-Amzn-Query-Error", "ResourceNotFound;Sender")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"__type":"com.amazonaws.cloudwatch#ResourceNotFound","message":"no alarm named x"}`))
		default:
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"__type":"UnknownOperationException"}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// With an endpoint override the client speaks AWS JSON 1.0, which
// CloudWatch and the emulators serve, and decodes CloudWatch's errors.
func TestEndpointOverrideSpeaksJSON(t *testing.T) {
	t.Parallel()
	var seen []string
	srv := jsonServer(t, &seen)
	client := cloudwatchclient.New(config(srv.URL, nil))
	ctx := context.Background()
	if _, err := client.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{
		Namespace: aws.String("MLModels"), MetricData: []cwtypes.MetricDatum{{MetricName: aws.String("accuracy"), Value: aws.Float64(0.9)}},
	}); err != nil {
		t.Fatalf("PutMetricData: %v", err)
	}
	out, err := client.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"errors"}})
	if err != nil {
		t.Fatalf("DescribeAlarms: %v", err)
	}
	if len(out.MetricAlarms) != 1 || out.MetricAlarms[0].StateValue != cwtypes.StateValueAlarm || aws.ToString(out.MetricAlarms[0].StateReason) != "3 errors" {
		t.Errorf("DescribeAlarms = %+v", out.MetricAlarms)
	}
	_, err = client.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("x"), StateValue: cwtypes.StateValueOk, StateReason: aws.String("r")})
	var nf *cwtypes.ResourceNotFound
	var unsupported *cloudwatchclient.UnsupportedError
	if !errors.As(err, &nf) || errors.As(err, &unsupported) {
		t.Errorf("SetAlarmState on a missing alarm: %v, want ResourceNotFound", err)
	}
	want := []string{
		"GraniteServiceVersion20100801.PutMetricData application/x-amz-json-1.0 /",
		"GraniteServiceVersion20100801.DescribeAlarms application/x-amz-json-1.0 /",
		"GraniteServiceVersion20100801.SetAlarmState application/x-amz-json-1.0 /",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

// AWS_ENDPOINT_URL_CLOUDWATCH is an endpoint override too, as the tools
// load their configuration.
func TestServiceEndpointVariable(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": dir + "/config", "AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials",
		"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_PROFILE": "",
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	var seen []string
	srv := jsonServer(t, &seen)
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH", srv.URL)
	cfg, err := awsconfig.Load(context.Background(), "lambda-deploy", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cloudwatchclient.New(cfg).DescribeAlarms(context.Background(), &cloudwatch.DescribeAlarmsInput{}); err != nil {
		t.Fatalf("DescribeAlarms: %v", err)
	}
	if len(seen) != 1 || !strings.HasPrefix(seen[0], "GraniteServiceVersion20100801.DescribeAlarms application/x-amz-json-1.0") {
		t.Errorf("requests %q", seen)
	}
}

// An endpoint that does not serve AWS JSON 1.0 (an emulator that only
// knows AWS Query, or a CBOR-only one) gets one line that says so, naming
// the endpoint, instead of a decoder's complaint alone.
func TestEndpointWithoutJSON(t *testing.T) {
	t.Parallel()
	for name, resp := range map[string]struct {
		status int
		ctype  string
		body   string
	}{
		"html 404":  {404, "text/html", "<!doctype html><title>404 Not Found</title>"},
		"query xml": {200, "text/xml", `<DescribeAlarmsResponse><DescribeAlarmsResult><MetricAlarms/></DescribeAlarmsResult></DescribeAlarmsResponse>`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", resp.ctype)
				w.WriteHeader(resp.status)
				w.Write([]byte(resp.body))
			}))
			defer srv.Close()
			_, err := cloudwatchclient.New(config(srv.URL, nil)).DescribeAlarms(context.Background(), &cloudwatch.DescribeAlarmsInput{})
			var unsupported *cloudwatchclient.UnsupportedError
			if !errors.As(err, &unsupported) || unsupported.Endpoint != srv.URL {
				t.Fatalf("err = %v, want an UnsupportedError for %s", err, srv.URL)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, srv.URL+" does not serve CloudWatch's AWS JSON 1.0 protocol") {
				t.Errorf("message %q", msg)
			}
		})
	}
}
