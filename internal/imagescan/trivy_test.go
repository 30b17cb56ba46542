package imagescan

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/mlship/mlship/internal/ecrfake"
	"github.com/mlship/mlship/internal/exitcode"
)

// TestTrivyFindsTheFixtureVulnerabilities scans the same image from each
// source Trivy reads and checks the exact findings and the gate.
func TestTrivyFindsTheFixtureVulnerabilities(t *testing.T) {
	t.Parallel()
	f := getFixture(t)

	plain := httptest.NewServer(quietRegistry())
	t.Cleanup(plain.Close)
	plainRef := strings.TrimPrefix(plain.URL, "http://") + "/models/credit:1.0"
	pushImage(t, plainRef, f.img)

	fake := ecrfake.New()
	reg, tr := ecrRegistry(t, fake)
	if _, err := fake.CreateRepository(context.Background(), createRepo("credit-model", false)); err != nil {
		t.Fatal(err)
	}
	ecrRef := fake.Host() + "/credit-model:build-42"
	pushImage(t, ecrRef, f.img, remote.WithTransport(tr))
	reg.RequireAuth = true // from now on only with the ECR login

	tests := []struct {
		name   string
		set    func(*Config)
		deps   func(*Deps)
		target string
	}{
		{"oci layout", func(c *Config) {}, nil, f.layout},
		{"tarball", func(c *Config) { c.OCILayout, c.Tarball = "", f.tarball }, nil, f.tarball},
		{"registry", func(c *Config) { c.OCILayout, c.Image = "", plainRef }, nil, plainRef},
		{"ecr registry", func(c *Config) { c.OCILayout, c.Image = "", ecrRef }, func(d *Deps) { d.Transport = tr }, ecrRef},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig(t)
			tt.set(&cfg)
			deps := testDeps(t, fake)
			var masked []string
			deps.Mask = func(s string) { masked = append(masked, s) }
			if tt.deps != nil {
				tt.deps(&deps)
			}
			res, err := runConfig(context.Background(), cfg, deps)
			if code := exitcode.Of(err); code != exitcode.Failed {
				t.Fatalf("exit %d (%v), want 1: a CRITICAL and a HIGH finding fail at HIGH", code, err)
			}
			if got := essentials(res.Findings); !reflect.DeepEqual(got, wantTrivy) {
				t.Errorf("findings:\n got %+v\nwant %+v", got, wantTrivy)
			}
			for _, fd := range res.Findings {
				if !strings.HasPrefix(fd.Target, tt.target+" (alpine 3.21.3)") {
					t.Errorf("target %q, want %q (alpine 3.21.3)", fd.Target, tt.target)
				}
			}
			want := map[string]int{"CRITICAL": 2, "HIGH": 1, "MEDIUM": 1, "LOW": 1, "UNKNOWN": 1}
			if !reflect.DeepEqual(res.IssuesBySeverityCount, want) || res.Total != 6 || res.Passed || !res.Complete {
				t.Errorf("counts %v total %d passed %t complete %t", res.IssuesBySeverityCount, res.Total, res.Passed, res.Complete)
			}
			wantErr := "3 findings at or above HIGH: CVE-2099-0001 in libcrypto3 3.3.2-r4 (CRITICAL), CVE-2099-0001 in libssl3 3.3.2-r4 (CRITICAL), CVE-2099-0002 in busybox 1.37.0-r8 (HIGH)"
			if err.Error() != wantErr {
				t.Errorf("error\n got %q\nwant %q", err, wantErr)
			}
			if tt.name == "ecr registry" {
				if !slices.Contains(masked, fake.Password) {
					t.Errorf("the registry password was not masked (masked %d values)", len(masked))
				}
				if n := fake.Calls("GetAuthorizationToken"); n != 1 {
					t.Errorf("GetAuthorizationToken called %d times, want 1", n)
				}
				if reg.Stats().BlobGets == 0 {
					t.Error("nothing was pulled from the ECR registry")
				}
			}
		})
	}
}

func TestReportsFromTrivy(t *testing.T) {
	t.Parallel()
	cfg := baseConfig(t)
	res, err := runConfig(context.Background(), cfg, testDeps(t, nil))
	if exitcode.Of(err) != exitcode.Failed {
		t.Fatalf("exit %d: %v", exitcode.Of(err), err)
	}
	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID string `json:"ruleId"`
				Level  string `json:"level"`
			} `json:"results"`
		} `json:"runs"`
	}
	readJSON(t, cfg.SARIFFile, &sarif)
	if sarif.Version != "2.1.0" || len(sarif.Runs) != 1 || sarif.Runs[0].Tool.Driver.Name != "Trivy" {
		t.Fatalf("sarif: version %q, %d runs", sarif.Version, len(sarif.Runs))
	}
	var ids []string
	for _, r := range sarif.Runs[0].Results {
		ids = append(ids, r.RuleID+"/"+r.Level)
	}
	slices.Sort(ids)
	want := []string{"CVE-2099-0001/error", "CVE-2099-0001/error", "CVE-2099-0002/error", "CVE-2099-0003/note", "CVE-2099-0004/warning", "CVE-2099-0006/note"}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("sarif results %v, want %v", ids, want)
	}

	var rep struct {
		ArtifactName string
		Results      []struct {
			Target          string
			Vulnerabilities []struct{ VulnerabilityID, PkgName string }
		}
	}
	readJSON(t, cfg.JSONFile, &rep)
	if rep.ArtifactName != cfg.OCILayout || len(rep.Results) != 1 || len(rep.Results[0].Vulnerabilities) != 6 {
		t.Errorf("json report: %+v", rep)
	}

	var sum Result
	readJSON(t, cfg.SummaryFile, &sum)
	if d, _ := getFixture(t).img.Digest(); sum.ImageDigest != d.String() {
		t.Errorf("image digest %q, want %s", sum.ImageDigest, d)
	}
	if !reflect.DeepEqual(sum.IssuesBySeverityCount, res.IssuesBySeverityCount) || sum.Passed || !sum.Complete ||
		sum.ByScanner["trivy"].Total != 6 || sum.Reports.SARIF != cfg.SARIFFile {
		t.Errorf("summary: %+v", sum)
	}
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestDatabaseThatCannotBeLoadedIsNeverAClean scan: exit 3, no counts, and
// passed false, whatever went wrong with the database.
func TestDatabaseThatCannotBeLoadedIsNeverAClean(t *testing.T) {
	t.Parallel()
	f := getFixture(t)
	meta, err := os.ReadFile(filepath.Join(f.cacheDir, "db", "metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		setup func(dbDir string) error
		want  string
	}{
		{"no database with --skip-db-update", func(string) error { return nil }, "cannot be used with --skip-db-update"},
		{"corrupt file", func(dir string) error {
			if err := os.WriteFile(filepath.Join(dir, "metadata.json"), meta, 0o644); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "trivy.db"), []byte(strings.Repeat("not a bolt database ", 400)), 0o644)
		}, "loading the vulnerability database"},
		{"empty database", func(dir string) error {
			if err := os.WriteFile(filepath.Join(dir, "metadata.json"), meta, 0o644); err != nil {
				return err
			}
			return emptyBolt(filepath.Join(dir, "trivy.db"))
		}, "holds no vulnerability data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig(t)
			cfg.CacheDir = t.TempDir()
			dbDir := filepath.Join(cfg.CacheDir, "db")
			if err := os.MkdirAll(dbDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := tt.setup(dbDir); err != nil {
				t.Fatal(err)
			}
			res, err := runConfig(context.Background(), cfg, testDeps(t, nil))
			if code := exitcode.Of(err); code != exitcode.Incomplete {
				t.Fatalf("exit %d (%v), want 3", code, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			if res == nil || res.Passed || res.Complete || res.IssuesBySeverityCount != nil {
				t.Fatalf("result %+v: an incomplete scan must not pass or count", res)
			}
			for _, o := range res.Outputs() {
				if o.Name == "total" || o.Name == "critical" {
					t.Errorf("output %s=%s written for a scan that did not happen", o.Name, o.Value)
				}
				if (o.Name == "passed" && o.Value != "false") || ((o.Name == "sarif-file" || o.Name == "json-file") && o.Value != "") {
					t.Errorf("%s=%s", o.Name, o.Value)
				}
			}
			// No SARIF to upload: an empty one would close every alert.
			for _, p := range []string{cfg.SARIFFile, cfg.JSONFile} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s written for a scan that did not happen (%v)", p, err)
				}
			}
			var sum Result
			readJSON(t, cfg.SummaryFile, &sum)
			if sum.Complete || len(sum.Errors) != 1 {
				t.Errorf("summary: complete %t errors %q", sum.Complete, sum.Errors)
			}
		})
	}
}

func TestTrivyDoesNotCreateADatabase(t *testing.T) {
	t.Parallel()
	// bbolt creates a missing file when opened for writing; the database is
	// opened read-only so that a missing one stays missing.
	dir := t.TempDir()
	err := openDB(dir)
	if exitcode.Of(err) != exitcode.Incomplete {
		t.Fatalf("got %v, want exit 3", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "db", "trivy.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("trivy.db exists after a failed open: %v", err)
	}
}

// TestSQLiteDriverIsLinked guards the driver the RPM analyser needs for
// sqlite RPM databases (Amazon Linux 2023, RHEL 9).
func TestSQLiteDriverIsLinked(t *testing.T) {
	t.Parallel()
	if !slices.Contains(sql.Drivers(), "sqlite") {
		t.Fatalf("database/sql drivers %v: no sqlite", sql.Drivers())
	}
}

// TestRegistryFailuresAreIncomplete: an image the registry does not have,
// and an ECR login that is refused, are exit 3 (could not finish).
func TestRegistryFailuresAreIncomplete(t *testing.T) {
	t.Parallel()
	plain := httptest.NewServer(quietRegistry())
	t.Cleanup(plain.Close)
	fake := ecrfake.New()
	_, tr := ecrRegistry(t, fake)
	fake.FailAlways("GetAuthorizationToken", ecrfake.AccessDenied("GetAuthorizationToken"))
	tests := []struct {
		name, image, want string
	}{
		{"missing image", strings.TrimPrefix(plain.URL, "http://") + "/models/none:1.0", "pulling " + strings.TrimPrefix(plain.URL, "http://") + "/models/none:1.0"},
		{"ecr login refused", fake.Host() + "/credit-model:1", "logging in to ECR registry 123456789012: api error AccessDeniedException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig(t)
			cfg.OCILayout, cfg.Image = "", tt.image
			deps := testDeps(t, fake)
			deps.Transport = tr
			res, err := runConfig(context.Background(), cfg, deps)
			if exitcode.Of(err) != exitcode.Incomplete || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("exit %d (%v), want 3 with %q", exitcode.Of(err), err, tt.want)
			}
			if res.Passed || res.Complete {
				t.Errorf("passed %t complete %t", res.Passed, res.Complete)
			}
		})
	}
}
