//go:build integration

package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/ecrpush"
)

// image is a manifest as a registry stores it.
type image struct {
	Manifest  []byte
	MediaType string
	Digest    string
}

// buildImage writes a new random image to an OCI layout, pushes it with
// ecr-push to an in-process registry and returns the manifest that
// registry stored.
//
// moto's ECR serves the ECR API only, not the registry protocol at
// <account>.dkr.ecr.<region>.amazonaws.com, so an image cannot be pushed
// into moto through the registry. A push ends, in ECR, with the manifest
// stored under a tag; the tests store this manifest in moto with PutImage
// (putImage), which is what ECR's registry front end does.
func buildImage(t *testing.T) image {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}

	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	step := actiontest.NewStep(t, nil)
	if code := step.Run(ecrpush.Command(), "--registry", host, "--repository", "build/model", "--oci-layout", dir, "--tag", "build"); code != 0 {
		t.Fatalf("ecr-push to the local registry: exit %d\n%s%s", code, &step.Stdout, &step.Stderr)
	}
	digest := step.Outputs(t)["image-digest"]
	ref, err := name.NewDigest(host+"/build/model@"+digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatalf("reading back %s: %v", ref, err)
	}
	sum := sha256.Sum256(desc.Manifest)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != digest {
		t.Fatalf("ecr-push reported %s, the registry holds %s", digest, got)
	}
	return image{Manifest: desc.Manifest, MediaType: string(desc.MediaType), Digest: digest}
}

// putImage stores img in moto's repository repo under tag, with its digest,
// as a registry push to ECR would.
func putImage(t *testing.T, client *ecr.Client, repo, tag string, img image) {
	t.Helper()
	_, err := client.PutImage(context.Background(), &ecr.PutImageInput{
		RepositoryName: aws.String(repo), ImageTag: aws.String(tag),
		ImageManifest: aws.String(string(img.Manifest)), ImageManifestMediaType: aws.String(img.MediaType),
		ImageDigest: aws.String(img.Digest),
	})
	if err != nil {
		t.Fatalf("PutImage %s:%s: %v", repo, tag, err)
	}
}

// createRepository creates repo in moto.
func createRepository(t *testing.T, client *ecr.Client, repo string, scanOnPush bool) {
	t.Helper()
	_, err := client.CreateRepository(context.Background(), &ecr.CreateRepositoryInput{
		RepositoryName:             aws.String(repo),
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: scanOnPush},
	})
	if err != nil {
		t.Fatalf("CreateRepository %s: %v", repo, err)
	}
}

// tagDigest is the digest tag points at in moto's repo ("" when none).
func tagDigest(t *testing.T, client *ecr.Client, repo, tag string) string {
	t.Helper()
	out, err := client.DescribeImages(context.Background(), &ecr.DescribeImagesInput{
		RepositoryName: aws.String(repo), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String(tag)}},
	})
	var nf *ecrtypes.ImageNotFoundException
	switch {
	case errors.As(err, &nf):
		return ""
	case err != nil:
		t.Fatalf("DescribeImages %s:%s: %v", repo, tag, err)
	case len(out.ImageDetails) == 0:
		return ""
	}
	return aws.ToString(out.ImageDetails[0].ImageDigest)
}
