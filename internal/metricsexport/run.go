package metricsexport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/exitcode"
)

// Deps are the AWS clients a run uses; they may be nil when the run does
// not upload or put metrics.
type Deps struct {
	S3         S3API
	Presigner  Presigner
	CloudWatch CloudWatchAPI
	Log        action.Logger
	Now        func() time.Time
}

type nopLogger struct{}

func (nopLogger) Logf(string, ...any)     {}
func (nopLogger) Warningf(string, ...any) {}

// Run reads the metrics, compares them with the baseline, writes the
// metrics JSON file, uploads the reports and puts the metrics to
// CloudWatch. Everything that can be checked locally is checked before the
// first request. When an upload or CloudWatch request fails after the SDK's
// retries, Run returns the result of what did succeed with an Incomplete
// error; a regression with FailOnRegression returns the result with a
// Failed error.
func Run(ctx context.Context, p *Plan, deps Deps) (*Result, error) {
	if p == nil {
		return nil, exitcode.Incompletef("internal error: Run needs the Plan of Config.Validate")
	}
	cfg := p.cfg
	if deps.Log == nil {
		deps.Log = nopLogger{}
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	log := deps.Log

	metrics, files, err := readMetrics("file", cfg.Files, cfg.Format)
	if err != nil {
		return nil, err
	}
	if err := applyRenames(metrics, p.renames, true); err != nil {
		return nil, err
	}
	metrics = filter(metrics, cfg.Include, cfg.Exclude)
	if len(metrics) == 0 {
		if len(cfg.Include)+len(cfg.Exclude) > 0 {
			return nil, exitcode.BadInputf("no metrics left in %s after --include/--exclude", strings.Join(files, ", "))
		}
		return nil, exitcode.BadInputf("no metrics in %s", strings.Join(files, ", "))
	}
	if err := checkNames(metrics); err != nil {
		return nil, err
	}
	log.Logf("read %d metrics from %s", len(metrics), strings.Join(files, ", "))

	res := &Result{Metrics: metrics}
	omitted, cut, err := selectOutputs(metrics, cfg.OutputMetrics)
	if err != nil {
		return nil, err
	}
	res.MetricsOmitted = omitted

	if cfg.Baseline != "" {
		base, _, err := readMetrics("baseline", []string{cfg.Baseline}, FormatAuto)
		if err != nil {
			return nil, err
		}
		if err := applyRenames(base, p.renames, false); err != nil {
			return nil, err
		}
		if err := checkDuplicates(base); err != nil {
			return nil, err
		}
		cmps, missing, err := Compare(metrics, base, p.rules)
		if err != nil {
			return nil, err
		}
		res.Baseline, res.Comparisons, res.NewMetrics = cfg.Baseline, cmps, missing
		for _, c := range cmps {
			if c.Regressed {
				res.Regressed = true
			}
		}
	}

	var cwData []cwtypes.MetricDatum
	if cfg.Namespace != "" {
		data, skipped, err := metricData(metrics, p.dims, p.units, deps.Now())
		if err != nil {
			return nil, err
		}
		cwData = data
		res.CloudWatch = &CloudWatchResult{Namespace: cfg.Namespace, Skipped: skipped}
	}

	var uploads []uploadFile
	if len(cfg.Upload) > 0 {
		if uploads, err = planUploads(cfg.Upload, cfg.Prefix); err != nil {
			return nil, err
		}
	}
	if (len(uploads) > 0 && (deps.S3 == nil || deps.Presigner == nil)) || (res.CloudWatch != nil && deps.CloudWatch == nil) {
		return nil, errors.New("internal error: no AWS client")
	}

	if res.MetricsFile, err = writeMetricsFile(cfg, metrics); err != nil {
		return nil, err
	}
	if cut > 0 {
		log.Warningf("%d of %d metrics have no step output and are not in the metrics output: outputs carry at most %d metrics (GitHub keeps about 1 MB of outputs per job); all are in the metrics file %s, or name the ones you need with --output-metrics",
			cut, len(metrics), MaxMetricOutputs, res.MetricsFile)
	}

	// Local work is done; from here on failures are reported beside the
	// result of what succeeded.
	var failures []error
	if len(uploads) > 0 {
		reports, err := uploadAll(ctx, deps.S3, deps.Presigner, cfg.Bucket, uploads, p.presignFor, log)
		res.Reports = reports
		if err != nil {
			failures = append(failures, err)
		}
	}
	if res.CloudWatch != nil {
		if len(cwData) == 0 {
			log.Warningf("no numeric metric to put to CloudWatch")
		} else {
			put, requests, err := putMetrics(ctx, deps.CloudWatch, cfg.Namespace, cwData, log)
			res.CloudWatch.Put, res.CloudWatch.Requests = put, requests
			if err != nil {
				failures = append(failures, err)
			}
		}
	}
	for _, f := range failures {
		res.Failures = append(res.Failures, f.Error())
	}

	// An upload or request that failed (exit 3) outweighs a regression
	// (exit 1); the message tells both.
	if res.Regressed {
		var msgs []string
		for _, c := range res.Comparisons {
			if c.Regressed {
				msgs = append(msgs, c.describe())
			}
		}
		if cfg.FailOnRegression {
			failures = append(failures, exitcode.Failedf("regression against %s: %s", cfg.Baseline, strings.Join(msgs, "; ")))
		} else {
			for _, m := range msgs {
				log.Warningf("regression against %s: %s", cfg.Baseline, m)
			}
		}
	}
	switch len(failures) {
	case 0:
		return res, nil
	case 1:
		return res, failures[0]
	}
	return res, errors.Join(failures...)
}

// MaxFileSize is the largest metrics or baseline file read; MaxMetrics the
// most metrics all files together may hold (a YAML alias counting as the
// values it stands for).
const (
	MaxFileSize = 64 << 20
	MaxMetrics  = 1_000_000
)

// readMetrics reads every file the arguments of --flag name, in order, each
// with the size limit before it is parsed.
func readMetrics(flag string, args []string, format string) ([]Metric, []string, error) {
	var all []Metric
	var files []string
	for _, arg := range args {
		bad := func(f string, err error) error {
			if f != arg {
				err = fmt.Errorf("%s: %w", f, err)
			}
			return exitcode.BadInputf("--%s %q: %v", flag, arg, err)
		}
		matches, _, err := expand(arg)
		if err != nil {
			return nil, nil, bad(arg, err)
		}
		for _, f := range matches {
			data, err := readLimited(f, MaxFileSize)
			if err != nil {
				return nil, nil, bad(f, err)
			}
			ms, err := parse(f, data, format, MaxMetrics-len(all))
			var tooMany *limitError
			if errors.As(err, &tooMany) {
				return nil, nil, bad(f, err)
			}
			if err != nil {
				return nil, nil, err
			}
			all = append(all, ms...)
			files = append(files, f)
		}
	}
	return all, files, nil
}

// readLimited reads a file of at most max bytes; a larger one (or an
// endless one, such as /dev/zero) is an error without reading past max.
func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.IsDir() {
		return nil, errors.New("is a directory, not a metrics file")
	} else if err == nil && info.Mode().IsRegular() && info.Size() > max {
		return nil, fmt.Errorf("%s is larger than the %s limit", sizeText(info.Size()), sizeText(max))
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("larger than the %s limit", sizeText(max))
	}
	return data, nil
}

// sizeText is a size for messages: "64 MiB", "70.5 MiB", "900 bytes".
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// applyRenames renames metrics in place. With strict, a rename whose old
// name is not there is bad input (a typo would otherwise go unnoticed).
func applyRenames(ms []Metric, renames []rename, strict bool) error {
	for _, r := range renames {
		found := false
		for i := range ms {
			if ms[i].Name == r.from {
				ms[i].Original, ms[i].Name = ms[i].Name, r.to
				found = true
			}
		}
		if !found && strict {
			return exitcode.BadInputf("--rename %q: no metric named %s", r.given, r.from)
		}
	}
	return nil
}

// filter keeps the metrics an --include pattern matches (all when there is
// none) and no --exclude pattern matches.
func filter(ms []Metric, include, exclude []string) []Metric {
	if len(include) == 0 && len(exclude) == 0 {
		return ms
	}
	out := ms[:0]
	for _, m := range ms {
		keep := len(include) == 0
		for _, p := range include {
			if matchName(p, m.Name) {
				keep = true
				break
			}
		}
		for _, p := range exclude {
			if keep && matchName(p, m.Name) {
				keep = false
			}
		}
		if keep {
			out = append(out, m)
		}
	}
	return out
}

func checkDuplicates(ms []Metric) error {
	seen := make(map[string]int, len(ms))
	for i := range ms {
		if j, ok := seen[ms[i].Name]; ok {
			return exitcode.BadInputf("%s: metric %s is already set at %s", ms[i].Where(), ms[i].Name, ms[j].Where())
		}
		seen[ms[i].Name] = i
	}
	return nil
}

// checkNames rejects duplicate metrics and gives every metric its output
// name. Workflow expressions read outputs without regard to case, so two
// output names that differ only in case, or one that is a fixed output's
// name, are bad input too.
func checkNames(ms []Metric) error {
	if err := checkDuplicates(ms); err != nil {
		return err
	}
	taken := make(map[string]int, len(ms)+len(fixedOutputs))
	for _, f := range fixedOutputs {
		taken[f] = -1
	}
	for i := range ms {
		m := &ms[i]
		m.Output = OutputName(m.Name)
		key := strings.ToLower(m.Output)
		j, ok := taken[key]
		switch {
		case ok && j < 0:
			return exitcode.BadInputf("%s: metric %s would overwrite the %s output; rename it with --rename %s=NEW", m.Where(), m.Name, key, m.Name)
		case ok:
			return exitcode.BadInputf("%s: metric %s and %s (%s) both become output %s (output names ignore case and hold only letters, digits, _, - and .); rename one with --rename", m.Where(), m.Name, ms[j].Name, ms[j].Where(), m.Output)
		}
		taken[key] = i
	}
	return nil
}

// MaxMetricOutputs is how many metrics get a step output of their own and
// a place in the "metrics" output: GitHub keeps about 1 MB of outputs per
// job, and 100,000 metrics as outputs are more than 10 MB. The metrics file
// always holds every metric.
const MaxMetricOutputs = 1000

// selectOutputs keeps the output names of the metrics that get outputs (the
// ones a pattern matches, or all; the first MaxMetricOutputs of them) and
// clears the others'. It returns how many metrics have no output, and how
// many of those were named (or not filtered) but beyond the limit. A
// pattern that matches no metric is bad input, as a misspelled name would
// otherwise leave an output empty unnoticed.
func selectOutputs(ms []Metric, patterns []string) (omitted, cut int, err error) {
	for _, pat := range patterns {
		if !slices.ContainsFunc(ms, func(m Metric) bool { return matchName(pat, m.Name) }) {
			return 0, 0, exitcode.BadInputf("--output-metrics %q: no metric matches", pat)
		}
	}
	kept := 0
	for i := range ms {
		m := &ms[i]
		named := len(patterns) == 0 || slices.ContainsFunc(patterns, func(pat string) bool { return matchName(pat, m.Name) })
		switch {
		case named && kept < MaxMetricOutputs:
			kept++
			continue
		case named:
			cut++
		}
		m.Output = ""
		omitted++
	}
	return omitted, cut, nil
}

// writeMetricsFile writes the metrics as one JSON object, ready to be a
// policy's input, and returns its path.
func writeMetricsFile(cfg Config, ms []Metric) (string, error) {
	data := append(metricsJSON(ms, true), '\n')
	if cfg.OutputFile != "" {
		bad := func(err error) error {
			return exitcode.BadInputf("--output-file %q: %v", cfg.OutputFile, unwrapPathError(err))
		}
		if dir := filepath.Dir(cfg.OutputFile); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return "", bad(err)
			}
		}
		if err := os.WriteFile(cfg.OutputFile, data, 0o644); err != nil {
			return "", bad(err)
		}
		return cfg.OutputFile, nil
	}
	f, err := os.CreateTemp(cfg.TempDir, "metrics-*.json")
	if err != nil {
		return "", exitcode.Wrap(exitcode.Incomplete, fmt.Errorf("writing the metrics file: %w", err))
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return "", exitcode.Wrap(exitcode.Incomplete, fmt.Errorf("writing %s: %w", f.Name(), err))
	}
	if err := f.Close(); err != nil {
		return "", exitcode.Wrap(exitcode.Incomplete, fmt.Errorf("writing %s: %w", f.Name(), err))
	}
	return f.Name(), nil
}
