package trivytest

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// APK is one installed Alpine package.
type APK struct {
	Name    string
	Version string
	Origin  string // source package; the name when empty
}

// AlpineRelease is the release of AlpineImage.
const AlpineRelease = "3.21.3"

// AlpinePackages are the packages installed in AlpineImage. Against
// AlpineFixture they have six findings: CVE-2099-0001 in libcrypto3 and in
// libssl3 (CRITICAL, fixed in 3.3.2-r5), CVE-2099-0002 in busybox (HIGH, no
// fix), CVE-2099-0003 in busybox (LOW), CVE-2099-0004 in zlib (MEDIUM) and
// CVE-2099-0006 in ca-certificates (no severity: UNKNOWN). musl is already
// past the fix of CVE-2099-0005.
var AlpinePackages = []APK{
	{Name: "musl", Version: "1.2.5-r9"},
	{Name: "busybox", Version: "1.37.0-r8"},
	{Name: "libcrypto3", Version: "3.3.2-r4", Origin: "openssl"},
	{Name: "libssl3", Version: "3.3.2-r4", Origin: "openssl"},
	{Name: "zlib", Version: "1.3.1-r2"},
	{Name: "ca-certificates", Version: "20241121-r1"},
}

// AlpineImage returns a linux/amd64 image whose one layer is an Alpine-like
// root file system: /etc/alpine-release and /lib/apk/db/installed listing
// pkgs. extra files (path -> content) are added to the layer.
func AlpineImage(pkgs []APK, extra map[string]string) (v1.Image, error) {
	var db strings.Builder
	for _, p := range pkgs {
		origin := p.Origin
		if origin == "" {
			origin = p.Name
		}
		fmt.Fprintf(&db, "C:Q1%s=\nP:%s\nV:%s\nA:x86_64\nS:1024\nI:4096\nT:%s package\nU:https://alpinelinux.org\nL:MIT\no:%s\nm:Fixture <fixture@example.com>\nt:1735689600\n\n",
			strings.Repeat("A", 27), p.Name, p.Version, p.Name, origin)
	}
	files := []tarFile{
		{name: "etc/", dir: true, mode: 0o755},
		{name: "etc/alpine-release", body: []byte(AlpineRelease + "\n"), mode: 0o644},
		{name: "etc/os-release", body: []byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=" + AlpineRelease + "\n"), mode: 0o644},
		{name: "lib/", dir: true, mode: 0o755},
		{name: "lib/apk/", dir: true, mode: 0o755},
		{name: "lib/apk/db/", dir: true, mode: 0o755},
		{name: "lib/apk/db/installed", body: []byte(db.String()), mode: 0o644},
	}
	for path, body := range extra {
		files = append(files, tarFile{name: strings.TrimPrefix(path, "/"), body: []byte(body), mode: 0o644})
	}
	raw, err := tarBytes(files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
			CreatedBy: "ADD alpine-minirootfs.tar.gz /",
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cf.Config.Cmd = []string{"/bin/sh"}
	return mutate.ConfigFile(img, cf)
}

// WriteOCILayout writes img to an OCI image layout at dir, tagged tag.
func WriteOCILayout(dir string, img v1.Image, tag string) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": tag,
	}))
}

// WriteTarball writes img as a `docker save` tarball at path, tagged ref.
func WriteTarball(path string, img v1.Image, ref string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, tag, img)
}
