package awsrpc

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// TestRegionEndpoint: the endpoints the SDK's SSM and CloudWatch clients
// would use.
func TestRegionEndpoint(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		prefix, region  string
		fips, dualStack bool
		want            string
	}{
		{"ssm", "eu-west-1", false, false, "https://ssm.eu-west-1.amazonaws.com"},
		{"ssm", "us-gov-west-1", true, false, "https://ssm-fips.us-gov-west-1.amazonaws.com"},
		{"ssm", "us-east-1", false, true, "https://ssm.us-east-1.api.aws"},
		{"ssm", "us-east-1", true, true, "https://ssm-fips.us-east-1.api.aws"},
		{"ssm", "cn-north-1", false, false, "https://ssm.cn-north-1.amazonaws.com.cn"},
		{"ssm", "us-iso-east-1", false, false, "https://ssm.us-iso-east-1.c2s.ic.gov"},
		{"ssm", "us-isob-east-1", false, false, "https://ssm.us-isob-east-1.sc2s.sgov.gov"},
		{"monitoring", "eu-west-1", false, false, "https://monitoring.eu-west-1.amazonaws.com"},
		{"monitoring", "us-east-1", true, false, "https://monitoring-fips.us-east-1.amazonaws.com"},
		{"monitoring", "cn-northwest-1", false, true, "https://monitoring.cn-northwest-1.api.amazonwebservices.com.cn"},
	} {
		if got := RegionEndpoint(tt.prefix, tt.region, tt.fips, tt.dualStack); got != tt.want {
			t.Errorf("%s %s fips %t dual-stack %t: %s, want %s", tt.prefix, tt.region, tt.fips, tt.dualStack, got, tt.want)
		}
	}
}

// TestResolveEndpoint: overrides as the SDK's clients take them.
func TestResolveEndpoint(t *testing.T) {
	t.Parallel()
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	ssm := Service{ID: "SSM", EndpointPrefix: "ssm"}
	cw := Service{ID: "CloudWatch", EndpointPrefix: "monitoring"}
	cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String("http://localhost:4566/")}
	cfg.ConfigSources = []any{fakeEndpoints{"SSM": "http://ssm.local:5000", "CloudWatch": "http://cw.local:5000"}}
	for _, tt := range []struct {
		name string
		svc  Service
		cfg  aws.Config
		env  map[string]string
		want string
	}{
		{"global override", ssm, cfg, map[string]string{"AWS_ENDPOINT_URL": "http://localhost:4566/"}, "http://localhost:4566"},
		{"SSM's own override", ssm, cfg, map[string]string{"AWS_ENDPOINT_URL": "http://localhost:4566/", "AWS_ENDPOINT_URL_SSM": "http://ssm.local:5000"}, "http://ssm.local:5000"},
		{"CloudWatch's own override", cw, cfg, map[string]string{"AWS_ENDPOINT_URL": "http://localhost:4566/", "AWS_ENDPOINT_URL_CLOUDWATCH": "http://cw.local:5000"}, "http://cw.local:5000"},
		{"shared config's services section", cw, cfg, nil, "http://cw.local:5000"},
		{"FIPS from the configuration", ssm, aws.Config{Region: "eu-west-1", ConfigSources: []any{fakeEndpoints{"fips": "on"}}}, nil, "https://ssm-fips.eu-west-1.amazonaws.com"},
		{"dual-stack from the configuration", cw, aws.Config{Region: "eu-west-1", ConfigSources: []any{fakeEndpoints{"dualstack": "on"}}}, nil, "https://monitoring.eu-west-1.api.aws"},
	} {
		got, err := ResolveEndpoint(context.Background(), tt.cfg, tt.svc, env(tt.env))
		if err != nil || got != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	if _, err := ResolveEndpoint(context.Background(), aws.Config{}, ssm, env(nil)); err == nil {
		t.Error("no region and no override: no error")
	}
}

// fakeEndpoints is a configuration source with service endpoints and the
// FIPS and dual-stack settings, as config.EnvConfig and SharedConfig
// answer.
type fakeEndpoints map[string]string

func (f fakeEndpoints) GetServiceBaseEndpoint(_ context.Context, id string) (string, bool, error) {
	v, ok := f[id]
	return v, ok, nil
}

func (f fakeEndpoints) GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error) {
	if f["fips"] == "on" {
		return aws.FIPSEndpointStateEnabled, true, nil
	}
	return aws.FIPSEndpointStateUnset, false, nil
}

func (f fakeEndpoints) GetUseDualStackEndpoint(context.Context) (aws.DualStackEndpointState, bool, error) {
	if f["dualstack"] == "on" {
		return aws.DualStackEndpointStateEnabled, true, nil
	}
	return aws.DualStackEndpointStateUnset, false, nil
}

// TestNotJSONAnswer: an endpoint that answers HTML (an emulator without
// the protocol, a wrong override) is named, with what it answered.
func TestNotJSONAnswer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "<html><body>404 Not Found</body></html>")
	}))
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
	svc := Service{ID: "CloudWatch", EndpointPrefix: "monitoring", SigningName: "monitoring", Target: "GraniteServiceVersion20100801", JSONVersion: "1.0", QueryCompatible: true, MaxResponse: 1 << 20}
	c, err := New(context.Background(), cfg, svc, "test")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Call(context.Background(), "DescribeAlarms", struct{}{}, &struct{}{})
	want := srv.URL + " does not answer CloudWatch in AWS JSON 1.0 (HTTP 404, text/html)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err %v, want it to say %q", err, want)
	}
}
