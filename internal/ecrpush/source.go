package ecrpush

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/mlship/mlship/internal/exitcode"
)

// artifact is the image or index to push, with its manifest exactly as it
// will be stored.
type artifact struct {
	image     v1.Image      // set for an image manifest
	index     v1.ImageIndex // set for an index
	raw       []byte
	mediaType types.MediaType
	digest    v1.Hash
	// inRepo: the manifest and its blobs are in the target repository
	// already (promotion within one repository); nothing is written.
	inRepo bool
	// mounted: the blobs come from another repository of the same
	// registry and are mounted, not uploaded.
	mounted bool
	cleanup func()
}

func (t *target) load(ctx context.Context) (*artifact, error) {
	cfg := t.cfg
	var art *artifact
	var err error
	switch t.p.Source() {
	case "oci-layout":
		art, err = fromLayout(cfg.OCILayout, fmt.Sprintf("--oci-layout %q", cfg.OCILayout))
	case "tarball":
		what := fmt.Sprintf("--tarball %q", cfg.Tarball)
		var img v1.Image
		if img, err = tarball.ImageFromPath(cfg.Tarball, nil); err != nil {
			return nil, exitcode.BadInputf("%s: not a docker save tarball: %v", what, err)
		}
		art, err = fromImage(img, what)
	case "daemon":
		art, err = t.fromDaemon(ctx)
	case "build":
		art, err = t.build(ctx)
	case "promote":
		art, err = t.promoteSource(ctx)
	default:
		err = exitcode.BadInputf("nothing to push")
	}
	if err != nil {
		return nil, err
	}
	if art.cleanup == nil {
		art.cleanup = func() {}
	}
	return art, nil
}

// fromImage reads an image's manifest.
func fromImage(img v1.Image, what string) (*artifact, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return nil, exitcode.BadInputf("%s: reading the image: %v", what, err)
	}
	mt, err := img.MediaType()
	if err != nil || mt == "" {
		mt = mediaTypeOf(raw, types.OCIManifestSchema1)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, exitcode.BadInputf("%s: %v", what, err)
	}
	return &artifact{image: img, raw: raw, mediaType: mt, digest: digest}, nil
}

func fromIndex(idx v1.ImageIndex, what string) (*artifact, error) {
	raw, err := idx.RawManifest()
	if err != nil {
		return nil, exitcode.BadInputf("%s: reading the index: %v", what, err)
	}
	mt, err := idx.MediaType()
	if err != nil || mt == "" {
		mt = mediaTypeOf(raw, types.OCIImageIndex)
	}
	digest, err := idx.Digest()
	if err != nil {
		return nil, exitcode.BadInputf("%s: %v", what, err)
	}
	return &artifact{index: idx, raw: raw, mediaType: mt, digest: digest}, nil
}

// mediaTypeOf reads the mediaType field of a manifest.
func mediaTypeOf(raw []byte, fallback types.MediaType) types.MediaType {
	var m struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	if err := json.Unmarshal(raw, &m); err == nil && m.MediaType != "" {
		return m.MediaType
	}
	return fallback
}

// fromLayout reads an OCI image layout. One image in its index is pushed
// as that image (its digest unchanged); one index is pushed as an index; an
// index.json listing only platform images is itself a multi-platform index.
func fromLayout(dir, what string) (*artifact, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, exitcode.BadInputf("%s: %v", what, err)
	}
	ii, err := p.ImageIndex()
	if err != nil {
		return nil, exitcode.BadInputf("%s: %v", what, err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, exitcode.BadInputf("%s: index.json: %v", what, err)
	}
	// A layout lists an image once per tag it has (its
	// org.opencontainers.image.ref.name): the same digest is one image.
	var unique []v1.Descriptor
	for _, d := range im.Manifests {
		if !slices.ContainsFunc(unique, func(u v1.Descriptor) bool { return u.Digest == d.Digest }) {
			unique = append(unique, d)
		}
	}
	switch len(unique) {
	case 0:
		return nil, exitcode.BadInputf("%s: the layout holds no image", what)
	case 1:
		d := unique[0]
		switch {
		case d.MediaType.IsIndex():
			idx, err := ii.ImageIndex(d.Digest)
			if err != nil {
				return nil, exitcode.BadInputf("%s: %v", what, err)
			}
			return fromIndex(idx, what)
		case d.MediaType.IsImage():
			img, err := ii.Image(d.Digest)
			if err != nil {
				return nil, exitcode.BadInputf("%s: %v", what, err)
			}
			return fromImage(img, what)
		}
		return nil, exitcode.BadInputf("%s: the layout's manifest has media type %q, not an image or index", what, d.MediaType)
	}
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() || d.Platform == nil {
			return nil, exitcode.BadInputf("%s: the layout holds %d manifests that are not the platforms of one image; push one image per layout", what, len(im.Manifests))
		}
	}
	return fromIndex(ii, what)
}

// fromDaemon reads --image from the local Docker daemon with the docker
// command, as docker save does: docker image inspect says whether the
// daemon has it, docker save writes it to a file in the temporary
// directory, and the tarball is pushed. The docker command knows the
// daemon's address, contexts and TLS settings (DOCKER_HOST and the rest).
func (t *target) fromDaemon(ctx context.Context) (*artifact, error) {
	img := t.cfg.Image
	if t.deps.Docker == "" {
		return nil, badInput("image", img, "reading from the Docker daemon needs the docker command on PATH")
	}
	if _, err := t.docker(ctx, "image", "inspect", "--format", "{{.Id}}", img); err != nil {
		if ctx.Err() != nil {
			return nil, exitcode.Incompletef("reading %s from the Docker daemon: %w", img, ctx.Err())
		}
		// docker says "no such image" and "cannot connect" with the same
		// exit code; whether the daemon answers at all tells them apart.
		if _, verr := t.docker(ctx, "version", "--format", "{{.Server.Version}}"); verr != nil {
			return nil, exitcode.Incompletef("reading %s from the Docker daemon: %w", img, verr)
		}
		return nil, badInput("image", img, "the Docker daemon has no such image")
	}
	f, err := os.CreateTemp(t.deps.TempDir, "ecr-push-image-*.tar")
	if err != nil {
		return nil, exitcode.Incompletef("reading %s from the Docker daemon: %w", img, err)
	}
	f.Close()
	cleanup := func() { os.Remove(f.Name()) }
	if _, err := t.docker(ctx, "save", "--output", f.Name(), img); err != nil {
		cleanup()
		return nil, exitcode.Incompletef("reading %s from the Docker daemon: %w", img, err)
	}
	tb, err := tarball.ImageFromPath(f.Name(), nil)
	var art *artifact
	if err == nil {
		art, err = fromImage(tb, "docker save "+img)
	}
	if err != nil {
		cleanup()
		return nil, exitcode.Incompletef("reading %s from the Docker daemon: %w", img, err)
	}
	art.cleanup = cleanup
	return art, nil
}

// docker runs a docker command and returns its output; an error carries
// the last lines docker wrote to stderr.
func (t *target) docker(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, t.deps.Docker, args...)
	cmd.Env = t.deps.DockerEnv
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 4 << 10}
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return out, fmt.Errorf("docker %s: %v: %s", args[0], err, msg)
		}
		return out, fmt.Errorf("docker %s: %w", args[0], err)
	}
	return out, nil
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// dockerArgs returns the docker command line for a build writing an OCI
// layout to dest; with forLog, the build arguments' values are left out
// (they are for settings, but someone will pass a token that way).
func (p *Plan) dockerArgs(dest string, forLog bool) []string {
	cfg := &p.cfg
	args := []string{"buildx", "build", "--output", "type=oci,dest=" + dest + ",tar=false"}
	if cfg.File != "" {
		args = append(args, "--file", cfg.File)
	}
	if cfg.Platform != "" {
		args = append(args, "--platform", cfg.Platform)
	}
	if cfg.Target != "" {
		args = append(args, "--target", cfg.Target)
	}
	for _, a := range p.buildArgs {
		v := a.value
		if forLog {
			v = "***"
		}
		args = append(args, "--build-arg", a.key+"="+v)
	}
	for _, s := range p.secrets {
		args = append(args, "--secret", s)
	}
	if !cfg.Provenance {
		args = append(args, "--provenance=false")
	}
	return append(args, cfg.Context)
}

// errNoBuildx is what a build without docker buildx gets.
var errNoBuildx = "docker buildx is needed for --context (or push an OCI layout/tarball)"

// checkBuildx makes sure docker buildx can run before anything else is
// done: without it docker prints its own usage text and exits 1, long after
// the login.
func (t *target) checkBuildx(ctx context.Context) error {
	if t.deps.Docker == "" {
		return exitcode.BadInputf("%s; no docker command on PATH", errNoBuildx)
	}
	cmd := exec.CommandContext(ctx, t.deps.Docker, "buildx", "version")
	cmd.Env = t.deps.DockerEnv
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return exitcode.Incompletef("checking for docker buildx: %w", ctx.Err())
		}
		return exitcode.BadInputf("%s; `docker buildx version` failed: %v", errNoBuildx, err)
	}
	return nil
}

// build runs docker buildx build into an OCI layout and loads the result.
// docker's output is external text: it reaches the log through the Logger,
// escaped, so a build step cannot issue workflow commands.
func (t *target) build(ctx context.Context) (*artifact, error) {
	dir, err := os.MkdirTemp(t.deps.TempDir, "ecr-push-build-")
	if err != nil {
		return nil, exitcode.Incompletef("building: %w", err)
	}
	cleanup := func() { os.RemoveAll(dir) }
	dest := filepath.Join(dir, "layout")
	for _, v := range t.p.secretValues {
		t.deps.Mask(v)
	}
	t.deps.Log.Logf("running %s %s", t.deps.Docker, strings.Join(t.p.dockerArgs(dest, true), " "))
	cmd := exec.CommandContext(ctx, t.deps.Docker, t.p.dockerArgs(dest, false)...)
	cmd.Env = t.deps.DockerEnv
	out := &lineLogger{logf: t.deps.Log.Logf}
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	out.Flush()
	if err != nil {
		cleanup()
		if ctx.Err() != nil {
			return nil, exitcode.Incompletef("docker buildx build: %w", ctx.Err())
		}
		return nil, exitcode.Failedf("docker buildx build failed: %v", err)
	}
	art, err := fromLayout(dest, "docker buildx build output")
	if err != nil {
		cleanup()
		return nil, exitcode.Incompletef("reading the build output: %w", errors.Unwrap(err))
	}
	art.cleanup = cleanup
	return art, nil
}

// lineLogger hands a program's output to logf a line at a time.
type lineLogger struct {
	mu   sync.Mutex
	logf func(string, ...any)
	buf  []byte
}

func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.logf("%s", strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// Flush logs what is left after the last newline.
func (w *lineLogger) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.logf("%s", string(w.buf))
		w.buf = nil
	}
}

// manifestTypes are the manifest media types a promotion accepts.
var manifestTypes = []string{
	string(types.DockerManifestSchema2), string(types.DockerManifestList),
	string(types.OCIManifestSchema1), string(types.OCIImageIndex),
}

// promoteSource reads the manifest to promote, without any layer: through
// BatchGetImage in ECR, a manifest GET elsewhere. Across repositories the
// blobs are mounted from the source repository when the image is written.
func (t *target) promoteSource(ctx context.Context) (*artifact, error) {
	cfg := t.cfg
	srcRepo := cfg.SourceRepository
	if srcRepo == "" {
		srcRepo = cfg.Repository
	}
	src := srcRepo + ":" + cfg.SourceTag
	art := &artifact{}
	if t.ecr {
		out, err := t.deps.ECR.BatchGetImage(ctx, &ecr.BatchGetImageInput{
			RegistryId: t.regID, RepositoryName: aws.String(srcRepo),
			ImageIds:           []ecrtypes.ImageIdentifier{{ImageTag: aws.String(cfg.SourceTag)}},
			AcceptedMediaTypes: manifestTypes,
		})
		var rnf *ecrtypes.RepositoryNotFoundException
		switch {
		case errors.As(err, &rnf):
			return nil, exitcode.Failedf("promoting %s: repository %s does not exist; nothing promoted", src, srcRepo)
		case err != nil:
			return nil, awsErr("reading "+src+" (BatchGetImage)", err)
		case len(out.Images) == 0:
			reason := "not found"
			if len(out.Failures) > 0 {
				reason = fmt.Sprintf("%s: %s", out.Failures[0].FailureCode, aws.ToString(out.Failures[0].FailureReason))
			}
			return nil, exitcode.Failedf("promoting %s: %s; nothing promoted", src, reason)
		}
		art.raw = []byte(aws.ToString(out.Images[0].ImageManifest))
		art.mediaType = types.MediaType(aws.ToString(out.Images[0].ImageManifestMediaType))
	} else {
		desc, err := remote.Get(t.registry.Repo(srcRepo).Tag(cfg.SourceTag), t.opts...)
		if isNotFound(err) {
			return nil, exitcode.Failedf("promoting %s: not found; nothing promoted", src)
		}
		if err != nil {
			return nil, registryErr("reading "+src, err)
		}
		art.raw, art.mediaType = desc.Manifest, desc.MediaType
	}
	if art.mediaType == "" {
		art.mediaType = mediaTypeOf(art.raw, types.OCIManifestSchema1)
	}
	digest, err := manifestDigest(art.raw)
	if err != nil {
		return nil, exitcode.Incompletef("promoting %s: %w", src, err)
	}
	art.digest = digest
	// The manifest read is the one written, so the digest checked here is
	// the one promoted, whatever the tag points at by then.
	if cfg.SourceDigest != "" && digest.String() != cfg.SourceDigest {
		return nil, exitcode.Failedf("promoting %s: it is %s, not --source-digest %s (the image that was tested); nothing promoted", src, digest, cfg.SourceDigest)
	}
	t.deps.Log.Logf("promoting %s (%s, %s)", src, digest, art.mediaType)
	if srcRepo == cfg.Repository {
		art.inRepo = true
		return art, nil
	}
	// Across repositories: the registry API copies the manifest(s) and
	// mounts the blobs.
	art.mounted = true
	desc, err := remote.Get(t.registry.Repo(srcRepo).Digest(digest.String()), t.opts...)
	if err != nil {
		return nil, registryErr("reading "+srcRepo+"@"+digest.String(), err)
	}
	if desc.MediaType.IsIndex() {
		art.index, err = desc.ImageIndex()
	} else {
		art.image, err = desc.Image()
	}
	if err != nil {
		return nil, registryErr("reading "+srcRepo+"@"+digest.String(), err)
	}
	return art, nil
}
