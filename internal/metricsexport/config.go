package metricsexport

import (
	"errors"
	"fmt"
	"math/big"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/exitcode"
)

// Config is everything a run needs, as given on the command line.
type Config struct {
	Files   []string // metrics files or globs
	Format  string   // auto, env, json or yaml
	Include []string // name patterns to keep (all when empty)
	Exclude []string // name patterns to drop
	Rename  []string // OLD=NEW

	// OutputMetrics are name patterns of the metrics that get step outputs
	// of their own (and a place in the "metrics" output); empty for the
	// first MaxMetricOutputs.
	OutputMetrics []string

	// OutputFile is where the metrics JSON is written; empty means a new
	// file in TempDir.
	OutputFile string
	// TempDir is command.TempDir of the run's environment; empty means that
	// of the process.
	TempDir string

	Baseline         string   // baseline metrics file
	Compare          []string // NAME:higher|lower[:TOLERANCE]
	FailOnRegression bool

	Upload    []string // report files, directories or globs
	Bucket    string
	Prefix    string
	Presign   string // duration; empty for plain URLs
	PathStyle bool   // path-style S3 addressing

	Namespace  string   // CloudWatch namespace; empty for none
	Dimensions []string // Name=Value
	Units      []string // PATTERN=Unit

	Region string
}

// Plan is a Config that Validate checked, with its options parsed: what Run
// takes. Only Validate makes one.
type Plan struct {
	cfg        Config
	renames    []rename
	rules      []Rule
	dims       []cwtypes.Dimension
	units      []unitRule
	presignFor time.Duration
}

type rename struct{ given, from, to string }

type unitRule struct {
	pattern string
	unit    cwtypes.StandardUnit
}

// Rule says how to judge one metric, or the metrics a pattern matches,
// against the baseline.
type Rule struct {
	Pattern   string
	Higher    bool     // higher is better; else lower is better
	Tolerance *big.Rat // absolute, or percent when Relative
	Relative  bool
	given     string // the rule as given
	text      string // the tolerance as given
}

// Direction is "higher" or "lower".
func (r Rule) Direction() string {
	if r.Higher {
		return "higher"
	}
	return "lower"
}

// MaxPresign is the longest a SigV4 presigned URL can be valid.
const MaxPresign = 7 * 24 * time.Hour

// MaxDimensions is how many dimensions CloudWatch takes per metric.
const MaxDimensions = 30

var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// NeedsAWS reports whether the run calls AWS.
func (c *Config) NeedsAWS() bool { return len(c.Upload) > 0 || c.Namespace != "" }

// Validate checks every option before anything is read or sent and returns
// the plan Run carries out. Every problem is bad input (exit 2) naming the
// option; all of them are reported at once.
func (c Config) Validate() (*Plan, error) {
	var errs problems
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.TempDir == "" {
		c.TempDir = command.TempDir(os.Getenv)
	}
	p := &Plan{cfg: c}

	if len(c.Files) == 0 {
		bad("--file: no metrics file given")
	}
	for _, f := range c.Files {
		if strings.TrimSpace(f) == "" {
			bad("--file %q: no file name", f)
		}
	}
	switch c.Format {
	case "", FormatAuto, FormatEnv, FormatJSON, FormatYAML:
	default:
		bad("--format %q: want auto, env, json or yaml", c.Format)
	}
	for _, opt := range []struct {
		flag     string
		patterns []string
	}{{"include", c.Include}, {"exclude", c.Exclude}, {"output-metrics", c.OutputMetrics}} {
		for _, pat := range opt.patterns {
			if strings.TrimSpace(pat) == "" {
				bad("--%s %q: no pattern", opt.flag, pat)
			}
		}
	}

	seen := map[string]bool{}
	for _, r := range c.Rename {
		from, to, ok := strings.Cut(r, "=")
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		switch {
		case !ok || from == "" || to == "":
			bad("--rename %q: want OLD=NEW", r)
			continue
		case seen[from]:
			bad("--rename %q: %s is renamed twice", r, from)
		}
		seen[from] = true
		p.renames = append(p.renames, rename{r, from, to})
	}

	for _, s := range c.Compare {
		r, err := ParseRule(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.rules = append(p.rules, r)
	}
	if c.Baseline == "" {
		if len(c.Compare) > 0 {
			bad("--compare needs --baseline")
		}
		if c.FailOnRegression {
			bad("--fail-on-regression needs --baseline")
		}
	}

	if len(c.Upload) > 0 {
		switch {
		case c.Bucket == "":
			bad("--upload needs --bucket")
		case strings.HasPrefix(c.Bucket, "s3://"):
			bad("--bucket %q: give the bucket name only, and the rest as --prefix", c.Bucket)
		case !bucketName.MatchString(c.Bucket) || strings.Contains(c.Bucket, ".."):
			bad("--bucket %q: not a valid S3 bucket name", c.Bucket)
		}
		for _, u := range c.Upload {
			if strings.TrimSpace(u) == "" {
				bad("--upload %q: no file name", u)
			}
		}
	}
	if strings.Contains(c.Prefix, "..") || strings.ContainsAny(c.Prefix, "\r\n") {
		bad("--prefix %q: must not hold \"..\" or line breaks", c.Prefix)
	}
	if c.Presign != "" {
		d, err := parseDuration(c.Presign)
		switch {
		case err != nil:
			bad("--presign %q: want a duration such as 1h, 12h or 7d", c.Presign)
		case d < time.Second || d > MaxPresign:
			bad("--presign %q: must be between 1s and 7d (the longest SigV4 allows)", c.Presign)
		}
		p.presignFor = d
	}

	if c.Namespace != "" {
		if err := validNamespace(c.Namespace); err != nil {
			bad("--cloudwatch-namespace %q: %v", c.Namespace, err)
		}
	} else {
		if len(c.Dimensions) > 0 {
			bad("--dimension needs --cloudwatch-namespace")
		}
		if len(c.Units) > 0 {
			bad("--unit needs --cloudwatch-namespace")
		}
	}
	if len(c.Dimensions) > MaxDimensions {
		bad("--dimension: %d given, CloudWatch takes at most %d", len(c.Dimensions), MaxDimensions)
	}
	dimSeen := map[string]bool{}
	for _, d := range c.Dimensions {
		name, value, ok := strings.Cut(d, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || value == "" {
			bad("--dimension %q: want Name=Value", d)
			continue
		}
		if err := validDimension(name, value); err != nil {
			bad("--dimension %q: %v", d, err)
			continue
		}
		if dimSeen[name] {
			bad("--dimension %q: %s is given twice", d, name)
		}
		dimSeen[name] = true
		p.dims = append(p.dims, cwtypes.Dimension{Name: &name, Value: &value})
	}
	known := cwtypes.StandardUnit("").Values()
	for _, u := range c.Units {
		pattern, unit, ok := strings.Cut(u, "=")
		pattern, unit = strings.TrimSpace(pattern), strings.TrimSpace(unit)
		if !ok || pattern == "" || unit == "" {
			bad("--unit %q: want METRIC=Unit (METRIC may use * and ?)", u)
			continue
		}
		i := slices.IndexFunc(known, func(k cwtypes.StandardUnit) bool { return strings.EqualFold(string(k), unit) })
		if i < 0 {
			bad("--unit %q: unknown unit %q (CloudWatch units: Seconds, Milliseconds, Bytes, Percent, Count, None, ...)", u, unit)
			continue
		}
		p.units = append(p.units, unitRule{pattern, known[i]})
	}
	if len(errs) > 0 {
		return nil, exitcode.Wrap(exitcode.BadInput, errs)
	}
	return p, nil
}

// problems is every problem Validate found, as one line: the problem
// itself when there is one, else "3 problems: a; b; c".
type problems []error

func (ps problems) Error() string {
	if len(ps) == 1 {
		return ps[0].Error()
	}
	msgs := make([]string, len(ps))
	for i, e := range ps {
		msgs[i] = e.Error()
	}
	return fmt.Sprintf("%d problems: %s", len(ps), strings.Join(msgs, "; "))
}

func (ps problems) Unwrap() []error { return ps }

// ParseRule reads NAME:higher|lower[:TOLERANCE]. NAME may use * and ?;
// TOLERANCE is absolute (0.01) or relative to the baseline (2%).
func ParseRule(s string) (Rule, error) {
	bad := func(why string) (Rule, error) {
		return Rule{}, exitcode.BadInputf("--compare %q: %s", s, why)
	}
	parts := strings.Split(s, ":")
	r := Rule{given: s}
	dirAt := -1
	for i := len(parts) - 1; i >= 1 && i >= len(parts)-2; i-- {
		if d := strings.ToLower(strings.TrimSpace(parts[i])); d == "higher" || d == "lower" {
			dirAt = i
			r.Higher = d == "higher"
			break
		}
	}
	if dirAt < 0 {
		return bad("want NAME:higher or NAME:lower, with an optional :TOLERANCE (0.01 or 2%)")
	}
	r.Pattern = strings.TrimSpace(strings.Join(parts[:dirAt], ":"))
	if r.Pattern == "" {
		return bad("no metric name")
	}
	r.Tolerance = new(big.Rat)
	r.text = "0"
	if dirAt == len(parts)-2 {
		t := strings.TrimSpace(parts[len(parts)-1])
		num, rel := strings.CutSuffix(t, "%")
		if !looksNumeric(num) || exponentTooLarge(num) {
			return bad("tolerance " + strconv.Quote(t) + " is not a number (0.01) or a percentage (2%)")
		}
		if _, ok := r.Tolerance.SetString(num); !ok || r.Tolerance.Sign() < 0 {
			return bad("tolerance " + strconv.Quote(t) + " must not be negative")
		}
		r.Relative, r.text = rel, t
	}
	return r, nil
}

// parseDuration is time.ParseDuration that also takes days ("7d").
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, err
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// validNamespace applies CloudWatch's namespace rules: 1-255 ASCII
// characters without control characters, not starting with ":" and not in
// the AWS/ space reserved for AWS services.
func validNamespace(ns string) error {
	switch {
	case len(ns) > 255:
		return errors.New("longer than 255 characters")
	case strings.HasPrefix(ns, "AWS/"):
		return errors.New("namespaces starting with AWS/ are reserved for AWS services")
	case strings.HasPrefix(ns, ":"):
		return errors.New("must not start with \":\"")
	case strings.TrimSpace(ns) == "":
		return errors.New("must hold a non-space character")
	}
	return asciiPrintable(ns)
}

// validDimension applies CloudWatch's dimension rules: ASCII without control
// characters, a name of 1-255 characters not starting with ":", a value of
// 1-1024 characters.
func validDimension(name, value string) error {
	switch {
	case len(name) > 255:
		return errors.New("name longer than 255 characters")
	case len(value) > 1024:
		return errors.New("value longer than 1024 characters")
	case strings.HasPrefix(name, ":"):
		return errors.New("name must not start with \":\"")
	}
	if err := asciiPrintable(name); err != nil {
		return err
	}
	return asciiPrintable(value)
}

func asciiPrintable(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return errors.New("only printable ASCII characters are allowed")
		}
	}
	return nil
}
