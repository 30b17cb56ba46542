package ecrfake

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// client returns a real ECR client talking to f over HTTP, retrying
// quickly.
func client(t *testing.T, f *Fake) *ecr.Client {
	t.Helper()
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	return ecr.New(ecr.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  aws.AnonymousCredentials{},
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 4
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		}),
	})
}

func TestHandlerWithRealClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := New()
	c := client(t, f)

	_, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"app"}})
	var nf *types.RepositoryNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("got %v, want RepositoryNotFoundException", err)
	}
	created, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName: aws.String("app"), ImageTagMutability: types.ImageTagMutabilityImmutable,
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if created.Repository.CreatedAt == nil || !created.Repository.ImageScanningConfiguration.ScanOnPush {
		t.Errorf("repository = %+v", created.Repository)
	}
	f.FailNext("PutImage", 2, Throttling())
	put, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("app"), ImageManifest: aws.String(string(testManifest(1))), ImageTag: aws.String("v1")})
	if err != nil {
		t.Fatalf("throttled PutImage not retried: %v", err)
	}
	if n := f.Calls("PutImage"); n != 3 {
		t.Errorf("PutImage calls = %d, want 3 (two throttled)", n)
	}
	if aws.ToString(put.Image.ImageId.ImageDigest) != Digest(testManifest(1)) {
		t.Errorf("digest = %s", aws.ToString(put.Image.ImageId.ImageDigest))
	}
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("app"), ImageManifest: aws.String(string(testManifest(2))), ImageTag: aws.String("v1")})
	var tagExists *types.ImageTagAlreadyExistsException
	if !errors.As(err, &tagExists) {
		t.Errorf("got %v, want ImageTagAlreadyExistsException", err)
	}
	d, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.ImageDetails[0]; got.ImagePushedAt == nil || aws.ToInt64(got.ImageSizeInBytes) != 111 {
		t.Errorf("detail = %+v", got)
	}
	direct, err := f.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToTime(d.ImageDetails[0].ImagePushedAt), aws.ToTime(direct.ImageDetails[0].ImagePushedAt); got.Sub(want).Abs() > time.Millisecond {
		t.Errorf("pushed at %v over HTTP, %v in the fake", got, want)
	}
	if got, want := d.ImageDetails[0].ImageTags, direct.ImageDetails[0].ImageTags; !slices.Equal(got, want) {
		t.Errorf("tags %v over HTTP, %v in the fake", got, want)
	}
	f.FailAlways("GetAuthorizationToken", AccessDenied("GetAuthorizationToken"))
	_, err = c.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" {
		t.Errorf("got %v, want AccessDeniedException", err)
	}
	if n := f.Calls("GetAuthorizationToken"); n != 1 {
		t.Errorf("access denied was retried: %d calls", n)
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := New()
	reg := f.Registry(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	reg.RequireAuth = true
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	auth := remote.WithAuth(&authn.Basic{Username: "AWS", Password: DefaultPassword})

	ref := func(s string) name.Reference {
		r, err := name.ParseReference(host+"/"+s, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	// No repository: NAME_UNKNOWN, as ECR never creates one on push.
	err = remote.Write(ref("app:v1"), img, auth)
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.Errors[0].Code != "NAME_UNKNOWN" {
		t.Fatalf("push to a missing repository: %v", err)
	}
	// No credentials: 401.
	if _, err := f.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("app"), ImageTagMutability: types.ImageTagMutabilityImmutable}); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref("app:v1"), img); err == nil {
		t.Fatal("push without credentials accepted")
	}
	if err := remote.Write(ref("app:v1"), img, auth); err != nil {
		t.Fatal(err)
	}
	dig, _ := img.Digest()
	out, err := f.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if err != nil || aws.ToString(out.ImageDetails[0].ImageDigest) != dig.String() {
		t.Fatalf("pushed image not described: %v", err)
	}
	before := reg.Stats()
	if before.BlobUploads != 3 {
		t.Errorf("blob uploads = %d, want 3", before.BlobUploads)
	}
	// The same image again: nothing uploaded, accepted.
	if err := remote.Write(ref("app:v1"), img, auth); err != nil {
		t.Fatalf("re-push of the same image: %v", err)
	}
	if after := reg.Stats(); after.BlobUploads != before.BlobUploads {
		t.Errorf("re-push uploaded %d blobs", after.BlobUploads-before.BlobUploads)
	}
	// Another image under the immutable tag: TAG_INVALID.
	other, _ := random.Image(512, 1)
	err = remote.Write(ref("app:v1"), other, auth)
	if !errors.As(err, &terr) || terr.Errors[0].Code != "TAG_INVALID" || !strings.Contains(err.Error(), "cannot be overwritten") {
		t.Errorf("moving an immutable tag: %v", err)
	}
	if d, _ := f.TagDigest("app", "v1"); d != dig.String() {
		t.Errorf("immutable tag moved to %s", d)
	}
	// Mount into another repository: no blob content sent, no blob read.
	if _, err := f.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("prod/app")}); err != nil {
		t.Fatal(err)
	}
	src, err := remote.Image(ref("app:v1"), auth)
	if err != nil {
		t.Fatal(err)
	}
	before = reg.Stats()
	if err := remote.Write(ref("prod/app:v1"), src, auth); err != nil {
		t.Fatal(err)
	}
	after := reg.Stats()
	if after.BlobMounts-before.BlobMounts != 3 || after.BytesUploaded != before.BytesUploaded || after.BlobGets != before.BlobGets {
		t.Errorf("cross-repository copy: %+v -> %+v", before, after)
	}
	// A blob HEAD in a repository that never got it is unknown.
	layers, _ := other.Layers()
	ld, _ := layers[0].Digest()
	req, _ := http.NewRequest(http.MethodHead, srv.URL+"/v2/prod/app/blobs/"+ld.String(), nil)
	req.SetBasicAuth("AWS", DefaultPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD of a foreign blob = %d", resp.StatusCode)
	}
}

// A fault fails as many requests as its N says: none for 0, all for -1.
func TestRegistryFaultCount(t *testing.T) {
	t.Parallel()
	f := New()
	reg := f.Registry(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	status := func() int {
		resp, err := http.Get(srv.URL + "/v2/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	reg.Fail(RegistryFault{N: 0, Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE"})
	if got := status(); got != http.StatusOK {
		t.Errorf("N 0: status %d, want 200", got)
	}
	reg.Fail(RegistryFault{N: 2, Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE"})
	for i, want := range []int{503, 503, 200} {
		if got := status(); got != want {
			t.Errorf("N 2, request %d: status %d, want %d", i+1, got, want)
		}
	}
}

func TestSerializeAsJSON11(t *testing.T) {
	t.Parallel()
	out := &ecr.GetAuthorizationTokenOutput{AuthorizationData: []types.AuthorizationData{{
		AuthorizationToken: aws.String("dG9rZW4="), ExpiresAt: aws.Time(time.Unix(1700000000, 500000000)),
	}}}
	b, err := serialize(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"authorizationData":[{"authorizationToken":"dG9rZW4=","expiresAt":1700000000.5}]}`; string(b) != want {
		t.Errorf("got %s\nwant %s", b, want)
	}
	scan := &types.ImageScanFindings{FindingSeverityCounts: map[string]int32{"HIGH": 2}}
	if b, _ := serialize(scan); string(b) != `{"findingSeverityCounts":{"HIGH":2}}` {
		t.Errorf("got %s", b)
	}
}
