package alarms_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"

	"github.com/mlship/mlship/internal/alarms"
	"github.com/mlship/mlship/internal/cloudwatchfake"
)

// jsonCloudWatch serves a cloudwatchfake store over CloudWatch's AWS JSON
// 1.0 protocol, answering errors as a query-compatible service does: the
// JSON type and the AWS Query code in X-Amzn-Query-Error.
type jsonCloudWatch struct {
	store *cloudwatchfake.Alarms
	mu    sync.Mutex
	bad   []string // what was wrong with requests
	calls int
}

func (s *jsonCloudWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	for _, c := range []struct{ header, want string }{
		{"Content-Type", "application/x-amz-json-1.0"},
		{"X-Amz-Target", "GraniteServiceVersion20100801.DescribeAlarms"},
		{"X-Amzn-Query-Mode", "true"},
	} {
		if got := r.Header.Get(c.header); got != c.want {
			s.bad = append(s.bad, c.header+": "+got)
		}
	}
	if a := r.Header.Get("Authorization"); !strings.Contains(a, "/us-east-1/monitoring/aws4_request") {
		s.bad = append(s.bad, "Authorization: "+a)
	}
	s.mu.Unlock()
	var in alarms.DescribeAlarmsInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	out, err := s.store.DescribeAlarms(r.Context(), &in)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	var api smithy.APIError
	if errors.As(err, &api) {
		w.Header().Set("X-Amzn-Query-Error", api.ErrorCode()+";Sender")
		w.WriteHeader(400)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.cloudwatch#" + api.ErrorCode() + "Exception", "message": api.ErrorMessage()})
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

func client(t *testing.T, srv *httptest.Server) *alarms.Client {
	t.Helper()
	c, err := alarms.NewClient(context.Background(), aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: aws.String(srv.URL),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			})
		},
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClient: the watch through the client, over HTTP: pages followed,
// throttling retried, errors read by their AWS Query code.
func TestClient(t *testing.T) {
	t.Parallel()
	store := cloudwatchfake.New()
	var names []string
	for i := range 130 {
		n := "a" + strings.Repeat("x", i%7) + string(rune('A'+i%26)) + string(rune('a'+i/26))
		store.Add(n, i%2 == 0, alarms.StateOK)
		names = append(names, n)
	}
	store.Set(names[3], alarms.StateAlarm, "threshold crossed")
	s := &jsonCloudWatch{store: store}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c := client(t, srv)
	ctx := context.Background()

	states, err := alarms.Describe(ctx, c, names)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 130 || !states[names[3]].Firing() || states[names[3]].Reason != "threshold crossed" || states[names[3]].Composite || !states[names[4]].Composite {
		t.Errorf("%d states; %+v %+v", len(states), states[names[3]], states[names[4]])
	}
	// 100 names in pages of 50, then 30.
	if s.calls != 3 || len(s.bad) != 0 {
		t.Errorf("%d calls (want 3), wrong requests: %v", s.calls, s.bad)
	}

	throttled := 2
	store.BeforeCall = func(context.Context, string) error {
		if throttled > 0 {
			throttled--
			return cloudwatchfake.Throttling()
		}
		return nil
	}
	if _, err := alarms.Describe(ctx, c, names[:1]); err != nil {
		t.Errorf("after two throttled answers: %v", err)
	}
	store.BeforeCall = func(context.Context, string) error { return cloudwatchfake.AccessDenied("DescribeAlarms") }
	_, err = alarms.Describe(ctx, c, names[:1])
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" || !strings.Contains(err.Error(), "reading alarms (DescribeAlarms): operation error CloudWatch: DescribeAlarms") {
		t.Errorf("access denied: %v", err)
	}
}
