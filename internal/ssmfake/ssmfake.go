// Package ssmfake is an SSM parameter store served over SSM's AWS JSON 1.1
// protocol, for the tests of the tools that call SSM through
// internal/ssmclient. It answers as SSM documents:
//
//   - every request must be signed (Signature V4, service ssm), else
//     IncompleteSignatureException;
//   - GetParameter of a missing name is ParameterNotFound; a SecureString's
//     value is returned in clear only WithDecryption, else encrypted (here
//     a stand-in ciphertext);
//   - PutParameter needs a type to create and Overwrite to replace
//     (ParameterAlreadyExists), and bumps the version.
//
// Throttle answers the next calls with ThrottlingException, Fail every call
// with an error.
package ssmfake

import (
	"encoding/base64"
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
)

// Region and access key of the configuration Config returns, which the
// server checks requests are signed with.
const (
	Region    = "us-east-1"
	AccessKey = "AKIDEXAMPLE"
)

// SSM is the fake parameter store.
type SSM struct {
	// URL is where it serves.
	URL string

	mu       sync.Mutex
	params   map[string]param
	puts     int
	calls    int
	throttle int
	fail     error
	unsigned int
	last     map[string]any
}

type param struct {
	Name, Value, Type string
	Version           int64
}

// New starts the store; it stops when the test ends.
func New(t testing.TB) *SSM {
	s := &SSM{params: map[string]param{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Config is an AWS configuration pointed at the store, with static
// credentials and a retryer of 3 attempts that does not wait.
func (s *SSM) Config() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, "secret", ""),
		BaseEndpoint: aws.String(s.URL),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			})
		},
	}
}

// Put sets a parameter (type String, StringList or SecureString) as
// PutParameter with Overwrite would.
func (s *SSM) Put(name, value, typ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.params[name]
	s.params[name] = param{Name: name, Value: value, Type: typ, Version: p.Version + 1}
}

// Value is a parameter's value ("" when there is none).
func (s *SSM) Value(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.params[name].Value
}

// Puts is how many PutParameter calls succeeded.
func (s *SSM) Puts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

// Calls is how many requests arrived, and how many of them were unsigned.
func (s *SSM) Calls() (calls, unsigned int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, s.unsigned
}

// LastRequest is the body of the last request, decoded.
func (s *SSM) LastRequest() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Throttle answers the next n calls with ThrottlingException.
func (s *SSM) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// Fail answers every later call with err's code and message (an
// smithy.APIError); nil ends that.
func (s *SSM) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

func (s *SSM) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	fail := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Requestid", "fake-request")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.ssm#" + code, "message": msg})
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+AccessKey+"/") || !strings.Contains(auth, "/"+Region+"/ssm/aws4_request") {
		s.unsigned++
		fail(400, "IncompleteSignatureException", "not signed")
		return
	}
	if r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		fail(400, "SerializationException", "wrong content type")
		return
	}
	if s.throttle > 0 {
		s.throttle--
		fail(400, "ThrottlingException", "Rate exceeded")
		return
	}
	var api smithy.APIError
	if errors.As(s.fail, &api) {
		fail(400, api.ErrorCode(), api.ErrorMessage())
		return
	}
	var raw map[string]any
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		fail(400, "SerializationException", err.Error())
		return
	}
	s.last = raw
	b, _ := json.Marshal(raw)
	var in struct {
		Name, Value, Type         string
		Overwrite, WithDecryption bool
	}
	if err := json.Unmarshal(b, &in); err != nil {
		fail(400, "SerializationException", err.Error())
		return
	}
	p, ok := s.params[in.Name]
	switch r.Header.Get("X-Amz-Target") {
	case "AmazonSSM.GetParameter":
		if !ok {
			fail(400, "ParameterNotFound", "")
			return
		}
		if p.Type == "SecureString" && !in.WithDecryption {
			p.Value = "AQICAHg" + base64.StdEncoding.EncodeToString([]byte("kms:"+p.Value))
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Parameter": p})
	case "AmazonSSM.PutParameter":
		switch {
		case ok && !in.Overwrite:
			fail(400, "ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
			return
		case !ok && in.Type == "":
			fail(400, "ValidationException", "A parameter type is required when you create a parameter.")
			return
		}
		if in.Type != "" {
			p.Type = in.Type
		}
		p.Name, p.Value, p.Version = in.Name, in.Value, p.Version+1
		s.params[in.Name] = p
		s.puts++
		_ = json.NewEncoder(w).Encode(map[string]any{"Version": p.Version, "Tier": "Standard"})
	default:
		fail(400, "UnknownOperationException", r.Header.Get("X-Amz-Target"))
	}
}
