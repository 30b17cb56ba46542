package ssmclient_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/mlship/mlship/internal/ssmclient"
	"github.com/mlship/mlship/internal/ssmfake"
)

func newClient(t *testing.T, s *ssmfake.SSM) *ssmclient.Client {
	t.Helper()
	c, err := ssmclient.New(context.Background(), s.Config(), "test")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClient: the client signs its calls, retries throttling, and reads
// SSM's errors as their codes.
func TestClient(t *testing.T) {
	t.Parallel()
	s := ssmfake.New(t)
	c := newClient(t, s)
	ctx := context.Background()
	if _, found, err := c.GetParameter(ctx, "/app/tag", false); err != nil || found {
		t.Fatalf("missing parameter: found %t, %v", found, err)
	}
	s.Throttle(2)
	if err := c.PutParameter(ctx, "/app/tag", "v1", false); err != nil {
		t.Fatalf("PutParameter after two throttled answers: %v", err)
	}
	if p, found, err := c.GetParameter(ctx, "/app/tag", false); err != nil || !found || p.Value != "v1" || p.Type != ssmclient.TypeString || p.Version != 1 {
		t.Fatalf("GetParameter = %+v, %t, %v", p, found, err)
	}
	err := c.PutParameter(ctx, "/app/tag", "v2", false)
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ParameterAlreadyExists" {
		t.Errorf("creating an existing parameter: %v", err)
	}
	if err := c.PutParameter(ctx, "/app/tag", "v2", true); err != nil || s.Value("/app/tag") != "v2" {
		t.Errorf("overwrite: %v, value %q", err, s.Value("/app/tag"))
	}
	s.Throttle(5)
	err = c.PutParameter(ctx, "/app/tag", "v3", true)
	if !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" {
		t.Errorf("throttled past the attempts: %v", err)
	}
	// It reads as the SDK's errors read.
	if want := "operation error SSM: PutParameter, https response error StatusCode: 400, RequestID: fake-request, api error ThrottlingException: Rate exceeded"; err == nil || err.Error() != want {
		t.Errorf("error text %q, want %q", err, want)
	}
	if calls, unsigned := s.Calls(); unsigned != 0 || calls != 10 {
		t.Errorf("%d calls, %d unsigned; want 10 and 0", calls, unsigned)
	}
}

// TestSecureString: WithDecryption is sent only when asked for, and the
// type tells a SecureString.
func TestSecureString(t *testing.T) {
	t.Parallel()
	s := ssmfake.New(t)
	s.Put("/app/secret-tag", "v9", ssmclient.TypeSecureString)
	c := newClient(t, s)
	ctx := context.Background()
	p, found, err := c.GetParameter(ctx, "/app/secret-tag", true)
	if err != nil || !found || p.Value != "v9" || p.Type != ssmclient.TypeSecureString || p.Name != "/app/secret-tag" {
		t.Fatalf("decrypted: %+v, %t, %v", p, found, err)
	}
	if s.LastRequest()["WithDecryption"] != true {
		t.Errorf("request %v: want WithDecryption true", s.LastRequest())
	}
	p, _, err = c.GetParameter(ctx, "/app/secret-tag", false)
	if err != nil || p.Value == "v9" || !strings.HasPrefix(p.Value, "AQICAHg") {
		t.Errorf("without decryption: %+v, %v; want the encrypted value", p, err)
	}
	if _, ok := s.LastRequest()["WithDecryption"]; ok {
		t.Errorf("request %v: want no WithDecryption", s.LastRequest())
	}
}

// TestAccessDenied: an error other than ParameterNotFound is an error, not
// a missing parameter.
func TestAccessDenied(t *testing.T) {
	t.Parallel()
	s := ssmfake.New(t)
	s.Fail(&smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform: ssm:GetParameter"})
	_, found, err := newClient(t, s).GetParameter(context.Background(), "/app/tag", true)
	var api smithy.APIError
	if found || !errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" {
		t.Errorf("found %t, %v", found, err)
	}
}
