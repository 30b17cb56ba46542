package imagescan

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/urfave/cli/v2"

	"github.com/mlship/mlship/internal/awsconfig"
	"github.com/mlship/mlship/internal/command"
)

const (
	defaultTimeout = 10 * time.Minute
	toolName       = "image-scan"
)

// Command is the image-scan command line.
func Command() *command.Command {
	return newCommand(defaultDeps)
}

// defaultDeps are the real world: ECR through the shared AWS config,
// progress and Trivy's warnings to the step log.
func defaultDeps(rt *command.Runtime) Deps {
	return Deps{
		ECR: func(ctx context.Context, region string) (ECRAPI, error) {
			cfg, err := awsconfig.Load(ctx, toolName, region)
			if err != nil {
				return nil, err
			}
			return ecr.NewFromConfig(cfg), nil
		},
		Log:      rt.Action,
		Mask:     rt.Mask,
		TrivyLog: &logHandler{logf: rt.Logf, level: slog.LevelWarn},
	}
}

func newCommand(deps func(*command.Runtime) Deps) *command.Command {
	return &command.Command{
		Name:  toolName,
		Usage: "scan a container image with embedded Trivy and/or ECR's scanning, behind one severity gate",
		Description: `
Scans an image for known vulnerabilities and fails when a finding reaches
the --fail-on severity. Trivy runs inside the tool (no Trivy binary, no
Docker) on an image in a registry (--image; ECR images are pulled with an
ECR login), an OCI layout (--oci-layout) or a docker save tarball
(--tarball). --scanner ecr reads ECR's own findings for --image instead
(basic scan on push or enhanced scanning), waiting until ECR has finished;
--scanner both does both (Trivy scans --oci-layout or --tarball when given,
else pulls --image). The full report is always written (SARIF for code
scanning, Trivy's JSON, a summary JSON with the same counts for either
scanner); only the gate decides the exit code. A scan that cannot finish
(no vulnerability database, ECR scan failed or unsupported) exits 3 and is
never reported as clean.`,
		Examples: `
image-scan --oci-layout build/image --fail-on HIGH
image-scan --image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/credit-model:build-42 --scanner both --ignore-unfixed
image-scan --tarball app.tar --ignore-file .image-scan-ignore.yaml --fail-on CRITICAL`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "image", Usage: "image in a registry, as `REF` (e.g. ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG); needed for --scanner ecr and both"},
			&cli.StringFlag{Name: "oci-layout", Usage: "OCI image layout `DIR` to scan with Trivy"},
			&cli.StringFlag{Name: "tarball", Usage: "docker save tarball `FILE` to scan with Trivy"},
			&cli.StringFlag{Name: "platform", Value: "linux/amd64", Usage: "platform to scan in a multi-platform image, as `OS/ARCH[/VARIANT]`"},
			&cli.StringFlag{Name: "scanner", Value: ScannerTrivy, Usage: "trivy, ecr (ECR's scan findings) or both"},
			&cli.StringFlag{Name: "fail-on", Value: "HIGH", Usage: "lowest severity that fails: CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN, or NONE to report only"},
			&cli.BoolFlag{Name: "ignore-unfixed", Usage: "do not count findings for which no fix exists"},
			&cli.StringFlag{Name: "ignore-file", Usage: "YAML `FILE` of findings to ignore, each with a reason and optionally an expiry"},
			&cli.StringFlag{Name: "cache-dir", Usage: "Trivy's cache `DIR`: vulnerability database and layer cache (default: ~/.cache/trivy, as the Trivy CLI)"},
			&cli.BoolFlag{Name: "skip-db-update", Usage: "use the vulnerability database in --cache-dir without updating it"},
			&cli.StringSliceFlag{Name: "db-repository", Usage: "OCI `REPOSITORY` of the vulnerability database; several are tried in order (default: mirror.gcr.io/aquasec/trivy-db:2, then ghcr.io/aquasecurity/trivy-db:2)"},
			&cli.DurationFlag{Name: "timeout", Value: defaultTimeout, Usage: "give up after this long, waiting for ECR included"},
			awsconfig.RegionFlag(),
			&cli.StringFlag{Name: "sarif-file", Value: "image-scan.sarif", Usage: "`FILE` to write the SARIF report to"},
			&cli.StringFlag{Name: "json-file", Value: "image-scan.json", Usage: "`FILE` to write the JSON report (Trivy's format) to"},
			&cli.StringFlag{Name: "summary-file", Value: "image-scan-summary.json", Usage: "`FILE` to write the summary JSON to"},
		},
		Outputs: []command.OutputSpec{
			{Name: "critical", Description: "Counted CRITICAL findings."},
			{Name: "high", Description: "Counted HIGH findings."},
			{Name: "medium", Description: "Counted MEDIUM findings."},
			{Name: "low", Description: "Counted LOW findings."},
			{Name: "unknown", Description: "Counted findings without a severity."},
			{Name: "total", Description: "All counted findings (not ignored, not unfixed with ignore-unfixed)."},
			{Name: "passed", Description: "true when the scan finished and no counted finding reaches fail-on."},
			{Name: "sarif-file", Description: "Path of the SARIF report, for github/codeql-action/upload-sarif; empty when no scanner finished."},
			{Name: "json-file", Description: "Path of the JSON report (Trivy's format, both scanners); empty when no scanner finished."},
			{Name: "summary-file", Description: "Path of the summary JSON: issuesBySeverityCount, passed, findings, per scanner."},
		},
		Run: func(ctx context.Context, c *cli.Context, rt *command.Runtime) (command.Result, error) {
			cfg := Config{
				Image:          strings.TrimSpace(c.String("image")),
				OCILayout:      c.String("oci-layout"),
				Tarball:        c.String("tarball"),
				Platform:       c.String("platform"),
				Scanner:        c.String("scanner"),
				FailOn:         c.String("fail-on"),
				IgnoreUnfixed:  c.Bool("ignore-unfixed"),
				IgnoreFile:     c.String("ignore-file"),
				CacheDir:       c.String("cache-dir"),
				SkipDBUpdate:   c.Bool("skip-db-update"),
				DBRepositories: c.StringSlice("db-repository"),
				Timeout:        c.Duration("timeout"),
				Region:         c.String("region"),
				SARIFFile:      c.String("sarif-file"),
				JSONFile:       c.String("json-file"),
				SummaryFile:    c.String("summary-file"),
			}
			plan, err := cfg.Validate()
			if err != nil {
				return nil, err
			}
			return Run(ctx, plan, deps(rt))
		},
	}
}

// logHandler passes Trivy's log records at or above level to logf.
type logHandler struct {
	logf  func(string, ...any)
	level slog.Level
	attrs []slog.Attr
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("trivy: ")
	b.WriteString(strings.ToLower(r.Level.String()))
	b.WriteString(": ")
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		if a.Key != "" && a.Key != "prefix" {
			b.WriteString(" " + a.Key + "=" + a.Value.String())
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.logf("%s", b.String())
	return nil
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{logf: h.logf, level: h.level, attrs: append(append([]slog.Attr{}, h.attrs...), attrs...)}
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }
