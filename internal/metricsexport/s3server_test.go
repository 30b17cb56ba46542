package metricsexport

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/mlship/mlship/internal/awsconfig"
)

// s3Server is gofakes3 served in-process, recording the requests it gets.
// With virtualHost it routes by the bucket in the Host header
// (bucket.localhost:port) and nothing else; the clients it hands out reach
// bucket.localhost through a dialer that sends every *.localhost to
// 127.0.0.1, so the Host header really carries the bucket.
type s3Server struct {
	t           testing.TB
	URL         string // http://localhost:port
	backend     *s3mem.Backend
	virtualHost bool

	mu       sync.Mutex
	requests []string // "METHOD host path"
	// fail, when set, answers a request with a 500 InternalError when it
	// returns true.
	fail func(*http.Request) bool
	// before, when set, runs before each request is served.
	before func(*http.Request)
}

func newS3Server(t testing.TB, virtualHost bool, buckets ...string) *s3Server {
	t.Helper()
	s := &s3Server{t: t, backend: s3mem.New(), virtualHost: virtualHost}
	for _, b := range buckets {
		if err := s.backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	faker := gofakes3.New(s.backend, gofakes3.WithHostBucket(virtualHost))
	handler := faker.Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.Host+" "+r.URL.Path)
		fail, before := s.fail, s.before
		s.mu.Unlock()
		if before != nil {
			before(r)
		}
		if fail != nil && fail(r) {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`))
			return
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	return s
}

// Requests returns the requests so far with the given method.
func (s *s3Server) Requests(method string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.requests {
		if strings.HasPrefix(r, method+" ") {
			out = append(out, r)
		}
	}
	return out
}

func (s *s3Server) setFail(f func(*http.Request) bool) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

// localhostClient dials every *.localhost name at 127.0.0.1, as a resolver
// that follows RFC 6761 does.
func localhostClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err == nil && (host == "localhost" || strings.HasSuffix(host, ".localhost")) {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		return dialer.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr}
}

// awsConfig is a configuration for the server: static credentials, the
// same number of attempts as the tool's but without waiting between them.
func (s *s3Server) awsConfig() aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: aws.String(s.URL),
		HTTPClient:   localhostClient(),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = awsconfig.MaxAttempts
				o.RateLimiter = ratelimit.None
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		},
	}
}

// deps are S3 clients for the server, addressed as it expects.
func (s *s3Server) deps() Deps {
	return ClientsFrom(s.awsConfig(), !s.virtualHost)
}

func gofakes3ListAll() gofakes3.ListBucketPage { return gofakes3.ListBucketPage{} }
