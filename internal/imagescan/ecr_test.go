package imagescan

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/mlship/mlship/internal/ecrfake"
	"github.com/mlship/mlship/internal/exitcode"
)

// testManifest is an image manifest for the fake (blobs are not checked).
func testManifest(n int) []byte {
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%064x","size":10},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%064x","size":100}]}`, n, n+1000)
}

func basic(id, sev, pkg, version string) ecrtypes.ImageScanFinding {
	return ecrtypes.ImageScanFinding{
		Name: aws.String(id), Severity: ecrtypes.FindingSeverity(sev), Uri: aws.String("https://example.com/" + id),
		Description: aws.String(id + " description"),
		Attributes: []ecrtypes.Attribute{
			{Key: aws.String("package_name"), Value: aws.String(pkg)},
			{Key: aws.String("package_version"), Value: aws.String(version)},
		},
	}
}

func enhanced(id, sev, pkg, version, release, fixed, fixAvailable string) ecrtypes.EnhancedImageScanFinding {
	return ecrtypes.EnhancedImageScanFinding{
		Severity: aws.String(sev), Title: aws.String(id + " - " + pkg), FixAvailable: aws.String(fixAvailable),
		PackageVulnerabilityDetails: &ecrtypes.PackageVulnerabilityDetails{
			VulnerabilityId: aws.String(id), SourceUrl: aws.String("https://example.com/" + id),
			VulnerablePackages: []ecrtypes.VulnerablePackage{{
				Name: aws.String(pkg), Version: aws.String(version), Release: aws.String(release), FixedInVersion: aws.String(fixed),
			}},
		},
	}
}

// ecrImage stores an image in the fake with a scripted scan and returns
// the config that reads ECR's findings for it.
func ecrImage(t *testing.T, f *ecrfake.Fake, scan ecrfake.Scan) Config {
	t.Helper()
	if _, err := f.AddImage("credit-model", testManifest(1), "build-42"); err != nil {
		t.Fatal(err)
	}
	if err := f.SetScan("credit-model", "build-42", scan); err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig(t)
	cfg.OCILayout, cfg.Scanner, cfg.Image = "", ScannerECR, f.Host()+"/credit-model:build-42"
	return cfg
}

func TestECRBasicScanWaitsForCompletion(t *testing.T) {
	t.Parallel()
	f := ecrfake.New()
	cfg := ecrImage(t, f, ecrfake.Scan{
		Statuses: []ecrtypes.ScanStatus{"IN_PROGRESS", "IN_PROGRESS", "COMPLETE"},
		Unfilled: 1,
		Findings: []ecrtypes.ImageScanFinding{
			basic("CVE-2099-0001", "CRITICAL", "openssl", "3.3.2-r4"),
			basic("CVE-2099-0007", "INFORMATIONAL", "musl", "1.2.5-r9"),
			basic("CVE-2099-0008", "UNDEFINED", "zlib", "1.3.1-r2"),
		},
	})
	res, err := runConfig(context.Background(), cfg, testDeps(t, f))
	if exitcode.Of(err) != exitcode.Failed {
		t.Fatalf("exit %d (%v), want 1", exitcode.Of(err), err)
	}
	// IN_PROGRESS twice, COMPLETE without findings once, then COMPLETE.
	if n := f.Calls("DescribeImageScanFindings"); n != 4 {
		t.Errorf("DescribeImageScanFindings called %d times, want 4", n)
	}
	want := []Finding{
		{Scanner: "ecr", ID: "CVE-2099-0001", Package: "openssl", InstalledVersion: "3.3.2-r4", Fix: "unknown", Severity: "CRITICAL", Title: "CVE-2099-0001"},
		{Scanner: "ecr", ID: "CVE-2099-0007", Package: "musl", InstalledVersion: "1.2.5-r9", Fix: "unknown", Severity: "LOW", Title: "CVE-2099-0007"},
		{Scanner: "ecr", ID: "CVE-2099-0008", Package: "zlib", InstalledVersion: "1.3.1-r2", Fix: "unknown", Severity: "UNKNOWN", Title: "CVE-2099-0008"},
	}
	if got := essentials(res.Findings); !reflect.DeepEqual(got, want) {
		t.Errorf("findings\n got %+v\nwant %+v", got, want)
	}
	if res.Findings[0].Target != f.Host()+"/credit-model:build-42 (ECR basic scan)" {
		t.Errorf("target %q", res.Findings[0].Target)
	}
	wantCounts := map[string]int{"CRITICAL": 1, "HIGH": 0, "MEDIUM": 0, "LOW": 1, "UNKNOWN": 1}
	if !reflect.DeepEqual(res.IssuesBySeverityCount, wantCounts) || res.ECR.Status != "COMPLETE" || res.ECR.Type != "BASIC" {
		t.Errorf("counts %v, ecr %+v", res.IssuesBySeverityCount, res.ECR)
	}
	if res.ECR.ImageDigest != ecrfake.Digest(testManifest(1)) {
		t.Errorf("digest %q", res.ECR.ImageDigest)
	}
}

func TestECREnhancedScanAndPages(t *testing.T) {
	t.Parallel()
	f := ecrfake.New()
	var many []ecrtypes.EnhancedImageScanFinding
	for i := range 1203 {
		many = append(many, enhanced(fmt.Sprintf("CVE-2099-%04d", 1000+i), "MEDIUM", "pkg", "1.0", "r0", "1.1", "YES"))
	}
	many = append(many,
		enhanced("CVE-2099-0002", "HIGH", "busybox", "1.37.0", "r8", "NotAvailable", "NO"),
		enhanced("CVE-2099-0009", "UNTRIAGED", "busybox", "1.37.0", "r8", "", ""))
	cfg := ecrImage(t, f, ecrfake.Scan{Type: ecrtypes.ScanTypeEnhanced, EnhancedFindings: many})
	cfg.IgnoreUnfixed = true
	res, err := runConfig(context.Background(), cfg, testDeps(t, f))
	if err != nil {
		t.Fatalf("Run: %v (the only HIGH has no fix and --ignore-unfixed is set)", err)
	}
	// PENDING, ACTIVE with the first 1000 findings, then the other 205.
	if n := f.Calls("DescribeImageScanFindings"); n != 3 {
		t.Errorf("DescribeImageScanFindings called %d times, want 3", n)
	}
	if len(res.Findings) != 1205 || res.ECR.Type != "ENHANCED" || res.ECR.Status != "ACTIVE" {
		t.Fatalf("%d findings, scan %+v", len(res.Findings), res.ECR)
	}
	high := res.Findings[0]
	if high.ID != "CVE-2099-0002" || high.InstalledVersion != "1.37.0-r8" || high.FixedVersion != "" || high.Fix != "none" || high.Status != StatusUnfixed {
		t.Errorf("unfixed finding %+v", high)
	}
	wantCounts := map[string]int{"CRITICAL": 0, "HIGH": 0, "MEDIUM": 1203, "LOW": 0, "UNKNOWN": 1}
	if !reflect.DeepEqual(res.IssuesBySeverityCount, wantCounts) || res.Unfixed != 1 || !res.Passed {
		t.Errorf("counts %v unfixed %d passed %t", res.IssuesBySeverityCount, res.Unfixed, res.Passed)
	}
}

// TestECRFailsClosed: every state that gives no findings to trust is exit
// 3 with passed=false and no counts, never a clean scan.
func TestECRFailsClosed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		scan  *ecrfake.Scan
		want  string
		calls int
	}{
		{"failed", &ecrfake.Scan{Statuses: []ecrtypes.ScanStatus{"IN_PROGRESS", "FAILED"}}, "ECR scan status FAILED: The image scan failed.", 2},
		{"unsupported image", &ecrfake.Scan{Statuses: []ecrtypes.ScanStatus{"IN_PROGRESS", "UNSUPPORTED_IMAGE"}}, "UNSUPPORTED_IMAGE: UnsupportedImageError", 2},
		{"eligibility expired", &ecrfake.Scan{Type: ecrtypes.ScanTypeEnhanced, Statuses: []ecrtypes.ScanStatus{"SCAN_ELIGIBILITY_EXPIRED"}}, "SCAN_ELIGIBILITY_EXPIRED", 1},
		{"findings unavailable", &ecrfake.Scan{Type: ecrtypes.ScanTypeEnhanced, Statuses: []ecrtypes.ScanStatus{"PENDING", "FINDINGS_UNAVAILABLE"}}, "FINDINGS_UNAVAILABLE", 2},
		{"limit exceeded", &ecrfake.Scan{Statuses: []ecrtypes.ScanStatus{"LIMIT_EXCEEDED"}}, "LIMIT_EXCEEDED", 1},
		{"unknown status", &ecrfake.Scan{Statuses: []ecrtypes.ScanStatus{"SOMETHING_NEW"}}, "SOMETHING_NEW", 1},
		{"no scan", nil, "ECR has no scan of credit-model:build-42 (ScanNotFoundException)", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := ecrfake.New()
			var cfg Config
			if tt.scan != nil {
				cfg = ecrImage(t, f, *tt.scan)
			} else {
				cfg = ecrImage(t, f, ecrfake.Scan{})
				if err := f.RemoveScan("credit-model", "build-42"); err != nil {
					t.Fatal(err)
				}
			}
			res, err := runConfig(context.Background(), cfg, testDeps(t, f))
			if exitcode.Of(err) != exitcode.Incomplete {
				t.Fatalf("exit %d (%v), want 3", exitcode.Of(err), err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want %q in it", err, tt.want)
			}
			if res.Passed || res.Complete || res.IssuesBySeverityCount != nil {
				t.Errorf("passed %t complete %t counts %v", res.Passed, res.Complete, res.IssuesBySeverityCount)
			}
			var sum Result
			readJSON(t, cfg.SummaryFile, &sum)
			if sum.Passed || sum.Complete || sum.IssuesBySeverityCount != nil || len(sum.Errors) != 1 || !strings.Contains(sum.Errors[0], tt.want) {
				t.Errorf("summary file: passed %t complete %t counts %v errors %q", sum.Passed, sum.Complete, sum.IssuesBySeverityCount, sum.Errors)
			}
			if n := f.Calls("DescribeImageScanFindings"); n != tt.calls {
				t.Errorf("DescribeImageScanFindings called %d times, want %d", n, tt.calls)
			}
		})
	}
}

// TestECRWaitTimesOut: a scan that stays IN_PROGRESS ends with the
// timeout, after more than one check. The bounds are generous (a second
// for checks 50 ms apart) so that a loaded machine still makes two.
func TestECRWaitTimesOut(t *testing.T) {
	t.Parallel()
	f := ecrfake.New()
	cfg := ecrImage(t, f, ecrfake.Scan{Statuses: []ecrtypes.ScanStatus{"IN_PROGRESS"}})
	cfg.Timeout = time.Second
	deps := testDeps(t, f)
	deps.PollMin, deps.PollMax = 50*time.Millisecond, 50*time.Millisecond
	res, err := runConfig(context.Background(), cfg, deps)
	if exitcode.Of(err) != exitcode.Incomplete || !strings.Contains(err.Error(), "last status IN_PROGRESS") {
		t.Fatalf("exit %d: %v; want 3 naming the last status", exitcode.Of(err), err)
	}
	if res.Passed || f.Calls("DescribeImageScanFindings") < 2 {
		t.Errorf("passed %t after %d checks", res.Passed, f.Calls("DescribeImageScanFindings"))
	}
}

func TestECRThrottlingAndAccessDenied(t *testing.T) {
	t.Parallel()
	f := ecrfake.New()
	cfg := ecrImage(t, f, ecrfake.Scan{})
	f.FailAlways("DescribeImageScanFindings", ecrfake.AccessDenied("DescribeImageScanFindings"))
	_, err := runConfig(context.Background(), cfg, testDeps(t, f))
	if exitcode.Of(err) != exitcode.Incomplete || !strings.Contains(err.Error(), "AccessDeniedException") {
		t.Fatalf("exit %d: %v", exitcode.Of(err), err)
	}
}

// TestBothScanners scans the layout with Trivy while reading ECR's
// findings for the same image; a vulnerability both report in the same
// package and version counts once.
func TestBothScanners(t *testing.T) {
	t.Parallel()
	f := ecrfake.New()
	fx := getFixture(t)
	cfg := ecrImage(t, f, ecrfake.Scan{Findings: []ecrtypes.ImageScanFinding{
		basic("CVE-2099-0001", "HIGH", "libcrypto3", "3.3.2-r4"), // Trivy says CRITICAL
		basic("CVE-2099-0010", "MEDIUM", "openssl", "3.3.2-r4"),
	}})
	cfg.Scanner, cfg.OCILayout = ScannerBoth, fx.layout
	res, err := runConfig(context.Background(), cfg, testDeps(t, f))
	if exitcode.Of(err) != exitcode.Failed {
		t.Fatalf("exit %d: %v", exitcode.Of(err), err)
	}
	if len(res.Findings) != 8 {
		t.Fatalf("%d findings, want 6 from Trivy and 2 from ECR", len(res.Findings))
	}
	want := map[string]int{"CRITICAL": 2, "HIGH": 1, "MEDIUM": 2, "LOW": 1, "UNKNOWN": 1}
	if !reflect.DeepEqual(res.IssuesBySeverityCount, want) || res.Total != 7 {
		t.Errorf("counts %v total %d", res.IssuesBySeverityCount, res.Total)
	}
	if c := res.ByScanner["ecr"].IssuesBySeverityCount; c["HIGH"] != 1 || c["MEDIUM"] != 1 || res.ByScanner["ecr"].Total != 2 {
		t.Errorf("ecr counts %v", c)
	}
	if res.ByScanner["trivy"].Total != 6 {
		t.Errorf("trivy total %d", res.ByScanner["trivy"].Total)
	}
	var sarif struct {
		Runs []struct {
			Tool struct {
				Driver struct{ Name string } `json:"driver"`
			} `json:"tool"`
			Results []any `json:"results"`
		} `json:"runs"`
	}
	readJSON(t, cfg.SARIFFile, &sarif)
	if len(sarif.Runs) != 2 || sarif.Runs[0].Tool.Driver.Name != "Trivy" || sarif.Runs[1].Tool.Driver.Name != "Amazon ECR image scanning" ||
		len(sarif.Runs[0].Results) != 6 || len(sarif.Runs[1].Results) != 2 {
		t.Errorf("sarif runs %+v", sarif.Runs)
	}
}
