//go:build integration

package integration

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/ecrpush"
)

// ecr-push against moto's ECR and SSM, on the path that needs only the ECR
// API (promotion within a repository; see buildImage): the repository is
// created with scan-on-push and immutable tags, the image is tagged by
// digest, the tag recorded in SSM; a second run changes nothing, and an
// immutable tag is never moved.
func TestECRPushCreatesRepositoryPromotesAndRecordsTag(t *testing.T) {
	needMoto(t)
	t.Parallel()
	ctx := context.Background()
	cfg := awsConfig(t)
	ecrc, ssmc := ecr.NewFromConfig(cfg), ssm.NewFromConfig(cfg)
	repo := unique("mlship-it/credit-model")
	param := "/" + unique("mlship-it") + "/image-tag"
	args := []string{
		"--repository", repo, "--create-repository", "--scan-on-push", "--tag-mutability", "IMMUTABLE",
		"--source-tag", "build-1", "--tag", "staging-1.0.7", "--ssm-parameter", param,
	}
	run := func(args ...string) (*actiontest.Step, int) {
		step := actiontest.NewStep(t, nil)
		return step, step.Run(ecrpush.Command(), args...)
	}

	// The first run creates the repository as asked, then finds no
	// build-1 to promote: exit 1, and no tag recorded.
	step, code := run(args...)
	if log := step.Stdout.String() + step.Stderr.String(); code != 1 ||
		!strings.Contains(log, repo+":build-1: ImageNotFound") || !strings.Contains(log, "nothing promoted") {
		t.Fatalf("promoting a missing tag: exit %d\n%s%s", code, &step.Stdout, &step.Stderr)
	}
	dr, err := ecrc.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{repo}})
	if err != nil {
		t.Fatalf("the repository was not created: %v", err)
	}
	r := dr.Repositories[0]
	if r.ImageTagMutability != ecrtypes.ImageTagMutabilityImmutable || r.ImageScanningConfiguration == nil || !r.ImageScanningConfiguration.ScanOnPush {
		t.Errorf("repository created with mutability %s, scanning %+v", r.ImageTagMutability, r.ImageScanningConfiguration)
	}
	if _, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param)}); !isParameterNotFound(err) {
		t.Errorf("SSM parameter after a failed promotion: %v, want ParameterNotFound", err)
	}

	// The build job's push stores build-1; the promotion now tags it.
	img := buildImage(t)
	putImage(t, ecrc, repo, "build-1", img)
	step, code = run(args...)
	if code != 0 {
		t.Fatalf("promotion: exit %d\n%s%s", code, &step.Stdout, &step.Stderr)
	}
	outs := step.Outputs(t)
	want := map[string]string{
		"registry":     registryHost,
		"repository":   repo,
		"image-uri":    registryHost + "/" + repo + ":staging-1.0.7",
		"image-digest": img.Digest,
		"image-ref":    registryHost + "/" + repo + "@" + img.Digest,
		"tags":         "staging-1.0.7",
		"pushed-bytes": "0",
		"exists":       "true",
	}
	for k, v := range want {
		if outs[k] != v {
			t.Errorf("output %s = %q, want %q", k, outs[k], v)
		}
	}
	if d := tagDigest(t, ecrc, repo, "staging-1.0.7"); d != img.Digest {
		t.Errorf("staging-1.0.7 points at %q in ECR, want %s", d, img.Digest)
	}
	gp, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param)})
	if err != nil || aws.ToString(gp.Parameter.Value) != "staging-1.0.7" || gp.Parameter.Type != ssmtypes.ParameterTypeString {
		t.Fatalf("SSM parameter %s: %+v, %v", param, gp, err)
	}
	version := gp.Parameter.Version

	// Again: nothing to do, the parameter is not written again.
	step, code = run(args...)
	if code != 0 {
		t.Fatalf("second promotion: exit %d\n%s%s", code, &step.Stdout, &step.Stderr)
	}
	if gp, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param)}); err != nil || gp.Parameter.Version != version {
		t.Errorf("the second run wrote the SSM parameter again: %+v, %v", gp, err)
	}

	// Another build under the immutable tag is refused; the tag stays.
	other := buildImage(t)
	putImage(t, ecrc, repo, "build-2", other)
	step, code = run("--repository", repo, "--source-tag", "build-2", "--tag", "staging-1.0.7")
	if code != 1 || !strings.Contains(step.Stdout.String()+step.Stderr.String(), "is immutable and points at "+img.Digest) {
		t.Errorf("moving an immutable tag: exit %d\n%s%s", code, &step.Stdout, &step.Stderr)
	}
	if d := tagDigest(t, ecrc, repo, "staging-1.0.7"); d != img.Digest {
		t.Errorf("staging-1.0.7 moved to %q", d)
	}

	// --check-exists names the tag that is missing.
	step, code = run("--repository", repo, "--check-exists", "--tag", "staging-1.0.7,prod-1.0.7")
	if code != 1 || !strings.Contains(step.Stdout.String()+step.Stderr.String(), "prod-1.0.7") {
		t.Errorf("--check-exists with a missing tag: exit %d\n%s%s", code, &step.Stdout, &step.Stderr)
	}
	if outs := step.Outputs(t); outs["exists"] != "false" {
		t.Errorf("exists = %q after --check-exists with a missing tag", outs["exists"])
	}
}

func isParameterNotFound(err error) bool {
	var nf *ssmtypes.ParameterNotFound
	return errors.As(err, &nf)
}
