package imagescan

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync"

	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	dbtypes "github.com/aquasecurity/trivy-db/pkg/types"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/scan/langpkg"
	"github.com/aquasecurity/trivy/pkg/scan/ospkg"
	"github.com/aquasecurity/trivy/pkg/types"
	"github.com/aquasecurity/trivy/pkg/vulnerability"
	xos "github.com/aquasecurity/trivy/pkg/x/os"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/cache"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/all"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/applier"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/artifact"
	aimage "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/artifact/image"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/handler/all"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/javadb"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/result"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/scan"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/scan/local"

	"github.com/mlship/mlship/internal/exitcode"

	// The RPM databases of Amazon Linux 2023, RHEL 9 and their kin (the
	// Lambda base images) are SQLite files, and so is the Java database:
	// without the driver, as in the Trivy CLI's main, their packages would
	// go unseen and the image would look clean.
	_ "modernc.org/sqlite"
)

// trivyMu serialises Trivy scans in one process: the vulnerability
// database is a package-level handle in trivy-db, and Trivy logs through
// the default slog logger.
var trivyMu sync.Mutex

// trivyScan scans img for vulnerabilities with the database in
// o.CacheDir, the way `trivy image --scanners vuln` does, and returns
// Trivy's report (deduplicated and sorted as the CLI reports it).
func trivyScan(ctx context.Context, img scanImage, o dbOptions, logger *slog.Logger) (types.Report, error) {
	trivyMu.Lock()
	defer trivyMu.Unlock()
	prev := slog.Default()
	slog.SetDefault(logger)
	defer slog.SetDefault(prev)

	if err := openDB(o.CacheDir); err != nil {
		return types.Report{}, err
	}
	defer trivydb.Close()

	// The Java database is fetched only when the image holds JAR files, as
	// the CLI does.
	javaRepos := make([]name.Reference, 0, 2)
	for _, r := range []string{javadb.DefaultGCRRepository, javadb.DefaultGHCRRepository} {
		if ref, err := name.ParseReference(r); err == nil {
			javaRepos = append(javaRepos, ref)
		}
	}
	javadb.Init(o.CacheDir, javaRepos, o.SkipUpdate, true, ftypes.RegistryOptions{})

	c, cleanup, err := cache.NewFS(o.CacheDir)
	if err != nil {
		return types.Report{}, exitcode.Incompletef("opening the scan cache in %s: %w", o.CacheDir, err)
	}
	defer cleanup()

	art, err := aimage.NewArtifact(img, c, artifactOptions())
	if err != nil {
		return types.Report{}, exitcode.Incompletef("preparing the scan of %s: %w", img.Name(), err)
	}
	backend := local.NewService(applier.NewApplier(c), ospkg.NewScanner(), langpkg.NewScanner(),
		vulnerability.NewClient(trivydb.Config{}))
	report, err := scan.NewService(backend, art).ScanArtifact(ctx, types.ScanOptions{
		PkgTypes:            []string{types.PkgTypeOS, types.PkgTypeLibrary},
		PkgRelationships:    ftypes.Relationships,
		Scanners:            types.Scanners{types.VulnerabilityScanner},
		VulnSeveritySources: []dbtypes.SourceID{"auto"},
	})
	if err != nil {
		return types.Report{}, exitcode.Incompletef("scanning %s: %w", img.Name(), err)
	}
	// Deduplicate and sort as the CLI does; every severity is kept, the
	// gate decides.
	for i := range report.Results {
		result.FilterVulnerabilities(&report.Results[i], allSeverities)
	}
	return report, nil
}

var allSeverities = []dbtypes.Severity{dbtypes.SeverityUnknown, dbtypes.SeverityLow, dbtypes.SeverityMedium, dbtypes.SeverityHigh, dbtypes.SeverityCritical}

// artifactOptions are the CLI's for `trivy image --scanners vuln`: lock
// files, secrets, misconfigurations, licence files and executables are not
// analysed.
func artifactOptions() artifact.Option {
	disabled := append([]analyzer.Type{}, analyzer.TypeLockfiles...)
	disabled = append(disabled, analyzer.TypeApkCommand, analyzer.TypeSecret)
	disabled = append(disabled, analyzer.TypeConfigFiles...)
	disabled = append(disabled, analyzer.TypeLicenseFile, analyzer.TypeHistoryDockerfile,
		analyzer.TypeExecutable, analyzer.TypeRpmArchive)
	return artifact.Option{
		DisabledAnalyzers: disabled,
		Parallel:          5,
		NoProgress:        true,
		DetectionPriority: ftypes.PriorityPrecise,
	}
}

// trivyVersion is the embedded Trivy's module version, for reports.
func trivyVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/aquasecurity/trivy" {
				return d.Version
			}
		}
	}
	return "unknown"
}

// RemoveTempFiles removes the temporary directory Trivy keeps for the whole
// process ($TMPDIR/trivy-<pid>), as the Trivy CLI does on its way out. Call
// it once, when no scan runs any more.
func RemoveTempFiles() error {
	return xos.Cleanup()
}
