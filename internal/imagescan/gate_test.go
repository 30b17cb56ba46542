package imagescan

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/exitcode"
)

func TestJudge(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	rule := func(id, expires string, pkgs ...string) *IgnoreRule {
		r := &IgnoreRule{ID: id, Reason: "because", Expires: expires, Packages: pkgs}
		if expires != "" {
			r.expiresAt, _ = parseExpiry(expires)
		}
		return r
	}
	tests := []struct {
		name          string
		rules         []*IgnoreRule
		ignoreUnfixed bool
		failOn        string
		wantCounts    map[string]int
		wantFailing   []string
		wantIgnored   int
		wantUnfixed   int
		wantExpired   []string
		wantUnmatched []string
	}{
		{name: "fail on HIGH", failOn: "HIGH",
			wantCounts:  map[string]int{"CRITICAL": 2, "HIGH": 1, "MEDIUM": 1, "LOW": 1, "UNKNOWN": 1},
			wantFailing: []string{"CVE-2099-0001/libcrypto3", "CVE-2099-0001/libssl3", "CVE-2099-0002/busybox"}},
		{name: "fail on CRITICAL", failOn: "CRITICAL",
			wantCounts:  map[string]int{"CRITICAL": 2, "HIGH": 1, "MEDIUM": 1, "LOW": 1, "UNKNOWN": 1},
			wantFailing: []string{"CVE-2099-0001/libcrypto3", "CVE-2099-0001/libssl3"}},
		{name: "fail on UNKNOWN is everything", failOn: "UNKNOWN",
			wantCounts:  map[string]int{"CRITICAL": 2, "HIGH": 1, "MEDIUM": 1, "LOW": 1, "UNKNOWN": 1},
			wantFailing: []string{"CVE-2099-0001/libcrypto3", "CVE-2099-0001/libssl3", "CVE-2099-0002/busybox", "CVE-2099-0004/zlib", "CVE-2099-0003/busybox", "CVE-2099-0006/ca-certificates"}},
		{name: "fail on LOW leaves UNKNOWN out", failOn: "LOW",
			wantCounts:  map[string]int{"CRITICAL": 2, "HIGH": 1, "MEDIUM": 1, "LOW": 1, "UNKNOWN": 1},
			wantFailing: []string{"CVE-2099-0001/libcrypto3", "CVE-2099-0001/libssl3", "CVE-2099-0002/busybox", "CVE-2099-0004/zlib", "CVE-2099-0003/busybox"}},
		{name: "report only", failOn: "NONE",
			wantCounts: map[string]int{"CRITICAL": 2, "HIGH": 1, "MEDIUM": 1, "LOW": 1, "UNKNOWN": 1}},
		{name: "ignore unfixed", failOn: "HIGH", ignoreUnfixed: true,
			wantCounts:  map[string]int{"CRITICAL": 2, "HIGH": 0, "MEDIUM": 1, "LOW": 1, "UNKNOWN": 1},
			wantFailing: []string{"CVE-2099-0001/libcrypto3", "CVE-2099-0001/libssl3"}, wantUnfixed: 1},
		{name: "ignore file and unfixed pass the gate", failOn: "HIGH", ignoreUnfixed: true,
			rules:      []*IgnoreRule{rule("cve-2099-0001", "")},
			wantCounts: map[string]int{"CRITICAL": 0, "HIGH": 0, "MEDIUM": 1, "LOW": 1, "UNKNOWN": 1}, wantIgnored: 2, wantUnfixed: 1},
		{name: "ignore limited to a package", failOn: "HIGH",
			rules:       []*IgnoreRule{rule("CVE-2099-0001", "", "libssl3")},
			wantCounts:  map[string]int{"CRITICAL": 1, "HIGH": 1, "MEDIUM": 1, "LOW": 1, "UNKNOWN": 1},
			wantFailing: []string{"CVE-2099-0001/libcrypto3", "CVE-2099-0002/busybox"}, wantIgnored: 1},
		{name: "expired entry no longer ignores", failOn: "HIGH",
			rules:       []*IgnoreRule{rule("CVE-2099-0002", "2026-06-14"), rule("CVE-2099-0001", "2026-06-15")},
			wantCounts:  map[string]int{"CRITICAL": 0, "HIGH": 1, "MEDIUM": 1, "LOW": 1, "UNKNOWN": 1},
			wantFailing: []string{"CVE-2099-0002/busybox"}, wantIgnored: 2, wantExpired: []string{"CVE-2099-0002"}},
		{name: "unmatched entries are reported", failOn: "NONE",
			rules:      []*IgnoreRule{rule("CVE-2099-0099", ""), rule("CVE-2099-0004", "", "openssl"), rule("CVE-2099-0098", "2020-01-01")},
			wantCounts: map[string]int{"CRITICAL": 2, "HIGH": 1, "MEDIUM": 1, "LOW": 1, "UNKNOWN": 1}, wantUnmatched: []string{"CVE-2099-0099", "CVE-2099-0004", "CVE-2099-0098"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := append([]Finding(nil), wantTrivy...)
			g := judge(fs, tt.rules, tt.ignoreUnfixed, tt.failOn, now)
			if !reflect.DeepEqual(g.Counts, tt.wantCounts) {
				t.Errorf("counts %v, want %v", g.Counts, tt.wantCounts)
			}
			var failing []string
			for _, f := range g.Failing {
				failing = append(failing, f.ID+"/"+f.Package)
			}
			if !reflect.DeepEqual(failing, tt.wantFailing) {
				t.Errorf("failing %v, want %v", failing, tt.wantFailing)
			}
			if g.Passed != (len(tt.wantFailing) == 0) || g.Ignored != tt.wantIgnored || g.Unfixed != tt.wantUnfixed {
				t.Errorf("passed %t ignored %d unfixed %d", g.Passed, g.Ignored, g.Unfixed)
			}
			if got := ids(g.Expired); !reflect.DeepEqual(got, tt.wantExpired) {
				t.Errorf("expired %v, want %v", got, tt.wantExpired)
			}
			if got := ids(g.Unmatched); !reflect.DeepEqual(got, tt.wantUnmatched) {
				t.Errorf("unmatched %v, want %v", got, tt.wantUnmatched)
			}
		})
	}
}

func ids(rs []IgnoreRule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestTallyCountsAVulnerabilityOnceAtItsHighestSeverity(t *testing.T) {
	t.Parallel()
	fs := []Finding{
		{Scanner: "trivy", ID: "CVE-1", Package: "p", InstalledVersion: "1", Severity: "MEDIUM", Status: StatusCounted},
		{Scanner: "ecr", ID: "CVE-1", Package: "p", InstalledVersion: "1", Severity: "HIGH", Status: StatusCounted},
		{Scanner: "ecr", ID: "CVE-1", Package: "q", InstalledVersion: "1", Severity: "LOW", Status: StatusCounted},
		{Scanner: "ecr", ID: "CVE-2", Package: "p", InstalledVersion: "1", Severity: "LOW", Status: StatusIgnored},
	}
	counts, total := tally(fs)
	if want := map[string]int{"CRITICAL": 0, "HIGH": 1, "MEDIUM": 0, "LOW": 1, "UNKNOWN": 0}; !reflect.DeepEqual(counts, want) || total != 2 {
		t.Errorf("counts %v total %d", counts, total)
	}
}

func TestIgnoreFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{"good", "ignore:\n  - id: CVE-2099-0001\n    reason: not reachable\n    expires: 2027-01-31\n    packages: [libssl3]\n  - id: CVE-2099-0002\n    reason: no fix upstream\n    expires: 2027-01-31T10:00:00Z\n", ""},
		{"json", `{"ignore": [{"id": "CVE-2099-0001", "reason": "r"}]}`, ""},
		{"no reason", "ignore:\n  - id: CVE-2099-0001\n", "entry 1 (CVE-2099-0001): no reason"},
		{"blank reason", "ignore:\n  - id: CVE-2099-0001\n    reason: '  '\n", "no reason"},
		{"no id", "ignore:\n  - reason: why\n", "entry 1: no id"},
		{"bad expiry", "ignore:\n  - id: CVE-1\n    reason: r\n    expires: next week\n", `expires "next week": want YYYY-MM-DD`},
		{"unknown field", "ignore:\n  - id: CVE-1\n    reason: r\n    expiry: 2027-01-01\n", `unknown field "expiry"`},
		{"not yaml", "ignore: [", "--ignore-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "ignore.yaml")
			if err := os.WriteFile(path, []byte(tt.body), 0o644); err != nil {
				t.Fatal(err)
			}
			rules, err := loadIgnoreFile(path)
			if tt.want == "" {
				if err != nil || len(rules) == 0 {
					t.Fatalf("rules %v, err %v", rules, err)
				}
				return
			}
			if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v (exit %d), want exit 2 with %q", err, exitcode.Of(err), tt.want)
			}
		})
	}
	rules, err := loadIgnoreFile(writeTemp(t, "ignore:\n  - {id: CVE-1, reason: r, expires: 2027-01-31}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := rules[0].expiresAt; !got.Equal(time.Date(2027, 1, 31, 23, 59, 59, 999999999, time.UTC)) {
		t.Errorf("a date expires at the end of that day (UTC), got %s", got)
	}
}

func writeTemp(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestIgnoreFileEndToEnd: ignored findings leave the gate and the SARIF
// file, stay in the JSON report with their reason, and an expired entry
// warns.
func TestIgnoreFileEndToEnd(t *testing.T) {
	t.Parallel()
	cfg := baseConfig(t)
	cfg.IgnoreUnfixed = true
	cfg.IgnoreFile = writeTemp(t, `ignore:
  - id: CVE-2099-0001
    reason: TLS is terminated at the load balancer; the library is not reachable
    expires: 2099-12-31
  - id: CVE-2099-0004
    reason: was accepted until the base image update
    expires: 2026-01-31
  - id: CVE-2099-0042
    reason: fixed long ago
`)
	deps := testDeps(t, nil)
	deps.Now = func() time.Time { return time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC) }
	log := &testLog{t: t}
	deps.Log = log
	res, err := runConfig(context.Background(), cfg, deps)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := map[string]int{"CRITICAL": 0, "HIGH": 0, "MEDIUM": 1, "LOW": 1, "UNKNOWN": 1}; !reflect.DeepEqual(res.IssuesBySeverityCount, want) ||
		!res.Passed || res.Ignored != 2 || res.Unfixed != 1 {
		t.Errorf("counts %v passed %t ignored %d unfixed %d", res.IssuesBySeverityCount, res.Passed, res.Ignored, res.Unfixed)
	}
	if len(res.ExpiredIgnores) != 1 || res.ExpiredIgnores[0].ID != "CVE-2099-0004" || len(res.UnmatchedIgnores) != 1 || res.UnmatchedIgnores[0].ID != "CVE-2099-0042" || len(log.warnings) != 2 {
		t.Errorf("expired %v unmatched %v warnings %q", res.ExpiredIgnores, res.UnmatchedIgnores, log.warnings)
	}
	var rep struct {
		Results []struct {
			Vulnerabilities []struct{ VulnerabilityID string }
			Modified        []struct {
				Status, Statement, Source string
			} `json:"ExperimentalModifiedFindings"`
		}
	}
	readJSON(t, cfg.JSONFile, &rep)
	if len(rep.Results[0].Vulnerabilities) != 4 || len(rep.Results[0].Modified) != 2 ||
		rep.Results[0].Modified[0].Status != "ignored" || !strings.HasPrefix(rep.Results[0].Modified[0].Statement, "TLS is terminated") ||
		rep.Results[0].Modified[0].Source != cfg.IgnoreFile {
		t.Errorf("json report %+v", rep)
	}
	var sarif struct {
		Runs []struct{ Results []any } `json:"runs"`
	}
	readJSON(t, cfg.SARIFFile, &sarif)
	if len(sarif.Runs[0].Results) != 4 {
		t.Errorf("sarif has %d results, want the 4 not ignored", len(sarif.Runs[0].Results))
	}
}
