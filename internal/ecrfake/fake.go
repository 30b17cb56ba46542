// Package ecrfake is an in-memory Amazon ECR control plane for tests: the
// repository and image operations of the ECR API with the behaviour the
// service documents (not-found errors, tag immutability, "already exists"
// conflicts), and ways to inject throttling and access-denied errors.
//
// It is a normal package so that the tests of several tools share it. A
// *Fake has the method set of *ecr.Client for the operations it models, so
// it satisfies the small interfaces tools declare:
//
//	type ecrAPI interface {
//		DescribeImages(context.Context, *ecr.DescribeImagesInput, ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error)
//	}
//	var _ ecrAPI = ecrfake.New()
//
// Errors are the SDK's own types (*types.RepositoryNotFoundException,
// *types.ImageTagAlreadyExistsException, ...), so errors.As works as it does
// against the service. Injected service errors (Throttling, AccessDenied)
// are *smithy.GenericAPIError with the service's error codes.
//
// Two more ways in:
//
//   - Handler (server.go) serves the fake over HTTP with ECR's JSON
//     protocol, so a real *ecr.Client (its retryer, its error decoding) can
//     be pointed at it through BaseEndpoint or AWS_ENDPOINT_URL_ECR.
//   - Registry (registry.go) wraps an OCI registry (registry.New() from
//     go-containerregistry) so that pushes through the registry API land in
//     the same repositories, with ECR's immutability and error bodies.
//
// Extending the fake from another file of this package (for example scan
// findings): keep extra per-image state in Image.Ext, register a function
// in extensions from an init func to set up each new Fake (it may call
// OnPush), serve a new operation over HTTP by adding it to extraOps, and
// take f.mu around any access to repositories and images; the lookup
// helpers repo and image expect it held.
package ecrfake

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
)

// Defaults for a new Fake.
const (
	DefaultAccount  = "123456789012"
	DefaultRegion   = "us-east-1"
	DefaultPassword = "ecrfake-password"
)

// Fake is an in-memory ECR. Set its exported fields before use; the
// operations are safe for concurrent use.
type Fake struct {
	// Account is the registry id (AWS account) of the fake registry.
	Account string
	// Region is the region used in ARNs and URIs.
	Region string
	// ProxyEndpoint is what GetAuthorizationToken returns as the registry
	// endpoint, e.g. an httptest server's URL serving Registry. Empty means
	// https://<Account>.dkr.ecr.<Region>.amazonaws.com.
	ProxyEndpoint string
	// Password is the registry password encoded in the authorization token
	// (user "AWS").
	Password string
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu      sync.Mutex
	repos   map[string]*Repository
	faults  []*fault
	calls   map[string]int
	onPush  []func(*Repository, *Image)
	blobsOK func(repo, digest string) bool
}

// Repository is one repository's state.
type Repository struct {
	Name                 string
	CreatedAt            time.Time
	ScanOnPush           bool
	TagMutability        types.ImageTagMutability
	MutabilityExclusions []types.ImageTagMutabilityExclusionFilter

	images map[string]*Image // by digest
	tags   map[string]string // tag -> digest
}

// Image is one manifest stored in a repository.
type Image struct {
	Digest    string
	MediaType string
	// ArtifactMediaType is the config media type of an image manifest.
	ArtifactMediaType string
	Manifest          []byte
	// Size is what DescribeImages reports: the sum of the config and layer
	// sizes of an image manifest, of the child manifests of an index.
	Size     int64
	PushedAt time.Time
	// ScanStatus and ScanFindingsSummary are reported by DescribeImages
	// when set (scan support fills them in).
	ScanStatus          *types.ImageScanStatus
	ScanFindingsSummary *types.ImageScanFindingsSummary
	// Ext holds state other files of this package keep per image.
	Ext map[string]any
}

// extensions set up each new Fake; other files of this package append to
// it from init functions.
var extensions []func(*Fake)

// New returns an empty fake registry with the default account and region.
func New() *Fake {
	f := &Fake{Account: DefaultAccount, Region: DefaultRegion, Password: DefaultPassword}
	for _, ext := range extensions {
		ext(f)
	}
	return f
}

// OnPush registers fn to run, with the fake locked, whenever a new image
// (a digest the repository did not hold) is stored by PutImage or a
// registry push.
func (f *Fake) OnPush(fn func(*Repository, *Image)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onPush = append(f.onPush, fn)
}

func (f *Fake) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// ---- injected errors and call counts ----

type fault struct {
	op  string
	n   int // calls left to fail; <0 forever
	err error
}

// FailNext makes the next n calls of operation op (e.g. "PutImage"; "" for
// any operation) return err instead of running.
func (f *Fake) FailNext(op string, n int, err error) {
	if n == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &fault{op: op, n: n, err: err})
}

// FailAlways makes every call of op ("" for any) return err until
// ClearFailures.
func (f *Fake) FailAlways(op string, err error) { f.FailNext(op, -1, err) }

// ClearFailures removes all injected errors.
func (f *Fake) ClearFailures() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// Calls returns how many times operation op was called (including calls
// that failed).
func (f *Fake) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// begin locks the fake, counts the call and returns an injected error if
// one is due. The caller must unlock.
func (f *Fake) begin(op string) error {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[op]++
	for i, ft := range f.faults {
		if ft.op != "" && ft.op != op {
			continue
		}
		if ft.n > 0 {
			ft.n--
			if ft.n == 0 {
				f.faults = slices.Delete(f.faults, i, i+1)
			}
		}
		return ft.err
	}
	return nil
}

// Throttling returns the error ECR answers when a caller exceeds its rate:
// the SDK's retryer treats it as throttling and retries it.
func Throttling() error {
	return &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded", Fault: smithy.FaultClient}
}

// AccessDenied returns the error an IAM policy without action ecr:<op>
// causes. It is not retryable.
func AccessDenied(op string) error {
	return &smithy.GenericAPIError{
		Code:    "AccessDeniedException",
		Message: fmt.Sprintf("User: arn:aws:iam::%s:user/ci is not authorized to perform: ecr:%s because no identity-based policy allows the ecr:%s action", DefaultAccount, op, op),
		Fault:   smithy.FaultClient,
	}
}

// ---- helpers (f.mu held) ----

var repoName = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

var tagName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

func (f *Fake) checkRegistry(id *string) error {
	if id != nil && *id != f.Account {
		return &types.RepositoryNotFoundException{Message: aws.String(fmt.Sprintf("The registry with id '%s' does not exist or you do not have access to it", *id))}
	}
	return nil
}

// repo returns the repository called name or ECR's not-found error.
func (f *Fake) repo(name *string) (*Repository, error) {
	n := aws.ToString(name)
	if r, ok := f.repos[n]; ok {
		return r, nil
	}
	return nil, &types.RepositoryNotFoundException{Message: aws.String(fmt.Sprintf(
		"The repository with name '%s' does not exist in the registry with id '%s'", n, f.Account))}
}

// image resolves an image id (digest, tag or both) in r.
func (f *Fake) image(r *Repository, id types.ImageIdentifier) (*Image, error) {
	notFound := &types.ImageNotFoundException{Message: aws.String(fmt.Sprintf(
		"The image with imageId {imageDigest:'%s', imageTag:'%s'} does not exist within the repository with name '%s' in the registry with id '%s'",
		nullable(id.ImageDigest), nullable(id.ImageTag), r.Name, f.Account))}
	digest := aws.ToString(id.ImageDigest)
	if id.ImageTag != nil {
		d, ok := r.tags[*id.ImageTag]
		if !ok || (digest != "" && d != digest) {
			return nil, notFound
		}
		digest = d
	}
	img, ok := r.images[digest]
	if !ok {
		return nil, notFound
	}
	return img, nil
}

func nullable(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

func (f *Fake) arn(r *Repository) string {
	return fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", f.Region, f.Account, r.Name)
}

// Host is the registry host name of the fake account and region
// (<account>.dkr.ecr.<region>.amazonaws.com).
func (f *Fake) Host() string {
	return fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com", f.Account, f.Region)
}

func (f *Fake) repository(r *Repository) types.Repository {
	return types.Repository{
		CreatedAt:                          aws.Time(r.CreatedAt),
		ImageScanningConfiguration:         &types.ImageScanningConfiguration{ScanOnPush: r.ScanOnPush},
		ImageTagMutability:                 r.TagMutability,
		ImageTagMutabilityExclusionFilters: slices.Clone(r.MutabilityExclusions),
		EncryptionConfiguration:            &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeAes256},
		RegistryId:                         aws.String(f.Account),
		RepositoryArn:                      aws.String(f.arn(r)),
		RepositoryName:                     aws.String(r.Name),
		RepositoryUri:                      aws.String(f.Host() + "/" + r.Name),
	}
}

// tagsOf returns the tags pointing at digest, sorted.
func (r *Repository) tagsOf(digest string) []string {
	var out []string
	for t, d := range r.tags {
		if d == digest {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// Immutable reports whether tag cannot be moved once set in r.
func (r *Repository) Immutable(tag string) bool {
	var immutable bool
	switch r.TagMutability {
	case types.ImageTagMutabilityImmutable:
		return true
	case types.ImageTagMutabilityImmutableWithExclusion:
		immutable = true
	case types.ImageTagMutabilityMutableWithExclusion:
		immutable = false
	default:
		return false
	}
	for _, ex := range r.MutabilityExclusions {
		if ok, _ := path.Match(aws.ToString(ex.Filter), tag); ok {
			return !immutable
		}
	}
	return immutable
}

// ---- repositories ----

// CreateRepository creates a repository. The default tag mutability is
// MUTABLE, as in ECR.
func (f *Fake) CreateRepository(_ context.Context, in *ecr.CreateRepositoryInput, _ ...func(*ecr.Options)) (*ecr.CreateRepositoryOutput, error) {
	if err := f.begin("CreateRepository"); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	defer f.mu.Unlock()
	if err := f.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	name := aws.ToString(in.RepositoryName)
	if len(name) < 2 || len(name) > 256 || !repoName.MatchString(name) {
		return nil, &types.InvalidParameterException{Message: aws.String(fmt.Sprintf(
			"Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '%s''", repoName))}
	}
	if _, ok := f.repos[name]; ok {
		return nil, &types.RepositoryAlreadyExistsException{Message: aws.String(fmt.Sprintf(
			"The repository with name '%s' already exists in the registry with id '%s'", name, f.Account))}
	}
	mut := in.ImageTagMutability
	if mut == "" {
		mut = types.ImageTagMutabilityMutable
	}
	if !slices.Contains(mut.Values(), mut) {
		return nil, &types.InvalidParameterException{Message: aws.String(fmt.Sprintf("Invalid parameter at 'imageTagMutability': %q", mut))}
	}
	r := &Repository{
		Name:                 name,
		CreatedAt:            f.now(),
		TagMutability:        mut,
		MutabilityExclusions: slices.Clone(in.ImageTagMutabilityExclusionFilters),
		images:               map[string]*Image{},
		tags:                 map[string]string{},
	}
	if in.ImageScanningConfiguration != nil {
		r.ScanOnPush = in.ImageScanningConfiguration.ScanOnPush
	}
	if f.repos == nil {
		f.repos = map[string]*Repository{}
	}
	f.repos[name] = r
	repo := f.repository(r)
	return &ecr.CreateRepositoryOutput{Repository: &repo}, nil
}

// DescribeRepositories describes the named repositories (all of them when
// none are named), failing with RepositoryNotFoundException when a named one
// does not exist. MaxResults and NextToken page through the list.
func (f *Fake) DescribeRepositories(_ context.Context, in *ecr.DescribeRepositoriesInput, _ ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error) {
	if err := f.begin("DescribeRepositories"); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	defer f.mu.Unlock()
	if err := f.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	var all []types.Repository
	if len(in.RepositoryNames) > 0 {
		for _, n := range in.RepositoryNames {
			r, err := f.repo(aws.String(n))
			if err != nil {
				return nil, err
			}
			all = append(all, f.repository(r))
		}
	} else {
		names := make([]string, 0, len(f.repos))
		for n := range f.repos {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			all = append(all, f.repository(f.repos[n]))
		}
	}
	page, next, err := paginate(all, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &ecr.DescribeRepositoriesOutput{Repositories: page, NextToken: next}, nil
}

// PutImageTagMutability changes a repository's tag mutability.
func (f *Fake) PutImageTagMutability(_ context.Context, in *ecr.PutImageTagMutabilityInput, _ ...func(*ecr.Options)) (*ecr.PutImageTagMutabilityOutput, error) {
	if err := f.begin("PutImageTagMutability"); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	defer f.mu.Unlock()
	r, err := f.repo(in.RepositoryName)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(in.ImageTagMutability.Values(), in.ImageTagMutability) {
		return nil, &types.InvalidParameterException{Message: aws.String(fmt.Sprintf("Invalid parameter at 'imageTagMutability': %q", in.ImageTagMutability))}
	}
	r.TagMutability = in.ImageTagMutability
	r.MutabilityExclusions = slices.Clone(in.ImageTagMutabilityExclusionFilters)
	return &ecr.PutImageTagMutabilityOutput{
		ImageTagMutability: r.TagMutability, ImageTagMutabilityExclusionFilters: slices.Clone(r.MutabilityExclusions),
		RegistryId: aws.String(f.Account), RepositoryName: aws.String(r.Name),
	}, nil
}

// PutImageScanningConfiguration turns scan-on-push on or off.
func (f *Fake) PutImageScanningConfiguration(_ context.Context, in *ecr.PutImageScanningConfigurationInput, _ ...func(*ecr.Options)) (*ecr.PutImageScanningConfigurationOutput, error) {
	if err := f.begin("PutImageScanningConfiguration"); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	defer f.mu.Unlock()
	r, err := f.repo(in.RepositoryName)
	if err != nil {
		return nil, err
	}
	if in.ImageScanningConfiguration != nil {
		r.ScanOnPush = in.ImageScanningConfiguration.ScanOnPush
	}
	return &ecr.PutImageScanningConfigurationOutput{
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: r.ScanOnPush},
		RegistryId:                 aws.String(f.Account), RepositoryName: aws.String(r.Name),
	}, nil
}

// ---- images ----

// DescribeImages describes the given images, or every image of the
// repository (filtered by TagStatus) when none are given. An image id that
// does not resolve fails the whole call with ImageNotFoundException, as in
// ECR.
func (f *Fake) DescribeImages(_ context.Context, in *ecr.DescribeImagesInput, _ ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error) {
	if err := f.begin("DescribeImages"); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	defer f.mu.Unlock()
	if err := f.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	r, err := f.repo(in.RepositoryName)
	if err != nil {
		return nil, err
	}
	var details []types.ImageDetail
	if len(in.ImageIds) > 0 {
		seen := map[string]bool{}
		for _, id := range in.ImageIds {
			img, err := f.image(r, id)
			if err != nil {
				return nil, err
			}
			if !seen[img.Digest] {
				seen[img.Digest] = true
				details = append(details, f.detail(r, img))
			}
		}
	} else {
		status := types.TagStatusAny
		if in.Filter != nil && in.Filter.TagStatus != "" {
			status = in.Filter.TagStatus
		}
		for _, img := range r.sortedImages() {
			tagged := len(r.tagsOf(img.Digest)) > 0
			if status == types.TagStatusTagged && !tagged || status == types.TagStatusUntagged && tagged {
				continue
			}
			details = append(details, f.detail(r, img))
		}
	}
	page, next, err := paginate(details, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &ecr.DescribeImagesOutput{ImageDetails: page, NextToken: next}, nil
}

// sortedImages returns r's images, oldest push first (then by digest).
func (r *Repository) sortedImages() []*Image {
	imgs := make([]*Image, 0, len(r.images))
	for _, img := range r.images {
		imgs = append(imgs, img)
	}
	sort.Slice(imgs, func(i, j int) bool {
		if !imgs[i].PushedAt.Equal(imgs[j].PushedAt) {
			return imgs[i].PushedAt.Before(imgs[j].PushedAt)
		}
		return imgs[i].Digest < imgs[j].Digest
	})
	return imgs
}

func (f *Fake) detail(r *Repository, img *Image) types.ImageDetail {
	d := types.ImageDetail{
		ImageDigest:              aws.String(img.Digest),
		ImageManifestMediaType:   aws.String(img.MediaType),
		ImagePushedAt:            aws.Time(img.PushedAt),
		ImageSizeInBytes:         aws.Int64(img.Size),
		ImageStatus:              types.ImageStatusActive,
		ImageTags:                r.tagsOf(img.Digest),
		RegistryId:               aws.String(f.Account),
		RepositoryName:           aws.String(r.Name),
		ImageScanStatus:          img.ScanStatus,
		ImageScanFindingsSummary: img.ScanFindingsSummary,
	}
	if img.ArtifactMediaType != "" {
		d.ArtifactMediaType = aws.String(img.ArtifactMediaType)
	}
	return d
}

// ListImages lists image ids: one per tag for tagged images, the digest
// alone for untagged ones.
func (f *Fake) ListImages(_ context.Context, in *ecr.ListImagesInput, _ ...func(*ecr.Options)) (*ecr.ListImagesOutput, error) {
	if err := f.begin("ListImages"); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	defer f.mu.Unlock()
	r, err := f.repo(in.RepositoryName)
	if err != nil {
		return nil, err
	}
	status := types.TagStatusAny
	if in.Filter != nil && in.Filter.TagStatus != "" {
		status = in.Filter.TagStatus
	}
	var ids []types.ImageIdentifier
	for _, img := range r.sortedImages() {
		tags := r.tagsOf(img.Digest)
		if len(tags) == 0 && status != types.TagStatusTagged {
			ids = append(ids, types.ImageIdentifier{ImageDigest: aws.String(img.Digest)})
		}
		if status == types.TagStatusUntagged {
			continue
		}
		for _, t := range tags {
			ids = append(ids, types.ImageIdentifier{ImageDigest: aws.String(img.Digest), ImageTag: aws.String(t)})
		}
	}
	page, next, err := paginate(ids, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &ecr.ListImagesOutput{ImageIds: page, NextToken: next}, nil
}

// BatchGetImage returns the manifests of the given images; ids that do not
// resolve are reported as failures, not as an error.
func (f *Fake) BatchGetImage(_ context.Context, in *ecr.BatchGetImageInput, _ ...func(*ecr.Options)) (*ecr.BatchGetImageOutput, error) {
	if err := f.begin("BatchGetImage"); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	defer f.mu.Unlock()
	r, err := f.repo(in.RepositoryName)
	if err != nil {
		return nil, err
	}
	out := &ecr.BatchGetImageOutput{}
	for _, id := range in.ImageIds {
		if id.ImageDigest == nil && id.ImageTag == nil {
			out.Failures = append(out.Failures, types.ImageFailure{ImageId: &id, FailureCode: types.ImageFailureCodeMissingDigestAndTag, FailureReason: aws.String("Missing image digest and tag")})
			continue
		}
		img, err := f.image(r, id)
		if err != nil {
			out.Failures = append(out.Failures, types.ImageFailure{ImageId: &id, FailureCode: types.ImageFailureCodeImageNotFound, FailureReason: aws.String("Requested image not found")})
			continue
		}
		if len(in.AcceptedMediaTypes) > 0 && !slices.Contains(in.AcceptedMediaTypes, img.MediaType) {
			out.Failures = append(out.Failures, types.ImageFailure{ImageId: &id, FailureCode: "UnsupportedImageType", FailureReason: aws.String("The requested image's media type is not in the accepted media types")})
			continue
		}
		gotID := types.ImageIdentifier{ImageDigest: aws.String(img.Digest), ImageTag: id.ImageTag}
		out.Images = append(out.Images, types.Image{
			ImageId: &gotID, ImageManifest: aws.String(string(img.Manifest)), ImageManifestMediaType: aws.String(img.MediaType),
			RegistryId: aws.String(f.Account), RepositoryName: aws.String(r.Name),
		})
	}
	return out, nil
}

// PutImage stores a manifest and optionally tags it, with ECR's rules:
//   - the same manifest with the same tag (or untagged, already present)
//     fails with ImageAlreadyExistsException and changes nothing;
//   - a tag that points at another digest in an immutable repository fails
//     with ImageTagAlreadyExistsException and changes nothing;
//   - in a mutable repository the tag moves to the new digest;
//   - ImageDigest, when given, must equal the manifest's sha256 digest
//     (ImageDigestDoesNotMatchException);
//   - blobs and child manifests the manifest references must be in the
//     repository (LayersNotFoundException, ReferencedImagesNotFoundException)
//     when the fake knows about blobs (see Registry).
func (f *Fake) PutImage(_ context.Context, in *ecr.PutImageInput, _ ...func(*ecr.Options)) (*ecr.PutImageOutput, error) {
	if err := f.begin("PutImage"); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	defer f.mu.Unlock()
	if err := f.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	r, err := f.repo(in.RepositoryName)
	if err != nil {
		return nil, err
	}
	img, err := f.put(r, []byte(aws.ToString(in.ImageManifest)), aws.ToString(in.ImageManifestMediaType), aws.ToString(in.ImageDigest), aws.ToString(in.ImageTag))
	if err != nil {
		return nil, err
	}
	return &ecr.PutImageOutput{Image: &types.Image{
		ImageId:                &types.ImageIdentifier{ImageDigest: aws.String(img.Digest), ImageTag: in.ImageTag},
		ImageManifest:          aws.String(string(img.Manifest)),
		ImageManifestMediaType: aws.String(img.MediaType),
		RegistryId:             aws.String(f.Account),
		RepositoryName:         aws.String(r.Name),
	}}, nil
}

// manifest is the part of an image manifest or index the fake reads.
type manifest struct {
	MediaType string       `json:"mediaType"`
	Config    *descriptor  `json:"config"`
	Layers    []descriptor `json:"layers"`
	Manifests []descriptor `json:"manifests"`
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// Digest returns the sha256 digest of a manifest's bytes.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// put stores (and tags) a manifest in r; f.mu must be held. It is shared by
// PutImage and registry pushes.
func (f *Fake) put(r *Repository, raw []byte, mediaType, wantDigest, tag string) (*Image, error) {
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil || (m.Config == nil && m.Manifests == nil) {
		return nil, &types.InvalidParameterException{Message: aws.String("Invalid parameter at 'imageManifest' failed to satisfy constraint: 'Invalid JSON syntax'")}
	}
	if mediaType == "" {
		mediaType = m.MediaType
	}
	if mediaType == "" {
		mediaType = "application/vnd.oci.image.manifest.v1+json"
		if m.Manifests != nil {
			mediaType = "application/vnd.oci.image.index.v1+json"
		}
	}
	if m.MediaType != "" && m.MediaType != mediaType {
		return nil, &types.InvalidParameterException{Message: aws.String(fmt.Sprintf(
			"Invalid parameter at 'ImageManifestMediaType' failed to satisfy constraint: 'Media type %s does not match the manifest's media type %s'", mediaType, m.MediaType))}
	}
	digest := Digest(raw)
	if wantDigest != "" && wantDigest != digest {
		return nil, &types.ImageDigestDoesNotMatchException{Message: aws.String(fmt.Sprintf(
			"Provided digest %s does not match the digest of the manifest %s", wantDigest, digest))}
	}
	if tag != "" && !tagName.MatchString(tag) {
		return nil, &types.InvalidParameterException{Message: aws.String(fmt.Sprintf("Invalid parameter at 'imageTag' failed to satisfy constraint: %q", tag))}
	}
	existing, stored := r.images[digest]
	current, tagged := r.tags[tag]
	switch {
	case tag == "" && stored:
		return nil, &types.ImageAlreadyExistsException{Message: aws.String(fmt.Sprintf(
			"Image with digest '%s' already exists in the repository with name '%s' in registry with id '%s'", digest, r.Name, f.Account))}
	case tag != "" && tagged && current == digest:
		return nil, &types.ImageAlreadyExistsException{Message: aws.String(fmt.Sprintf(
			"Image with digest '%s' and tag '%s' already exists in the repository with name '%s' in registry with id '%s'", digest, tag, r.Name, f.Account))}
	case tag != "" && tagged && r.Immutable(tag):
		return nil, &types.ImageTagAlreadyExistsException{Message: aws.String(fmt.Sprintf(
			"The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.", tag, r.Name))}
	}
	if !stored {
		var size int64
		if m.Manifests != nil {
			var missing []string
			for _, d := range m.Manifests {
				child, ok := r.images[d.Digest]
				if !ok {
					missing = append(missing, d.Digest)
					continue
				}
				size += child.Size
			}
			if len(missing) > 0 {
				return nil, &types.ReferencedImagesNotFoundException{Message: aws.String(fmt.Sprintf(
					"Some of the images referenced by the manifest list were not found in repository '%s': %v", r.Name, missing))}
			}
		} else {
			blobs := append([]descriptor{*m.Config}, m.Layers...)
			var missing []string
			for _, b := range blobs {
				size += b.Size
				if f.blobsOK != nil && !f.blobsOK(r.Name, b.Digest) {
					missing = append(missing, b.Digest)
				}
			}
			if len(missing) > 0 {
				return nil, &types.LayersNotFoundException{Message: aws.String(fmt.Sprintf(
					"Layers with digests %v required for pushing image into repository with name '%s' in the registry with id '%s' do not exist", missing, r.Name, f.Account))}
			}
		}
		existing = &Image{Digest: digest, MediaType: mediaType, Manifest: slices.Clone(raw), Size: size, PushedAt: f.now()}
		if m.Config != nil {
			existing.ArtifactMediaType = m.Config.MediaType
		}
		r.images[digest] = existing
		for _, fn := range f.onPush {
			fn(r, existing)
		}
	}
	if tag != "" {
		r.tags[tag] = digest
	}
	return existing, nil
}

// ---- authorization ----

// GetAuthorizationToken returns a token for user "AWS" with Password, valid
// for 12 hours, and the registry endpoint (ProxyEndpoint).
func (f *Fake) GetAuthorizationToken(_ context.Context, in *ecr.GetAuthorizationTokenInput, _ ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error) {
	if err := f.begin("GetAuthorizationToken"); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	defer f.mu.Unlock()
	for _, id := range in.RegistryIds {
		if err := f.checkRegistry(aws.String(id)); err != nil {
			return nil, err
		}
	}
	endpoint := f.ProxyEndpoint
	if endpoint == "" {
		endpoint = "https://" + f.Host()
	}
	return &ecr.GetAuthorizationTokenOutput{AuthorizationData: []types.AuthorizationData{{
		AuthorizationToken: aws.String(base64.StdEncoding.EncodeToString([]byte("AWS:" + f.Password))),
		ExpiresAt:          aws.Time(f.now().Add(12 * time.Hour)),
		ProxyEndpoint:      aws.String(endpoint),
	}}}, nil
}

// ---- test conveniences ----

// AddImage stores manifest in repository repo (created, mutable, when
// missing) under the given tags, without checking blobs, and returns its
// digest. Tags that exist are moved. It is for setting up tests.
func (f *Fake) AddImage(repo string, manifest []byte, tags ...string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.repos[repo]
	if !ok {
		r = &Repository{Name: repo, CreatedAt: f.now(), TagMutability: types.ImageTagMutabilityMutable, images: map[string]*Image{}, tags: map[string]string{}}
		if f.repos == nil {
			f.repos = map[string]*Repository{}
		}
		f.repos[repo] = r
	}
	check := f.blobsOK
	f.blobsOK = nil
	defer func() { f.blobsOK = check }()
	if len(tags) == 0 {
		tags = []string{""}
	}
	var digest string
	for _, t := range tags {
		if t != "" {
			delete(r.tags, t)
		}
		img, err := f.put(r, manifest, "", "", t)
		if err != nil {
			return "", err
		}
		digest = img.Digest
	}
	return digest, nil
}

// TagDigest returns the digest tag points at in repo.
func (f *Fake) TagDigest(repo, tag string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.repos[repo]
	if !ok {
		return "", false
	}
	d, ok := r.tags[tag]
	return d, ok
}

// RepositorySettings returns a copy of a repository's settings (without
// its images).
func (f *Fake) RepositorySettings(repo string) (Repository, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.repos[repo]
	if !ok {
		return Repository{}, false
	}
	return Repository{Name: r.Name, CreatedAt: r.CreatedAt, ScanOnPush: r.ScanOnPush, TagMutability: r.TagMutability, MutabilityExclusions: slices.Clone(r.MutabilityExclusions)}, true
}

// ImageCount returns how many images (digests) repo holds.
func (f *Fake) ImageCount(repo string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.repos[repo]; ok {
		return len(r.images)
	}
	return 0
}

// paginate pages items: the token is the index of the next item.
func paginate[T any](items []T, max *int32, token *string) ([]T, *string, error) {
	start := 0
	if token != nil {
		n, err := strconv.Atoi(*token)
		if err != nil || n < 0 || n > len(items) {
			return nil, nil, &types.InvalidParameterException{Message: aws.String("Invalid parameter at 'nextToken'")}
		}
		start = n
	}
	end := len(items)
	if max != nil && *max > 0 && start+int(*max) < end {
		end = start + int(*max)
	}
	var next *string
	if end < len(items) {
		next = aws.String(strconv.Itoa(end))
	}
	return items[start:end], next, nil
}
