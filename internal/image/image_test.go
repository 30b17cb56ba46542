package image

import (
	"archive/tar"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

var created = time.Date(2026, 11, 3, 10, 4, 5, 0, time.UTC)

// tinyTools builds a small Go program for linux/arch under two tool names,
// once per architecture for the whole test binary.
var tinyTools = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "mlship-image-tools-")
	if err != nil {
		return "", err
	}
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"tiny\") }\n"), 0o644); err != nil {
		return "", err
	}
	for _, arch := range []string{"amd64", "arm64"} {
		out := filepath.Join(dir, "linux-"+arch)
		for _, tool := range []string{"alpha", "beta"} {
			if err := goBuild(filepath.Join(out, tool), dir, arch, "main.go"); err != nil {
				return "", err
			}
		}
	}
	return dir, nil
})

func goBuild(out, dir, arch string, args ...string) error {
	cmd := exec.Command(goCommand(), append([]string{"build", "-trimpath", "-o", out}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return errors.New(string(b))
	}
	return nil
}

func goCommand() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func tinyConfig(t *testing.T) Config {
	t.Helper()
	dir, err := tinyTools()
	if err != nil {
		t.Fatalf("building the test programs: %v", err)
	}
	amd, _ := ParsePlatform("linux/amd64")
	arm, _ := ParsePlatform("linux/arm64")
	return Config{
		Tools:     []string{"alpha", "beta"},
		Platforms: []Platform{{amd, filepath.Join(dir, "linux-amd64")}, {arm, filepath.Join(dir, "linux-arm64")}},
		Version:   "v9.8.7",
		Revision:  "0123456789abcdef0123456789abcdef01234567",
		Source:    "https://github.com/mlship/mlship",
		Created:   created,
	}
}

// entries reads the image's file system as a container runtime would lay
// it out: the layers flattened.
func entries(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out["/"+strings.TrimSuffix(h.Name, "/")] = entry{h: h, data: b}
	}
	return out
}

type entry struct {
	h    *tar.Header
	data []byte
}

func TestParsePlatform(t *testing.T) {
	t.Parallel()
	p, err := ParsePlatform("linux/arm64")
	if err != nil || p.Architecture != "arm64" || p.Variant != "v8" {
		t.Errorf("linux/arm64: %+v %v", p, err)
	}
	for _, bad := range []string{"windows/amd64", "linux/s390x", "darwin/arm64"} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// The layout holds one index of both platforms under each tag; each image
// is the tools on the minimal base, runs as nonroot with PATH set, and
// carries the labels; the arm64 image holds arm64 binaries.
func TestBuildAndLayout(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig(t)
	img, err := Build(cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	if err := img.WriteLayout(dir, []string{"v9.8.7", "v1"}); err != nil {
		t.Fatal(err)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Index.Digest()
	var refs []string
	for _, d := range im.Manifests {
		if d.Digest != want || d.MediaType != types.OCIImageIndex {
			t.Errorf("index.json lists %s %s, want the index %s", d.MediaType, d.Digest, want)
		}
		refs = append(refs, d.Annotations[RefName])
	}
	if !slices.Equal(refs, []string{"v9.8.7", "v1"}) {
		t.Errorf("ref names %q", refs)
	}
	idx, err := top.ImageIndex(want)
	if err != nil {
		t.Fatal(err)
	}
	man, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if man.Annotations[LabelRevision] != cfg.Revision || man.Annotations[LabelSource] != cfg.Source {
		t.Errorf("index annotations %v", man.Annotations)
	}
	if len(man.Manifests) != 2 {
		t.Fatalf("the index has %d images, want 2", len(man.Manifests))
	}
	for i, d := range man.Manifests {
		plat := cfg.Platforms[i].Platform
		if d.Platform == nil || !d.Platform.Equals(plat) || d.MediaType != types.OCIManifestSchema1 {
			t.Errorf("image %d: %s platform %v, want %v", i, d.MediaType, d.Platform, plat)
		}
		pi, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkImage(t, pi, cfg, plat)
	}
}

func checkImage(t *testing.T, img v1.Image, cfg Config, plat v1.Platform) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.OS != "linux" || cf.Architecture != plat.Architecture || cf.Variant != plat.Variant {
		t.Errorf("%s: config says %s/%s/%s", plat, cf.OS, cf.Architecture, cf.Variant)
	}
	if c.User != "65532:65532" || c.WorkingDir != "/home/nonroot" || !slices.Contains(c.Env, "PATH=/usr/local/bin") || !slices.Contains(c.Env, "HOME=/home/nonroot") {
		t.Errorf("%s: user %q, workdir %q, env %q", plat, c.User, c.WorkingDir, c.Env)
	}
	for k, v := range map[string]string{LabelSource: cfg.Source, LabelVersion: cfg.Version, LabelRevision: cfg.Revision, LabelCreated: "2026-11-03T10:04:05Z"} {
		if c.Labels[k] != v {
			t.Errorf("%s: label %s = %q, want %q", plat, k, c.Labels[k], v)
		}
	}
	if !cf.Created.Time.Equal(created) {
		t.Errorf("%s: created %v", plat, cf.Created)
	}
	files := entries(t, img)
	for _, tool := range cfg.Tools {
		e, ok := files["/usr/local/bin/"+tool]
		if !ok {
			t.Errorf("%s: no /usr/local/bin/%s", plat, tool)
			continue
		}
		if e.h.Mode != 0o755 || e.h.Uid != 0 || !e.h.ModTime.Equal(created) {
			t.Errorf("%s: %s mode %o uid %d time %v", plat, tool, e.h.Mode, e.h.Uid, e.h.ModTime)
		}
		f, err := elf.NewFile(strings.NewReader(string(e.data)))
		if err != nil {
			t.Fatalf("%s: %s: %v", plat, tool, err)
		}
		if f.Machine != elfMachines[plat.Architecture] {
			t.Errorf("%s: %s is built for %s", plat, tool, f.Machine)
		}
	}
	if !strings.Contains(string(files["/etc/passwd"].data), "nonroot:x:65532:65532:") {
		t.Errorf("%s: /etc/passwd %q", plat, files["/etc/passwd"].data)
	}
	if h := files["/home/nonroot"].h; h == nil || h.Typeflag != tar.TypeDir || h.Uid != UID || h.Gid != UID {
		t.Errorf("%s: /home/nonroot %+v", plat, h)
	}
	if h := files["/tmp"].h; h == nil || h.Mode != 0o1777 {
		t.Errorf("%s: /tmp %+v", plat, h)
	}
	ca := files[CAFile]
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.data) {
		t.Fatalf("%s: %s holds no certificate", plat, CAFile)
	}
	if got, want := countPEM(ca.data), unconstrainedRoots(); got != want || got < 100 {
		t.Errorf("%s: %s holds %d certificates, want the %d unconstrained roots of the NSS bundle", plat, CAFile, got, want)
	}
}

func countPEM(b []byte) int {
	n := 0
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return n
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err == nil {
			n++
		}
	}
}

func unconstrainedRoots() int {
	n := 0
	for r := range bundle.Roots() {
		if r.Constraint == nil {
			n++
		}
	}
	return n
}

// The same binaries and configuration make the same image, byte for byte.
func TestBuildIsReproducible(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig(t)
	a, err := Build(cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Index.Digest()
	db, _ := b.Index.Digest()
	if da != db {
		t.Errorf("two builds: %s and %s", da, db)
	}
	cfg.Revision = "fedcba9876543210fedcba9876543210fedcba98"
	c, err := Build(cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if dc, _ := c.Index.Digest(); dc == da {
		t.Errorf("another revision made the same image %s", dc)
	}
}

func TestBuildRefusesBinaries(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig(t)
	// The amd64 binaries in the arm64 image.
	wrongArch := cfg
	wrongArch.Platforms = slices.Clone(cfg.Platforms)
	wrongArch.Platforms[1].BinDir = cfg.Platforms[0].BinDir
	notELF := t.TempDir()
	for _, tool := range cfg.Tools {
		if err := os.WriteFile(filepath.Join(notELF, tool), []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	scripts := cfg
	scripts.Platforms = []Platform{{cfg.Platforms[0].Platform, notELF}}
	missing := cfg
	missing.Tools = append(slices.Clone(cfg.Tools), "gamma")
	noRevision := cfg
	noRevision.Revision = ""
	twice := cfg
	twice.Platforms = []Platform{cfg.Platforms[0], cfg.Platforms[0]}
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"wrong architecture", wrongArch, "built for EM_X86_64, not arm64"},
		{"not a Go binary", scripts, "not an ELF executable"},
		{"missing binary", missing, "gamma"},
		{"no revision", noRevision, "revision"},
		{"platform twice", twice, "given twice"},
	} {
		if _, err := Build(tt.cfg, t.TempDir()); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestSBOM(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig(t)
	img, err := Build(cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := img.SBOM("ghcr.io/mlship/mlship")
	if err != nil {
		t.Fatal(err)
	}
	var doc spdxDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Index.Digest()
	if doc.SPDXVersion != "SPDX-2.3" || doc.DataLicense != "CC0-1.0" || !strings.HasSuffix(doc.DocumentNamespace, digest.Hex) {
		t.Errorf("document %s %s %s", doc.SPDXVersion, doc.DataLicense, doc.DocumentNamespace)
	}
	ids := map[string]spdxPackage{}
	for _, p := range doc.Packages {
		if _, dup := ids[p.SPDXID]; dup {
			t.Errorf("SPDXID %s twice", p.SPDXID)
		}
		ids[p.SPDXID] = p
	}
	if p := ids["SPDXRef-image"]; p.PrimaryPurpose != "CONTAINER" || p.Checksums[0].Value != digest.Hex {
		t.Errorf("image package %+v", p)
	}
	for _, plat := range cfg.Platforms {
		for _, tool := range cfg.Tools {
			p, ok := ids[spdxID("binary", tool, "linux", plat.Architecture)]
			sum, _ := fileSHA256(filepath.Join(plat.BinDir, tool))
			if !ok || len(p.Checksums) != 1 || p.Checksums[0].Value != sum {
				t.Errorf("%s on %s: %+v, want SHA-256 %s", tool, plat, p, sum)
			}
		}
	}
	std := spdxID("go", "stdlib", strings.TrimPrefix(runtime.Version(), "go"))
	if p, ok := ids[std]; !ok || p.ExternalRefs[0].Locator != "pkg:golang/stdlib@"+strings.TrimPrefix(runtime.Version(), "go") {
		t.Errorf("the standard library: %+v", p)
	}
	// A test binary has no module versions in its build information; the
	// mkimage test checks the CA module's version.
	if ca := ids[caModule().SPDXID]; ca.PrimaryPurpose != "DATA" || !strings.HasPrefix(ca.ExternalRefs[0].Locator, "pkg:golang/"+fallbackModule) {
		t.Errorf("the CA module: %+v", ca)
	}
	var describes, depends int
	for _, r := range doc.Relationships {
		for _, id := range []string{r.Element, r.Related} {
			if _, ok := ids[id]; !ok && id != "SPDXRef-DOCUMENT" {
				t.Errorf("relationship %+v names %s, not a package", r, id)
			}
		}
		switch r.Type {
		case "DESCRIBES":
			describes++
		case "DEPENDS_ON":
			depends++
		}
	}
	if describes != 1 || depends < 4 {
		t.Errorf("%d DESCRIBES and %d DEPENDS_ON relationships", describes, depends)
	}
}

// mkimage, as make image runs it: the layout, and an SBOM that names the
// CA roots' module at the version go.mod requires.
func TestMkimage(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig(t)
	bin := filepath.Join(t.TempDir(), "mkimage")
	cmd := exec.Command(goCommand(), "build", "-o", bin, "./internal/image/mkimage")
	cmd.Dir = repoRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building mkimage: %v\n%s", err, b)
	}
	out := filepath.Join(t.TempDir(), "oci")
	sbomFile := filepath.Join(t.TempDir(), "sbom.spdx.json")
	args := []string{"-out", out, "-name", "ghcr.io/mlship/mlship", "-version", cfg.Version, "-revision", cfg.Revision,
		"-created", "1793700245", "-tools", "alpha,beta", "-tag", "v9.8.7", "-tag", "v9", "-sbom", sbomFile}
	for _, p := range cfg.Platforms {
		args = append(args, "-platform", p.OS+"/"+p.Architecture+"="+p.BinDir)
	}
	r := run(t, exec.Command(bin, args...))
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ghcr.io/mlship/mlship@sha256:") {
		t.Fatalf("mkimage: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	p, err := layout.FromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 2 || !strings.Contains(r.stdout, im.Manifests[0].Digest.String()) {
		t.Fatalf("index.json %+v %v; mkimage said %s", im, err, r.stdout)
	}
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var version string
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == fallbackModule {
			version = f[1]
		}
	}
	sbom, err := os.ReadFile(sbomFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"pkg:golang/` + fallbackModule + "@" + version + `"`; version == "" || !strings.Contains(string(sbom), want) {
		t.Errorf("the SBOM does not name %s (go.mod has %q)", want, version)
	}
	for _, bad := range [][]string{
		{"-out", out, "-tools", "alpha", "-created", "x", "-platform", "linux/amd64=" + cfg.Platforms[0].BinDir},
		{"-out", out, "-tools", "alpha", "-created", "1", "-platform", "linux/amd64"},
		{"-out", out, "-tools", "alpha", "-created", "1", "-platform", "linux/riscv64=" + cfg.Platforms[0].BinDir},
	} {
		if r := run(t, exec.Command(bin, bad...)); r.code == 0 {
			t.Errorf("mkimage %q: exit 0", bad)
		}
	}
}
