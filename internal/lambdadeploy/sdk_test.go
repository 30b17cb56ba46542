package lambdadeploy

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/mlship/mlship/internal/awsconfig"
	"github.com/mlship/mlship/internal/exitcode"
)

// TestRealClientRetries runs a dry run through the real Lambda client, built
// from awsconfig.Load as the tool builds it, against a server speaking
// Lambda's REST-JSON protocol: throttling (429 TooManyRequestsException) is
// retried by the SDK, AccessDeniedException is not.
func TestRealClientRetries(t *testing.T) {
	// Not parallel: the AWS configuration is read from the process
	// environment.
	tests := []struct {
		name      string
		fail      []string // errors GetFunction answers before it succeeds
		wantCode  int
		wantCalls int
	}{
		{"throttled twice, then answers", []string{"TooManyRequestsException", "TooManyRequestsException"}, exitcode.OK, 3},
		{"access denied", []string{"AccessDeniedException", "AccessDeniedException"}, exitcode.Incomplete, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch {
				case r.Method == http.MethodGet && r.URL.Path == "/2015-03-31/functions/fn":
					mu.Lock()
					n := calls
					calls++
					mu.Unlock()
					if n < len(tc.fail) {
						status := map[string]int{"TooManyRequestsException": 429, "AccessDeniedException": 403}[tc.fail[n]]
						w.Header().Set("X-Amzn-ErrorType", tc.fail[n])
						w.WriteHeader(status)
						fmt.Fprintf(w, `{"message":"%s from the test server","Reason":"CallerRateLimitExceeded"}`, tc.fail[n])
						return
					}
					fmt.Fprintf(w, `{"Configuration":{"FunctionName":"fn","FunctionArn":"arn:aws:lambda:us-east-1:123456789012:function:fn",
						"PackageType":"Image","State":"Active","LastUpdateStatus":"Successful","RevisionId":"r1","CodeSha256":"abc",
						"Environment":{"Variables":{"MODEL_PATH":"/opt/model"}}},
						"Code":{"RepositoryType":"ECR","ImageUri":%q,"ResolvedImageUri":"%s/app@sha256:%064x"}}`, imgV1, registry, 1)
				case r.Method == http.MethodGet && r.URL.Path == "/2015-03-31/functions/fn/aliases/live":
					fmt.Fprint(w, `{"AliasArn":"arn:aws:lambda:us-east-1:123456789012:function:fn:live","Name":"live","FunctionVersion":"1","RevisionId":"a1",
						"RoutingConfig":{"AdditionalVersionWeights":{"2":0.25}}}`)
				default:
					w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
					w.WriteHeader(404)
					fmt.Fprintf(w, `{"message":"no route for %s %s in the test server"}`, r.Method, r.URL.Path)
				}
			}))
			defer srv.Close()
			for k, v := range map[string]string{
				"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "",
				"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_LAMBDA": srv.URL, "AWS_ENDPOINT_URL": "",
				"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PROFILE": "",
				"AWS_EC2_METADATA_DISABLED": "true",
			} {
				t.Setenv(k, v)
			}
			cfg, err := awsconfig.Load(context.Background(), Name, "")
			if err != nil {
				t.Fatal(err)
			}
			// The SDK's own rules for what is retried (adaptive mode wraps
			// the standard retryer, adding a client-side rate limiter that
			// would make this test wait seconds), with short backoff.
			client := lambda.NewFromConfig(cfg, func(o *lambda.Options) {
				o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
					so.MaxAttempts = awsconfig.MaxAttempts
					so.Backoff = retry.NewExponentialJitterBackoff(5 * time.Millisecond)
				})
			})

			w := newWorld(t)
			deps := w.deps()
			deps.Lambda = client
			run := validate(t, &Config{Function: "fn", Alias: "live", ImageURI: imgV2, Strategy: Canary, DryRun: true})
			res, err := Run(context.Background(), run, deps)
			if got := exitcode.Of(err); got != tc.wantCode {
				t.Fatalf("exit %d (%v), want %d", got, err, tc.wantCode)
			}
			mu.Lock()
			got := calls
			mu.Unlock()
			if got != tc.wantCalls {
				t.Errorf("GetFunction was called %d times, want %d", got, tc.wantCalls)
			}
			if tc.wantCode == exitcode.OK {
				plan := strings.Join(res.Plan, "\n")
				if !strings.Contains(plan, "live: version 1 -> the new version, canary") || !strings.Contains(w.log.String(), "25% on 2") {
					t.Errorf("plan from the real client's answers:\n%s\n%s", plan, w.log)
				}
			} else if !strings.Contains(err.Error(), "AccessDeniedException") {
				t.Errorf("error = %v", err)
			}
		})
	}
}
