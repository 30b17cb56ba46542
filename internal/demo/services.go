package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/mlship/mlship/internal/ecrfake"
	"github.com/mlship/mlship/internal/ecrref"
	"github.com/mlship/mlship/internal/lambdafake"
)

// Names the pipeline uses.
const (
	region     = "us-east-1"
	repository = "credit-approval/inference"
	function   = "credit-approval"
	alias      = "live"
	bucket     = "credit-approval-reports"
)

// services are the stand-ins the steps talk to, each an HTTP server on
// loopback in this process.
type services struct {
	ecr      *ecrfake.Fake
	registry *ecrfake.Registry
	lambda   *lambdafake.Lambda
	s3       *s3mem.Backend
	runtime  *runtime

	regURL, ecrURL, s3URL, lambdaURL, guardURL string
	regHost                                    string // host:port of the registry

	health     *httptest.Server
	healthDown atomic.Bool

	servers []*httptest.Server
}

func startServices() (*services, error) {
	s := &services{ecr: ecrfake.New(), lambda: lambdafake.New(), s3: s3mem.New()}
	s.ecr.Region, s.lambda.Region = region, region

	// An OCI registry (go-containerregistry's) behind ECR's rules: a
	// repository must exist, immutable tags stay, and it asks for the
	// password GetAuthorizationToken hands out.
	s.registry = s.ecr.Registry(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	s.registry.RequireAuth = true
	s.regURL = s.serve(s.registry)
	s.regHost = strings.TrimPrefix(s.regURL, "http://")
	s.ecr.ProxyEndpoint = s.regURL
	s.ecrURL = s.serve(s.ecr.Handler())

	if err := s.s3.CreateBucket(bucket); err != nil {
		s.Close()
		return nil, err
	}
	s.s3URL = s.serve(gofakes3.New(s.s3, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())

	// Lambda updates take a while, as they do (shorter here), so that the
	// waits show.
	s.lambda.UpdateDuration = 400 * time.Millisecond
	s.lambda.PublishDuration = 200 * time.Millisecond
	s.lambda.ResolveImage = s.resolveImage
	s.runtime = &runtime{pull: s.pullAuth, registry: s.regHost, models: map[string]model{}}
	s.lambdaURL = s.serve(s.lambda.Handler())

	// Every other AWS service: refused, so that nothing the demo runs can
	// reach AWS even if a tool called a service the demo did not plan for.
	s.guardURL = s.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amzn-ErrorType", "NotInTheDemo")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotImplemented)
		fmt.Fprintf(w, `{"__type":"NotInTheDemo","message":"the demo serves ECR, S3 and Lambda only; %s %s was refused"}`, r.Method, r.URL.Path)
	}))

	// The HTTP endpoint in front of the alias (what API Gateway would be):
	// GET /health invokes live.
	s.health = httptest.NewServer(http.HandlerFunc(s.serveHealth))
	s.servers = append(s.servers, s.health)
	return s, nil
}

func (s *services) serve(h http.Handler) string {
	srv := httptest.NewServer(h)
	s.servers = append(s.servers, srv)
	return srv.URL
}

// Close stops every server and waits for the requests in flight.
func (s *services) Close() {
	for _, srv := range s.servers {
		srv.Close()
	}
}

// pullAuth is what `docker login` with the ECR token gives.
func (s *services) pullAuth() authn.Authenticator {
	return &authn.Basic{Username: "AWS", Password: ecrfake.DefaultPassword}
}

// writeDockerConfig writes the Docker config that docker/login-action
// would leave for the registry, which image-scan reads to pull.
func (s *services) writeDockerConfig(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	auth := base64.StdEncoding.EncodeToString([]byte("AWS:" + ecrfake.DefaultPassword))
	b, err := json.Marshal(map[string]any{"auths": map[string]any{s.regHost: map[string]string{"auth": auth}}})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600)
}

// resolveImage is how the Lambda stand-in checks an image URI, as Lambda
// does: it must be an ECR image that exists.
func (s *services) resolveImage(uri string) (string, bool) {
	img, err := ecrref.ParseImage(uri)
	if err != nil || img.Host.Name != s.ecr.Host() {
		return "", false
	}
	id := ecrtypes.ImageIdentifier{}
	if img.Digest != "" {
		id.ImageDigest = aws.String(img.Digest)
	} else {
		id.ImageTag = aws.String(img.Tag)
	}
	out, err := s.ecr.DescribeImages(context.Background(), &ecr.DescribeImagesInput{RepositoryName: aws.String(img.Repository), ImageIds: []ecrtypes.ImageIdentifier{id}})
	if err != nil || len(out.ImageDetails) == 0 {
		return "", false
	}
	return aws.ToString(out.ImageDetails[0].ImageDigest), true
}

// serveHealth answers GET /health by invoking the alias, as an API in
// front of it would; while healthDown is set it answers 503, as when a
// dependency of the model fails.
func (s *services) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/health" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if s.healthDown.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, `{"status":"unavailable","reason":"feature store: connection refused"}`)
		return
	}
	out, err := s.lambda.Invoke(r.Context(), &lambda.InvokeInput{FunctionName: aws.String(function), Qualifier: aws.String(alias), Payload: []byte(`{"health":true}`)})
	if err != nil || out.FunctionError != nil {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintln(w, `{"status":"error"}`)
		return
	}
	var resp proxyResponse
	if err := json.Unmarshal(out.Payload, &resp); err != nil || resp.StatusCode == 0 {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintln(w, `{"status":"error"}`)
		return
	}
	w.WriteHeader(resp.StatusCode)
	fmt.Fprintln(w, resp.Body)
}
