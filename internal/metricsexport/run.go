package metricsexport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/mlship/mlship/internal/exitcode"
)

// Logger reports progress and warnings (action.Action in the tool).
type Logger interface {
	Logf(format string, args ...any)
	Warningf(format string, args ...any)
}

// Deps are the AWS clients a run uses; they may be nil when the run does
// not upload or put metrics.
type Deps struct {
	S3         S3API
	Presigner  Presigner
	CloudWatch CloudWatchAPI
	Log        Logger
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
func Run(ctx context.Context, cfg Config, deps Deps) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Log == nil {
		deps.Log = nopLogger{}
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	log := deps.Log

	metrics, files, err := readMetrics(cfg.Files, cfg.Format)
	if err != nil {
		return nil, err
	}
	if err := applyRenames(metrics, cfg.renames, true); err != nil {
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

	if cfg.Baseline != "" {
		base, _, err := readMetrics([]string{cfg.Baseline}, FormatAuto)
		if err != nil {
			return nil, err
		}
		if err := applyRenames(base, cfg.renames, false); err != nil {
			return nil, err
		}
		if err := checkDuplicates(base); err != nil {
			return nil, err
		}
		cmps, missing, err := Compare(metrics, base, cfg.rules)
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
		data, skipped, err := metricData(metrics, cfg.dims, cfg.units, deps.Now())
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

	// Local work is done; from here on failures are reported beside the
	// result of what succeeded.
	var failures []error
	if len(uploads) > 0 {
		reports, err := uploadAll(ctx, deps.S3, deps.Presigner, cfg.Bucket, uploads, cfg.presignFor, log)
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

// readMetrics reads every file the arguments name, in order.
func readMetrics(args []string, format string) ([]Metric, []string, error) {
	var all []Metric
	var files []string
	for _, arg := range args {
		matches, _, err := expand(arg)
		if err != nil {
			return nil, nil, exitcode.BadInputf("%s: %v", arg, err)
		}
		for _, f := range matches {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, nil, exitcode.BadInputf("%s: %v", f, unwrapPathError(err))
			}
			ms, err := Parse(f, data, format)
			if err != nil {
				return nil, nil, err
			}
			all = append(all, ms...)
			files = append(files, f)
		}
	}
	return all, files, nil
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
			return exitcode.BadInputf("--rename %s=%s: no metric named %s", r.from, r.to, r.from)
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

// writeMetricsFile writes the metrics as one JSON object, ready to be a
// policy's input, and returns its path.
func writeMetricsFile(cfg Config, ms []Metric) (string, error) {
	data := append(metricsJSON(ms, true), '\n')
	if cfg.OutputFile != "" {
		if dir := filepath.Dir(cfg.OutputFile); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return "", exitcode.BadInputf("--output-file %s: %v", cfg.OutputFile, unwrapPathError(err))
			}
		}
		if err := os.WriteFile(cfg.OutputFile, data, 0o644); err != nil {
			return "", exitcode.BadInputf("--output-file %s: %v", cfg.OutputFile, unwrapPathError(err))
		}
		return cfg.OutputFile, nil
	}
	dir := cfg.RunnerTemp
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "metrics-*.json")
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
