package ecrpush

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/ecrref"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/ssmclient"
	"github.com/mlship/mlship/internal/version"
)

// SSMAPI is the part of SSM ecr-push calls (internal/ssmclient): read a
// String parameter and write one.
type SSMAPI interface {
	GetParameter(ctx context.Context, name string, decrypt bool) (p ssmclient.Parameter, found bool, err error)
	PutParameter(ctx context.Context, name, value string, overwrite bool) error
}

// ECRAPI is the part of the ECR API ecr-push calls.
type ECRAPI interface {
	ecrref.AuthAPI
	DescribeRepositories(context.Context, *ecr.DescribeRepositoriesInput, ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
	CreateRepository(context.Context, *ecr.CreateRepositoryInput, ...func(*ecr.Options)) (*ecr.CreateRepositoryOutput, error)
	DescribeImages(context.Context, *ecr.DescribeImagesInput, ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error)
	BatchGetImage(context.Context, *ecr.BatchGetImageInput, ...func(*ecr.Options)) (*ecr.BatchGetImageOutput, error)
	PutImage(context.Context, *ecr.PutImageInput, ...func(*ecr.Options)) (*ecr.PutImageOutput, error)
}

// Deps are the outside world a run talks to.
type Deps struct {
	ECR ECRAPI // needed for an ECR registry
	SSM SSMAPI // needed with --ssm-parameter
	// Log reports progress and warnings; text from outside (registry and
	// AWS messages, docker's output) goes through it, escaped.
	Log action.Logger
	// Mask hides a secret (the registry password) in all later logs.
	Mask func(secret string)
	// Transport is the HTTP transport to registries (default
	// remote.DefaultTransport).
	Transport http.RoundTripper
	// Keychain finds credentials for a registry that is not ECR (default
	// authn.DefaultKeychain: the Docker config docker/login-action writes).
	Keychain authn.Keychain
	// Docker is the docker command, for builds and the daemon's images (""
	// when none was found).
	Docker string
	// DockerEnv is the environment docker runs with.
	DockerEnv []string
	// TempDir holds build output and images saved from the daemon:
	// command.TempDir.
	TempDir string
}

// TagResult says what happened to one tag.
type TagResult struct {
	Tag string `json:"tag"`
	// Status is created, unchanged, moved (a mutable tag that pointed at
	// another digest), found or missing (--check-exists), or not set (a
	// run that failed before it got to the tag).
	Status   string `json:"status"`
	Previous string `json:"previous,omitempty"` // the digest a moved tag pointed at
}

// Tag statuses.
const (
	tagCreated   = "created"
	tagUnchanged = "unchanged"
	tagMoved     = "moved"
	tagFound     = "found"
	tagMissing   = "missing"
	tagNotSet    = "not set"
)

// Result is what a run did.
type Result struct {
	Registry    string `json:"registry"`
	Repository  string `json:"repository"`
	ImageURI    string `json:"imageUri"`
	ImageDigest string `json:"imageDigest"`
	ImageRef    string `json:"imageRef"`
	MediaType   string `json:"mediaType,omitempty"`
	// Tags are the tags that point at the image after the run: all that
	// were asked for, unless the run failed part way.
	Tags        []string    `json:"tags"`
	TagResults  []TagResult `json:"tagResults"`
	PushedBytes int64       `json:"pushedBytes"`
	Exists      bool        `json:"exists"`
	Source      string      `json:"source"`
	// RepositoryCreated is true when this run created the repository.
	RepositoryCreated bool   `json:"repositoryCreated"`
	SSMParameter      string `json:"ssmParameter,omitempty"`
	// Changed is set by --label-equals: false when the image under every
	// tag has every label with the value asked for.
	Changed *bool `json:"changed,omitempty"`
	// Labels are the values the compared labels have on the image under
	// the first tag (on its first platform image, for an index); a label
	// the image does not have is absent.
	Labels map[string]string `json:"labels,omitempty"`
}

// target is the registry and repository a run writes to.
type target struct {
	p        *Plan
	cfg      *Config
	deps     Deps
	host     string
	registry name.Registry
	repo     name.Repository
	ecr      bool
	regID    *string // ECR registry id (nil: the caller's account)
	opts     []remote.Option
	counter  *countingTransport
	// mutability of the ECR repository, for checks before pushing.
	repoInfo *ecrtypes.Repository
	// repoMissing: the ECR repository does not exist (--check-exists).
	repoMissing bool
	// wrote: a manifest or a tag was written; a failure after it returns
	// the result with what was done.
	wrote bool
}

// Run pushes (or promotes, or looks up) the image as the plan says. Local
// inputs (layout, tarball, the daemon's image, docker buildx) are checked
// before any AWS or registry call. A run that fails before it wrote
// anything returns no result, only the error, unless the error is a failed
// check (exit 1), whose result says what was found.
func Run(ctx context.Context, p *Plan, deps Deps) (*Result, error) {
	if p == nil || p.tags == nil {
		return nil, exitcode.Incompletef("internal error: Run needs the plan Config.Validate returns")
	}
	if deps.Log == nil {
		deps.Log = nopLogger{}
	}
	if deps.Mask == nil {
		deps.Mask = func(string) {}
	}
	t := &target{p: p, cfg: &p.cfg, deps: deps, ecr: p.ecr}
	if p.registryID != "" {
		t.regID = aws.String(p.registryID)
	}

	var art *artifact
	switch p.Source() {
	case "oci-layout", "tarball", "daemon":
		var err error
		if art, err = t.load(ctx); err != nil {
			return nil, err
		}
		defer art.cleanup()
	case "build":
		if err := t.checkBuildx(ctx); err != nil {
			return nil, err
		}
	}

	if err := t.connect(ctx); err != nil {
		return nil, err
	}
	res := &Result{Registry: t.host, Repository: t.cfg.Repository, Tags: p.Tags(), Source: p.Source()}
	res.ImageURI = t.repo.Tag(p.tags[0]).String()

	if t.ecr {
		created, err := t.ensureRepository(ctx)
		if err != nil {
			return nil, err
		}
		res.RepositoryCreated = created
		t.wrote = created
	}
	if t.cfg.CheckExists {
		return t.checkExists(ctx, res)
	}
	if len(p.labels) > 0 {
		return t.compareLabels(ctx, res)
	}

	if art == nil {
		var err error
		if art, err = t.load(ctx); err != nil {
			return t.failed(res, err)
		}
		defer art.cleanup()
	}
	res.ImageDigest = art.digest.String()
	res.ImageRef = t.repo.Digest(res.ImageDigest).String()
	res.MediaType = string(art.mediaType)

	// Look every tag up first: an immutable tag pointing elsewhere fails the
	// run before anything is uploaded.
	plan, err := t.planTags(ctx, art.digest.String())
	if err != nil {
		res.Tags = nil
		return t.failed(res, err)
	}
	allThere := true
	for _, pt := range plan {
		allThere = allThere && pt.current == art.digest.String()
	}
	if allThere {
		t.deps.Log.Logf("%s already has %s under every tag; nothing to push", t.repo, art.digest)
	} else if !art.inRepo {
		if err := t.write(ctx, art); err != nil {
			res.Tags = nil
			res.PushedBytes = t.counter.bytes()
			return t.failed(res, err)
		}
		t.wrote = true
	}
	for i, pt := range plan {
		tr, err := t.tag(ctx, art, pt)
		if err != nil {
			res.PushedBytes = t.counter.bytes()
			return t.failed(res, t.tagFailure(res, plan[i:], err))
		}
		t.wrote = t.wrote || tr.Status != tagUnchanged
		res.TagResults = append(res.TagResults, tr)
		t.deps.Log.Logf("tag %s: %s", tr.Tag, describeTag(tr))
	}
	res.PushedBytes = t.counter.bytes()
	res.Exists = true

	if t.cfg.SSMParameter != "" {
		if err := t.recordSSM(ctx, p.tags[0]); err != nil {
			return res, err
		}
		res.SSMParameter = t.cfg.SSMParameter
	}
	return res, nil
}

// failed returns the result with err when it tells something: a run that
// wrote part of what it was asked to, or a check that failed on the image
// it was about to push (an immutable tag pointing elsewhere); else only
// the error: nothing was done, and outputs such as image-digest would name
// an image that was never pushed.
func (t *target) failed(res *Result, err error) (*Result, error) {
	if t.wrote || (exitcode.Of(err) == exitcode.Failed && res.ImageDigest != "") {
		return res, err
	}
	return nil, err
}

// tagFailure records the tags a failure left unset, narrows res.Tags to the
// tags that point at the image, and says in the error which tags this run
// set, so that nobody has to guess what a half-done run left behind.
func (t *target) tagFailure(res *Result, rest []tagPlan, err error) error {
	var at, set []string
	for _, tr := range res.TagResults {
		at = append(at, tr.Tag)
		if tr.Status != tagUnchanged {
			set = append(set, tr.Tag)
		}
	}
	var unset []string
	for _, pt := range rest {
		res.TagResults = append(res.TagResults, TagResult{Tag: pt.tag, Status: tagNotSet})
		unset = append(unset, pt.tag)
	}
	res.Tags = at
	res.Exists = false
	done := "this run set no tag"
	if len(set) > 0 {
		done = "this run set " + strings.Join(set, ", ")
	}
	return fmt.Errorf("%w; %s; not set: %s", err, done, strings.Join(unset, ", "))
}

func describeTag(tr TagResult) string {
	switch tr.Status {
	case tagMoved:
		return "moved from " + tr.Previous
	case tagUnchanged:
		return "already pointed at the image"
	}
	return tr.Status
}

type nopLogger struct{}

func (nopLogger) Logf(string, ...any)     {}
func (nopLogger) Warningf(string, ...any) {}

// connect resolves the registry, logs in to ECR when it is ECR, and builds
// the registry options.
func (t *target) connect(ctx context.Context) error {
	cfg, deps := t.cfg, t.deps
	base := deps.Transport
	if base == nil {
		base = remote.DefaultTransport
	}
	t.counter = &countingTransport{base: base}
	t.opts = []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(t.counter),
		remote.WithJobs(cfg.Jobs),
		remote.WithUserAgent("mlship-ecr-push/" + version.String()),
	}
	host := cfg.Registry
	if t.ecr {
		if deps.ECR == nil {
			return exitcode.Incompletef("internal error: no ECR client")
		}
		creds, err := ecrref.Login(ctx, deps.ECR, t.p.registryID, deps.Mask)
		if err != nil {
			return awsErr("logging in to ECR", err)
		}
		if host == "" {
			if creds.Endpoint == "" {
				return exitcode.Incompletef("logging in to ECR: GetAuthorizationToken named no registry endpoint")
			}
			host = creds.Endpoint
		}
		t.opts = append(t.opts, remote.WithAuth(&authn.Basic{Username: creds.Username, Password: creds.Password}))
	} else {
		kc := deps.Keychain
		if kc == nil {
			kc = authn.DefaultKeychain
		}
		t.opts = append(t.opts, remote.WithAuthFromKeychain(kc))
	}
	var nameOpts []name.Option
	if isLoopback(host) {
		nameOpts = append(nameOpts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, nameOpts...)
	if err != nil {
		return exitcode.Incompletef("registry %q named by ECR: %v", host, err)
	}
	t.host, t.registry = host, reg
	t.repo = reg.Repo(cfg.Repository)
	return nil
}

// isLoopback reports whether host[:port] is this machine, the only place
// reached over plain HTTP.
func isLoopback(host string) bool {
	h := host
	if u, err := url.Parse("//" + host); err == nil {
		h = u.Hostname()
	}
	return h == "localhost" || h == "::1" || strings.HasPrefix(h, "127.")
}

// countingTransport counts blob bytes uploaded, and refuses plain HTTP to
// anything but this machine (go-containerregistry would otherwise fall back
// to HTTP for private addresses).
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !isLoopback(req.URL.Host) {
		return nil, fmt.Errorf("refusing plain HTTP to %s: only localhost and 127.0.0.1 are reached without TLS", req.URL.Host)
	}
	upload := req.Body != nil && req.Body != http.NoBody && strings.Contains(req.URL.Path, "/blobs/uploads") &&
		(req.Method == http.MethodPatch || req.Method == http.MethodPut || req.Method == http.MethodPost)
	if !upload {
		return c.base.RoundTrip(req)
	}
	if req.ContentLength < 0 {
		// Unknown length: count as the body is read.
		req.Body = &countingBody{ReadCloser: req.Body, n: &c.n}
		return c.base.RoundTrip(req)
	}
	// Known length: count accepted uploads, and leave the body as it is
	// so that net/http can send a layer file with sendfile.
	resp, err := c.base.RoundTrip(req)
	if err == nil && resp.StatusCode < 300 {
		c.n.Add(req.ContentLength)
	}
	return resp, err
}

func (c *countingTransport) bytes() int64 {
	if c == nil {
		return 0
	}
	return c.n.Load()
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// ensureRepository checks the ECR repository, creating it with
// --create-repository. An existing repository is never changed; a setting
// that differs from what was asked is reported.
func (t *target) ensureRepository(ctx context.Context) (created bool, err error) {
	cfg := t.cfg
	out, err := t.deps.ECR.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RegistryId: t.regID, RepositoryNames: []string{cfg.Repository}})
	var nf *ecrtypes.RepositoryNotFoundException
	switch {
	case err == nil && len(out.Repositories) > 0:
		r := out.Repositories[0]
		t.repoInfo = &r
		if m := t.p.mutability; m != "" && !strings.HasPrefix(string(r.ImageTagMutability), m) {
			t.deps.Log.Warningf("repository %s has tag mutability %s, not %s as asked; ecr-push does not change an existing repository", cfg.Repository, r.ImageTagMutability, m)
		}
		if cfg.ScanOnPush && (r.ImageScanningConfiguration == nil || !r.ImageScanningConfiguration.ScanOnPush) {
			t.deps.Log.Warningf("repository %s does not scan on push, as asked; ecr-push does not change an existing repository", cfg.Repository)
		}
		return false, nil
	case err != nil && !errors.As(err, &nf):
		return false, awsErr("looking up repository "+cfg.Repository+" (DescribeRepositories)", err)
	case t.p.lookupOnly():
		t.repoMissing = true
		return false, nil
	case !cfg.CreateRepository:
		return false, exitcode.BadInputf("repository %s does not exist in registry %s; create it or pass --create-repository", cfg.Repository, t.host)
	}
	mut := ecrtypes.ImageTagMutabilityMutable
	if t.p.mutability == "IMMUTABLE" {
		mut = ecrtypes.ImageTagMutabilityImmutable
	}
	cr, err := t.deps.ECR.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RegistryId:                 t.regID,
		RepositoryName:             aws.String(cfg.Repository),
		ImageTagMutability:         mut,
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: cfg.ScanOnPush},
	})
	var exists *ecrtypes.RepositoryAlreadyExistsException
	if errors.As(err, &exists) {
		// Created by someone else meanwhile: use theirs, as it is.
		return t.ensureRepository(ctx)
	}
	if err != nil {
		return false, awsErr("creating repository "+cfg.Repository+" (CreateRepository)", err)
	}
	t.repoInfo = cr.Repository
	t.deps.Log.Logf("created repository %s (tag mutability %s, scan on push %t)", cfg.Repository, mut, cfg.ScanOnPush)
	return true, nil
}

// immutable reports whether tag cannot move in the ECR repository.
func (t *target) immutable(tag string) bool {
	if t.repoInfo == nil {
		return false
	}
	var immutable bool
	switch t.repoInfo.ImageTagMutability {
	case ecrtypes.ImageTagMutabilityImmutable:
		return true
	case ecrtypes.ImageTagMutabilityImmutableWithExclusion:
		immutable = true
	case ecrtypes.ImageTagMutabilityMutableWithExclusion:
		immutable = false
	default:
		return false
	}
	for _, ex := range t.repoInfo.ImageTagMutabilityExclusionFilters {
		if ok, _ := path.Match(aws.ToString(ex.Filter), tag); ok {
			return !immutable
		}
	}
	return immutable
}

// current returns the digest tag points at in repo: "" when the tag does
// not exist, and repoMissing when the repository does not either.
func (t *target) current(ctx context.Context, repo, tag string) (digest string, repoMissing bool, err error) {
	if t.ecr {
		out, err := t.deps.ECR.DescribeImages(ctx, &ecr.DescribeImagesInput{
			RegistryId: t.regID, RepositoryName: aws.String(repo), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String(tag)}},
		})
		var inf *ecrtypes.ImageNotFoundException
		var rnf *ecrtypes.RepositoryNotFoundException
		switch {
		case errors.As(err, &inf):
			return "", false, nil
		case errors.As(err, &rnf):
			return "", true, nil
		case err != nil:
			return "", false, awsErr(fmt.Sprintf("looking up tag %s in %s (DescribeImages)", tag, repo), err)
		case len(out.ImageDetails) == 0:
			return "", false, nil
		}
		return aws.ToString(out.ImageDetails[0].ImageDigest), false, nil
	}
	desc, err := remote.Head(t.registry.Repo(repo).Tag(tag), t.opts...)
	if isNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, registryErr(fmt.Sprintf("looking up tag %s in %s", tag, repo), err)
	}
	return desc.Digest.String(), false, nil
}

func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// hasCode reports whether a registry error carries the OCI error code.
func hasCode(err error, code transport.ErrorCode) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	for _, d := range terr.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// checkExists answers whether every tag exists.
func (t *target) checkExists(ctx context.Context, res *Result) (*Result, error) {
	repoMissing := func() (*Result, error) {
		res.TagResults = nil
		for _, tag := range t.p.tags {
			res.TagResults = append(res.TagResults, TagResult{Tag: tag, Status: tagMissing})
		}
		return res, exitcode.Failedf("repository %s does not exist in registry %s", t.cfg.Repository, t.host)
	}
	if t.repoMissing {
		return repoMissing()
	}
	var missing []string
	for _, tag := range t.p.tags {
		d, noRepo, err := t.current(ctx, t.cfg.Repository, tag)
		switch {
		case err != nil:
			return nil, err
		case noRepo:
			return repoMissing()
		case d == "":
			missing = append(missing, tag)
			res.TagResults = append(res.TagResults, TagResult{Tag: tag, Status: tagMissing})
			continue
		}
		if res.ImageDigest == "" {
			res.ImageDigest = d
			res.ImageRef = t.repo.Digest(d).String()
		}
		res.TagResults = append(res.TagResults, TagResult{Tag: tag, Status: tagFound})
		t.deps.Log.Logf("tag %s: %s", tag, d)
	}
	if len(missing) > 0 && !t.ecr {
		// A manifest lookup does not say whether the repository is there;
		// its tag list does.
		if _, err := remote.List(t.repo, t.opts...); hasCode(err, transport.NameUnknownErrorCode) {
			return repoMissing()
		}
	}
	if len(missing) > 0 {
		return res, exitcode.Failedf("%s has no tag %s", t.repo, strings.Join(missing, ", "))
	}
	res.Exists = true
	return res, nil
}

type tagPlan struct {
	tag     string
	current string // digest the tag points at now ("" none)
}

// planTags looks every tag up and fails, before anything is written, when
// an immutable tag points at another digest.
func (t *target) planTags(ctx context.Context, digest string) ([]tagPlan, error) {
	var plan []tagPlan
	for _, tag := range t.p.tags {
		cur, _, err := t.current(ctx, t.cfg.Repository, tag)
		if err != nil {
			return nil, err
		}
		if cur != "" && cur != digest && t.immutable(tag) {
			return nil, immutableErr(t.repo, tag, cur, digest)
		}
		plan = append(plan, tagPlan{tag: tag, current: cur})
	}
	return plan, nil
}

func immutableErr(repo name.Repository, tag, current, digest string) error {
	return exitcode.Failedf("tag %s in %s is immutable and points at %s; refusing to point it at %s (nothing was overwritten)", tag, repo, current, digest)
}

// write uploads the blobs and the manifest (by digest); blobs and manifests
// the registry has are skipped, layers are uploaded concurrently.
func (t *target) write(ctx context.Context, art *artifact) error {
	ref := t.repo.Digest(art.digest.String())
	t.deps.Log.Logf("pushing %s (%s)", ref, art.mediaType)
	opts := t.opts
	if art.mounted {
		// Blobs mounted from another repository of the registry move no
		// data, so one at a time costs little; and go-containerregistry
		// v0.20.6 replaces its HTTP client without a lock when it adds the
		// source repository's pull scope, racing with concurrent uploads.
		opts = append(slices.Clone(opts), remote.WithJobs(1))
	}
	var err error
	if art.index != nil {
		err = remote.WriteIndex(ref, art.index, opts...)
	} else {
		err = remote.Write(ref, art.image, opts...)
	}
	if err != nil {
		return registryErr("pushing "+ref.String(), err)
	}
	t.deps.Log.Logf("pushed %s (%d bytes uploaded)", ref, t.counter.bytes())
	return nil
}

// manifestTaggable is a manifest with its exact bytes and media type.
type manifestTaggable struct {
	raw []byte
	mt  types.MediaType
}

func (m manifestTaggable) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m manifestTaggable) MediaType() (types.MediaType, error) { return m.mt, nil }

// tag points tag at the image: through PutImage in ECR (its
// "already exists" answers are success), through a manifest PUT elsewhere.
func (t *target) tag(ctx context.Context, art *artifact, p tagPlan) (TagResult, error) {
	digest := art.digest.String()
	tr := TagResult{Tag: p.tag, Status: tagCreated}
	switch p.current {
	case digest:
		tr.Status = tagUnchanged
		return tr, nil
	case "":
	default:
		tr.Status, tr.Previous = tagMoved, p.current
	}
	if t.ecr {
		_, err := t.deps.ECR.PutImage(ctx, &ecr.PutImageInput{
			RegistryId:             t.regID,
			RepositoryName:         aws.String(t.cfg.Repository),
			ImageManifest:          aws.String(string(art.raw)),
			ImageManifestMediaType: aws.String(string(art.mediaType)),
			ImageDigest:            aws.String(digest),
			ImageTag:               aws.String(p.tag),
		})
		var already *ecrtypes.ImageAlreadyExistsException
		var tagExists *ecrtypes.ImageTagAlreadyExistsException
		switch {
		case err == nil:
			return tr, nil
		case errors.As(err, &already):
			return TagResult{Tag: p.tag, Status: tagUnchanged}, nil
		case errors.As(err, &tagExists):
			return tr, t.tagTaken(ctx, p.tag, digest)
		default:
			return tr, awsErr(fmt.Sprintf("tagging %s as %s (PutImage)", digest, p.tag), err)
		}
	}
	err := remote.Tag(t.repo.Tag(p.tag), manifestTaggable{raw: art.raw, mt: art.mediaType}, t.opts...)
	var terr *transport.Error
	if errors.As(err, &terr) {
		for _, d := range terr.Errors {
			if d.Code == "TAG_INVALID" {
				return tr, t.tagTaken(ctx, p.tag, digest)
			}
		}
	}
	if err != nil {
		return tr, registryErr(fmt.Sprintf("tagging %s as %s", digest, p.tag), err)
	}
	return tr, nil
}

// tagTaken is the error for an immutable tag the registry refused to move
// to digest (set by someone else since it was looked up), naming the
// digest it points at when that can be found.
func (t *target) tagTaken(ctx context.Context, tag, digest string) error {
	cur, _, err := t.current(ctx, t.cfg.Repository, tag)
	if err != nil || cur == "" {
		cur = "another digest"
	}
	return immutableErr(t.repo, tag, cur, digest)
}

// recordSSM writes the tag to the SSM parameter unless it already holds it.
func (t *target) recordSSM(ctx context.Context, value string) error {
	name := t.cfg.SSMParameter
	if t.deps.SSM == nil {
		return exitcode.Incompletef("internal error: no SSM client")
	}
	cur, found, err := t.deps.SSM.GetParameter(ctx, name, false)
	switch {
	case err != nil:
		return awsErr("reading SSM parameter "+name+" (GetParameter)", err)
	case found && cur.Value == value:
		t.deps.Log.Logf("SSM parameter %s already holds %s", name, value)
		return nil
	}
	if err := t.deps.SSM.PutParameter(ctx, name, value, found); err != nil {
		return awsErr("recording the tag in SSM parameter "+name+" (PutParameter)", err)
	}
	t.deps.Log.Logf("SSM parameter %s = %s", name, value)
	return nil
}

// awsErr turns an AWS error (already retried by the SDK) into exit 3.
func awsErr(doing string, err error) error {
	if code := exitcode.Of(err); code != exitcode.Incomplete {
		return err
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return exitcode.Incompletef("%s: %s: %s", doing, api.ErrorCode(), api.ErrorMessage())
	}
	return exitcode.Incompletef("%s: %w", doing, err)
}

// registryErr turns a registry error (already retried) into exit 3.
func registryErr(doing string, err error) error {
	if code := exitcode.Of(err); code != exitcode.Incomplete {
		return err
	}
	return exitcode.Incompletef("%s: %w", doing, err)
}

// manifestDigest returns the digest of a manifest.
func manifestDigest(raw []byte) (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	return h, err
}
