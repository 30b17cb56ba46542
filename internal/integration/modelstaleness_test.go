//go:build integration

package integration

import (
	"context"
	"fmt"
	"path/filepath"
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

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/modelstaleness"
)

// model-staleness against moto: the s3 (object and prefix), ssm, ecr (tag
// and repository) and sagemaker sources read what moto stored, SNS and SES
// send when the models are stale, and what moto answers for things that
// are not there is exit 2 (3 for a missing SNS topic).
func TestModelStalenessSourcesAndNotifications(t *testing.T) {
	needMoto(t)
	t.Parallel()
	ctx := context.Background()
	cfg := awsConfig(t)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	ssmc, ecrc, snsc := ssm.NewFromConfig(cfg), ecr.NewFromConfig(cfg), sns.NewFromConfig(cfg)
	sesc, smc := sesv2.NewFromConfig(cfg), sagemaker.NewFromConfig(cfg)

	bucket, param, repo := unique("mlship-it-models"), "/"+unique("mlship-it")+"/image-tag", unique("mlship-it/credit")
	group, topic := unique("mlship-it-retail"), unique("mlship-it-alerts")
	must(s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}))
	must(s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("credit/model.pkl"), Body: strings.NewReader("weights")}))
	must(s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("churn/v1/model.onnx"), Body: strings.NewReader("v1")}))
	must(ssmc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(param), Value: aws.String("run-41"), Type: ssmtypes.ParameterTypeString}))
	must(ecrc.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo)}))
	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7023,"digest":"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":32654,"digest":"sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f"}]}`
	must(ecrc.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(manifest), ImageTag: aws.String("run-1")}))
	topicOut, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(topic)})
	if err != nil {
		t.Fatal(err)
	}
	must(sesc.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("monitor@example.com")}))
	must(smc.CreateModelPackageGroup(ctx, &sagemaker.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String(group)}))
	must(smc.CreateModelPackage(ctx, &sagemaker.CreateModelPackageInput{ModelPackageGroupName: aws.String(group), ModelApprovalStatus: smtypes.ModelApprovalStatusApproved}))

	config := filepath.Join(t.TempDir(), "models.yaml")
	writeFile(t, config, fmt.Sprintf(`models:
  - {name: credit-s3, source: s3, s3-uri: "s3://%[1]s/credit/model.pkl"}
  - {name: churn, source: s3, s3-uri: "s3://%[1]s/churn/"}
  - {name: pricing, source: ssm, parameter: %[2]s}
  - {name: credit-image, source: ecr, image: "%[3]s:run-1"}
  - {name: credit-repo, source: ecr, image: %[3]s}
  - {name: retail, source: sagemaker, model-package-group: %[4]s, approved-only: true}
`, bucket, param, repo, group))

	// As a workflow step, just after the models were stored: fresh, and
	// nothing sent.
	step := actiontest.NewStep(t, map[string]string{
		"config": config, "warn-after": "7d", "s3-path-style": "true",
		"sns-topic-arn": aws.ToString(topicOut.TopicArn), "email-to": "ml-team@example.com", "email-from": "monitor@example.com",
	})
	if code := step.Run(modelstaleness.Command()); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, &step.Stdout, &step.Stderr)
	}
	if outs := step.Outputs(t); outs["state"] != "fresh" || outs["stale"] != "false" || outs["notified"] != "" {
		t.Errorf("outputs %v", outs)
	}
	for _, row := range []string{"| credit-s3 | s3 ", "| churn | s3 ", "| pricing | ssm ", "| credit-image | ecr ", "| credit-repo | ecr ", "| retail | sagemaker "} {
		if !strings.Contains(step.SummaryText(t), row) {
			t.Errorf("summary lacks %q:\n%s", row, step.SummaryText(t))
		}
	}

	// A month later (the run's clock; moto's stays): every model is stale,
	// SNS and SES send once per model.
	plan, err := (&modelstaleness.Config{
		Model: modelstaleness.ModelSpec{WarnAfter: "7d", ErrorAfter: "14d"}, ConfigFile: config, Timeout: 5 * time.Minute,
		SNSTopicARN: aws.ToString(topicOut.TopicArn), EmailTo: []string{"ml-team@example.com"}, EmailFrom: "monitor@example.com",
	}).Validate()
	if err != nil {
		t.Fatal(err)
	}
	deps := modelstaleness.ClientsFrom(cfg, true)
	later := time.Now().Add(30 * 24 * time.Hour)
	deps.Now = func() time.Time { return later }
	res, err := modelstaleness.Run(ctx, plan, deps)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, m := range res.Models {
		if m.State != modelstaleness.StateError || *m.AgeSeconds < 29*24*3600 || *m.AgeSeconds > 31*24*3600 {
			t.Errorf("%s: state %s, age %s (%s)", m.Name, m.State, m.AgeHuman, m.Error)
		}
		if strings.Join(m.Notified, ",") != "sns published,email sent" {
			t.Errorf("%s: notified %q", m.Name, m.Notified)
		}
	}
	if len(res.Models) != 6 || res.Models[1].Item != "churn/v1/model.onnx" || !strings.HasPrefix(res.Models[3].Item, "run-1 sha256:") || !strings.HasPrefix(res.Models[5].Item, "version 1 ") {
		t.Errorf("models %+v", res.Models)
	}

	// What is not there, as moto (and AWS) answer it.
	for _, args := range [][]string{
		{"--source", "s3", "--s3-uri", "s3://" + bucket + "/credit/missing.pkl", "--s3-path-style"},
		{"--source", "s3", "--s3-uri", "s3://" + unique("mlship-it-none") + "/models/", "--s3-path-style"},
		{"--source", "ssm", "--parameter", param + "-missing"},
		{"--source", "ecr", "--image", repo + "-missing:1"},
		{"--source", "ecr", "--image", repo + ":run-9"},
		{"--source", "sagemaker", "--model-package-group", unique("mlship-it-none")},
	} {
		step := actiontest.NewStep(t, nil)
		code := step.Run(modelstaleness.Command(), append(args, "--warn-after", "7d")...)
		if code != exitcode.BadInput || strings.Count(step.Stdout.String(), "::error::") != 1 {
			t.Errorf("%v: exit %d\n%s%s", args, code, &step.Stdout, &step.Stderr)
		}
	}
	plan, err = (&modelstaleness.Config{
		Model:       modelstaleness.ModelSpec{Source: modelstaleness.SourceSSM, Parameter: param, WarnAfter: "7d"},
		SNSTopicARN: "arn:aws:sns:" + region + ":" + account + ":" + unique("mlship-it-missing"), Timeout: time.Minute,
	}).Validate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := modelstaleness.Run(ctx, plan, deps); exitcode.Of(err) != exitcode.Incomplete || !strings.Contains(fmt.Sprint(err), "NotFound") {
		t.Errorf("missing topic: %v", err)
	}
}
