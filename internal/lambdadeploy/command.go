// Package lambdadeploy is the lambda-deploy tool: it deploys a container
// image to a Lambda function the way a careful engineer would by hand. It
// checks that the image exists in ECR, updates the code and merges
// environment variables (with RevisionId, so a concurrent change is never
// overwritten), waits with the SDK waiters, publishes a version, shifts an
// alias to it all at once, as a canary or linearly, smoke-invokes it and
// watches CloudWatch alarms between steps, and rolls back on a failed check.
//
// The shape every tool has: Command reads the flags into a Config;
// Config.Validate checks it once, before any call, and returns the Plan;
// Run(ctx, plan, deps) carries it out and returns a Result (plain data with
// Outputs, Summary and Text). The AWS clients are the small interfaces in
// deploy.go. The files read top to bottom by concern: config.go (inputs),
// deploy.go (the flow), image.go, function.go ($LATEST and versions),
// traffic.go (the alias and the alarms), smoke.go, env.go, rollback.go,
// state.go (the previous-state record), describe.go (the plan) and
// result.go.
package lambdadeploy

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/urfave/cli/v2"

	"github.com/mlship/mlship/internal/alarms"
	"github.com/mlship/mlship/internal/awsconfig"
	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/ssmclient"
)

// Name is the tool's name.
const Name = "lambda-deploy"

// Command is the lambda-deploy command line.
func Command() *command.Command {
	return newCommand(awsClients)
}

// clientsFunc builds the AWS clients a run needs; tests swap it.
type clientsFunc func(ctx context.Context, region string) (Deps, error)

func awsClients(ctx context.Context, region string) (Deps, error) {
	cfg, err := awsconfig.Load(ctx, Name, region)
	if err != nil {
		return Deps{}, err
	}
	ssmc, err := ssmclient.New(ctx, cfg, Name)
	if err != nil {
		return Deps{}, exitcode.Incompletef("setting up SSM: %w", err)
	}
	cw, err := alarms.NewClient(ctx, cfg, Name)
	if err != nil {
		return Deps{}, exitcode.Incompletef("setting up CloudWatch: %w", err)
	}
	return Deps{
		Lambda:     lambda.NewFromConfig(cfg),
		CloudWatch: cw,
		ECR:        ecr.NewFromConfig(cfg),
		SSM:        ssmc,
		Region:     cfg.Region,
		Timing:     DefaultTiming(),
	}, nil
}

func newCommand(clients clientsFunc) *command.Command {
	outs := make([]command.OutputSpec, 0, len(outputSpecs))
	for _, s := range outputSpecs {
		outs = append(outs, command.OutputSpec{Name: s.name, Description: s.desc})
	}
	return &command.Command{
		Name:  Name,
		Usage: "deploy a container image to a Lambda function: update, wait, publish, shift an alias with checks, roll back",
		Description: `Checks that the image exists in ECR, then updates the function's code and
merges environment variables into the existing ones (nothing is removed
unless --unset names it). Every change carries the RevisionId read at the
start, so a change made meanwhile by someone else (another deploy) is
reported (exit 1), never overwritten. It waits for each update with the SDK
waiters, retrying with backoff while another update is in progress, fails
with Lambda's reason when an update ends Failed, and publishes a version.

With --alias, traffic moves to the new version all at once, as a canary
(--percent for --interval, then all) or linearly (--percent more every
--interval), through the alias's weighted routing; at the end the alias has
no routing left. A smoke invocation (--payload, checked with --expect-status
and --expect) runs before the version takes traffic and after each shift,
and the --alarm alarms are read between steps. When a check fails, the alias
goes back to the previous version with no routing and $LATEST gets its
previous image and variables back, unless --no-rollback.

The image is deployed by the digest ECR reported for it, so a tag moved
meanwhile changes nothing. Every input and file is checked before the first
change, and the whole state before the deploy (image, variables, alias and
routing) is written as JSON (previous-state-file, mode 0600) before it. A
SIGINT or SIGTERM starts the rollback at once, for at most 2m.
--dry-run reads everything and prints the plan.`,
		Examples: `lambda-deploy --function pricing-api --image-uri 123456789012.dkr.ecr.us-east-1.amazonaws.com/pricing:v42 \
    --env ENVIRONMENT=prod --env VERSION=v42 --payload '{"item":"A1"}' --expect-status 200
lambda-deploy --function credit-model --alias live --repository credit-inference --tag ${GITHUB_RUN_ID} \
    --strategy canary --percent 10 --interval 5m --alarm credit-model-errors \
    --payload @test_event.json --expect body.approved=true
lambda-deploy --function pricing-api --alias prod --repository pricing --tag-parameter /pricing/image-tag \
    --strategy linear --percent 25 --interval 1m --secret-env API_KEY=${API_KEY} --dry-run`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "function", Usage: "function `NAME` or ARN", Required: true},
			&cli.StringFlag{Name: "alias", Usage: "alias `NAME` to move to the new version (created when missing); without it only $LATEST is updated and a version published"},
			&cli.StringFlag{Name: "image-uri", Usage: "image to deploy, `URI` <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> (or @sha256:<digest>)"},
			&cli.StringFlag{Name: "repository", Usage: "ECR repository `NAME` or URI, with --tag or --tag-parameter"},
			&cli.StringFlag{Name: "tag", Usage: "image `TAG` in --repository"},
			&cli.StringFlag{Name: "tag-parameter", Usage: "SSM parameter `NAME` holding the tag (or, without --repository, the whole image URI)"},
			&cli.StringSliceFlag{Name: "env", Usage: "environment variable `KEY=VALUE` to set, merged into the existing ones (repeatable)"},
			&cli.StringSliceFlag{Name: "secret-env", Usage: "like --env (`KEY=VALUE`), but the value is masked and never printed (repeatable)"},
			&cli.StringSliceFlag{Name: "unset", Usage: "environment variable `KEY` to remove (repeatable)"},
			&cli.BoolFlag{Name: "replace-env", Usage: "make --env and --secret-env the function's whole environment, removing every other variable (needed when Lambda cannot return the current ones)"},
			&cli.StringFlag{Name: "strategy", Value: AllAtOnce, Usage: "`STRATEGY` for moving the alias: all-at-once, canary or linear"},
			&cli.Float64Flag{Name: "percent", Usage: "traffic `PERCENT` of the canary, or added at each linear step (default 10; linear takes at most 100 steps)"},
			&cli.DurationFlag{Name: "interval", Usage: "how long (`DURATION`) each canary or linear share is held and watched (default 5m canary, 1m linear)"},
			&cli.DurationFlag{Name: "bake-time", Usage: "how long (`DURATION`) to keep watching the alarms after the new version takes all traffic"},
			&cli.StringFlag{Name: "payload", Usage: "JSON `EVENT` for the smoke invocation, or @FILE (at most 6 MB)"},
			&cli.IntFlag{Name: "expect-status", Usage: "the smoke response's statusCode field must be `STATUS` (proxy-integration responses)"},
			&cli.StringSliceFlag{Name: "expect", Usage: "the smoke response must have `FIELD=VALUE`, FIELD a dotted path (body.x enters a JSON body) and VALUE JSON or text (repeatable)"},
			&cli.StringSliceFlag{Name: "alarm", Usage: "CloudWatch alarm `NAME` (metric or composite) that must not fire during the deploy (repeatable)"},
			&cli.BoolFlag{Name: "require-alarms-ok", Usage: "refuse to deploy while an --alarm is already firing (default: report it and go on)"},
			&cli.BoolFlag{Name: "no-rollback", Usage: "on a failed check, leave the alias and function as they are for inspection"},
			&cli.BoolFlag{Name: "dry-run", Usage: "read everything and print the plan without changing anything"},
			&cli.DurationFlag{Name: "timeout", Value: DefaultTimeout, Usage: "how long (`DURATION`) to wait for each Lambda update, including for another one in progress to finish (more than 0)"},
			&cli.StringFlag{Name: "response-file", Usage: "write the smoke response to `PATH` (default: a new file in RUNNER_TEMP or the temporary directory)"},
			&cli.StringFlag{Name: "state-file", Usage: "write the previous-state JSON to `PATH` (default: a new file in RUNNER_TEMP or the temporary directory)"},
			awsconfig.RegionFlag(),
		},
		Outputs: outs,
		// A signal starts the rollback, which may take RollbackTimeout.
		Grace: RollbackTimeout + 30*time.Second,
		Run: func(ctx context.Context, c *cli.Context, rt *command.Runtime) (command.Result, error) {
			cfg := &Config{
				Function:        c.String("function"),
				Alias:           c.String("alias"),
				ImageURI:        c.String("image-uri"),
				Repository:      c.String("repository"),
				Tag:             c.String("tag"),
				TagParameter:    c.String("tag-parameter"),
				EnvArgs:         c.StringSlice("env"),
				SecretEnvArgs:   c.StringSlice("secret-env"),
				Unset:           c.StringSlice("unset"),
				ReplaceEnv:      c.Bool("replace-env"),
				Strategy:        c.String("strategy"),
				Percent:         c.Float64("percent"),
				Interval:        c.Duration("interval"),
				BakeTime:        c.Duration("bake-time"),
				PayloadArg:      c.String("payload"),
				ExpectStatus:    c.Int("expect-status"),
				ExpectArgs:      c.StringSlice("expect"),
				Alarms:          c.StringSlice("alarm"),
				RequireAlarmsOK: c.Bool("require-alarms-ok"),
				NoRollback:      c.Bool("no-rollback"),
				DryRun:          c.Bool("dry-run"),
				Timeout:         c.Duration("timeout"),
				ResponseFile:    c.String("response-file"),
				StateFile:       c.String("state-file"),
				TempDir:         command.TempDir(rt.Getenv),
				Region:          c.String("region"),
			}
			// Secret values are masked before anything can print them,
			// even a validation error.
			for _, a := range cfg.SecretEnvArgs {
				if _, v, ok := strings.Cut(a, "="); ok {
					rt.Mask(v)
				}
			}
			plan, err := cfg.Validate()
			if err != nil {
				return nil, err
			}
			deps, err := clients(ctx, plan.Region())
			if err != nil {
				return nil, err
			}
			deps.Log = rt
			return Run(ctx, plan, deps)
		},
	}
}
