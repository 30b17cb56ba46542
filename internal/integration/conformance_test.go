//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/mlship/mlship/internal/ecrfake"
	"github.com/mlship/mlship/internal/lambdafake"
)

// The tools' unit tests run against our fakes (internal/ecrfake,
// internal/lambdafake), which were written from the same reading of the AWS
// documentation as the tools: a misreading shared by both would pass
// every unit test. Here each documented behaviour the tools rely on is
// checked against the fake and against moto, an implementation written by
// others. The fake must do what the documentation says. moto must too,
// unless it is listed as known to differ (the tests then keep checking
// that it still differs, so that the list stays true).
type behaviour[C any] struct {
	name string
	// want is the documented outcome: "ok", "ok: detail" or an error code.
	want string
	// moto is moto's outcome when it is known to differ from want, and why.
	moto, why string
	run       func(t *testing.T, c C) string
}

// outcome is an error's code, or "ok".
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return "error: " + err.Error()
}

func check[C any](t *testing.T, b behaviour[C], fake, motoClient func(t *testing.T) C) {
	t.Run(b.name, func(t *testing.T) {
		t.Parallel()
		if got := b.run(t, fake(t)); got != b.want {
			t.Errorf("fake: %s, want %s (as documented)", got, b.want)
		}
		got := b.run(t, motoClient(t))
		switch {
		case b.moto == "" && got != b.want:
			t.Errorf("moto: %s, want %s (as documented, and as the fake does)", got, b.want)
		case b.moto != "" && got == b.want:
			t.Errorf("moto now does as documented (%s): remove it from the known differences", got)
		case b.moto != "" && got != b.moto:
			t.Errorf("moto: %s; known to answer %s (%s)", got, b.moto, b.why)
		case b.moto != "":
			t.Logf("moto differs as known: %s instead of %s: %s", got, b.want, b.why)
		}
	})
}

// manifest is a new image manifest (no blobs are uploaded).
func manifest(t *testing.T) image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := img.RawManifest()
	mt, _ := img.MediaType()
	d, _ := img.Digest()
	return image{Manifest: raw, MediaType: string(mt), Digest: d.String()}
}

func put(c *ecr.Client, repo, tag string, img image, withDigest bool) error {
	in := &ecr.PutImageInput{
		RepositoryName: aws.String(repo), ImageManifest: aws.String(string(img.Manifest)),
		ImageManifestMediaType: aws.String(img.MediaType),
	}
	if tag != "" {
		in.ImageTag = aws.String(tag)
	}
	if withDigest {
		in.ImageDigest = aws.String(img.Digest)
	}
	_, err := c.PutImage(context.Background(), in)
	return err
}

// ecrRepo is a client and a new repository (created unless name is
// empty).
type ecrRepo struct {
	c    *ecr.Client
	name string
}

func TestECRBehaviourFakeAndMoto(t *testing.T) {
	needMoto(t)
	t.Parallel()
	ctx := context.Background()
	newRepo := func(mut ecrtypes.ImageTagMutability, scanOnPush bool) func(*testing.T, *ecr.Client) ecrRepo {
		return func(t *testing.T, c *ecr.Client) ecrRepo {
			name := unique("conformance/repo")
			if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{
				RepositoryName: aws.String(name), ImageTagMutability: mut,
				ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: scanOnPush},
			}); err != nil {
				t.Fatalf("CreateRepository: %v", err)
			}
			return ecrRepo{c, name}
		}
	}
	mutable := newRepo(ecrtypes.ImageTagMutabilityMutable, false)
	behaviours := []struct {
		behaviour[ecrRepo]
		repo func(*testing.T, *ecr.Client) ecrRepo
	}{
		{behaviour[ecrRepo]{name: "describing a repository that does not exist", want: "RepositoryNotFoundException",
			run: func(t *testing.T, r ecrRepo) string {
				_, err := r.c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{unique("conformance/none")}})
				return outcome(err)
			}}, nil},
		{behaviour[ecrRepo]{name: "creating a repository that exists", want: "RepositoryAlreadyExistsException",
			run: func(t *testing.T, r ecrRepo) string {
				_, err := r.c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(r.name)})
				return outcome(err)
			}}, mutable},
		{behaviour[ecrRepo]{name: "describing a tag that does not exist", want: "ImageNotFoundException",
			run: func(t *testing.T, r ecrRepo) string {
				_, err := r.c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(r.name), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("none")}}})
				return outcome(err)
			}}, mutable},
		{behaviour[ecrRepo]{name: "putting the same image under the same tag again", want: "ImageAlreadyExistsException",
			run: func(t *testing.T, r ecrRepo) string {
				img := manifest(t)
				if err := put(r.c, r.name, "v1", img, true); err != nil {
					return "first put: " + outcome(err)
				}
				return outcome(put(r.c, r.name, "v1", img, true))
			}}, mutable},
		{behaviour[ecrRepo]{name: "moving a tag in an immutable repository", want: "ImageTagAlreadyExistsException",
			moto: "ImageAlreadyExistsException", why: "moto raises ImageAlreadyExistsException for an immutable tag; ECR documents ImageTagAlreadyExistsException (ecr-push reads the former as 'already tagged', but checks every tag with DescribeImages before PutImage)",
			run: func(t *testing.T, r ecrRepo) string {
				if err := put(r.c, r.name, "v1", manifest(t), true); err != nil {
					return "first put: " + outcome(err)
				}
				return outcome(put(r.c, r.name, "v1", manifest(t), true))
			}}, newRepo(ecrtypes.ImageTagMutabilityImmutable, false)},
		{behaviour[ecrRepo]{name: "moving a tag in a mutable repository", want: "ok: moved",
			run: func(t *testing.T, r ecrRepo) string {
				second := manifest(t)
				if err := put(r.c, r.name, "v1", manifest(t), true); err != nil {
					return "first put: " + outcome(err)
				}
				if err := put(r.c, r.name, "v1", second, true); err != nil {
					return outcome(err)
				}
				out, err := r.c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(r.name), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("v1")}}})
				if err != nil || len(out.ImageDetails) != 1 || aws.ToString(out.ImageDetails[0].ImageDigest) != second.Digest {
					return fmt.Sprintf("not moved: %v %v", out, err)
				}
				return "ok: moved"
			}}, mutable},
		{behaviour[ecrRepo]{name: "putting a manifest under a digest it does not have", want: "ImageDigestDoesNotMatchException",
			moto: "ok", why: "moto stores the manifest under whatever digest is given",
			run: func(t *testing.T, r ecrRepo) string {
				img := manifest(t)
				img.Digest = manifest(t).Digest
				return outcome(put(r.c, r.name, "v1", img, true))
			}}, mutable},
		{behaviour[ecrRepo]{name: "the digest of an image put without one", want: "ok: the manifest's sha256",
			moto: "ok: another digest", why: "without ImageDigest moto makes one up (sha256 of the layer digests), not the manifest's digest; ecr-push always passes ImageDigest",
			run: func(t *testing.T, r ecrRepo) string {
				img := manifest(t)
				if err := put(r.c, r.name, "v1", img, false); err != nil {
					return outcome(err)
				}
				out, err := r.c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(r.name), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("v1")}}})
				if err != nil || len(out.ImageDetails) != 1 {
					return outcome(err)
				}
				if aws.ToString(out.ImageDetails[0].ImageDigest) == img.Digest {
					return "ok: the manifest's sha256"
				}
				return "ok: another digest"
			}}, mutable},
		{behaviour[ecrRepo]{name: "getting a tag that does not exist", want: "ok: failure ImageNotFound",
			run: func(t *testing.T, r ecrRepo) string {
				out, err := r.c.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String(r.name), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("none")}}})
				if err != nil {
					return outcome(err)
				}
				if len(out.Images) != 0 || len(out.Failures) != 1 {
					return fmt.Sprintf("ok: %d images, %d failures", len(out.Images), len(out.Failures))
				}
				return "ok: failure " + string(out.Failures[0].FailureCode)
			}}, mutable},
		{behaviour[ecrRepo]{name: "scan findings of an image never scanned", want: "ScanNotFoundException",
			run: func(t *testing.T, r ecrRepo) string {
				if err := put(r.c, r.name, "v1", manifest(t), true); err != nil {
					return "put: " + outcome(err)
				}
				_, err := r.c.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String(r.name), ImageId: &ecrtypes.ImageIdentifier{ImageTag: aws.String("v1")}})
				return outcome(err)
			}}, mutable},
		{behaviour[ecrRepo]{name: "an image pushed to a scan-on-push repository is scanned", want: "ok: scanned",
			moto: "ScanNotFoundException", why: "moto does not scan on push; a scan starts only with StartImageScan",
			run: func(t *testing.T, r ecrRepo) string {
				if err := put(r.c, r.name, "v1", manifest(t), true); err != nil {
					return "put: " + outcome(err)
				}
				out, err := r.c.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String(r.name), ImageId: &ecrtypes.ImageIdentifier{ImageTag: aws.String("v1")}})
				if err != nil {
					return outcome(err)
				}
				if out.ImageScanStatus == nil {
					return "ok: no status"
				}
				return "ok: scanned"
			}}, newRepo(ecrtypes.ImageTagMutabilityMutable, true)},
	}
	client := func(c *ecr.Client, repo func(*testing.T, *ecr.Client) ecrRepo) func(*testing.T) ecrRepo {
		return func(t *testing.T) ecrRepo {
			if repo == nil {
				return ecrRepo{c: c}
			}
			return repo(t, c)
		}
	}
	motoECR := ecr.NewFromConfig(awsConfig(t))
	for _, b := range behaviours {
		fakeFn := func(t *testing.T) ecrRepo {
			srv := httptest.NewServer(ecrfake.New().Handler())
			t.Cleanup(srv.Close)
			c := ecr.NewFromConfig(awsConfig(t), func(o *ecr.Options) { o.BaseEndpoint = aws.String(srv.URL) })
			return client(c, b.repo)(t)
		}
		check(t, b.behaviour, fakeFn, client(motoECR, b.repo))
	}
}

// lambdaAPI is what both the fake and the SDK client offer.
type lambdaAPI interface {
	GetFunction(context.Context, *lambda.GetFunctionInput, ...func(*lambda.Options)) (*lambda.GetFunctionOutput, error)
	UpdateFunctionCode(context.Context, *lambda.UpdateFunctionCodeInput, ...func(*lambda.Options)) (*lambda.UpdateFunctionCodeOutput, error)
	UpdateFunctionConfiguration(context.Context, *lambda.UpdateFunctionConfigurationInput, ...func(*lambda.Options)) (*lambda.UpdateFunctionConfigurationOutput, error)
	PublishVersion(context.Context, *lambda.PublishVersionInput, ...func(*lambda.Options)) (*lambda.PublishVersionOutput, error)
	GetAlias(context.Context, *lambda.GetAliasInput, ...func(*lambda.Options)) (*lambda.GetAliasOutput, error)
	CreateAlias(context.Context, *lambda.CreateAliasInput, ...func(*lambda.Options)) (*lambda.CreateAliasOutput, error)
	UpdateAlias(context.Context, *lambda.UpdateAliasInput, ...func(*lambda.Options)) (*lambda.UpdateAliasOutput, error)
}

// lambdaFn is a client and a container-image function on image v1 with
// variables KEEP and VERSION, version 1 published, alias live on it; v2 is
// another image that exists and missing one that does not.
type lambdaFn struct {
	c                lambdaAPI
	name             string
	v2, missingImage string
	v2digest         string // v2 by digest: repository@sha256:...
}

func TestLambdaBehaviourFakeAndMoto(t *testing.T) {
	needMoto(t)
	t.Parallel()
	ctx := context.Background()
	fn := aws.String
	behaviours := []behaviour[lambdaFn]{
		{name: "reading a function that does not exist", want: "ResourceNotFoundException",
			run: func(t *testing.T, f lambdaFn) string {
				_, err := f.c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: fn(unique("none"))})
				return outcome(err)
			}},
		{name: "reading an alias that does not exist", want: "ResourceNotFoundException",
			run: func(t *testing.T, f lambdaFn) string {
				_, err := f.c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: fn(f.name), Name: fn("none")})
				return outcome(err)
			}},
		{name: "creating an alias that exists", want: "ResourceConflictException",
			moto: "ConflictException", why: "moto answers ConflictException, a code Lambda's API does not have (the SDK gives a generic API error); lambda-deploy's 'created by someone else meanwhile' is tested against the fake only",
			run: func(t *testing.T, f lambdaFn) string {
				_, err := f.c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: fn(f.name), Name: fn("live"), FunctionVersion: fn("1")})
				return outcome(err)
			}},
		{name: "publishing with nothing changed", want: "ok: 1",
			run: func(t *testing.T, f lambdaFn) string {
				out, err := f.c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: fn(f.name)})
				if err != nil {
					return outcome(err)
				}
				return "ok: " + aws.ToString(out.Version)
			}},
		{name: "the environment is replaced, not merged, and a version publishes it", want: "ok: 2 map[A:1]",
			run: func(t *testing.T, f lambdaFn) string {
				if _, err := f.c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
					FunctionName: fn(f.name), Environment: &types.Environment{Variables: map[string]string{"A": "1"}},
				}); err != nil {
					return outcome(err)
				}
				out, err := f.c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: fn(f.name)})
				if err != nil {
					return outcome(err)
				}
				gf, err := f.c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: fn(f.name), Qualifier: out.Version})
				if err != nil {
					return outcome(err)
				}
				return fmt.Sprintf("ok: %s %v", aws.ToString(out.Version), gf.Configuration.Environment.Variables)
			}},
		{name: "a change with a revision that is no longer current", want: "PreconditionFailedException",
			moto: "ok", why: "moto ignores RevisionId (and never changes a function's), so it cannot catch a concurrent change; lambda-deploy's refusal to overwrite one is tested against the fake only",
			run: func(t *testing.T, f lambdaFn) string {
				gf, err := f.c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: fn(f.name)})
				if err != nil {
					return outcome(err)
				}
				old := gf.Configuration.RevisionId
				if _, err := f.c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
					FunctionName: fn(f.name), Environment: &types.Environment{Variables: map[string]string{"B": "1"}},
				}); err != nil {
					return "first update: " + outcome(err)
				}
				_, err = f.c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
					FunctionName: fn(f.name), Environment: &types.Environment{Variables: map[string]string{"C": "1"}}, RevisionId: old,
				})
				return outcome(err)
			}},
		{name: "the code's digest is the image's", want: "ok: same",
			run: func(t *testing.T, f lambdaFn) string {
				if _, err := f.c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: fn(f.name), ImageUri: fn(f.v2)}); err != nil {
					return outcome(err)
				}
				gf, err := f.c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: fn(f.name)})
				if err != nil {
					return outcome(err)
				}
				want := "@sha256:" + aws.ToString(gf.Configuration.CodeSha256)
				if got := aws.ToString(gf.Code.ResolvedImageUri); len(got) < len(want) || got[len(got)-len(want):] != want {
					return "ok: resolved " + got + ", code " + aws.ToString(gf.Configuration.CodeSha256)
				}
				return "ok: same"
			}},
		{name: "the resolved image of a function deployed by digest", want: "ok: repository@digest",
			moto: "ok: malformed", why: "moto builds ResolvedImageUri from the URI up to its first ':', '@sha256:' and the digest, which for a digest URI gives repository@sha256@sha256:...; lambda-deploy then cannot see that the function already runs the image, and a repeated deploy updates it again",
			run: func(t *testing.T, f lambdaFn) string {
				if _, err := f.c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: fn(f.name), ImageUri: fn(f.v2digest)}); err != nil {
					return outcome(err)
				}
				gf, err := f.c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: fn(f.name)})
				if err != nil {
					return outcome(err)
				}
				if aws.ToString(gf.Code.ResolvedImageUri) != f.v2digest {
					return "ok: malformed"
				}
				return "ok: repository@digest"
			}},
		{name: "alias routing to $LATEST", want: "InvalidParameterValueException",
			moto: "ok", why: "moto accepts any routing; Lambda refuses weights on $LATEST",
			run: func(t *testing.T, f lambdaFn) string {
				_, err := f.c.UpdateAlias(ctx, &lambda.UpdateAliasInput{
					FunctionName: fn(f.name), Name: fn("live"), FunctionVersion: fn("1"),
					RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"$LATEST": 0.5}},
				})
				return outcome(err)
			}},
		{name: "routing removed with an empty map", want: "ok: 1 map[]",
			run: func(t *testing.T, f lambdaFn) string {
				if _, err := f.c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
					FunctionName: fn(f.name), Environment: &types.Environment{Variables: map[string]string{"B": "2"}},
				}); err != nil {
					return outcome(err)
				}
				pv, err := f.c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: fn(f.name)})
				if err != nil {
					return outcome(err)
				}
				if _, err := f.c.UpdateAlias(ctx, &lambda.UpdateAliasInput{
					FunctionName: fn(f.name), Name: fn("live"), FunctionVersion: fn("1"),
					RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{aws.ToString(pv.Version): 0.1}},
				}); err != nil {
					return "routing: " + outcome(err)
				}
				if _, err := f.c.UpdateAlias(ctx, &lambda.UpdateAliasInput{
					FunctionName: fn(f.name), Name: fn("live"), FunctionVersion: fn("1"),
					RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{}},
				}); err != nil {
					return outcome(err)
				}
				a, err := f.c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: fn(f.name), Name: fn("live")})
				if err != nil {
					return outcome(err)
				}
				return fmt.Sprintf("ok: %s %v", aws.ToString(a.FunctionVersion), weightsOf(a.RoutingConfig))
			}},
		{name: "updating to an image that does not exist", want: "InvalidParameterValueException",
			moto: "ImageNotFoundException", why: "moto passes on its ECR's error; Lambda answers InvalidParameterValueException (lambda-deploy checks the image with DescribeImages first)",
			run: func(t *testing.T, f lambdaFn) string {
				_, err := f.c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: fn(f.name), ImageUri: fn(f.missingImage)})
				return outcome(err)
			}},
	}

	// Images for moto's functions, in moto's ECR.
	cfg := awsConfig(t)
	ecrc := ecr.NewFromConfig(cfg)
	repo := unique("conformance-fn")
	createRepository(t, ecrc, repo, false)
	v1, v2 := manifest(t), manifest(t)
	for tag, img := range map[string]image{"v1": v1, "v2": v2} {
		putImage(t, ecrc, repo, tag, img)
	}
	uri := func(tag string) string { return registryHost + "/" + repo + ":" + tag }
	role := lambdaRole(t)
	motoLambda := lambda.NewFromConfig(cfg)
	env := map[string]string{"KEEP": "1", "VERSION": "v1"}

	setup := func(t *testing.T, c lambdaAPI, name string) lambdaFn {
		if _, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: fn(name)}); err != nil {
			t.Fatalf("PublishVersion: %v", err)
		}
		if _, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: fn(name), Name: fn("live"), FunctionVersion: fn("1")}); err != nil {
			t.Fatalf("CreateAlias: %v", err)
		}
		return lambdaFn{c: c, name: name, v2: uri("v2"), missingImage: uri("missing"), v2digest: registryHost + "/" + repo + "@" + v2.Digest}
	}
	fake := func(t *testing.T) lambdaFn {
		l := lambdafake.New()
		digests := map[string]string{uri("v1"): v1.Digest, uri("v2"): v2.Digest, registryHost + "/" + repo + "@" + v2.Digest: v2.Digest}
		l.ResolveImage = func(u string) (string, bool) { d, ok := digests[u]; return d, ok }
		name := unique("conformance-fn")
		l.AddFunction(lambdafake.FunctionSpec{Name: name, ImageURI: uri("v1"), Env: maps.Clone(env)})
		return setup(t, l, name)
	}
	onMoto := func(t *testing.T) lambdaFn {
		name := unique("conformance-fn")
		if _, err := motoLambda.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName: fn(name), PackageType: types.PackageTypeImage, Role: fn(role),
			Code: &types.FunctionCode{ImageUri: fn(uri("v1"))}, Environment: &types.Environment{Variables: maps.Clone(env)},
		}); err != nil {
			t.Fatalf("CreateFunction: %v", err)
		}
		return setup(t, motoLambda, name)
	}
	for _, b := range behaviours {
		check(t, b, fake, onMoto)
	}
}
