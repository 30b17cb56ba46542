package ecrpush

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
)

// TestSSMClient: the tool's SSM client signs its calls, retries
// throttling, and reads SSM's errors as their codes.
func TestSSMClient(t *testing.T) {
	t.Parallel()
	s := newFakeSSM(t)
	c := s.client(t)
	ctx := context.Background()
	if _, found, err := c.GetParameter(ctx, "/app/tag"); err != nil || found {
		t.Fatalf("missing parameter: found %t, %v", found, err)
	}
	s.throttle = 2
	if err := c.PutParameter(ctx, "/app/tag", "v1", false); err != nil {
		t.Fatalf("PutParameter after two throttled answers: %v", err)
	}
	if v, found, err := c.GetParameter(ctx, "/app/tag"); err != nil || !found || v != "v1" {
		t.Fatalf("GetParameter = %q, %t, %v", v, found, err)
	}
	err := c.PutParameter(ctx, "/app/tag", "v2", false)
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ParameterAlreadyExists" {
		t.Errorf("creating an existing parameter: %v", err)
	}
	if err := c.PutParameter(ctx, "/app/tag", "v2", true); err != nil || s.value("/app/tag") != "v2" {
		t.Errorf("overwrite: %v, value %q", err, s.value("/app/tag"))
	}
	s.throttle = 5
	if err := c.PutParameter(ctx, "/app/tag", "v3", true); !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" {
		t.Errorf("throttled past the attempts: %v", err)
	}
	if s.unsigned != 0 || s.calls != 10 {
		t.Errorf("%d calls, %d unsigned; want 10 and 0", s.calls, s.unsigned)
	}
}

// TestSSMEndpoint: the endpoint the SDK's SSM client would use.
func TestSSMEndpoint(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		region          string
		fips, dualStack bool
		want            string
	}{
		{"eu-west-1", false, false, "https://ssm.eu-west-1.amazonaws.com"},
		{"us-gov-west-1", true, false, "https://ssm-fips.us-gov-west-1.amazonaws.com"},
		{"us-east-1", false, true, "https://ssm.us-east-1.api.aws"},
		{"us-east-1", true, true, "https://ssm-fips.us-east-1.api.aws"},
		{"cn-north-1", false, false, "https://ssm.cn-north-1.amazonaws.com.cn"},
		{"us-iso-east-1", false, false, "https://ssm.us-iso-east-1.c2s.ic.gov"},
		{"us-isob-east-1", false, false, "https://ssm.us-isob-east-1.sc2s.sgov.gov"},
	} {
		if got := ssmRegionEndpoint(tt.region, tt.fips, tt.dualStack); got != tt.want {
			t.Errorf("%s fips %t dual-stack %t: %s, want %s", tt.region, tt.fips, tt.dualStack, got, tt.want)
		}
	}

	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String("http://localhost:4566/")}
	cfg.ConfigSources = []any{fakeEndpoints{"SSM": "http://ssm.local:5000"}}
	got, err := ssmEndpoint(context.Background(), cfg, env(map[string]string{"AWS_ENDPOINT_URL": "http://localhost:4566/"}))
	if err != nil || got != "http://localhost:4566" {
		t.Errorf("global override: %q, %v", got, err)
	}
	got, err = ssmEndpoint(context.Background(), cfg, env(map[string]string{"AWS_ENDPOINT_URL": "http://localhost:4566/", "AWS_ENDPOINT_URL_SSM": "http://ssm.local:5000"}))
	if err != nil || got != "http://ssm.local:5000" {
		t.Errorf("SSM's own override: %q, %v", got, err)
	}
	got, err = ssmEndpoint(context.Background(), aws.Config{Region: "eu-west-1", ConfigSources: []any{fakeEndpoints{"fips": "on"}}}, env(nil))
	if err != nil || got != "https://ssm-fips.eu-west-1.amazonaws.com" {
		t.Errorf("FIPS from the configuration: %q, %v", got, err)
	}
}

// fakeEndpoints is a configuration source with service endpoints and the
// FIPS setting, as config.EnvConfig and SharedConfig answer.
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
