//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/imagescan"
)

// image-scan --scanner ecr against moto's DescribeImageScanFindings: the
// findings moto reports are counted and gated, and a scan that is missing
// or failed is never a clean result.
func TestImageScanECRFindings(t *testing.T) {
	needMoto(t)
	t.Parallel()
	ctx := context.Background()
	ecrc := ecr.NewFromConfig(awsConfig(t))
	img := buildImage(t)

	// newImage stores img in a new scan-on-push repository. moto does not
	// scan on push; scan starts a scan (moto's finish at once).
	newImage := func(t *testing.T, scan bool) string {
		repo := unique("mlship-it/scan")
		createRepository(t, ecrc, repo, true)
		putImage(t, ecrc, repo, "v1", img)
		if scan {
			if _, err := ecrc.StartImageScan(ctx, &ecr.StartImageScanInput{
				RepositoryName: aws.String(repo), ImageId: &ecrtypes.ImageIdentifier{ImageTag: aws.String("v1")},
			}); err != nil {
				t.Fatalf("StartImageScan: %v", err)
			}
		}
		return repo
	}
	scanRun := func(t *testing.T, repo string, args ...string) (*actiontest.Step, int, map[string]any) {
		dir := t.TempDir()
		summary := filepath.Join(dir, "summary.json")
		step := actiontest.NewStep(t, nil)
		code := step.Run(imagescan.Command(), append([]string{
			"--scanner", "ecr", "--image", registryHost + "/" + repo + ":v1",
			"--sarif-file", filepath.Join(dir, "scan.sarif"), "--json-file", filepath.Join(dir, "scan.json"), "--summary-file", summary,
		}, args...)...)
		var doc map[string]any
		if b, err := os.ReadFile(summary); err == nil {
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Errorf("summary file: %v", err)
			}
		}
		return step, code, doc
	}
	counts := func(t *testing.T, step *actiontest.Step, want map[string]string) {
		t.Helper()
		outs := step.Outputs(t)
		for k, v := range want {
			if outs[k] != v {
				t.Errorf("output %s = %q, want %q\n%s%s", k, outs[k], v, &step.Stdout, &step.Stderr)
			}
		}
	}

	t.Run("moto's default finding", func(t *testing.T) {
		t.Parallel()
		repo := newImage(t, true)
		step, code, summary := scanRun(t, repo, "--fail-on", "HIGH")
		if code != 1 {
			t.Fatalf("exit %d, want 1 (one HIGH finding)\n%s%s", code, &step.Stdout, &step.Stderr)
		}
		counts(t, step, map[string]string{"critical": "0", "high": "1", "total": "1", "passed": "false"})
		if b, _ := json.Marshal(summary); !strings.Contains(string(b), "CVE-9999-9999") {
			t.Errorf("summary file does not list moto's finding: %s", b)
		}
	})

	t.Run("findings set through moto's API", func(t *testing.T) {
		t.Parallel()
		repo := newImage(t, true)
		result := map[string]any{
			"registryId": account, "repositoryName": repo, "imageId": map[string]any{"imageTag": "v1"},
			"imageScanStatus": map[string]any{"status": "COMPLETE", "description": "The scan was completed successfully."},
			"imageScanFindings": map[string]any{
				"imageScanCompletedAt": 1767225600, "vulnerabilitySourceUpdatedAt": 1767225600,
				"findingSeverityCounts": map[string]any{"CRITICAL": 1, "LOW": 1},
				"findings": []any{
					map[string]any{"name": "CVE-2026-0001", "severity": "CRITICAL", "uri": "https://nvd.nist.gov/vuln/detail/CVE-2026-0001",
						"attributes": []any{map[string]any{"key": "package_name", "value": "openssl"}, map[string]any{"key": "package_version", "value": "3.0.1"}}},
					map[string]any{"name": "CVE-2026-0002", "severity": "LOW", "uri": "https://nvd.nist.gov/vuln/detail/CVE-2026-0002",
						"attributes": []any{map[string]any{"key": "package_name", "value": "zlib"}, map[string]any{"key": "package_version", "value": "1.2.13"}}},
				},
			},
		}
		setScanResult(t, result)
		step, code, _ := scanRun(t, repo, "--fail-on", "CRITICAL")
		if code != 1 {
			t.Fatalf("exit %d, want 1 (a CRITICAL finding)\n%s%s", code, &step.Stdout, &step.Stderr)
		}
		counts(t, step, map[string]string{"critical": "1", "high": "0", "low": "1", "total": "2", "passed": "false"})

		step, code, _ = scanRun(t, repo, "--fail-on", "NONE")
		if code != 0 {
			t.Fatalf("--fail-on NONE: exit %d\n%s%s", code, &step.Stdout, &step.Stderr)
		}
		counts(t, step, map[string]string{"critical": "1", "total": "2", "passed": "true"})
	})

	t.Run("no scan", func(t *testing.T) {
		t.Parallel()
		repo := newImage(t, false)
		step, code, _ := scanRun(t, repo)
		if code != 3 || !strings.Contains(step.Stdout.String()+step.Stderr.String(), "ECR has no scan of") {
			t.Errorf("an image never scanned: exit %d, want 3\n%s%s", code, &step.Stdout, &step.Stderr)
		}
	})

	t.Run("failed scan", func(t *testing.T) {
		t.Parallel()
		repo := newImage(t, true)
		setScanResult(t, map[string]any{
			"registryId": account, "repositoryName": repo, "imageId": map[string]any{"imageTag": "v1"},
			"imageScanStatus": map[string]any{"status": "FAILED", "description": "UnsupportedImageError: The operating system is not supported."},
		})
		step, code, _ := scanRun(t, repo, "--fail-on", "NONE")
		if code != 3 || !strings.Contains(step.Stdout.String()+step.Stderr.String(), "gave no findings to trust") {
			t.Errorf("a failed scan with --fail-on NONE: exit %d, want 3\n%s%s", code, &step.Stdout, &step.Stderr)
		}
		counts(t, step, map[string]string{"passed": "false"})
	})
}

// setScanResult makes moto answer DescribeImageScanFindings for the image
// result names with result (moto's /moto-api/static/ecr/scan-finding-results).
func setScanResult(t *testing.T, result map[string]any) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"results": []any{result}, "region": region, "account_id": account})
	if err != nil {
		t.Fatal(err)
	}
	if err := moto.Post(context.Background(), "/moto-api/static/ecr/scan-finding-results", b); err != nil {
		t.Fatal(err)
	}
}
