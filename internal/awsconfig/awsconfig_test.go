package awsconfig_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/mlship/mlship/internal/awsconfig"
	"github.com/mlship/mlship/internal/exitcode"
)

// isolate points the SDK away from the machine's own AWS setup. The tests
// set process environment, so they do not run in parallel.
func isolate(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE":             dir + "/config",
		"AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials",
		"AWS_ACCESS_KEY_ID":           "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY":       "secret",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_PROFILE":                 "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_ENDPOINT_URL_STS":        "",
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
}

func TestRegion(t *testing.T) {
	isolate(t)
	if _, err := awsconfig.Load(context.Background(), "ecr-push", ""); exitcode.Of(err) != exitcode.BadInput ||
		err.Error() != "no AWS region: set --region or AWS_REGION" {
		t.Errorf("no region: %v (exit %d)", err, exitcode.Of(err))
	}
	t.Setenv("AWS_DEFAULT_REGION", "eu-west-1")
	cfg, err := awsconfig.Load(context.Background(), "ecr-push", "")
	if err != nil || cfg.Region != "eu-west-1" {
		t.Errorf("AWS_DEFAULT_REGION: %q, %v", cfg.Region, err)
	}
	t.Setenv("AWS_REGION", "us-east-2")
	if cfg, _ = awsconfig.Load(context.Background(), "ecr-push", ""); cfg.Region != "us-east-2" {
		t.Errorf("AWS_REGION: %q", cfg.Region)
	}
	if cfg, _ = awsconfig.Load(context.Background(), "ecr-push", "ap-south-1"); cfg.Region != "ap-south-1" {
		t.Errorf("flag: %q", cfg.Region)
	}
}

// A local server stands in for AWS through AWS_ENDPOINT_URL: it throttles
// twice, then answers. The client must retry, reach the endpoint, and say
// which tool it is.
func TestRegionNames(t *testing.T) {
	t.Parallel()
	for _, good := range []string{"", "us-east-1", "us-gov-west-1", "cn-northwest-1", "eu-isoe-west-1", "ap-southeast-7", "il-central-1"} {
		if err := awsconfig.CheckRegion(good); err != nil {
			t.Errorf("CheckRegion(%q) = %v", good, err)
		}
	}
	for _, bad := range []string{"us-east-1; rm -rf /", "US-EAST-1", "useast1", "us-east", "us-east-1\n::error::x", "../../x", "us-east-1 "} {
		err := awsconfig.CheckRegion(bad)
		if exitcode.Of(err) != exitcode.BadInput || !strings.HasPrefix(err.Error(), "--region "+strconv.Quote(bad)+": not an AWS region name") {
			t.Errorf("CheckRegion(%q) = %v", bad, err)
		}
	}
}

func TestBadRegionFromEnvironment(t *testing.T) {
	isolate(t)
	t.Setenv("AWS_REGION", "us-east-1;curl evil")
	_, err := awsconfig.Load(context.Background(), "ecr-push", "")
	if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), `"us-east-1;curl evil"`) {
		t.Errorf("Load = %v", err)
	}
	if _, err := awsconfig.Load(context.Background(), "ecr-push", "eu-west-1;x"); exitcode.Of(err) != exitcode.BadInput {
		t.Errorf("Load with a bad --region = %v", err)
	}
}

func TestEndpointRetriesAndUserAgent(t *testing.T) {
	isolate(t)
	var mu sync.Mutex
	var agents []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.Header.Get("User-Agent"))
		n := len(agents)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		if n <= 2 {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>`))
			return
		}
		w.Write([]byte(`<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/ci</Arn><UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>2</RequestId></ResponseMetadata></GetCallerIdentityResponse>`))
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)

	cfg, err := awsconfig.Load(context.Background(), "lambda-deploy", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if *out.Account != "123456789012" {
		t.Errorf("account %q", *out.Account)
	}
	if len(agents) != 3 {
		t.Errorf("%d requests, want 3 (two throttled, then retried)", len(agents))
	}
	if !strings.Contains(agents[0], " mlship-lambda-deploy/dev") {
		t.Errorf("user agent %q does not name the tool", agents[0])
	}
}

// AccessDenied is not retried: a second try cannot succeed.
func TestAccessDeniedIsNotRetried(t *testing.T) {
	isolate(t)
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed</Message></Error><RequestId>1</RequestId></ErrorResponse>`))
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
	cfg, err := awsconfig.Load(context.Background(), "lambda-deploy", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("err = %v", err)
	}
	if calls != 1 {
		t.Errorf("%d calls, want 1", calls)
	}
}
