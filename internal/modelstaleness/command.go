// Package modelstaleness is the model-staleness tool: it finds when a model
// last changed (git history, the GitHub API, an S3 object, an ECR image, an
// SSM parameter, a SageMaker model package group or an MLflow registered
// model), judges its age against
// warn and error thresholds, and tells people once (a GitHub issue, an SNS
// message, an SES email) when it is stale.
package modelstaleness

import (
	"context"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/urfave/cli/v2"

	"github.com/mlship/mlship/internal/awsconfig"
	"github.com/mlship/mlship/internal/command"
)

// Name is the tool's name.
const Name = "model-staleness"

// Command is the model-staleness command line.
func Command() *command.Command {
	return newCommand(awsClients)
}

// clientsFunc builds the AWS clients a run needs; tests swap it.
type clientsFunc func(ctx context.Context, p *Plan) (Deps, error)

func awsClients(ctx context.Context, p *Plan) (Deps, error) {
	if !p.NeedsAWS() {
		return Deps{}, nil
	}
	awsCfg, err := awsconfig.Load(ctx, Name, p.Region())
	if err != nil {
		return Deps{}, err
	}
	return ClientsFrom(awsCfg, p.PathStyle()), nil
}

// ClientsFrom builds the AWS clients from an AWS configuration.
func ClientsFrom(awsCfg aws.Config, pathStyle bool) Deps {
	return Deps{
		S3:        s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = pathStyle }),
		ECR:       ecr.NewFromConfig(awsCfg),
		SSM:       ssm.NewFromConfig(awsCfg),
		SageMaker: sagemaker.NewFromConfig(awsCfg),
		SNS:       sns.NewFromConfig(awsCfg),
		SES:       sesv2.NewFromConfig(awsCfg),
	}
}

// DefaultTimeout bounds a whole run, waits for rate limits included.
const DefaultTimeout = 10 * time.Minute

var outputs = []command.OutputSpec{
	{Name: "stale", Description: "true when the state is warn, error or unknown (the worst model's, with --config)"},
	{Name: "state", Description: "fresh, warn, error, or unknown when the model could not be judged"},
	{Name: "age-seconds", Description: "seconds since the model last changed"},
	{Name: "age-human", Description: "the age for people, e.g. 9d 4h"},
	{Name: "last-updated", Description: "when the model last changed (RFC 3339, UTC)"},
	{Name: "source", Description: "where last-updated came from: git, github, s3, ecr, ssm, sagemaker or mlflow"},
	{Name: "commit", Description: "the commit that last changed the model (git and github)"},
	{Name: "version", Description: "the model version found (mlflow)"},
	{Name: "notified", Description: "what was sent or changed in this run, comma-separated (e.g. issue owner/name#12 opened, sns, email)"},
	{Name: "models", Description: "JSON array of every model's result (with --config, one per model)"},
}

func newCommand(clients clientsFunc) *command.Command {
	return &command.Command{
		Name:  Name,
		Usage: "tell when a model has not been retrained: its age from git, GitHub, S3, ECR, SSM, SageMaker or MLflow, thresholds, and one notification",
		Description: `Finds when a model last changed, judges its age against --warn-after and
--error-after (fresh, warn or error), and when it is not fresh says so once:
a GitHub issue opened (updated when the state changes, closed when the model
is fresh again), an SNS message, an SES email. The same state is not sent
twice: the issue's hidden marker, or --state-file, remembers what was sent.

Sources (--source): git (the history of --path in the checkout; needs the
git binary and the whole history, fetch-depth: 0), github (the GitHub API
for --repository, without a checkout), s3 (--s3-uri), ecr (--image), ssm
(--parameter), sagemaker (--model-package-group), mlflow (--registered-model
on --mlflow-uri, by --stage or --alias; credentials from
MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD).

Several models in one run: --config models.yaml (per model its source,
paths and thresholds; the options given here are their defaults). The worst
state decides the exit code with --fail-on.`,
		Examples: `model-staleness --path notebooks/credit_card_approval.ipynb --warn-after 7d
model-staleness --source github --repository my-org/credit-model \
    --path credit_card_approval.ipynb --error-after 7d --issue
model-staleness --path 'models/**/*.pkl' --ignore-author 'dependabot[bot]' \
    --ignore-message '^chore' --warn-after 7d --error-after 14d --fail-on error
model-staleness --source sagemaker --model-package-group retail-forecast \
    --approved-only --warn-after 2w --sns-topic-arn arn:aws:sns:us-east-1:123456789012:models
model-staleness --source mlflow --mlflow-uri https://mlflow.example.com \
    --registered-model credit-card --alias champion --error-after 30d
model-staleness --config models.yaml --issue --dry-run`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "source", Value: SourceGit, Usage: "where last-updated comes from: git, github, s3, ecr, ssm, sagemaker or mlflow"},
			&cli.StringFlag{Name: "model", Usage: "the model's `NAME` in the summary and notifications (default: what is read, e.g. the paths)"},
			&cli.StringSliceFlag{Name: "path", Usage: "git, github: a file or folder of the model; git also takes globs with ** (repeatable)"},
			&cli.StringSliceFlag{Name: "ignore-author", Usage: "git, github: skip commits whose author name, email or GitHub login is `NAME` (* matches anything; repeatable)"},
			&cli.StringSliceFlag{Name: "ignore-message", Usage: "git, github: skip commits whose message matches `REGEX` (e.g. '^chore'; repeatable)"},
			&cli.StringFlag{Name: "directory", Value: ".", Usage: "git: the checkout to read"},
			&cli.StringFlag{Name: "repository", Usage: "github: `OWNER/NAME` to read (default GITHUB_REPOSITORY)"},
			&cli.StringFlag{Name: "ref", Usage: "git, github: the branch, tag or commit whose history is read (default HEAD, or the default branch)"},
			&cli.StringFlag{Name: "token", Usage: "github source and --issue: GitHub token (default GITHUB_TOKEN); masked"},
			&cli.StringFlag{Name: "s3-uri", Usage: "s3: s3://bucket/key of the model, or s3://bucket/prefix/ for the newest object under it"},
			&cli.BoolFlag{Name: "s3-path-style", Usage: "s3: address S3 path-style (for MinIO and some emulators)"},
			&cli.StringFlag{Name: "image", Usage: "ecr: the image, `REPO:TAG` or REPO@sha256:..., or REPO for its newest tagged image (a registry host in front is allowed)"},
			&cli.StringFlag{Name: "parameter", Usage: "ssm: the SSM parameter `NAME` (or ARN, or NAME:VERSION)"},
			&cli.StringFlag{Name: "model-package-group", Usage: "sagemaker: the model package group `NAME` (or ARN)"},
			&cli.BoolFlag{Name: "approved-only", Usage: "sagemaker: only Approved model packages count"},
			&cli.StringFlag{Name: "mlflow-uri", Usage: "mlflow: the tracking server's `URL` (default MLFLOW_TRACKING_URI); credentials from MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (masked)"},
			&cli.StringFlag{Name: "registered-model", Usage: "mlflow: the registered model's `NAME`; its newest version counts"},
			&cli.StringFlag{Name: "stage", Usage: "mlflow: the newest version in this `STAGE` counts instead: None, Staging, Production or Archived"},
			&cli.StringFlag{Name: "alias", Usage: "mlflow: the version this `ALIAS` points at counts instead (e.g. champion; not with --stage)"},
			awsconfig.RegionFlag(),
			&cli.StringFlag{Name: "warn-after", Usage: "state warn when the model is older than `DURATION` (e.g. 7d, 36h, 2w)"},
			&cli.StringFlag{Name: "error-after", Usage: "state error when the model is older than `DURATION`"},
			&cli.StringFlag{Name: "fail-on", Value: "never", Usage: "exit 1 on state warn (or worse), error, or never (report and notify only)"},
			&cli.StringFlag{Name: "config", Usage: "YAML `FILE` of several models (models: a list; per model the options above as keys)"},
			&cli.BoolFlag{Name: "issue", Usage: "open a GitHub issue when stale, update it when the state changes, close it when fresh again"},
			&cli.StringFlag{Name: "issue-repository", Usage: "issue: `OWNER/NAME` to open it in (default --repository of the github source, else GITHUB_REPOSITORY)"},
			&cli.StringSliceFlag{Name: "issue-labels", Usage: "issue: labels to give it, comma-separated or repeated (also narrow the search for it)"},
			&cli.StringFlag{Name: "issue-title", Usage: "issue: title `TEMPLATE` (Go text/template; default \"" + DefaultIssueTitle + "\")"},
			&cli.StringFlag{Name: "sns-topic-arn", Usage: "publish to this SNS topic `ARN` when stale"},
			&cli.StringFlag{Name: "sns-subject", Usage: "SNS: subject `TEMPLATE` (or @FILE; default as --email-subject)"},
			&cli.StringFlag{Name: "sns-message", Usage: "SNS: message `TEMPLATE` (or @FILE; default as --email-body)"},
			&cli.StringSliceFlag{Name: "email-to", Usage: "SES: send an email to `ADDRESS` when stale (repeatable)"},
			&cli.StringFlag{Name: "email-from", Usage: "SES: the sender `ADDRESS`, verified in SES"},
			&cli.StringFlag{Name: "email-subject", Usage: "SES: subject `TEMPLATE` (or @FILE)"},
			&cli.StringFlag{Name: "email-body", Usage: "SES: text body `TEMPLATE` (or @FILE)"},
			&cli.StringFlag{Name: "state-file", Usage: "JSON `FILE` that remembers what was sent, so SNS and email go out once per state (keep it with actions/cache)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print what would be sent or changed, and send nothing"},
			&cli.DurationFlag{Name: "timeout", Value: DefaultTimeout, Usage: "give up after `DURATION`, waits for GitHub's rate limit included"},
		},
		Outputs: outputs,
		Run: func(ctx context.Context, c *cli.Context, rt *command.Runtime) (command.Result, error) {
			token := c.String("token")
			if token == "" {
				token = rt.Getenv("GITHUB_TOKEN")
			}
			rt.Mask(token)
			mlToken, mlPass := rt.Getenv("MLFLOW_TRACKING_TOKEN"), rt.Getenv("MLFLOW_TRACKING_PASSWORD")
			rt.Mask(mlToken)
			rt.Mask(mlPass)
			cfg := Config{
				Model: ModelSpec{
					Name:              c.String("model"),
					Source:            c.String("source"),
					Paths:             c.StringSlice("path"),
					IgnoreAuthors:     c.StringSlice("ignore-author"),
					IgnoreMessages:    c.StringSlice("ignore-message"),
					Directory:         c.String("directory"),
					Repository:        c.String("repository"),
					Ref:               c.String("ref"),
					S3URI:             c.String("s3-uri"),
					Image:             c.String("image"),
					Parameter:         c.String("parameter"),
					ModelPackageGroup: c.String("model-package-group"),
					ApprovedOnly:      c.Bool("approved-only"),
					MLflowURI:         c.String("mlflow-uri"),
					RegisteredModel:   c.String("registered-model"),
					Stage:             c.String("stage"),
					Alias:             c.String("alias"),
					WarnAfter:         c.String("warn-after"),
					ErrorAfter:        c.String("error-after"),
				},
				ConfigFile:         c.String("config"),
				FailOn:             c.String("fail-on"),
				DryRun:             c.Bool("dry-run"),
				Timeout:            c.Duration("timeout"),
				Token:              token,
				APIURL:             rt.Getenv("GITHUB_API_URL"),
				WorkflowRepository: rt.Getenv("GITHUB_REPOSITORY"),
				RunURL:             runURL(rt.Getenv),
				MLflowTrackingURI:  rt.Getenv("MLFLOW_TRACKING_URI"),
				MLflowToken:        mlToken,
				MLflowUsername:     rt.Getenv("MLFLOW_TRACKING_USERNAME"),
				MLflowPassword:     mlPass,
				Issue:              c.Bool("issue"),
				IssueRepository:    c.String("issue-repository"),
				IssueLabels:        c.StringSlice("issue-labels"),
				IssueTitle:         c.String("issue-title"),
				SNSTopicARN:        c.String("sns-topic-arn"),
				SNSSubject:         c.String("sns-subject"),
				SNSMessage:         c.String("sns-message"),
				EmailTo:            c.StringSlice("email-to"),
				EmailFrom:          c.String("email-from"),
				EmailSubject:       c.String("email-subject"),
				EmailBody:          c.String("email-body"),
				StateFile:          c.String("state-file"),
				Region:             c.String("region"),
				PathStyle:          c.Bool("s3-path-style"),
			}
			plan, err := cfg.Validate()
			if err != nil {
				return nil, err
			}
			deps, err := clients(ctx, plan)
			if err != nil {
				return nil, err
			}
			if plan.NeedsGitHub() {
				if deps.GitHub, err = NewGitHubClient(cfg.APIURL, cfg.Token, nil); err != nil {
					return nil, err
				}
			}
			deps.Log = rt
			res, err := Run(ctx, plan, deps)
			if res == nil {
				return nil, err
			}
			return res, err
		},
	}
}

// runURL is the workflow run's page, when in one.
func runURL(getenv func(string) string) string {
	server, repo, id := getenv("GITHUB_SERVER_URL"), getenv("GITHUB_REPOSITORY"), getenv("GITHUB_RUN_ID")
	if server == "" || repo == "" || id == "" {
		return ""
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	return server + "/" + repo + "/actions/runs/" + id
}
