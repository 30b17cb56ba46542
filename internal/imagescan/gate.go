package imagescan

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Severities from the most to the least severe; UNKNOWN is a finding
// without a severity.
var Severities = []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"}

// rank orders severities: CRITICAL 4 ... UNKNOWN 0.
func rank(sev string) int {
	i := slices.Index(Severities, sev)
	if i < 0 {
		return 0
	}
	return len(Severities) - 1 - i
}

// parseFailOn reads --fail-on: a severity, or NONE to never fail.
func parseFailOn(s string) (string, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if u == "NONE" || slices.Contains(Severities, u) {
		return u, nil
	}
	return "", badInput("fail-on", s, "want one of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN or NONE")
}

// Finding states after the gate.
const (
	StatusCounted = "counted" // judged by the gate and counted
	StatusIgnored = "ignored" // matched by an ignore file entry
	StatusUnfixed = "unfixed" // no fix exists and --ignore-unfixed
)

// Finding is one vulnerability in one package, from either scanner.
type Finding struct {
	Scanner          string `json:"scanner"` // trivy or ecr
	ID               string `json:"id"`
	Package          string `json:"package"`
	InstalledVersion string `json:"installedVersion,omitempty"`
	FixedVersion     string `json:"fixedVersion,omitempty"`
	// Fix is available, none or unknown (ECR basic scanning does not say).
	Fix      string `json:"fix"`
	Severity string `json:"severity"`
	Title    string `json:"title,omitempty"`
	URL      string `json:"url,omitempty"`
	Target   string `json:"target,omitempty"`
	Path     string `json:"path,omitempty"`

	Status       string `json:"status"`
	IgnoreReason string `json:"ignoreReason,omitempty"`
	// Fails is true for a counted finding at or above --fail-on.
	Fails bool `json:"fails"`
}

func (f Finding) String() string {
	s := f.ID + " in " + f.Package
	if f.InstalledVersion != "" {
		s += " " + f.InstalledVersion
	}
	return s + " (" + f.Severity + ")"
}

// IgnoreRule is one entry of an ignore file.
type IgnoreRule struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
	// Expires is a date (YYYY-MM-DD, the end of that day in UTC) or an
	// RFC 3339 time after which the entry no longer ignores.
	Expires string `json:"expires,omitempty"`
	// Packages limits the entry to these packages; empty is any package.
	Packages []string `json:"packages,omitempty"`

	expiresAt time.Time
	matched   int
}

// ignoreFile is the file's shape.
type ignoreFile struct {
	Ignore []IgnoreRule `json:"ignore"`
}

// maxIgnoreFile bounds an ignore file: thousands of entries fit in it.
const maxIgnoreFile = 1 << 20

// loadIgnoreFile reads and checks an ignore file: YAML or JSON with a list
// under "ignore", every entry with an id and a reason, at most 1 MiB.
func loadIgnoreFile(path string) ([]*IgnoreRule, error) {
	b, err := readLimited(path, maxIgnoreFile)
	if err != nil {
		return nil, badInput("ignore-file", path, "%v", err)
	}
	var f ignoreFile
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		return nil, badInput("ignore-file", path, "%s", strings.TrimPrefix(err.Error(), "error unmarshaling JSON: "))
	}
	rules := make([]*IgnoreRule, 0, len(f.Ignore))
	for i := range f.Ignore {
		r := &f.Ignore[i]
		where := fmt.Sprintf("entry %d", i+1)
		r.ID = strings.TrimSpace(r.ID)
		if r.ID == "" {
			return nil, badInput("ignore-file", path, "%s: no id", where)
		}
		where += " (" + r.ID + ")"
		if strings.TrimSpace(r.Reason) == "" {
			return nil, badInput("ignore-file", path, "%s: no reason; every ignored finding needs one", where)
		}
		if r.Expires != "" {
			t, err := parseExpiry(r.Expires)
			if err != nil {
				return nil, badInput("ignore-file", path, "%s: expires %q: want YYYY-MM-DD or an RFC 3339 time", where, r.Expires)
			}
			r.expiresAt = t
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// readLimited reads a file of at most limit bytes; a larger one is refused
// before it is read whole.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, unwrapPath(err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d KiB", limit>>10)
	}
	return b, nil
}

func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.Add(24*time.Hour - time.Nanosecond), nil
	}
	return time.Parse(time.RFC3339, s)
}

// unwrapPath leaves the path out of a file error: the message names it.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		if errors.Is(pe.Err, os.ErrNotExist) {
			return errors.New("no such file or directory")
		}
		return pe.Err
	}
	return err
}

func (r *IgnoreRule) matches(f Finding) bool {
	if !strings.EqualFold(r.ID, f.ID) {
		return false
	}
	return len(r.Packages) == 0 || slices.Contains(r.Packages, f.Package)
}

// gateResult is what the gate decided.
type gateResult struct {
	Passed    bool
	Counts    map[string]int // counted findings per severity
	Total     int
	Failing   []Finding
	Ignored   int
	Unfixed   int
	Expired   []IgnoreRule // entries past their expiry that matched a finding
	Unmatched []IgnoreRule // entries that matched nothing (expired or not)
}

// judge applies the ignore rules, --ignore-unfixed and --fail-on to the
// findings, in place, and counts them. The same vulnerability in the same
// package and version reported by both scanners is counted once, at the
// higher severity (see tally).
func judge(findings []Finding, rules []*IgnoreRule, ignoreUnfixed bool, failOn string, now time.Time) gateResult {
	var g gateResult
	expiredHit := map[*IgnoreRule]bool{}
	for i := range findings {
		f := &findings[i]
		f.Status, f.IgnoreReason, f.Fails = StatusCounted, "", false
		for _, r := range rules {
			if !r.matches(*f) {
				continue
			}
			if !r.expiresAt.IsZero() && now.After(r.expiresAt) {
				expiredHit[r] = true
				continue
			}
			r.matched++
			f.Status, f.IgnoreReason = StatusIgnored, r.Reason
			break
		}
		if f.Status == StatusCounted && ignoreUnfixed && f.Fix == "none" {
			f.Status = StatusUnfixed
		}
		if f.Status == StatusCounted && failOn != "NONE" && rank(f.Severity) >= rank(failOn) {
			f.Fails = true
		}
	}
	g.Counts, g.Total = tally(findings)
	for _, f := range findings {
		switch f.Status {
		case StatusIgnored:
			g.Ignored++
		case StatusUnfixed:
			g.Unfixed++
		}
	}
	for _, f := range findings {
		if f.Fails {
			g.Failing = append(g.Failing, f)
		}
	}
	g.Passed = len(g.Failing) == 0
	for _, r := range rules {
		if expiredHit[r] {
			g.Expired = append(g.Expired, *r)
		}
		if r.matched == 0 && !expiredHit[r] {
			g.Unmatched = append(g.Unmatched, *r)
		}
	}
	return g
}

// tally counts the counted findings per severity. The same vulnerability
// in the same package and version (reported by both scanners, or twice by
// one) is counted once, at its higher severity.
func tally(findings []Finding) (map[string]int, int) {
	counts := map[string]int{}
	for _, s := range Severities {
		counts[s] = 0
	}
	type key struct{ id, pkg, version string }
	best := map[key]string{}
	for _, f := range findings {
		if f.Status != StatusCounted {
			continue
		}
		k := key{f.ID, f.Package, f.InstalledVersion}
		if prev, ok := best[k]; !ok || rank(f.Severity) > rank(prev) {
			best[k] = f.Severity
		}
	}
	for _, sev := range best {
		counts[sev]++
	}
	return counts, len(best)
}

// sortFindings orders findings most severe first, then by scanner,
// package, version and id.
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if r := rank(b.Severity) - rank(a.Severity); r != 0 {
			return r
		}
		for _, c := range [][2]string{{a.Scanner, b.Scanner}, {a.Package, b.Package}, {a.InstalledVersion, b.InstalledVersion}, {a.ID, b.ID}, {a.Path, b.Path}} {
			if n := strings.Compare(c[0], c[1]); n != 0 {
				return n
			}
		}
		return 0
	})
}
