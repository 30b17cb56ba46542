// Package metricsexport is the metrics-export tool: it reads model metrics
// (KEY=VALUE, JSON or YAML files), writes them as step outputs and as one
// JSON file for policy-gate, uploads report files to S3, puts the numeric
// metrics to CloudWatch and compares them with a baseline.
package metricsexport

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/urfave/cli/v2"

	"github.com/mlship/mlship/internal/awsconfig"
	"github.com/mlship/mlship/internal/cloudwatchclient"
	"github.com/mlship/mlship/internal/command"
)

// Name is the tool's name.
const Name = "metrics-export"

// Command is the metrics-export command line.
func Command() *command.Command {
	return newCommand(awsClients)
}

// clientsFunc builds the AWS clients a run needs; tests swap it.
type clientsFunc func(ctx context.Context, cfg *Config) (Deps, error)

func awsClients(ctx context.Context, cfg *Config) (Deps, error) {
	if !cfg.NeedsAWS() {
		return Deps{}, nil
	}
	awsCfg, err := awsconfig.Load(ctx, Name, cfg.Region)
	if err != nil {
		return Deps{}, err
	}
	return ClientsFrom(awsCfg, cfg.PathStyle), nil
}

// ClientsFrom builds the S3, presign and CloudWatch clients from an AWS
// configuration.
func ClientsFrom(awsCfg aws.Config, pathStyle bool) Deps {
	s := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	return Deps{S3: s, Presigner: s3.NewPresignClient(s), CloudWatch: cloudwatchclient.New(awsCfg)}
}

func newCommand(clients clientsFunc) *command.Command {
	return &command.Command{
		Name:  Name,
		Usage: "export model metrics as step outputs, upload reports to S3, put metrics to CloudWatch, compare with a baseline",
		Description: `Reads metrics files (KEY=VALUE lines, JSON or YAML; nested keys joined with
dots) and writes every metric as a step output with its value exactly as
written, plus "metrics" (one JSON object, numbers as numbers) and
"metrics-file" (the same JSON in a file, ready to be policy-gate's input).
Outputs carry at most 1000 metrics (the first, or those --output-metrics
names); the metrics file always has them all.

Optionally uploads report files to S3 (same file, same key; URLs plain or
presigned), puts the numeric metrics to CloudWatch in batches within the
API's limits, and compares the metrics with a baseline file: per metric a
direction (higher or lower is better) and a tolerance (absolute, or a
percentage of the baseline).

A metric name that is not a valid output name is written to the output
whose name has every other character replaced by "_" ("eval/f1@5" ->
"eval_f1_5"); the metrics JSON keeps the original name.`,
		Examples: `metrics-export --file model_metrics.env
metrics-export --file model_metrics.env \
    --rename EQUAL_OPPORTUNITY_FAIRNESS_PERCENT=fairnessScoreEqualOpportunity \
    --upload model_metrics.html --bucket my-reports --prefix runs/42/ --presign 24h
metrics-export --file metrics.json --baseline baseline.json \
    --compare accuracy:higher:0.01 --compare 'latency_*:lower:5%' --fail-on-regression
metrics-export --file metrics.yaml --cloudwatch-namespace MLModels \
    --dimension Model=credit-approval --unit '*_ms=Milliseconds'`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "file", Usage: "metrics `FILE` to read: KEY=VALUE lines, .json or .yaml/.yml (globs allowed; repeatable)", Required: true},
			&cli.StringFlag{Name: "format", Value: FormatAuto, Usage: "format of the --file files: auto (by extension), env, json or yaml"},
			&cli.StringSliceFlag{Name: "include", Usage: "keep only metrics whose name matches `PATTERN` (* and ?; repeatable)"},
			&cli.StringSliceFlag{Name: "exclude", Usage: "drop metrics whose name matches `PATTERN` (* and ?; repeatable)"},
			&cli.StringSliceFlag{Name: "rename", Usage: "rename a metric, `OLD=NEW` (repeatable); other options use the new name"},
			&cli.StringSliceFlag{Name: "output-metrics", Usage: "give step outputs only to metrics whose name matches `PATTERN` (* and ?; repeatable; default the first 1000)"},
			&cli.StringFlag{Name: "output-file", Usage: "write the metrics JSON to `PATH` (default: a new file in RUNNER_TEMP or the temporary directory)"},
			&cli.StringFlag{Name: "baseline", Usage: "baseline metrics `FILE` to compare with (format by extension)"},
			&cli.StringSliceFlag{Name: "compare", Usage: "judge a metric against the baseline: `NAME:higher|lower[:TOLERANCE]`, tolerance absolute (0.01) or relative (2%); NAME may use * and ? (repeatable)"},
			&cli.BoolFlag{Name: "fail-on-regression", Usage: "exit 1 when a metric regressed against the baseline (default: warn)"},
			&cli.StringSliceFlag{Name: "upload", Usage: "report `FILE`, directory or glob to upload to S3 (repeatable)"},
			&cli.StringFlag{Name: "bucket", Usage: "S3 `BUCKET` for --upload"},
			&cli.StringFlag{Name: "prefix", Usage: "key `PREFIX` for uploads, e.g. reports/${run_id}/"},
			&cli.StringFlag{Name: "presign", Usage: "output presigned URLs valid for `DURATION` (e.g. 12h, 7d; at most 7d) instead of plain URLs"},
			&cli.BoolFlag{Name: "s3-path-style", Usage: "address S3 path-style (endpoint/bucket/key) instead of virtual-hosted (bucket.endpoint/key)"},
			&cli.StringFlag{Name: "cloudwatch-namespace", Usage: "put the numeric metrics to CloudWatch under `NAMESPACE`"},
			&cli.StringSliceFlag{Name: "dimension", Usage: "CloudWatch dimension `NAME=VALUE` for every metric (repeatable, at most 30)"},
			&cli.StringSliceFlag{Name: "unit", Usage: "CloudWatch unit for matching metrics, `PATTERN=UNIT` (e.g. '*_ms=Milliseconds'; default None; repeatable)"},
			awsconfig.RegionFlag(),
		},
		Outputs: []command.OutputSpec{
			{Name: "metrics", Description: "the metrics that have outputs (all, up to 1000) as one JSON object (numbers as numbers)"},
			{Name: "metrics-file", Description: "path of a file holding the metrics JSON"},
			{Name: "report-urls", Description: "JSON array of the uploaded reports' URLs"},
			{Name: "report-url", Description: "URL of the first uploaded report"},
			{Name: "deltas", Description: "JSON object of metric name to current minus baseline"},
			{Name: "regressed", Description: "true when a metric regressed against the baseline"},
			{Name: "regressions", Description: "JSON array of the names of the metrics that regressed"},
			{Name: "metrics-omitted", Description: "how many metrics have no output and are only in the metrics file (0 unless over 1000 or --output-metrics)"},
		},
		DynamicOutputs: true,
		Run: func(ctx context.Context, c *cli.Context, rt *command.Runtime) (command.Result, error) {
			cfg := Config{
				Files:            c.StringSlice("file"),
				Format:           c.String("format"),
				Include:          c.StringSlice("include"),
				Exclude:          c.StringSlice("exclude"),
				Rename:           c.StringSlice("rename"),
				OutputMetrics:    c.StringSlice("output-metrics"),
				OutputFile:       c.String("output-file"),
				TempDir:          command.TempDir(rt.Getenv),
				Baseline:         c.String("baseline"),
				Compare:          c.StringSlice("compare"),
				FailOnRegression: c.Bool("fail-on-regression"),
				Upload:           c.StringSlice("upload"),
				Bucket:           c.String("bucket"),
				Prefix:           c.String("prefix"),
				Presign:          c.String("presign"),
				PathStyle:        c.Bool("s3-path-style"),
				Namespace:        c.String("cloudwatch-namespace"),
				Dimensions:       c.StringSlice("dimension"),
				Units:            c.StringSlice("unit"),
				Region:           c.String("region"),
			}
			plan, err := cfg.Validate()
			if err != nil {
				return nil, err
			}
			deps, err := clients(ctx, &cfg)
			if err != nil {
				return nil, err
			}
			deps.Log = rt
			return Run(ctx, plan, deps)
		},
	}
}
