package ecrpush

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/mlship/mlship/internal/ecrfake"
	"github.com/mlship/mlship/internal/exitcode"
)

func TestPushLayoutCreatesRepositoryAndTags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	img := randomImage(t, 2048, 3)
	dir := writeLayout(t, img)
	ctxEnv := map[string]string{"GITHUB_RUN_NUMBER": "42", "GITHUB_SHA": "0123456789abcdef"}
	cfg := Config{
		Repository: "credit/model", OCILayout: dir, Tags: []string{"build-{run_number}-{sha7},latest"},
		CreateRepository: true, ScanOnPush: true, TagMutability: "immutable",
		Getenv: func(k string) string { return ctxEnv[k] },
	}
	res := e.mustRun(cfg)

	want := digestOf(t, img)
	if res.ImageDigest != want {
		t.Errorf("digest %s, want the layout's %s", res.ImageDigest, want)
	}
	if got := strings.Join(res.Tags, ","); got != "build-42-0123456,latest" {
		t.Errorf("tags = %s", got)
	}
	if res.ImageURI != e.host+"/credit/model:build-42-0123456" || res.ImageRef != e.host+"/credit/model@"+want || res.Registry != e.host {
		t.Errorf("uri %s ref %s registry %s", res.ImageURI, res.ImageRef, res.Registry)
	}
	if !res.RepositoryCreated || !res.Exists {
		t.Errorf("created %t exists %t", res.RepositoryCreated, res.Exists)
	}
	repo, ok := e.ecr.RepositorySettings("credit/model")
	if !ok || !repo.ScanOnPush || repo.TagMutability != ecrtypes.ImageTagMutabilityImmutable {
		t.Errorf("repository settings %+v", repo)
	}
	for _, tag := range res.Tags {
		if d, _ := e.ecr.TagDigest("credit/model", tag); d != want {
			t.Errorf("tag %s -> %q", tag, d)
		}
	}
	// Every blob was uploaded once: config and layers.
	var size int64
	m, _ := img.Manifest()
	size += m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	if res.PushedBytes != size {
		t.Errorf("pushed-bytes %d, want %d", res.PushedBytes, size)
	}
	if st := e.reg.Stats(); st.BlobUploads != 4 {
		t.Errorf("blob uploads %d, want 4", st.BlobUploads)
	}
	// The password handed out by GetAuthorizationToken was masked.
	if !contains(e.log.masks, ecrfake.DefaultPassword) {
		t.Errorf("password not masked: %q", e.log.masks)
	}
	// The manifest is stored byte for byte (media type preserved).
	out, err := e.ecr.BatchGetImage(context.Background(), &ecr.BatchGetImageInput{RepositoryName: aws.String("credit/model"), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("latest")}}})
	raw, _ := img.RawManifest()
	mt, _ := img.MediaType()
	if err != nil || aws.ToString(out.Images[0].ImageManifest) != string(raw) || aws.ToString(out.Images[0].ImageManifestMediaType) != string(mt) {
		t.Errorf("stored manifest differs: %v\n%s %s\n%s", err, aws.ToString(out.Images[0].ImageManifest), aws.ToString(out.Images[0].ImageManifestMediaType), raw)
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func TestRepushIsIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("app", true)
	dir := writeLayout(t, randomImage(t, 4096, 2))
	cfg := Config{Repository: "app", OCILayout: dir, Tags: []string{"v1", "latest"}}
	e.mustRun(cfg)
	before := e.reg.Stats()
	puts := e.ecr.Calls("PutImage")

	res := e.mustRun(cfg)
	after := e.reg.Stats()
	if res.PushedBytes != 0 || after.BlobUploads != before.BlobUploads || after.ManifestPuts != before.ManifestPuts {
		t.Errorf("re-push did work: pushed %d bytes, stats %+v -> %+v", res.PushedBytes, before, after)
	}
	if n := e.ecr.Calls("PutImage"); n != puts {
		t.Errorf("re-push called PutImage %d times", n-puts)
	}
	for _, tr := range res.TagResults {
		if tr.Status != "unchanged" {
			t.Errorf("tag %s: %s, want unchanged", tr.Tag, tr.Status)
		}
	}

	// A new tag on the same image: no blob uploaded, only the tag added.
	cfg.Tags = []string{"v1", "stable"}
	res = e.mustRun(cfg)
	if res.PushedBytes != 0 || e.reg.Stats().BlobUploads != before.BlobUploads {
		t.Errorf("adding a tag uploaded blobs")
	}
	if res.TagResults[0].Status != "unchanged" || res.TagResults[1].Status != "created" {
		t.Errorf("tag results %+v", res.TagResults)
	}
}

func TestSharedLayersAreNotUploadedAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("app", false)
	base := randomImage(t, 8192, 3)
	e.mustRun(Config{Repository: "app", OCILayout: writeLayout(t, base), Tags: []string{"base"}})
	// The same layers under a new config: only config (and manifest) go up.
	next, err := mutate.Config(base, v1.Config{Env: []string{"MODEL_VERSION=2"}})
	if err != nil {
		t.Fatal(err)
	}
	res := e.mustRun(Config{Repository: "app", OCILayout: writeLayout(t, next), Tags: []string{"next"}})
	m, _ := next.Manifest()
	if res.PushedBytes != m.Config.Size {
		t.Errorf("pushed %d bytes, want only the config's %d", res.PushedBytes, m.Config.Size)
	}
}

func TestImmutableTagConflictFailsBeforeUploading(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("app", true)
	first := randomImage(t, 1024, 1)
	e.mustRun(Config{Repository: "app", OCILayout: writeLayout(t, first), Tags: []string{"v1"}})
	before := e.reg.Stats()

	second := randomImage(t, 1024, 1)
	res, err := e.run(Config{Repository: "app", OCILayout: writeLayout(t, second), Tags: []string{"v2", "v1"}})
	wantCode(t, err, exitcode.Failed, "v1", digestOf(t, first), digestOf(t, second), "immutable")
	if res == nil || res.ImageDigest != digestOf(t, second) {
		t.Errorf("result not returned with the error: %+v", res)
	}
	if after := e.reg.Stats(); after.BlobUploads != before.BlobUploads || after.ManifestPuts != before.ManifestPuts {
		t.Errorf("uploaded before failing: %+v -> %+v", before, after)
	}
	if d, _ := e.ecr.TagDigest("app", "v1"); d != digestOf(t, first) {
		t.Errorf("v1 was overwritten")
	}
	if _, ok := e.ecr.TagDigest("app", "v2"); ok {
		t.Errorf("v2 was set although the run failed")
	}
}

func TestImmutableRaceAtPutImage(t *testing.T) {
	t.Parallel()
	// The tag is free when looked up, but someone else sets it before
	// PutImage: ECR's ImageTagAlreadyExistsException fails the run with
	// both digests.
	e := newEnv(t)
	e.createRepo("app", true)
	img := randomImage(t, 512, 1)
	other := randomImage(t, 512, 1)
	otherRaw, _ := other.RawManifest()
	// DescribeImages reports the tag missing once; PutImage then finds it.
	if _, err := e.ecr.AddImage("app", otherRaw, "v1"); err != nil {
		t.Fatal(err)
	}
	e.ecr.FailNext("DescribeImages", 1, &ecrtypes.ImageNotFoundException{Message: aws.String("not found")})
	_, err := e.run(Config{Repository: "app", OCILayout: writeLayout(t, img), Tags: []string{"v1"}})
	wantCode(t, err, exitcode.Failed, digestOf(t, other), digestOf(t, img))
}

func TestMutableTagMoves(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("app", false)
	first, second := randomImage(t, 512, 1), randomImage(t, 512, 1)
	e.mustRun(Config{Repository: "app", OCILayout: writeLayout(t, first), Tags: []string{"latest"}})
	res := e.mustRun(Config{Repository: "app", OCILayout: writeLayout(t, second), Tags: []string{"latest"}})
	if tr := res.TagResults[0]; tr.Status != "moved" || tr.Previous != digestOf(t, first) {
		t.Errorf("tag result %+v", tr)
	}
	if d, _ := e.ecr.TagDigest("app", "latest"); d != digestOf(t, second) {
		t.Errorf("latest -> %s", d)
	}
}

func TestPushMultiPlatformIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("app", false)
	idx := platformIndex(t)
	res := e.mustRun(Config{Repository: "app", OCILayout: writeLayout(t, idx), Tags: []string{"multi"}})
	if res.ImageDigest != digestOf(t, idx) || res.MediaType != string(types.OCIImageIndex) {
		t.Errorf("pushed %s (%s), want index %s", res.ImageDigest, res.MediaType, digestOf(t, idx))
	}
	out, err := e.ecr.DescribeImages(context.Background(), &ecr.DescribeImagesInput{RepositoryName: aws.String("app")})
	if err != nil || len(out.ImageDetails) != 3 {
		t.Fatalf("want the index and its two images: %v", err)
	}
}

func TestLayoutWhoseIndexIsThePlatformList(t *testing.T) {
	t.Parallel()
	// Some tools write the platform images straight into index.json.
	e := newEnv(t)
	e.createRepo("app", false)
	idx := platformIndex(t)
	dir := filepath.Join(t.TempDir(), "layout")
	if _, err := layout.Write(dir, idx); err != nil {
		t.Fatal(err)
	}
	res := e.mustRun(Config{Repository: "app", OCILayout: dir, Tags: []string{"multi"}})
	if !strings.HasPrefix(res.MediaType, "application/vnd.oci.image.index") {
		t.Errorf("media type %s", res.MediaType)
	}
	if res.ImageDigest != digestOf(t, idx) {
		t.Errorf("digest %s, want %s", res.ImageDigest, digestOf(t, idx))
	}
}

// A layout that lists its image once per tag (as mlship's own image build
// writes it) holds one image.
func TestLayoutListingOneIndexPerTag(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("app", false)
	idx := platformIndex(t)
	dir := writeLayout(t, idx)
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"})); err != nil {
		t.Fatal(err)
	}
	res := e.mustRun(Config{Repository: "app", OCILayout: dir, Tags: []string{"v1.2.3", "v1"}})
	if res.ImageDigest != digestOf(t, idx) || res.MediaType != string(types.OCIImageIndex) {
		t.Errorf("pushed %s (%s), want the index %s", res.ImageDigest, res.MediaType, digestOf(t, idx))
	}
	// Two different images are still refused.
	if err := p.AppendImage(randomImage(t, 64, 1)); err != nil {
		t.Fatal(err)
	}
	_, err = e.run(Config{Repository: "app", OCILayout: dir, Tags: []string{"x"}})
	wantCode(t, err, exitcode.BadInput, "push one image per layout")
}

func TestTarballSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("app", false)
	img := randomImage(t, 1024, 2)
	path := filepath.Join(t.TempDir(), "image.tar")
	tag, _ := name.NewTag("example/app:dev")
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatal(err)
	}
	res := e.mustRun(Config{Repository: "app", Tarball: path, Tags: []string{"dev"}})
	if res.ImageDigest != digestOf(t, img) || res.Source != "tarball" {
		t.Errorf("tarball push: %+v", res)
	}
}

func TestPromoteWithinRepositoryMovesNoLayers(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"image", "index"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.createRepo("model", true)
			var item any = randomImage(t, 2048, 2)
			if kind == "index" {
				item = platformIndex(t)
			}
			staged := e.mustRun(Config{Repository: "model", OCILayout: writeLayout(t, item), Tags: []string{"staging-1.0.7"}})
			before := e.requests.Load()

			res := e.mustRun(Config{Repository: "model", SourceTag: "staging-1.0.7", Tags: []string{"canary-1.0.7"}})
			if res.ImageDigest != staged.ImageDigest || res.MediaType != staged.MediaType {
				t.Errorf("promoted %s (%s), want %s (%s)", res.ImageDigest, res.MediaType, staged.ImageDigest, staged.MediaType)
			}
			if d, _ := e.ecr.TagDigest("model", "canary-1.0.7"); d != staged.ImageDigest {
				t.Errorf("canary -> %s", d)
			}
			if n := e.requests.Load() - before; n != 0 {
				t.Errorf("promotion sent %d registry requests, want none (ECR API only)", n)
			}
			// Promoting again is a no-op, even in an immutable repository.
			again := e.mustRun(Config{Repository: "model", SourceTag: "staging-1.0.7", Tags: []string{"canary-1.0.7"}})
			if again.TagResults[0].Status != "unchanged" {
				t.Errorf("second promotion: %+v", again.TagResults)
			}
		})
	}
}

func TestPromoteAcrossRepositoriesMountsBlobs(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"image", "index"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.createRepo("staging/model", false)
			var item any = randomImage(t, 4096, 3)
			if kind == "index" {
				item = platformIndex(t)
			}
			staged := e.mustRun(Config{Repository: "staging/model", OCILayout: writeLayout(t, item), Tags: []string{"1.0.7"}})
			before := e.reg.Stats()

			res := e.mustRun(Config{Repository: "prod/model", SourceRepository: "staging/model", SourceTag: "1.0.7", Tags: []string{"1.0.7"}, CreateRepository: true})
			after := e.reg.Stats()
			if res.ImageDigest != staged.ImageDigest {
				t.Errorf("digest changed: %s -> %s", staged.ImageDigest, res.ImageDigest)
			}
			if after.BlobGets != before.BlobGets || after.BytesUploaded != before.BytesUploaded || res.PushedBytes != 0 {
				t.Errorf("layers were pulled or pushed: %+v -> %+v, pushed %d", before, after, res.PushedBytes)
			}
			if after.BlobMounts == before.BlobMounts {
				t.Errorf("no blob mounted")
			}
			if d, _ := e.ecr.TagDigest("prod/model", "1.0.7"); d != staged.ImageDigest {
				t.Errorf("prod tag -> %s", d)
			}
		})
	}
}

func TestPromoteMissingSourceFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("model", false)
	_, err := e.run(Config{Repository: "model", SourceTag: "staging-9", Tags: []string{"prod-9"}})
	wantCode(t, err, exitcode.Failed, "model:staging-9", "nothing promoted")
	if _, ok := e.ecr.TagDigest("model", "prod-9"); ok {
		t.Error("tag set for a missing source")
	}
	_, err = e.run(Config{Repository: "model", SourceRepository: "nope", SourceTag: "staging-9", Tags: []string{"prod-9"}})
	wantCode(t, err, exitcode.Failed, "repository nope does not exist")
}

// --source-digest: only the image that was tested is promoted; a source
// tag moved to another image since promotes nothing.
func TestPromoteChecksSourceDigest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("model", false)
	tested := e.mustRun(Config{Repository: "model", OCILayout: writeLayout(t, randomImage(t, 512, 1)), Tags: []string{"staging-1.0.7"}})
	res := e.mustRun(Config{Repository: "model", SourceTag: "staging-1.0.7", SourceDigest: tested.ImageDigest, Tags: []string{"canary-1.0.7"}})
	if res.ImageDigest != tested.ImageDigest {
		t.Errorf("promoted %s, want %s", res.ImageDigest, tested.ImageDigest)
	}

	moved := e.mustRun(Config{Repository: "model", OCILayout: writeLayout(t, randomImage(t, 512, 1)), Tags: []string{"staging-1.0.7"}})
	_, err := e.run(Config{Repository: "model", SourceTag: "staging-1.0.7", SourceDigest: tested.ImageDigest, Tags: []string{"prod-1.0.7"}})
	wantCode(t, err, exitcode.Failed, "model:staging-1.0.7", moved.ImageDigest, "not --source-digest "+tested.ImageDigest, "nothing promoted")
	if _, ok := e.ecr.TagDigest("model", "prod-1.0.7"); ok {
		t.Error("tag set for a source that is not the tested image")
	}
}

func TestCheckExists(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("api", false)
	img := randomImage(t, 256, 1)
	e.mustRun(Config{Repository: "api", OCILayout: writeLayout(t, img), Tags: []string{"v3"}})
	before := e.requests.Load()

	res := e.mustRun(Config{Repository: "api", Tags: []string{"v3"}, CheckExists: true})
	if !res.Exists || res.ImageDigest != digestOf(t, img) || res.PushedBytes != 0 {
		t.Errorf("check of an existing tag: %+v", res)
	}
	res, err := e.run(Config{Repository: "api", Tags: []string{"v3", "v4"}, CheckExists: true})
	wantCode(t, err, exitcode.Failed, "v4")
	if res == nil || res.Exists {
		t.Errorf("missing tag reported as existing: %+v", res)
	}
	// A missing repository means a missing image, not bad input.
	res, err = e.run(Config{Repository: "nothing", Tags: []string{"v1"}, CheckExists: true})
	wantCode(t, err, exitcode.Failed)
	if res == nil || res.Exists {
		t.Errorf("missing repository: %+v", res)
	}
	if n := e.requests.Load() - before; n != 0 {
		t.Errorf("check-exists sent %d registry requests, want none (ECR API only)", n)
	}
}

func TestRepositoryHandling(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := writeLayout(t, randomImage(t, 256, 1))
	_, err := e.run(Config{Repository: "missing", OCILayout: dir, Tags: []string{"v1"}})
	wantCode(t, err, exitcode.BadInput, "does not exist", "--create-repository")
	if _, ok := e.ecr.RepositorySettings("missing"); ok {
		t.Error("repository created without --create-repository")
	}

	// An existing repository with other settings is used as it is, with a
	// warning.
	e.createRepo("existing", false)
	e.mustRun(Config{Repository: "existing", OCILayout: dir, Tags: []string{"v1"}, CreateRepository: true, TagMutability: "IMMUTABLE", ScanOnPush: true})
	repo, _ := e.ecr.RepositorySettings("existing")
	if repo.TagMutability != ecrtypes.ImageTagMutabilityMutable || repo.ScanOnPush {
		t.Errorf("existing repository changed: %+v", repo)
	}
	if len(e.log.warns) != 2 {
		t.Errorf("warnings %q, want two", e.log.warns)
	}
	if n := e.ecr.Calls("CreateRepository"); n != 1 {
		t.Errorf("CreateRepository called %d times, want once (by the test)", n)
	}
}

func TestSSMParameter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("pricing/api", false)
	cfg := Config{Repository: "pricing/api", OCILayout: writeLayout(t, randomImage(t, 256, 1)), Tags: []string{"v7", "latest"}, SSMParameter: "/pricing/image-tag"}
	res := e.mustRun(cfg)
	if got := e.ssm.Value("/pricing/image-tag"); got != "v7" || res.SSMParameter != "/pricing/image-tag" {
		t.Errorf("parameter = %q", got)
	}
	e.mustRun(cfg)
	if e.ssm.Puts() != 1 {
		t.Errorf("PutParameter called %d times; the second run should find the value in place", e.ssm.Puts())
	}
	cfg.Tags = []string{"v8"}
	e.mustRun(cfg)
	if got := e.ssm.Value("/pricing/image-tag"); got != "v8" || e.ssm.Puts() != 2 {
		t.Errorf("parameter = %q after %d puts", got, e.ssm.Puts())
	}
	e.ssm.Fail(ecrfake.AccessDenied("GetParameter"))
	res, err := e.run(cfg)
	wantCode(t, err, exitcode.Incomplete, "SSM parameter")
	if res == nil || res.ImageDigest == "" {
		t.Error("the push result is lost when SSM fails")
	}
}

func TestECRErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		op   string
		err  error
		code int
	}{
		{"GetAuthorizationToken", ecrfake.AccessDenied("GetAuthorizationToken"), exitcode.Incomplete},
		{"DescribeRepositories", ecrfake.Throttling(), exitcode.Incomplete},
		{"PutImage", ecrfake.AccessDenied("PutImage"), exitcode.Incomplete},
	} {
		t.Run(tc.op, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.createRepo("app", false)
			e.ecr.FailAlways(tc.op, tc.err)
			_, err := e.run(Config{Repository: "app", OCILayout: writeLayout(t, randomImage(t, 128, 1)), Tags: []string{"v1"}})
			var api interface{ ErrorCode() string }
			errors.As(tc.err, &api)
			wantCode(t, err, tc.code, tc.op, api.ErrorCode())
		})
	}
}

func TestRegistryErrorsAreIncomplete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("app", false)
	e.reg.Fail(ecrfake.RegistryFault{Method: "PUT", PathContains: "/manifests/", N: -1, Status: 403, Code: "DENIED", Message: "User is not authorized to perform: ecr:PutImage"})
	_, err := e.run(Config{Repository: "app", OCILayout: writeLayout(t, randomImage(t, 128, 1)), Tags: []string{"v1"}})
	wantCode(t, err, exitcode.Incomplete, "pushing", "DENIED")
}
