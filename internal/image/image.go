// Package image builds mlship's container image without a Docker engine:
// an empty image, a base layer (users, /tmp, the home directory), a layer
// of CA roots and a layer with the tools in /usr/local/bin, for each
// platform, joined in one OCI image index and written to an OCI image
// layout. It uses go-containerregistry's own append and mutate API.
//
// The image has no shell and no package manager: every tool is a static Go
// binary (CGO_ENABLED=0), and the only other files are /etc/passwd,
// /etc/group, the CA bundle and the directories the tools write to.
package image

import (
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where things are in the image.
const (
	BinDir  = "/usr/local/bin"
	Home    = "/home/nonroot"
	CAFile  = "/etc/ssl/certs/ca-certificates.crt"
	UID     = 65532 // the "nonroot" user of distroless images
	User    = "65532:65532"
	EnvPath = "PATH=" + BinDir
)

// OCI annotation and label keys.
const (
	LabelSource      = "org.opencontainers.image.source"
	LabelVersion     = "org.opencontainers.image.version"
	LabelRevision    = "org.opencontainers.image.revision"
	LabelCreated     = "org.opencontainers.image.created"
	LabelTitle       = "org.opencontainers.image.title"
	LabelDescription = "org.opencontainers.image.description"
	LabelLicenses    = "org.opencontainers.image.licenses"
	RefName          = "org.opencontainers.image.ref.name"
)

// Platform is one platform of the image and the folder that holds its
// tools' binaries, one file per tool named as the tool.
type Platform struct {
	v1.Platform
	BinDir string
}

// Config says what to build.
type Config struct {
	Tools     []string // the tools' names, in the order of the layer
	Platforms []Platform
	Version   string // org.opencontainers.image.version
	Revision  string // the git commit: org.opencontainers.image.revision
	Source    string // the repository URL: org.opencontainers.image.source
	// Created is the time of every file and of the image (the commit's
	// time, so that a build can be repeated byte for byte).
	Created time.Time
}

// Image is what Build made: the index and each platform's image.
type Image struct {
	Index  v1.ImageIndex
	Images []v1.Image // in the order of Config.Platforms
	cfg    Config
}

// ParsePlatform reads "linux/amd64" or "linux/arm64" (arm64 gets the
// variant v8, as registries and runtimes expect).
func ParsePlatform(s string) (v1.Platform, error) {
	p, err := v1.ParsePlatform(s)
	if err != nil {
		return v1.Platform{}, err
	}
	if p.OS != "linux" {
		return v1.Platform{}, fmt.Errorf("platform %q: the image is for linux", s)
	}
	if _, ok := elfMachines[p.Architecture]; !ok {
		return v1.Platform{}, fmt.Errorf("platform %q: want linux/amd64 or linux/arm64", s)
	}
	if p.Architecture == "arm64" && p.Variant == "" {
		p.Variant = "v8"
	}
	return *p, nil
}

var elfMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// Build builds the image for every platform of cfg. Each tool's binary is
// checked first: an ELF executable for the platform's architecture, built
// by Go for linux with CGO_ENABLED=0 (nothing in the image could load a C
// library). The layers are written to files in tmp while they are built.
func Build(cfg Config, tmp string) (*Image, error) {
	if len(cfg.Tools) == 0 || len(cfg.Platforms) == 0 {
		return nil, fmt.Errorf("building the image: no tools or no platforms")
	}
	if cfg.Version == "" || cfg.Revision == "" || cfg.Source == "" {
		return nil, fmt.Errorf("building the image: version, revision and source are needed for its labels")
	}
	created := cfg.Created.UTC().Truncate(time.Second)
	cfg.Created = created
	base, err := baseLayer(tmp, created)
	if err != nil {
		return nil, err
	}
	certs, err := caLayer(tmp, created)
	if err != nil {
		return nil, err
	}
	labels := cfg.labels()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	out := &Image{cfg: cfg}
	seen := map[string]bool{}
	for _, p := range cfg.Platforms {
		if seen[p.String()] {
			return nil, fmt.Errorf("building the image: platform %s given twice", p)
		}
		seen[p.String()] = true
		var files []file
		for _, tool := range cfg.Tools {
			path := filepath.Join(p.BinDir, tool)
			if err := checkBinary(path, p.Platform); err != nil {
				return nil, err
			}
			files = append(files, file{name: strings.TrimPrefix(BinDir, "/") + "/" + tool, src: path, mode: 0o755})
		}
		tools, err := writeLayer(tmp, "tools-"+p.OS+"-"+p.Architecture, created, append(dirs("usr/local/bin"), files...))
		if err != nil {
			return nil, err
		}
		img, err := platformImage(cfg, p.Platform, labels, []addendum{
			{base, "base: /etc/passwd, /etc/group, " + Home + ", /tmp"},
			{certs, "CA roots: " + CAFile + " (" + caSource() + ")"},
			{tools, "tools: " + strings.Join(cfg.Tools, ", ") + " in " + BinDir},
		})
		if err != nil {
			return nil, err
		}
		plat := p.Platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &plat}})
		out.Images = append(out.Images, img)
	}
	out.Index = mutate.Annotations(idx, labels).(v1.ImageIndex)
	return out, nil
}

func (cfg Config) labels() map[string]string {
	return map[string]string{
		LabelSource:      cfg.Source,
		LabelVersion:     cfg.Version,
		LabelRevision:    cfg.Revision,
		LabelCreated:     cfg.Created.Format(time.RFC3339),
		LabelTitle:       "mlship",
		LabelDescription: "mlship's tools (" + strings.Join(cfg.Tools, ", ") + ") for container steps: Argo Workflows, Kubeflow Pipelines, any runner",
		LabelLicenses:    "MIT",
	}
}

type addendum struct {
	layer   v1.Layer
	comment string
}

func platformImage(cfg Config, p v1.Platform, labels map[string]string, layers []addendum) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var adds []mutate.Addendum
	for _, l := range layers {
		adds = append(adds, mutate.Addendum{
			Layer:     l.layer,
			MediaType: types.OCILayer,
			History:   v1.History{Created: v1.Time{Time: cfg.Created}, CreatedBy: "mlship image build", Comment: l.comment},
		})
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("building the %s image: %w", p, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("building the %s image: %w", p, err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: cfg.Created}
	cf.Author = cfg.Source
	cf.Config = v1.Config{
		Env:        []string{EnvPath, "HOME=" + Home, "SSL_CERT_FILE=" + CAFile},
		User:       User,
		WorkingDir: Home,
		Labels:     labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("building the %s image: %w", p, err)
	}
	return img, nil
}

// checkBinary checks that path is a Go binary that runs in the image on p.
func checkBinary(path string, p v1.Platform) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("tool binary %s: not an ELF executable for linux (build it with GOOS=linux): %w", path, err)
	}
	machine := f.Machine
	f.Close()
	if want := elfMachines[p.Architecture]; machine != want {
		return fmt.Errorf("tool binary %s: built for %s, not %s (build it with GOARCH=%s)", path, machine, p.Architecture, p.Architecture)
	}
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return fmt.Errorf("tool binary %s: no Go build information: %w", path, err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	switch {
	case settings["GOOS"] != "linux" || settings["GOARCH"] != p.Architecture:
		return fmt.Errorf("tool binary %s: built for %s/%s, not %s", path, settings["GOOS"], settings["GOARCH"], p)
	case settings["CGO_ENABLED"] != "0":
		return fmt.Errorf("tool binary %s: built with cgo; the image has no C library (build with CGO_ENABLED=0)", path)
	}
	return nil
}

// WriteLayout writes the image to an OCI image layout in dir (emptied
// first): index.json lists the image index once for each tag, with the tag
// as its org.opencontainers.image.ref.name.
func (im *Image) WriteLayout(dir string, tags []string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("writing the OCI layout %s: %w", dir, err)
	}
	if len(tags) == 0 {
		tags = []string{""}
	}
	for i, tag := range slices.Compact(slices.Clone(tags)) {
		var opts []layout.Option
		if tag != "" {
			opts = append(opts, layout.WithAnnotations(map[string]string{RefName: tag}))
		}
		if i == 0 {
			err = p.AppendIndex(im.Index, opts...)
		} else {
			// The blobs are there: only index.json gets another entry.
			var desc *v1.Descriptor
			if desc, err = indexDescriptor(im.Index); err == nil {
				desc.Annotations = map[string]string{RefName: tag}
				err = p.AppendDescriptor(*desc)
			}
		}
		if err != nil {
			return fmt.Errorf("writing the OCI layout %s: %w", dir, err)
		}
	}
	return nil
}

func indexDescriptor(idx v1.ImageIndex) (*v1.Descriptor, error) {
	mt, err := idx.MediaType()
	if err != nil {
		return nil, err
	}
	d, err := idx.Digest()
	if err != nil {
		return nil, err
	}
	size, err := idx.Size()
	if err != nil {
		return nil, err
	}
	return &v1.Descriptor{MediaType: mt, Digest: d, Size: size}, nil
}
