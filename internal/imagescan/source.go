package imagescan

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// scanImage is an image opened for Trivy: the image and what Trivy's
// artifact asks beyond v1.Image (fanal's types.Image).
type scanImage struct {
	v1.Image
	name        string
	repoTags    []string
	repoDigests []string
}

func (i scanImage) Name() string { return i.name }
func (i scanImage) ID() (string, error) {
	h, err := i.ConfigName()
	if err != nil {
		return "", fmt.Errorf("reading the image ID: %w", err)
	}
	return h.String(), nil
}
func (i scanImage) RepoTags() []string    { return i.repoTags }
func (i scanImage) RepoDigests() []string { return i.repoDigests }

// registryAuth chooses the credentials for a registry host.
type registryAuth func(ctx context.Context, ref name.Reference) (authn.Authenticator, error)

// openRemote resolves ref in its registry, for platform when it is an
// index.
func openRemote(ctx context.Context, ref name.Reference, platform v1.Platform, tr http.RoundTripper, auth registryAuth) (scanImage, error) {
	a, err := auth(ctx, ref)
	if err != nil {
		return scanImage{}, err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(a), remote.WithPlatform(platform)}
	if tr != nil {
		opts = append(opts, remote.WithTransport(tr))
	}
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return scanImage{}, fmt.Errorf("pulling %s: %w", ref, err)
	}
	img, err := desc.Image()
	if err != nil {
		return scanImage{}, fmt.Errorf("pulling %s: %w", ref, err)
	}
	si := scanImage{Image: img, name: ref.String(),
		repoDigests: []string{ref.Context().Name() + "@" + desc.Digest.String()}}
	if t, ok := ref.(name.Tag); ok {
		si.repoTags = []string{ref.Context().Name() + ":" + t.TagStr()}
	}
	return si, nil
}

// openLayout opens the image in an OCI layout: its only image, or the one
// for platform when the layout holds an index or several images.
func openLayout(dir string, platform v1.Platform) (scanImage, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return scanImage{}, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	img, err := pickImage(idx, platform, 0)
	if err != nil {
		return scanImage{}, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	return scanImage{Image: img, name: dir}, nil
}

func pickImage(idx v1.ImageIndex, platform v1.Platform, depth int) (v1.Image, error) {
	if depth > 4 {
		return nil, fmt.Errorf("image indexes nested too deep")
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var candidates []v1.Descriptor
	for _, d := range m.Manifests {
		if !d.MediaType.IsImage() && !d.MediaType.IsIndex() {
			continue // attestations and other artifacts
		}
		if d.Platform != nil && d.Platform.OS == "unknown" {
			continue // buildx attestation manifests
		}
		candidates = append(candidates, d)
	}
	if len(candidates) > 1 {
		var matching []v1.Descriptor
		for _, d := range candidates {
			if d.Platform != nil && d.Platform.Satisfies(platform) {
				matching = append(matching, d)
			}
		}
		if len(matching) == 0 {
			return nil, fmt.Errorf("none of its %d images is for %s", len(candidates), platformString(platform))
		}
		candidates = matching[:1]
	}
	if len(candidates) == 0 {
		return nil, fmt.Errorf("it holds no image")
	}
	d := candidates[0]
	if d.MediaType.IsIndex() {
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, err
		}
		return pickImage(child, platform, depth+1)
	}
	return idx.Image(d.Digest)
}

// openTarball opens a `docker save` tarball holding one image.
func openTarball(path string) (scanImage, error) {
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		return scanImage{}, fmt.Errorf("reading image tarball %s: %w", path, err)
	}
	// Reading the manifest now turns a damaged file into an error here
	// rather than in the middle of the scan.
	if _, err := partial.Descriptor(img); err != nil {
		return scanImage{}, fmt.Errorf("reading image tarball %s: %w", path, err)
	}
	var tags []string
	if m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) }); err == nil && len(m) == 1 {
		tags = m[0].RepoTags
	}
	return scanImage{Image: img, name: path, repoTags: tags}, nil
}

func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

func parsePlatform(s string) (v1.Platform, error) {
	p, err := v1.ParsePlatform(strings.TrimSpace(s))
	if err != nil {
		return v1.Platform{}, err
	}
	if p.OS == "" || p.Architecture == "" {
		return v1.Platform{}, fmt.Errorf("want OS/ARCH[/VARIANT], e.g. linux/amd64")
	}
	return *p, nil
}
