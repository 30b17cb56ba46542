// Package imagescan is the image-scan tool: it scans a container image
// with Trivy embedded as a library (no Trivy binary, no Docker) and/or
// reads Amazon ECR's own scan findings (basic scan on push or enhanced
// scanning), judges every finding with one severity gate and writes SARIF,
// JSON and a summary with the same shape for both scanners.
//
// The shape every tool has: Command reads the flags into a Config;
// Config.Validate checks it once, before any network call, and returns the
// Plan, the checked and parsed values; Run(ctx, plan, deps) does the work
// and returns a plain Result. Run takes nothing else, so it cannot be handed
// a configuration that skipped the checks.
package imagescan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aquasecurity/trivy/pkg/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/awsconfig"
	"github.com/mlship/mlship/internal/ecrref"
	"github.com/mlship/mlship/internal/exitcode"
)

// Scanners.
const (
	ScannerTrivy = "trivy"
	ScannerECR   = "ecr"
	ScannerBoth  = "both"
)

// Config is everything one scan needs.
type Config struct {
	Image     string // image reference in a registry
	OCILayout string // OCI image layout directory
	Tarball   string // `docker save` tarball
	Platform  string // OS/ARCH[/VARIANT] picked from an index

	Scanner       string // trivy, ecr or both
	FailOn        string // lowest failing severity, or NONE
	IgnoreUnfixed bool
	IgnoreFile    string

	CacheDir       string   // Trivy's cache: db/ and the layer cache
	SkipDBUpdate   bool     // use the database in CacheDir as it is
	DBRepositories []string // where the database comes from, in order

	Timeout time.Duration
	Region  string

	SARIFFile, JSONFile, SummaryFile string
}

// maxIndexJSON bounds an OCI layout's index.json: an index of thousands
// of images is a few hundred KiB.
const maxIndexJSON = 4 << 20

// config is Config under another name, so that Plan holds it without
// exporting the field.
type config = Config

// Plan is a checked Config: what Validate makes of it (the values in their
// parsed forms), and the only thing Run takes.
type Plan struct {
	config
	ref      name.Reference // nil without --image
	ecr      ecrref.Image   // --image, when it is in ECR
	isECR    bool
	platform v1.Platform
	failOn   string
	rules    []*IgnoreRule
	checked  bool // made by Validate
}

func (c *Plan) trivy() bool { return c.Scanner == ScannerTrivy || c.Scanner == ScannerBoth }
func (c *Plan) ecrScan() bool {
	return c.Scanner == ScannerECR || c.Scanner == ScannerBoth
}

// badInput is the one form of a bad-input error: the option as the user
// wrote it, its value, then what is wrong.
func badInput(flag, value, format string, a ...any) error {
	return exitcode.BadInputf("--%s %q: %s", flag, value, fmt.Sprintf(format, a...))
}

// Validate checks the configuration before any network call (exit 2 with
// one line naming the input and what is wrong) and returns the plan Run
// carries out.
func (c Config) Validate() (*Plan, error) {
	v := &Plan{config: c}
	v.Scanner = strings.ToLower(strings.TrimSpace(c.Scanner))
	if v.Scanner == "" {
		v.Scanner = ScannerTrivy
	}
	if !slices.Contains([]string{ScannerTrivy, ScannerECR, ScannerBoth}, v.Scanner) {
		return nil, badInput("scanner", c.Scanner, "want trivy, ecr or both")
	}
	if err := awsconfig.CheckRegion(c.Region); err != nil {
		return nil, err
	}
	var err error
	if v.failOn, err = parseFailOn(c.FailOn); err != nil {
		return nil, err
	}
	sources := 0
	for _, s := range []string{c.Image, c.OCILayout, c.Tarball} {
		if s != "" {
			sources++
		}
	}
	if c.Image != "" {
		ref, err := name.ParseReference(c.Image)
		if err != nil {
			return nil, badInput("image", c.Image, "not an image reference (want [REGISTRY/]REPOSITORY[:TAG|@DIGEST])")
		}
		v.ref = ref
		if ecrref.IsHost(ref.Context().RegistryStr()) {
			// An ECR image names its tag or digest: never "latest" by
			// accident. ParseImage's errors start with the reference.
			img, err := ecrref.ParseImage(c.Image)
			if err != nil {
				return nil, exitcode.BadInputf("--image %v", err)
			}
			v.ecr, v.isECR = img, true
		}
	}
	switch {
	case v.Scanner == ScannerTrivy && sources != 1:
		return nil, exitcode.BadInputf("give exactly one image to scan: --image, --oci-layout or --tarball")
	case v.ecrScan() && c.Image == "":
		return nil, exitcode.BadInputf("--scanner %s needs --image naming the image in ECR (ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG or @DIGEST)", v.Scanner)
	case v.ecrScan() && !v.isECR:
		return nil, badInput("image", c.Image, "--scanner %s reads ECR's findings, so the image must be in an ECR registry (ACCOUNT.dkr.ecr.REGION.amazonaws.com/...)", v.Scanner)
	case v.Scanner == ScannerECR && sources != 1:
		return nil, exitcode.BadInputf("--scanner ecr reads ECR's findings for --image; --oci-layout and --tarball are for Trivy")
	case v.Scanner == ScannerBoth && c.OCILayout != "" && c.Tarball != "":
		return nil, exitcode.BadInputf("give Trivy one local copy of the image: --oci-layout or --tarball, not both")
	}
	if c.OCILayout != "" {
		st, err := os.Stat(filepath.Join(c.OCILayout, "index.json"))
		switch {
		case err != nil:
			return nil, badInput("oci-layout", c.OCILayout, "not an OCI image layout (%s)", describeStatErr(err))
		case st.Size() > maxIndexJSON:
			// It is read whole.
			return nil, badInput("oci-layout", c.OCILayout, "index.json is larger than %d MiB", maxIndexJSON>>20)
		}
	}
	if c.Tarball != "" {
		st, err := os.Stat(c.Tarball)
		if err != nil {
			return nil, badInput("tarball", c.Tarball, "%s", describeStatErr(err))
		}
		if st.IsDir() {
			return nil, badInput("tarball", c.Tarball, "is a directory (for an OCI layout use --oci-layout)")
		}
	}
	p := c.Platform
	if p == "" {
		p = "linux/amd64"
	}
	if v.platform, err = parsePlatform(p); err != nil {
		return nil, badInput("platform", c.Platform, "%v", err)
	}
	if c.IgnoreFile != "" {
		if v.rules, err = loadIgnoreFile(c.IgnoreFile); err != nil {
			return nil, err
		}
	}
	if c.Timeout <= 0 {
		return nil, badInput("timeout", c.Timeout.String(), "must be more than zero")
	}
	v.DBRepositories = nil
	for _, r := range c.DBRepositories {
		for _, s := range strings.Split(r, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			if _, err := name.ParseReference(s); err != nil {
				return nil, badInput("db-repository", s, "not a repository reference: %v", err)
			}
			v.DBRepositories = append(v.DBRepositories, s)
		}
	}
	if len(v.DBRepositories) == 0 {
		v.DBRepositories = slices.Clone(DefaultDBRepositories)
	}
	if v.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return nil, exitcode.BadInputf("--cache-dir: not given and no user cache directory: %v", err)
		}
		v.CacheDir = filepath.Join(dir, "trivy")
	}
	for _, f := range []struct{ flag, path string }{{"sarif-file", c.SARIFFile}, {"json-file", c.JSONFile}, {"summary-file", c.SummaryFile}} {
		if f.path == "" {
			return nil, exitcode.BadInputf("--%s: must not be empty", f.flag)
		}
		if st, err := os.Stat(f.path); err == nil && st.IsDir() {
			return nil, badInput(f.flag, f.path, "is a directory")
		}
	}
	v.checked = true
	return v, nil
}

func describeStatErr(err error) string {
	if errors.Is(err, os.ErrNotExist) {
		return "no such file or directory"
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Deps are what Run reaches the world through.
type Deps struct {
	// ECR returns an ECR client for region; it is called only when ECR is
	// used (ECR scan findings, or an --image in ECR).
	ECR func(ctx context.Context, region string) (ECRAPI, error)
	// Transport carries registry requests (nil: the default).
	Transport http.RoundTripper
	// Now is the clock for ignore-file expiry (time.Now when nil).
	Now func() time.Time
	// PollMin and PollMax bound the wait between ECR scan status checks.
	PollMin, PollMax time.Duration
	// DBRetryDelay is the first wait after the database registry answered
	// that it is rate limited.
	DBRetryDelay time.Duration
	// Log prints progress and warnings; text from outside (registry and
	// AWS messages, Trivy's log) goes through it, escaped.
	Log action.Logger
	// Mask hides a secret (the registry password) in all later logs.
	Mask func(string)
	// TrivyLog receives Trivy's own log records (warnings and errors are
	// enough); nil discards them.
	TrivyLog slog.Handler
}

func (d *Deps) defaults() {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.PollMin <= 0 {
		d.PollMin = 5 * time.Second
	}
	if d.PollMax < d.PollMin {
		d.PollMax = max(30*time.Second, d.PollMin)
	}
	if d.DBRetryDelay <= 0 {
		d.DBRetryDelay = 2 * time.Second
	}
	if d.Log == nil {
		d.Log = nopLogger{}
	}
	if d.Mask == nil {
		d.Mask = func(string) {}
	}
	if d.TrivyLog == nil {
		d.TrivyLog = slog.DiscardHandler
	}
}

type nopLogger struct{}

func (nopLogger) Logf(string, ...any)     {}
func (nopLogger) Warningf(string, ...any) {}

// Run scans, judges and writes the reports as the plan says. A scan that
// could not finish returns a Result with Complete false and Passed false
// (the summary file says so), and an exit 3 error; failing findings return
// the Result and an exit 1 error.
func Run(ctx context.Context, v *Plan, deps Deps) (*Result, error) {
	if v == nil || !v.checked {
		return nil, exitcode.Incompletef("internal error: Run needs the plan Config.Validate returns")
	}
	deps.defaults()
	ctx, cancel := context.WithTimeout(ctx, v.Timeout)
	defer cancel()

	res := &Result{
		SchemaVersion: 1,
		Image:         firstNonEmpty(v.Image, v.OCILayout, v.Tarball),
		Scanners:      scannersOf(v),
		FailOn:        v.failOn,
		IgnoreUnfixed: v.IgnoreUnfixed,
		ByScanner:     map[string]*ScannerSummary{},
		Reports:       Reports{SARIF: v.SARIFFile, JSON: v.JSONFile, Summary: v.SummaryFile},
	}

	var ecrClient ECRAPI
	var ecrOnce sync.Once
	var ecrErr error
	getECR := func() (ECRAPI, error) {
		ecrOnce.Do(func() {
			region := v.Region
			if region == "" {
				region = v.ecr.Host.Region
			}
			ecrClient, ecrErr = deps.ECR(ctx, region)
		})
		return ecrClient, ecrErr
	}

	// A local image that cannot be read is bad input: found out before
	// anything else is done.
	var local *scanImage
	if v.trivy() && (v.OCILayout != "" || v.Tarball != "") {
		img, err := openLocal(v)
		if err != nil {
			return nil, err
		}
		local = &img
	}

	var (
		wg        sync.WaitGroup
		trivyRep  *types.Report
		trivyErr  error
		ecrRes    *ecrScan
		ecrScnErr error
	)
	if v.ecrScan() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			api, err := getECR()
			if err != nil {
				ecrScnErr = err
				return
			}
			ecrRes, ecrScnErr = ecrFindings(ctx, api, v.ecr, waitOptions{MinDelay: deps.PollMin, MaxDelay: deps.PollMax, Log: deps.Log})
		}()
	}
	if v.trivy() {
		trivyRep, res.TrivyDB, trivyErr = runTrivy(ctx, v, local, deps, getECR)
	}
	wg.Wait()

	// Findings in report order: Trivy's results, then ECR's.
	var findings []Finding
	full := emptyImageReport(res.Image)
	if trivyRep != nil {
		full = *trivyRep
		findings = append(findings, trivyFindings(*trivyRep)...)
		res.ImageDigest = digestOf(trivyRep.Metadata.RepoDigests)
	}
	if res.ImageDigest == "" && local != nil {
		if d, err := local.Digest(); err == nil {
			res.ImageDigest = d.String()
		}
	}
	if ecrRes != nil && ecrScnErr == nil {
		if ecrRes.Unread > 0 {
			deps.Log.Warningf("%d of ECR's findings for %s have no package details; each is counted by its severity and listed by its title", ecrRes.Unread, short(v.ecr))
		}
		er := ecrResult(v.Image, ecrRes)
		full.Results = append(full.Results, er)
		findings = append(findings, ecrFindingsOf(v.Image, ecrRes)...)
	}
	if ecrRes != nil {
		res.ECR = ecrRes
		if res.ImageDigest == "" {
			res.ImageDigest = ecrRes.ImageDigest
		}
	}

	var errs []error
	if v.trivy() {
		res.ByScanner[ScannerTrivy] = &ScannerSummary{Complete: trivyErr == nil, Version: trivyVersion()}
		if trivyErr != nil {
			errs = append(errs, trivyErr)
		}
	}
	if v.ecrScan() {
		res.ByScanner[ScannerECR] = &ScannerSummary{Complete: ecrScnErr == nil}
		if ecrRes != nil {
			res.ByScanner[ScannerECR].Status = ecrRes.Status
		}
		if ecrScnErr != nil {
			errs = append(errs, ecrScnErr)
		}
	}
	res.Complete = len(errs) == 0
	for _, e := range errs {
		res.Errors = append(res.Errors, e.Error())
	}
	scanErrs := len(errs)

	g := judge(findings, v.rules, v.IgnoreUnfixed, v.failOn, deps.Now())
	res.Findings = slices.Clone(findings)
	sortFindings(res.Findings)
	res.Ignored, res.Unfixed = g.Ignored, g.Unfixed
	res.ExpiredIgnores, res.UnmatchedIgnores = g.Expired, g.Unmatched
	for name, s := range res.ByScanner {
		var mine []Finding
		for _, f := range findings {
			if f.Scanner == name {
				mine = append(mine, f)
			}
		}
		if s.Complete {
			s.IssuesBySeverityCount, s.Total = tally(mine)
		}
	}
	if res.Complete {
		res.IssuesBySeverityCount, res.Total = g.Counts, g.Total
		res.Passed = g.Passed
	}
	for _, r := range g.Expired {
		deps.Log.Warningf("ignore entry for %s expired on %s and no longer ignores it", r.ID, r.Expires)
	}
	for _, r := range g.Unmatched {
		deps.Log.Warningf("ignore entry for %s matches no finding; remove it if it is no longer needed", r.ID)
	}

	// Reports: the summary always (an incomplete scan says so there); the
	// JSON and SARIF reports with what the scanners that finished found,
	// and not at all when none did: an empty SARIF upload would close
	// every open code-scanning alert.
	source := v.IgnoreFile
	withIgn := withIgnored(full, findings, source)
	var trivyPart, ecrPart *types.Report
	if trivyRep != nil {
		trivyPart = subReport(withIgn, func(r types.Result) bool { return isTrivyResult(r, trivyRep) })
	}
	if ecrRes != nil && ecrScnErr == nil {
		ecrPart = subReport(withIgn, func(r types.Result) bool { return r.Target == ecrTarget(v.Image, ecrRes) })
	}
	wrote := trivyPart != nil || ecrPart != nil
	if !wrote {
		res.Reports.SARIF, res.Reports.JSON = "", ""
	}
	// The three reports are written at once: for a large image, encoding
	// them takes as long as the scan.
	var jsonErr, sarifErr error
	var writers sync.WaitGroup
	if wrote {
		writers.Go(func() { jsonErr = writeJSON(ctx, v.JSONFile, withIgn) })
		writers.Go(func() { sarifErr = writeSARIF(ctx, v.SARIFFile, trivyPart, ecrPart) })
	}
	summaryErr := res.writeSummary(v.SummaryFile)
	writers.Wait()
	if jsonErr != nil {
		errs = append(errs, exitcode.Incompletef("writing the JSON report %s: %w", v.JSONFile, jsonErr))
	}
	if sarifErr != nil {
		errs = append(errs, exitcode.Incompletef("writing the SARIF report %s: %w", v.SARIFFile, sarifErr))
	}
	if summaryErr != nil {
		errs = append(errs, exitcode.Incompletef("writing the summary %s: %w", v.SummaryFile, summaryErr))
	}
	if len(errs) > 0 {
		res.Complete, res.Passed = false, false
		res.IssuesBySeverityCount, res.Total = nil, 0
		for _, e := range errs[scanErrs:] {
			res.Errors = append(res.Errors, e.Error())
		}
		return res, errors.Join(errs...)
	}
	if !g.Passed {
		return res, exitcode.Failedf("%s", failLine(g.Failing, v.failOn))
	}
	return res, nil
}

func isTrivyResult(r types.Result, trivyRep *types.Report) bool {
	for _, t := range trivyRep.Results {
		if t.Target == r.Target && t.Class == r.Class {
			return true
		}
	}
	return false
}

// openLocal opens --oci-layout or --tarball.
func openLocal(v *Plan) (scanImage, error) {
	if v.OCILayout != "" {
		img, err := openLayout(v.OCILayout, v.platform)
		if err != nil {
			return scanImage{}, badInput("oci-layout", v.OCILayout, "%v", err)
		}
		return img, nil
	}
	img, err := openTarball(v.Tarball)
	if err != nil {
		return scanImage{}, badInput("tarball", v.Tarball, "%v", err)
	}
	return img, nil
}

// runTrivy pulls the image unless it is local, makes sure of the
// database and scans.
func runTrivy(ctx context.Context, v *Plan, local *scanImage, deps Deps, getECR func() (ECRAPI, error)) (*types.Report, *dbInfo, error) {
	var img scanImage
	if local != nil {
		img = *local
	} else {
		auth := func(ctx context.Context, ref name.Reference) (authn.Authenticator, error) {
			if !v.isECR {
				return authn.DefaultKeychain.Resolve(ref.Context())
			}
			api, err := getECR()
			if err != nil {
				return nil, err
			}
			creds, err := ecrref.Login(ctx, api, v.ecr.Host.Account, deps.Mask)
			if err != nil {
				// Name the registry, and the service's answer when there is
				// one rather than what Login was doing.
				if cause := errors.Unwrap(err); cause != nil {
					err = cause
				}
				return nil, exitcode.Incompletef("logging in to ECR registry %s: %w", v.ecr.Host.Account, err)
			}
			return &authn.Basic{Username: creds.Username, Password: creds.Password}, nil
		}
		deps.Log.Logf("Pulling %s", v.ref)
		var err error
		img, err = openRemote(ctx, v.ref, v.platform, deps.Transport, auth)
		if err != nil {
			var ee *exitcode.Error
			if errors.As(err, &ee) {
				return nil, nil, err
			}
			return nil, nil, exitcode.Incompletef("%w", err)
		}
	}
	o := dbOptions{
		CacheDir: v.CacheDir, SkipUpdate: v.SkipDBUpdate, Repositories: v.DBRepositories,
		Transport: deps.Transport, RetryDelay: deps.DBRetryDelay, Logf: deps.Log.Logf,
	}
	info, err := ensureDB(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	deps.Log.Logf("Scanning %s with Trivy %s (database updated %s)", img.Name(), trivyVersion(), info.UpdatedAt.Format(time.RFC3339))
	rep, err := trivyScan(ctx, img, o, slog.New(deps.TrivyLog))
	if err != nil {
		return nil, &info, err
	}
	return &rep, &info, nil
}

func scannersOf(v *Plan) []string {
	switch v.Scanner {
	case ScannerBoth:
		return []string{ScannerTrivy, ScannerECR}
	}
	return []string{v.Scanner}
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func digestOf(repoDigests []string) string {
	for _, d := range repoDigests {
		if _, dg, ok := strings.Cut(d, "@"); ok {
			return dg
		}
	}
	return ""
}

// failLine is the one line that names the findings that failed the gate.
func failLine(failing []Finding, failOn string) string {
	const show = 5
	parts := make([]string, 0, show)
	sorted := slices.Clone(failing)
	sortFindings(sorted)
	for i, f := range sorted {
		if i == show {
			parts = append(parts, fmt.Sprintf("and %d more", len(sorted)-show))
			break
		}
		parts = append(parts, f.String())
	}
	noun := "findings"
	if len(failing) == 1 {
		noun = "finding"
	}
	return fmt.Sprintf("%d %s at or above %s: %s", len(failing), noun, failOn, strings.Join(parts, ", "))
}
