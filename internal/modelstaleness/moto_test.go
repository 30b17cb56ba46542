package modelstaleness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/mlship/mlship/internal/exitcode"
)

// startMoto starts moto_server, an independent AWS emulator, on a free
// loopback port and returns its endpoint; the test skips when it is not
// installed.
func startMoto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server is not on PATH: the AWS main paths are not run against moto (pip install 'moto[server]')")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	// Wait until it answers, backing off; a loaded machine may take a while
	// to start Python.
	deadline := time.Now().Add(2 * time.Minute)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		resp, err := http.Get(endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return endpoint
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("moto_server exited: %v\n%s", err, out.String())
		case <-time.After(wait):
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer on %s within 2 minutes\n%s", endpoint, out.String())
		}
	}
}

// TestMoto runs the main path of the s3, ssm, ecr and sagemaker sources and
// the SNS and SES notifications through the real SDK against moto, and the
// not-found answers moto gives as AWS does.
func TestMoto(t *testing.T) {
	t.Parallel()
	endpoint := startMoto(t)
	cfg := testAWSConfig(endpoint)
	ctx := context.Background()
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	ssmc, ecrc, snsc := ssm.NewFromConfig(cfg), ecr.NewFromConfig(cfg), sns.NewFromConfig(cfg)
	sesc, smc := sesv2.NewFromConfig(cfg), sagemaker.NewFromConfig(cfg)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	must(s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("ml-models")}))
	must(s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("ml-models"), Key: aws.String("credit/model.pkl"), Body: strings.NewReader("weights")}))
	must(s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("ml-models"), Key: aws.String("churn/v1/model.onnx"), Body: strings.NewReader("v1")}))
	must(ssmc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/pricing/image-tag"), Value: aws.String("run-41"), Type: ssmtypes.ParameterTypeString}))
	must(ecrc.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("credit/inference")}))
	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7023,"digest":"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":32654,"digest":"sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f"}]}`
	must(ecrc.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("credit/inference"), ImageManifest: aws.String(manifest), ImageTag: aws.String("run-1")}))
	topicOut, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("model-alerts")})
	if err != nil {
		t.Fatal(err)
	}
	must(sesc.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("monitor@example.com")}))
	must(smc.CreateModelPackageGroup(ctx, &sagemaker.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String("retail-forecast")}))
	must(smc.CreateModelPackage(ctx, &sagemaker.CreateModelPackageInput{ModelPackageGroupName: aws.String("retail-forecast"), ModelApprovalStatus: smtypes.ModelApprovalStatusApproved}))

	deps := ClientsFrom(cfg, true)
	later := time.Now().Add(30 * 24 * time.Hour)
	deps.Now = func() time.Time { return later }
	models := `models:
  - {name: credit-s3, source: s3, s3-uri: "s3://ml-models/credit/model.pkl"}
  - {name: churn, source: s3, s3-uri: "s3://ml-models/churn/"}
  - {name: pricing, source: ssm, parameter: /pricing/image-tag}
  - {name: credit-image, source: ecr, image: "credit/inference:run-1"}
  - {name: credit-repo, source: ecr, image: credit/inference}
  - {name: retail, source: sagemaker, model-package-group: retail-forecast, approved-only: true}
`
	file := writeFile(t, t.TempDir(), "models.yaml", models)
	run := Config{
		Model: ModelSpec{WarnAfter: "7d", ErrorAfter: "14d"}, ConfigFile: file, Timeout: 5 * time.Minute,
		SNSTopicARN: aws.ToString(topicOut.TopicArn), EmailTo: []string{"ml-team@example.com"}, EmailFrom: "monitor@example.com",
	}
	res, err := runConfig(ctx, run, deps)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, m := range res.Models {
		// moto stamps everything with the current time: 30 days before
		// the run's clock.
		if m.State != StateError || *m.AgeSeconds < 29*24*3600 || *m.AgeSeconds > 31*24*3600 {
			t.Errorf("%s: state %s age %v (%s)", m.Name, m.State, m.AgeHuman, m.Error)
		}
		if strings.Join(m.Notified, ",") != "sns published,email sent" {
			t.Errorf("%s: notified %q", m.Name, m.Notified)
		}
	}
	if len(res.Models) != 6 || res.Models[1].Item != "churn/v1/model.onnx" || !strings.HasPrefix(res.Models[3].Item, "run-1 sha256:") {
		t.Errorf("models %+v", res.Models)
	}

	// Not found, as moto (and AWS) answer it.
	for _, tc := range []struct {
		spec ModelSpec
		want string
	}{
		{ModelSpec{Source: SourceS3, S3URI: "s3://ml-models/credit/missing.pkl"}, "no such object"},
		{ModelSpec{Source: SourceS3, S3URI: "s3://no-such-bucket/models/"}, "no such bucket"},
		{ModelSpec{Source: SourceSSM, Parameter: "/pricing/missing"}, "no such SSM parameter"},
		{ModelSpec{Source: SourceECR, Image: "credit/missing:1"}, "no such ECR repository"},
		{ModelSpec{Source: SourceECR, Image: "credit/inference:run-9"}, "no such image"},
		{ModelSpec{Source: SourceSageMaker, ModelPackageGroup: "no-such-group"}, "no such model package group"},
	} {
		tc.spec.WarnAfter = "7d"
		_, err := runConfig(ctx, Config{Model: tc.spec, Timeout: time.Minute}, deps)
		if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(fmt.Sprint(err), tc.want) {
			t.Errorf("%+v: %v (exit %d), want exit 2 and %q", tc.spec, err, exitcode.Of(err), tc.want)
		}
	}

	// A topic that is not there: NotFound, exit 3.
	_, err = runConfig(ctx, Config{Model: ModelSpec{Source: SourceSSM, Parameter: "/pricing/image-tag", WarnAfter: "7d"}, SNSTopicARN: "arn:aws:sns:us-east-1:123456789012:missing", Timeout: time.Minute}, deps)
	if exitcode.Of(err) != exitcode.Incomplete || !strings.Contains(fmt.Sprint(err), "NotFound") {
		t.Errorf("missing topic: %v", err)
	}
}
