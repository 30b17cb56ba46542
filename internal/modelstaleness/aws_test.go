package modelstaleness

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/mlship/mlship/internal/awsconfig"
	"github.com/mlship/mlship/internal/ecrfake"
	"github.com/mlship/mlship/internal/exitcode"
)

// clock is a settable time source, safe for the servers' goroutines.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// testAWSConfig talks to endpoint with static credentials and the tool's
// number of attempts, without waiting between them.
func testAWSConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: aws.String(endpoint),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = awsconfig.MaxAttempts
				o.RateLimiter = ratelimit.None
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		},
	}
}

// s3Server is gofakes3 in-process, with objects' LastModified from a clock.
type s3Server struct {
	client *s3.Client
	clock  *clock
}

func newS3Server(t testing.TB, buckets ...string) *s3Server {
	t.Helper()
	clk := &clock{t: now}
	backend := s3mem.New(s3mem.WithTimeSource(clk))
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithTimeSource(clk), gofakes3.WithTimeSkewLimit(0)).Server())
	t.Cleanup(srv.Close)
	return &s3Server{client: s3.NewFromConfig(testAWSConfig(srv.URL), func(o *s3.Options) { o.UsePathStyle = true }), clock: clk}
}

func (s *s3Server) put(t testing.TB, bucket, key string, at time.Time) {
	t.Helper()
	s.clock.set(at)
	if _, err := s.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("weights")}); err != nil {
		t.Fatal(err)
	}
}

func s3Spec(uri string) ModelSpec {
	return ModelSpec{Source: SourceS3, S3URI: uri, WarnAfter: "7d", ErrorAfter: "14d"}
}

// TestS3Source: an object's LastModified, or the newest object under a
// prefix (folder markers left out); a missing object, bucket or empty
// prefix is bad input.
func TestS3Source(t *testing.T) {
	t.Parallel()
	s := newS3Server(t, "models")
	s.put(t, "models", "credit/model.pkl", daysAgo(10))
	s.put(t, "models", "retail/v1/model.onnx", daysAgo(20))
	s.put(t, "models", "retail/v2/model.onnx", daysAgo(3))
	s.put(t, "models", "retail/", daysAgo(1)) // a console folder marker
	deps := Deps{S3: s.client}

	m := mustRun(t, s3Spec("s3://models/credit/model.pkl"), deps)
	if m.State != StateWarn || m.LastUpdated != daysAgo(10).Format(time.RFC3339) || m.Item != "credit/model.pkl" {
		t.Errorf("object: %+v", m)
	}
	m = mustRun(t, s3Spec("s3://models/retail/"), deps)
	if m.State != StateFresh || m.Item != "retail/v2/model.onnx" || m.LastUpdated != daysAgo(3).Format(time.RFC3339) {
		t.Errorf("prefix: %+v", m)
	}

	_, err := runSpec(t, s3Spec("s3://models/credit/missing.pkl"), deps)
	wantCode(t, err, exitcode.BadInput, `--s3-uri "s3://models/credit/missing.pkl": no such object`)
	_, err = runSpec(t, s3Spec("s3://nobucket/model.pkl"), deps)
	wantCode(t, err, exitcode.BadInput, "no such object (or bucket)")
	_, err = runSpec(t, s3Spec("s3://nobucket/prefix/"), deps)
	wantCode(t, err, exitcode.BadInput, "no such bucket nobucket")
	_, err = runSpec(t, s3Spec("s3://models/none/"), deps)
	wantCode(t, err, exitcode.BadInput, "no object under the prefix")
}

// deniedS3 refuses every call as an IAM policy without s3:GetObject does.
type deniedS3 struct{ S3API }

func (deniedS3) HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	return nil, &smithy.GenericAPIError{Code: "Forbidden", Message: "Forbidden"}
}

func TestS3AccessDenied(t *testing.T) {
	t.Parallel()
	_, err := runSpec(t, s3Spec("s3://models/credit/model.pkl"), Deps{S3: deniedS3{}})
	wantCode(t, err, exitcode.Incomplete, "reading s3://models/credit/model.pkl: Forbidden")
}

// TestECRSource goes through a real ECR client to the shared ECR fake: a
// tag's or digest's push time, the newest tagged image of a repository, the
// documented not-found errors, and throttling the SDK retries.
func TestECRSource(t *testing.T) {
	t.Parallel()
	f := ecrfake.New()
	clk := &clock{t: daysAgo(30)}
	f.Now = clk.Now
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	client := ecr.NewFromConfig(testAWSConfig(srv.URL))

	manifest := func(n int) []byte {
		return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%064x","size":%d},"layers":[]}`, n, 10+n)
	}
	old, err := f.AddImage("credit/inference", manifest(1), "run-1")
	if err != nil {
		t.Fatal(err)
	}
	clk.set(daysAgo(9))
	if _, err := f.AddImage("credit/inference", manifest(2), "run-2", "latest"); err != nil {
		t.Fatal(err)
	}
	clk.set(daysAgo(2))
	if _, err := f.AddImage("credit/inference", manifest(3)); err != nil { // untagged: a cache or attestation
		t.Fatal(err)
	}
	deps := Deps{ECR: client}
	spec := func(image string) ModelSpec {
		return ModelSpec{Source: SourceECR, Image: image, WarnAfter: "7d", ErrorAfter: "14d"}
	}

	if m := mustRun(t, spec("credit/inference:run-1"), deps); m.State != StateError || !strings.HasSuffix(m.Item, old) {
		t.Errorf("tag: %+v", m)
	}
	if m := mustRun(t, spec("123456789012.dkr.ecr.us-east-1.amazonaws.com/credit/inference@"+old), deps); m.LastUpdated != daysAgo(30).Format(time.RFC3339) {
		t.Errorf("digest: %+v", m)
	}
	m := mustRun(t, spec("credit/inference"), deps)
	if m.State != StateWarn || !strings.HasPrefix(m.Item, "latest,run-2 sha256:") && !strings.HasPrefix(m.Item, "run-2,latest sha256:") {
		t.Errorf("newest tagged: %+v", m)
	}

	_, err = runSpec(t, spec("credit/missing:1"), deps)
	wantCode(t, err, exitcode.BadInput, `--image "credit/missing:1": no such ECR repository credit/missing`)
	_, err = runSpec(t, spec("credit/inference:run-9"), deps)
	wantCode(t, err, exitcode.BadInput, `--image "credit/inference:run-9": no such image`)

	f.FailNext("DescribeImages", 2, ecrfake.Throttling())
	if m := mustRun(t, spec("credit/inference:run-2"), deps); m.State != StateWarn {
		t.Errorf("after throttling: %+v", m)
	}
	f.FailNext("DescribeImages", 1, ecrfake.AccessDenied("DescribeImages"))
	_, err = runSpec(t, spec("credit/inference:run-2"), deps)
	wantCode(t, err, exitcode.Incomplete, "AccessDeniedException", "ecr:DescribeImages")
}

// TestSSMSource: the parameter's LastModifiedDate, never decrypting it.
func TestSSMSource(t *testing.T) {
	t.Parallel()
	f := newSSMFake()
	f.put("/pricing/image-tag", "run-40", daysAgo(20))
	f.put("/pricing/image-tag", "run-41", daysAgo(8))
	spec := func(p string) ModelSpec {
		return ModelSpec{Source: SourceSSM, Parameter: p, WarnAfter: "7d", ErrorAfter: "14d"}
	}
	m := mustRun(t, spec("/pricing/image-tag"), Deps{SSM: f})
	if m.State != StateWarn || m.Item != "version 2" || m.LastUpdated != daysAgo(8).Format(time.RFC3339) {
		t.Errorf("result %+v", m)
	}
	if m := mustRun(t, spec("/pricing/image-tag:1"), Deps{SSM: f}); m.State != StateError {
		t.Errorf("version 1: %+v", m)
	}
	for _, c := range f.calls {
		if aws.ToBool(c.WithDecryption) {
			t.Error("asked SSM to decrypt the value")
		}
	}
	_, err := runSpec(t, spec("/pricing/missing"), Deps{SSM: f})
	wantCode(t, err, exitcode.BadInput, `--parameter "/pricing/missing": no such SSM parameter`)
	_, err = runSpec(t, spec("/pricing/image-tag:7"), Deps{SSM: f})
	wantCode(t, err, exitcode.BadInput, "no such SSM parameter")
}

// TestSageMakerSource: the newest model package of the group (approved
// ones only when asked); an empty group and a missing one are told apart.
func TestSageMakerSource(t *testing.T) {
	t.Parallel()
	f := newSageMakerFake()
	f.addGroup("retail-forecast")
	f.register("retail-forecast", daysAgo(30), smtypes.ModelApprovalStatusApproved)
	approved := f.register("retail-forecast", daysAgo(16), smtypes.ModelApprovalStatusApproved)
	f.register("retail-forecast", daysAgo(2), smtypes.ModelApprovalStatusPendingManualApproval)
	f.addGroup("empty")
	f.register("rejected-only", daysAgo(1), smtypes.ModelApprovalStatusRejected)
	spec := func(group string, approvedOnly bool) ModelSpec {
		return ModelSpec{Source: SourceSageMaker, ModelPackageGroup: group, ApprovedOnly: approvedOnly, WarnAfter: "7d", ErrorAfter: "14d"}
	}
	if m := mustRun(t, spec("retail-forecast", false), Deps{SageMaker: f}); m.State != StateFresh || !strings.HasPrefix(m.Item, "version 3 ") {
		t.Errorf("newest: %+v", m)
	}
	if m := mustRun(t, spec("retail-forecast", true), Deps{SageMaker: f}); m.State != StateError || m.Item != "version 2 ("+approved+")" {
		t.Errorf("approved only: %+v", m)
	}
	_, err := runSpec(t, spec("empty", false), Deps{SageMaker: f})
	wantCode(t, err, exitcode.BadInput, `--model-package-group "empty": the group holds no model package`)
	_, err = runSpec(t, spec("rejected-only", true), Deps{SageMaker: f})
	wantCode(t, err, exitcode.BadInput, "holds no approved model package")
	_, err = runSpec(t, spec("missing", false), Deps{SageMaker: f})
	wantCode(t, err, exitcode.BadInput, `--model-package-group "missing": no such model package group`, "does not exist")
}
