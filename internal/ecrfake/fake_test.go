package ecrfake

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
)

// The interfaces tools declare must be satisfied by the fake and by the
// real client alike.
type ecrAPI interface {
	CreateRepository(context.Context, *ecr.CreateRepositoryInput, ...func(*ecr.Options)) (*ecr.CreateRepositoryOutput, error)
	DescribeRepositories(context.Context, *ecr.DescribeRepositoriesInput, ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
	DescribeImages(context.Context, *ecr.DescribeImagesInput, ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error)
	ListImages(context.Context, *ecr.ListImagesInput, ...func(*ecr.Options)) (*ecr.ListImagesOutput, error)
	BatchGetImage(context.Context, *ecr.BatchGetImageInput, ...func(*ecr.Options)) (*ecr.BatchGetImageOutput, error)
	PutImage(context.Context, *ecr.PutImageInput, ...func(*ecr.Options)) (*ecr.PutImageOutput, error)
	GetAuthorizationToken(context.Context, *ecr.GetAuthorizationTokenInput, ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error)
	PutImageTagMutability(context.Context, *ecr.PutImageTagMutabilityInput, ...func(*ecr.Options)) (*ecr.PutImageTagMutabilityOutput, error)
	PutImageScanningConfiguration(context.Context, *ecr.PutImageScanningConfigurationInput, ...func(*ecr.Options)) (*ecr.PutImageScanningConfigurationOutput, error)
}

var (
	_ ecrAPI = New()
	_ ecrAPI = (*ecr.Client)(nil)
)

// testManifest returns an image manifest whose config differs by n.
func testManifest(n int) []byte {
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%064x","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%064x","size":100}]}`, n, 10+n, n+1000)
}

func TestRepositories(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := New()
	_, err := f.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"app"}})
	var nf *types.RepositoryNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("describe missing: got %v, want RepositoryNotFoundException", err)
	}
	out, err := f.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName:             aws.String("team/app"),
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: true},
		ImageTagMutability:         types.ImageTagMutabilityImmutable,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(out.Repository.RepositoryUri), "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app"; got != want {
		t.Errorf("uri = %s, want %s", got, want)
	}
	_, err = f.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/app")})
	var exists *types.RepositoryAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Errorf("create twice: got %v", err)
	}
	for _, bad := range []string{"App", "a", "-x", "a//b", "a_"} {
		_, err = f.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(bad)})
		var ip *types.InvalidParameterException
		if !errors.As(err, &ip) {
			t.Errorf("create %q: got %v, want InvalidParameterException", bad, err)
		}
	}
	d, err := f.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"team/app"}})
	if err != nil {
		t.Fatal(err)
	}
	r := d.Repositories[0]
	if !r.ImageScanningConfiguration.ScanOnPush || r.ImageTagMutability != types.ImageTagMutabilityImmutable {
		t.Errorf("settings not kept: %+v", r)
	}
}

func TestPutImageSemantics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := New()
	for _, name := range []string{"mutable", "immutable"} {
		mut := types.ImageTagMutabilityMutable
		if name == "immutable" {
			mut = types.ImageTagMutabilityImmutable
		}
		if _, err := f.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(name), ImageTagMutability: mut}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(repo string, m []byte, tag string) error {
		in := &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(string(m))}
		if tag != "" {
			in.ImageTag = aws.String(tag)
		}
		_, err := f.PutImage(ctx, in)
		return err
	}
	m1, m2 := testManifest(1), testManifest(2)
	var already *types.ImageAlreadyExistsException
	var tagExists *types.ImageTagAlreadyExistsException

	// Mutable: same digest again is "already exists"; another digest moves the tag.
	if err := put("mutable", m1, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := put("mutable", m1, "v1"); !errors.As(err, &already) {
		t.Errorf("same image and tag: got %v, want ImageAlreadyExistsException", err)
	}
	if err := put("mutable", m2, "v1"); err != nil {
		t.Errorf("moving a mutable tag: %v", err)
	}
	if d, _ := f.TagDigest("mutable", "v1"); d != Digest(m2) {
		t.Errorf("v1 -> %s, want %s", d, Digest(m2))
	}
	if err := put("mutable", m1, ""); !errors.As(err, &already) {
		t.Errorf("untagged known digest: got %v, want ImageAlreadyExistsException", err)
	}

	// Immutable: another digest under the same tag fails and changes nothing.
	if err := put("immutable", m1, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := put("immutable", m2, "v1"); !errors.As(err, &tagExists) {
		t.Errorf("moving an immutable tag: got %v, want ImageTagAlreadyExistsException", err)
	}
	if d, _ := f.TagDigest("immutable", "v1"); d != Digest(m1) {
		t.Errorf("immutable v1 moved to %s", d)
	}
	if n := f.ImageCount("immutable"); n != 1 {
		t.Errorf("immutable repository holds %d images after a refused push, want 1", n)
	}
	if err := put("immutable", m1, "v2"); err != nil {
		t.Errorf("second tag on the same digest: %v", err)
	}

	// Digest mismatch and missing repository.
	_, err := f.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("mutable"), ImageManifest: aws.String(string(m1)), ImageDigest: aws.String(Digest(m2))})
	var mismatch *types.ImageDigestDoesNotMatchException
	if !errors.As(err, &mismatch) {
		t.Errorf("digest mismatch: got %v", err)
	}
	var nf *types.RepositoryNotFoundException
	if err := put("nope", m1, "v1"); !errors.As(err, &nf) {
		t.Errorf("missing repository: got %v", err)
	}

	// Index referencing a manifest the repository lacks.
	idx := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d}]}`, Digest(testManifest(9)), len(testManifest(9)))
	var refs *types.ReferencedImagesNotFoundException
	if err := put("mutable", idx, "multi"); !errors.As(err, &refs) {
		t.Errorf("index with a missing child: got %v", err)
	}
}

func TestImageLookups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := New()
	d1, err := f.AddImage("app", testManifest(1), "v1", "latest")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.AddImage("app", testManifest(2)); err != nil {
		t.Fatal(err)
	}
	out, err := f.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if err != nil {
		t.Fatal(err)
	}
	got := out.ImageDetails[0]
	if aws.ToString(got.ImageDigest) != d1 || fmt.Sprint(got.ImageTags) != "[latest v1]" || aws.ToInt64(got.ImageSizeInBytes) != 111 {
		t.Errorf("detail = %s %v %d", aws.ToString(got.ImageDigest), got.ImageTags, aws.ToInt64(got.ImageSizeInBytes))
	}
	_, err = f.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v9")}}})
	var inf *types.ImageNotFoundException
	if !errors.As(err, &inf) {
		t.Errorf("missing tag: got %v, want ImageNotFoundException", err)
	}
	untagged, err := f.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), Filter: &types.DescribeImagesFilter{TagStatus: types.TagStatusUntagged}})
	if err != nil || len(untagged.ImageDetails) != 1 {
		t.Errorf("untagged filter: %v %d", err, len(untagged.ImageDetails))
	}
	page, err := f.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), MaxResults: aws.Int32(1)})
	if err != nil || len(page.ImageDetails) != 1 || page.NextToken == nil {
		t.Fatalf("paging: %v %+v", err, page)
	}
	bg, err := f.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("latest")}, {ImageTag: aws.String("gone")}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(bg.Images) != 1 || aws.ToString(bg.Images[0].ImageManifest) != string(testManifest(1)) || len(bg.Failures) != 1 || bg.Failures[0].FailureCode != types.ImageFailureCodeImageNotFound {
		t.Errorf("BatchGetImage = %+v", bg)
	}
	li, err := f.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("app")})
	if err != nil || len(li.ImageIds) != 3 {
		t.Errorf("ListImages: %v %d ids", err, len(li.ImageIds))
	}
}

func TestTagMutabilityExclusions(t *testing.T) {
	t.Parallel()
	r := &Repository{TagMutability: types.ImageTagMutabilityImmutableWithExclusion, MutabilityExclusions: []types.ImageTagMutabilityExclusionFilter{{Filter: aws.String("latest"), FilterType: types.ImageTagMutabilityExclusionFilterTypeWildcard}, {Filter: aws.String("dev-*")}}}
	for tag, want := range map[string]bool{"latest": false, "dev-1": false, "v1": true} {
		if got := r.Immutable(tag); got != want {
			t.Errorf("Immutable(%q) = %v, want %v", tag, got, want)
		}
	}
}

func TestInjectedErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := New()
	f.FailNext("GetAuthorizationToken", 2, Throttling())
	for i := range 2 {
		_, err := f.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" {
			t.Fatalf("call %d: got %v, want throttling", i, err)
		}
	}
	out, err := f.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatalf("third call: %v", err)
	}
	if got := aws.ToString(out.AuthorizationData[0].ProxyEndpoint); got != "https://123456789012.dkr.ecr.us-east-1.amazonaws.com" {
		t.Errorf("endpoint = %s", got)
	}
	f.FailAlways("DescribeImages", AccessDenied("DescribeImages"))
	if _, err := f.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("x")}); err == nil {
		t.Error("access denied not injected")
	}
	if n := f.Calls("GetAuthorizationToken"); n != 3 {
		t.Errorf("calls = %d, want 3", n)
	}
}

func TestOnPush(t *testing.T) {
	t.Parallel()
	f := New()
	var pushed []string
	f.OnPush(func(r *Repository, img *Image) {
		pushed = append(pushed, r.Name+"@"+img.Digest)
		img.ScanStatus = &types.ImageScanStatus{Status: types.ScanStatusInProgress}
	})
	if _, err := f.AddImage("app", testManifest(1), "a", "b"); err != nil {
		t.Fatal(err)
	}
	if len(pushed) != 1 {
		t.Errorf("OnPush ran %d times for one new digest", len(pushed))
	}
	out, err := f.DescribeImages(context.Background(), &ecr.DescribeImagesInput{RepositoryName: aws.String("app")})
	if err != nil || out.ImageDetails[0].ImageScanStatus.Status != types.ScanStatusInProgress {
		t.Errorf("scan status not reported: %v", err)
	}
}
