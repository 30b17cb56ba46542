// Package trivy_test checks the copies of Trivy's packages under this
// directory against Trivy's own: the same analyzers and handlers, the same
// cache keys' ingredients and the same findings on a fixture image. It is
// the only place that links Trivy's full analyzer set (Helm, Kubernetes,
// OPA); image-scan does not.
package trivy_test

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	dbtypes "github.com/aquasecurity/trivy-db/pkg/types"
	ucache "github.com/aquasecurity/trivy/pkg/cache"
	uanalyzer "github.com/aquasecurity/trivy/pkg/fanal/analyzer"
	_ "github.com/aquasecurity/trivy/pkg/fanal/analyzer/all"
	uapplier "github.com/aquasecurity/trivy/pkg/fanal/applier"
	uartifact "github.com/aquasecurity/trivy/pkg/fanal/artifact"
	uimage "github.com/aquasecurity/trivy/pkg/fanal/artifact/image"
	uhandler "github.com/aquasecurity/trivy/pkg/fanal/handler"
	_ "github.com/aquasecurity/trivy/pkg/fanal/handler/all"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	uresult "github.com/aquasecurity/trivy/pkg/result"
	uscan "github.com/aquasecurity/trivy/pkg/scan"
	"github.com/aquasecurity/trivy/pkg/scan/langpkg"
	ulocal "github.com/aquasecurity/trivy/pkg/scan/local"
	"github.com/aquasecurity/trivy/pkg/scan/ospkg"
	"github.com/aquasecurity/trivy/pkg/types"
	"github.com/aquasecurity/trivy/pkg/vulnerability"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/mlship/mlship/internal/imagescan/internal/trivy/cache"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/all"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/applier"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/artifact"
	aimage "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/artifact/image"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/handler"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/handler/all"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/result"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/scan"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/scan/local"
	"github.com/mlship/mlship/internal/trivytest"
)

// disabled is what image-scan (internal/imagescan's artifactOptions) and
// `trivy image --scanners vuln` disable.
func disabled() []string {
	d := append([]uanalyzer.Type{}, uanalyzer.TypeLockfiles...)
	d = append(d, uanalyzer.TypeApkCommand, uanalyzer.TypeSecret)
	d = append(d, uanalyzer.TypeConfigFiles...)
	d = append(d, uanalyzer.TypeLicenseFile, uanalyzer.TypeHistoryDockerfile,
		uanalyzer.TypeExecutable, uanalyzer.TypeRpmArchive)
	out := make([]string, len(d))
	for i, t := range d {
		out[i] = string(t)
	}
	return out
}

func ours(ts []string) []analyzer.Type {
	out := make([]analyzer.Type, len(ts))
	for i, t := range ts {
		out[i] = analyzer.Type(t)
	}
	return out
}

func upstream(ts []string) []uanalyzer.Type {
	out := make([]uanalyzer.Type, len(ts))
	for i, t := range ts {
		out[i] = uanalyzer.Type(t)
	}
	return out
}

func TestAnalyzersAsTrivy(t *testing.T) {
	d := disabled()
	ug, err := uanalyzer.NewAnalyzerGroup(uanalyzer.AnalyzerOptions{Group: uanalyzer.GroupBuiltin, DisabledAnalyzers: upstream(d)})
	if err != nil {
		t.Fatal(err)
	}
	og, err := analyzer.NewAnalyzerGroup(analyzer.AnalyzerOptions{Group: analyzer.GroupBuiltin, DisabledAnalyzers: ours(d)})
	if err != nil {
		t.Fatal(err)
	}
	uv, ov := ug.AnalyzerVersions(), og.AnalyzerVersions()
	if !maps.Equal(uv.Analyzers, ov.Analyzers) || !maps.Equal(uv.PostAnalyzers, ov.PostAnalyzers) {
		t.Errorf("analyzers differ from Trivy's:\ntrivy: %v %v\nours:  %v %v", uv.Analyzers, uv.PostAnalyzers, ov.Analyzers, ov.PostAnalyzers)
	}
	if len(ov.Analyzers) == 0 || len(ov.PostAnalyzers) == 0 {
		t.Errorf("no analyzers registered: %v", ov)
	}

	ucg, err := uanalyzer.NewConfigAnalyzerGroup(uanalyzer.ConfigAnalyzerOptions{DisabledAnalyzers: upstream(d)})
	if err != nil {
		t.Fatal(err)
	}
	ocg, err := analyzer.NewConfigAnalyzerGroup(analyzer.ConfigAnalyzerOptions{DisabledAnalyzers: ours(d)})
	if err != nil {
		t.Fatal(err)
	}
	if u, o := ucg.AnalyzerVersions(), ocg.AnalyzerVersions(); !maps.Equal(u.Analyzers, o.Analyzers) {
		t.Errorf("image config analyzers differ: trivy %v, ours %v", u.Analyzers, o.Analyzers)
	}

	// The CLI disables the unpackaged handler unless SBOMs come from Rekor;
	// the copy does not have it.
	um, err := uhandler.NewManager(uartifact.Option{DisabledHandlers: []ftypes.HandlerType{ftypes.UnpackagedPostHandler}})
	if err != nil {
		t.Fatal(err)
	}
	om, err := handler.NewManager(artifact.Option{})
	if err != nil {
		t.Fatal(err)
	}
	if u, o := um.Versions(), om.Versions(); !maps.Equal(u, o) || len(o) == 0 {
		t.Errorf("post handlers differ: trivy %v, ours %v", u, o)
	}
}

type image struct{ v1.Image }

func (i image) Name() string { return "parity.example.com/model:1" }
func (i image) ID() (string, error) {
	h, err := i.ConfigName()
	return h.String(), err
}
func (i image) RepoTags() []string    { return []string{i.Name()} }
func (i image) RepoDigests() []string { return nil }

const pipFixture = `- bucket: pip::GitHub Security Advisory pip
  pairs:
    - bucket: parity-model-lib
      pairs:
        - key: GHSA-pari-ty00-0001
          value:
            PatchedVersions: ["1.0.0"]
            VulnerableVersions: ["< 1.0.0"]
- bucket: data-source
  pairs:
    - key: pip::GitHub Security Advisory pip
      value: {ID: ghsa, Name: GitHub Security Advisory pip, URL: "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Apip"}
- bucket: vulnerability
  pairs:
    - key: GHSA-pari-ty00-0001
      value:
        Title: "parity-model-lib: test vulnerability"
        Severity: HIGH
`

func TestFindingsAsTrivy(t *testing.T) {
	dir := t.TempDir()
	fx := filepath.Join(dir, "pip.yaml")
	if err := os.WriteFile(fx, []byte(pipFixture), 0o600); err != nil {
		t.Fatal(err)
	}
	cacheDir := filepath.Join(dir, "cache")
	if err := trivytest.WriteDB(cacheDir, trivytest.AlpineFixture, fx); err != nil {
		t.Fatal(err)
	}
	img, err := trivytest.AlpineImage(trivytest.AlpinePackages, map[string]string{
		"usr/lib/python3.12/site-packages/parity_model_lib-0.9.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: parity-model-lib\nVersion: 0.9.0\nLicense: MIT\n",
		"usr/lib/python3.12/site-packages/other_lib-2.0.0.dist-info/METADATA":        "Metadata-Version: 2.1\nName: other-lib\nVersion: 2.0.0\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := trivydb.Init(filepath.Join(cacheDir, "db")); err != nil {
		t.Fatal(err)
	}
	defer trivydb.Close()

	ctx := context.Background()
	opts := types.ScanOptions{
		PkgTypes:            []string{types.PkgTypeOS, types.PkgTypeLibrary},
		PkgRelationships:    ftypes.Relationships,
		Scanners:            types.Scanners{types.VulnerabilityScanner},
		VulnSeveritySources: []dbtypes.SourceID{"auto"},
	}
	sevs := []dbtypes.Severity{dbtypes.SeverityUnknown, dbtypes.SeverityLow, dbtypes.SeverityMedium, dbtypes.SeverityHigh, dbtypes.SeverityCritical}
	d := disabled()

	// Trivy's own packages.
	uc, err := ucache.NewFSCache(filepath.Join(dir, "trivy-cache"))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uart, err := uimage.NewArtifact(image{img}, uc, uartifact.Option{DisabledAnalyzers: upstream(d), Parallel: 5, NoProgress: true,
		DetectionPriority: ftypes.PriorityPrecise, DisabledHandlers: []ftypes.HandlerType{ftypes.UnpackagedPostHandler}})
	if err != nil {
		t.Fatal(err)
	}
	ureport, err := uscan.NewService(ulocal.NewService(uapplier.NewApplier(uc), ospkg.NewScanner(), langpkg.NewScanner(),
		vulnerability.NewClient(trivydb.Config{})), uart).ScanArtifact(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ureport.Results {
		if err := uresult.FilterResult(ctx, &ureport.Results[i], uresult.IgnoreConfig{}, uresult.FilterOptions{Severities: sevs}); err != nil {
			t.Fatal(err)
		}
	}

	// The copies.
	oc, err := cache.NewFSCache(filepath.Join(dir, "our-cache"))
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	oart, err := aimage.NewArtifact(image{img}, oc, artifact.Option{DisabledAnalyzers: ours(d), Parallel: 5, NoProgress: true,
		DetectionPriority: ftypes.PriorityPrecise})
	if err != nil {
		t.Fatal(err)
	}
	oreport, err := scan.NewService(local.NewService(applier.NewApplier(oc), ospkg.NewScanner(), langpkg.NewScanner(),
		vulnerability.NewClient(trivydb.Config{})), oart).ScanArtifact(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range oreport.Results {
		result.FilterVulnerabilities(&oreport.Results[i], sevs)
	}

	u, o := normalise(t, ureport), normalise(t, oreport)
	if u != o {
		t.Errorf("reports differ:\ntrivy: %s\nours:  %s", u, o)
	}
	var n int
	for _, r := range oreport.Results {
		n += len(r.Vulnerabilities)
	}
	if n != 7 {
		t.Errorf("%d findings, want the fixture's 7 (6 Alpine, 1 pip): %s", n, o)
	}
}

// normalise is the report as JSON with findings in a total order (Trivy's
// severity sort leaves ties in map order) and the creation time cleared.
func normalise(t *testing.T, r types.Report) string {
	t.Helper()
	r.CreatedAt = time.Time{}
	for i := range r.Results {
		slices.SortFunc(r.Results[i].Vulnerabilities, func(a, b types.DetectedVulnerability) int {
			return cmp.Or(cmp.Compare(a.VulnerabilityID, b.VulnerabilityID), cmp.Compare(a.PkgName, b.PkgName), cmp.Compare(a.PkgPath, b.PkgPath))
		})
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
