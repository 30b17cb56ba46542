package ecrpush

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Bounds on what --label-equals reads from a registry: an image config is a
// few KiB, and an index lists a handful of platforms.
const (
	maxConfigSize    = 8 << 20
	maxIndexPlatform = 64
)

// compareLabels answers --label-equals: whether the image under every tag
// has every label with the value asked for. A missing repository or tag,
// a label the image does not have or one with another value is a change
// (exit 0, changed=true: build it); for an index every platform image must
// have the labels. What could not be read is not a change of either kind:
// the run stops with exit 3.
func (t *target) compareLabels(ctx context.Context, res *Result) (*Result, error) {
	changed := false
	res.Changed = &changed
	var missing []string
	for _, tag := range t.p.tags {
		digest := ""
		if !t.repoMissing {
			d, noRepo, err := t.current(ctx, t.cfg.Repository, tag)
			if err != nil {
				return nil, err
			}
			t.repoMissing = noRepo
			digest = d
		}
		if digest == "" {
			missing = append(missing, tag)
			res.TagResults = append(res.TagResults, TagResult{Tag: tag, Status: tagMissing})
			changed = true
			continue
		}
		res.TagResults = append(res.TagResults, TagResult{Tag: tag, Status: tagFound})
		if res.ImageDigest == "" {
			res.ImageDigest = digest
			res.ImageRef = t.repo.Digest(digest).String()
		}
		ref := t.repo.Digest(digest)
		images, err := t.labelsOf(ref)
		if err != nil {
			return nil, err
		}
		if res.Labels == nil && len(images) > 0 {
			res.Labels = map[string]string{}
			for _, l := range t.p.labels {
				if v, ok := images[0].labels[l.key]; ok {
					res.Labels[l.key] = v
				}
			}
		}
		if len(images) == 0 {
			t.deps.Log.Logf("tag %s (%s): an index without platform images has no labels: changed", tag, digest)
			changed = true
		}
		for _, im := range images {
			for _, l := range t.p.labels {
				v, ok := im.labels[l.key]
				switch {
				case !ok:
					t.deps.Log.Logf("tag %s (%s%s): no label %s: changed", tag, digest, im.platform, l.key)
					changed = true
				case v != l.value:
					t.deps.Log.Logf("tag %s (%s%s): label %s is %q, not %q: changed", tag, digest, im.platform, l.key, v, l.value)
					changed = true
				}
			}
		}
	}
	switch {
	case t.repoMissing:
		t.deps.Log.Logf("repository %s does not exist in registry %s: changed", t.cfg.Repository, t.host)
		res.TagResults = nil
		for _, tag := range t.p.tags {
			res.TagResults = append(res.TagResults, TagResult{Tag: tag, Status: tagMissing})
		}
	case len(missing) > 0:
		t.deps.Log.Logf("%s has no tag %s: changed", t.repo, strings.Join(missing, ", "))
	case !changed:
		t.deps.Log.Logf("the image under %s has %s: unchanged", strings.Join(t.p.tags, ", "), describeLabels(t.p.labels))
	}
	res.Exists = !t.repoMissing && len(missing) == 0
	return res, nil
}

func describeLabels(ls []label) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, l.key+"="+l.value)
	}
	return strings.Join(parts, ", ")
}

type imageLabels struct {
	platform string // " linux/amd64" for an index's image, "" for an image
	labels   map[string]string
}

// labelsOf reads the labels of the image ref names, or of each platform
// image of the index it names (attestation manifests, whose platform is
// unknown/unknown, left out).
func (t *target) labelsOf(ref name.Digest) ([]imageLabels, error) {
	what := "reading the labels of " + ref.String()
	desc, err := remote.Get(ref, t.opts...)
	if err != nil {
		return nil, registryErr(what, err)
	}
	if !desc.MediaType.IsIndex() {
		img, err := desc.Image()
		if err != nil {
			return nil, registryErr(what, err)
		}
		l, err := configLabels(img)
		if err != nil {
			return nil, registryErr(what, err)
		}
		return []imageLabels{{labels: l}}, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, registryErr(what, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, registryErr(what, err)
	}
	var out []imageLabels
	for _, m := range im.Manifests {
		if !m.MediaType.IsImage() || m.Platform == nil || m.Platform.OS == "unknown" {
			continue
		}
		if len(out) == maxIndexPlatform {
			return nil, registryErr(what, fmt.Errorf("the index lists more than %d platform images", maxIndexPlatform))
		}
		img, err := idx.Image(m.Digest)
		if err != nil {
			return nil, registryErr(what, err)
		}
		l, err := configLabels(img)
		if err != nil {
			return nil, registryErr(fmt.Sprintf("%s (%s)", what, m.Platform), err)
		}
		out = append(out, imageLabels{platform: " " + m.Platform.String(), labels: l})
	}
	return out, nil
}

// configLabels reads an image's config, of bounded size, for its labels.
func configLabels(img v1.Image) (map[string]string, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	if m.Config.Size > maxConfigSize {
		return nil, fmt.Errorf("the image config is %d bytes, more than %d MiB", m.Config.Size, maxConfigSize>>20)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	return cf.Config.Labels, nil
}
