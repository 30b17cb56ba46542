// Package healthrollback is the health-rollback tool: it checks what was
// just deployed (HTTP probes of URLs or of a Service's load balancer, and
// CloudWatch alarms over a window) and, when it is unhealthy, rolls back a
// Kubernetes workload (to the revision eks-rollout recorded) or a Lambda
// alias (to the version lambda-deploy recorded), refusing to roll back over
// a newer change than the one being judged.
package healthrollback

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/urfave/cli/v2"

	"github.com/mlship/mlship/internal/alarms"
	"github.com/mlship/mlship/internal/awsconfig"
	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
)

// Name is the tool's name.
const Name = "health-rollback"

// Command is the health-rollback command line.
func Command() *command.Command {
	return newCommand(connect)
}

// connectFunc builds the clients cfg needs; tests swap it.
type connectFunc func(ctx context.Context, cfg *Config) (Deps, error)

// connect builds only what cfg uses: a Kubernetes client for --service and
// --deployment, AWS clients for --alarm and --function.
func connect(ctx context.Context, cfg *Config) (Deps, error) {
	var d Deps
	if cfg.needsKube {
		kc, err := kube.Connect(ctx, Name, cfg.Target, cfg.Region)
		if err != nil {
			return Deps{}, err
		}
		d.Kube = kc
	}
	if len(cfg.Alarms) > 0 || cfg.Function != "" {
		awsCfg, err := awsconfig.Load(ctx, Name, cfg.Region)
		if err != nil {
			return Deps{}, err
		}
		if len(cfg.Alarms) > 0 {
			cw, err := alarms.NewClient(ctx, awsCfg, Name)
			if err != nil {
				return Deps{}, exitcode.Incompletef("setting up CloudWatch: %w", err)
			}
			d.CloudWatch = cw
		}
		d.Lambda = lambda.NewFromConfig(awsCfg)
	}
	return d, nil
}

func newCommand(connect connectFunc) *command.Command {
	outs := make([]command.OutputSpec, 0, len(outputSpecs))
	for _, s := range outputSpecs {
		outs = append(outs, command.OutputSpec{Name: s.name, Description: s.desc})
	}
	return &command.Command{
		Name:  Name,
		Usage: "check what was just deployed (HTTP probes, a Service's load balancer, CloudWatch alarms) and roll a Deployment or Lambda alias back when it is unhealthy",
		Description: `Probes each --url, or the load balancer of --service NAMESPACE/NAME at
--path (waiting up to --address-timeout for it to get a hostname), every
--interval, up to --attempts times: healthy after --successes attempts in a
row where every URL answered --expect-status (default 2xx) with a body
holding --expect-body (a substring, or /a regular expression/: the version
just deployed catches an old instance still answering). Each request has
--timeout; at most 1 MiB of a response is read. Redirects are not followed.

--alarm names CloudWatch alarms (metric or composite) watched over --watch:
one that goes into ALARM is unhealthy. An alarm already in ALARM when the
check starts is unhealthy too, unless --ignore-already-firing (then it counts
only if it clears and fires again).

Without a rollback target it only judges: exit 0 healthy, 1 unhealthy,
naming each failed signal with what it measured. With --deployment it rolls
the workload back with kubectl's rollbacker, to the revision eks-rollout
recorded in --state-file (else the revision before the live one), and waits
for that rollout (--rollout-timeout). With --function and --alias it points
the alias back, with no routing, at the version lambda-deploy recorded in
--state-file (else --to-version). It refuses to roll back over a newer
change than the one judged (the live revision, or the image the alias
serves, is not the state file's) unless --force. --dry-run reports only.`,
		Examples: `health-rollback --cluster retail-prod --namespace retail --service retail/retail-api --path /health \
    --expect-body build-42 --deployment retail-api --state-file "$STATE_FILE"
health-rollback --url https://api.example.com/health --alarm pricing-api-5xx --watch 10m \
    --function pricing-api --alias live --state-file previous-state.json
health-rollback --url http://localhost:8080/healthz --attempts 5 --interval 2s`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "url", Usage: "`URL` to probe, http:// or https:// (repeatable)"},
			&cli.StringFlag{Name: "service", Usage: "probe the load balancer of a Service, `NAMESPACE/NAME` (type LoadBalancer)"},
			&cli.StringFlag{Name: "path", Value: "/", Usage: "`PATH` probed on --service's load balancer (e.g. /health)"},
			&cli.StringFlag{Name: "port", Usage: "--service's `PORT`, by name or number (default: its only port, or the one named http)"},
			&cli.DurationFlag{Name: "address-timeout", Value: DefaultAddressTimeout, Usage: "how long to wait for --service's load balancer to get a hostname or IP"},
			&cli.StringSliceFlag{Name: "header", Usage: "request header `NAME: VALUE` (repeatable; Host: sets the host name asked for)"},
			&cli.StringFlag{Name: "expect-status", Value: DefaultExpectStatus, Usage: "accepted `STATUS`es: 200, 2xx, 200-299, or a list (200,204)"},
			&cli.StringFlag{Name: "expect-body", Usage: "the body must contain `TEXT`, or match /REGEX/"},
			&cli.DurationFlag{Name: "timeout", Value: DefaultTimeout, Usage: "how long each request may take"},
			&cli.DurationFlag{Name: "interval", Value: DefaultInterval, Usage: "time between attempts (and alarm reads)"},
			&cli.IntFlag{Name: "attempts", Value: DefaultAttempts, Usage: "how many attempts at most"},
			&cli.IntFlag{Name: "successes", Value: DefaultSuccesses, Usage: "attempts in a row that must pass"},
			&cli.StringSliceFlag{Name: "alarm", Usage: "CloudWatch alarm `NAME` (metric or composite) that must not fire (repeatable)"},
			&cli.DurationFlag{Name: "watch", Usage: "how long to watch the alarms (default: while probing)"},
			&cli.BoolFlag{Name: "ignore-already-firing", Usage: "an alarm in ALARM when the check starts counts only if it clears and fires again"},
			&cli.StringFlag{Name: "deployment", Usage: "roll back this workload when unhealthy: a Deployment `NAME`, or KIND/NAME (statefulset/db, isvc/model for a KServe InferenceService)"},
			&cli.StringFlag{Name: "kind", Value: "deployment", Usage: "`KIND` of --deployment when it is a bare name: deployment, statefulset, daemonset or inferenceservice (isvc)"},
			&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Usage: "`NAMESPACE` of --deployment and --service (default: the state file's, the context's, else default)"},
			&cli.StringFlag{Name: "cluster", Usage: "EKS cluster `NAME` (AWS credentials alone, no kubeconfig)"},
			&cli.StringFlag{Name: "kubeconfig", Usage: "kubeconfig `PATH` for any other cluster (default: KUBECONFIG, else ~/.kube/config)"},
			&cli.StringFlag{Name: "context", Usage: "kubeconfig context `NAME`"},
			&cli.DurationFlag{Name: "rollout-timeout", Value: DefaultRolloutTimeout, Usage: "how long to wait for the rollback's rollout"},
			&cli.StringFlag{Name: "function", Usage: "roll back an alias of this Lambda function `NAME` or ARN when unhealthy"},
			&cli.StringFlag{Name: "alias", Usage: "the Lambda alias `NAME` to roll back"},
			&cli.StringFlag{Name: "to-version", Usage: "Lambda `VERSION` to roll the alias back to when there is no --state-file"},
			&cli.StringFlag{Name: "state-file", Usage: "`PATH` of eks-rollout's state record (with --deployment) or lambda-deploy's previous-state record (with --function)"},
			&cli.BoolFlag{Name: "force", Usage: "roll back even over a newer change than the one in --state-file"},
			&cli.BoolFlag{Name: "dry-run", Usage: "judge, and report the rollback it would make without making it"},
			awsconfig.RegionFlag(),
		},
		Outputs: outs,
		Run: func(ctx context.Context, c *cli.Context, rt *command.Runtime) (command.Result, error) {
			cfg := &Config{
				URLs: c.StringSlice("url"), Service: c.String("service"), Path: c.String("path"), Port: c.String("port"),
				AddressTimeout: c.Duration("address-timeout"), Headers: c.StringSlice("header"),
				ExpectStatus: c.String("expect-status"), ExpectBody: c.String("expect-body"),
				Timeout: c.Duration("timeout"), Interval: c.Duration("interval"), Attempts: c.Int("attempts"), Successes: c.Int("successes"),
				Alarms: c.StringSlice("alarm"), Watch: c.Duration("watch"), IgnoreFiring: c.Bool("ignore-already-firing"),
				Deployment: c.String("deployment"), Kind: c.String("kind"), Namespace: c.String("namespace"),
				Target:         kube.Target{Cluster: c.String("cluster"), Kubeconfig: c.String("kubeconfig"), Context: c.String("context")},
				RolloutTimeout: c.Duration("rollout-timeout"),
				Function:       c.String("function"), Alias: c.String("alias"), ToVersion: c.String("to-version"),
				StateFile: c.String("state-file"), Force: c.Bool("force"), DryRun: c.Bool("dry-run"), Region: c.String("region"),
			}
			if err := cfg.Validate(); err != nil {
				return nil, err
			}
			d, err := connect(ctx, cfg)
			if err != nil {
				return nil, err
			}
			d.Log = rt
			return Run(ctx, cfg, d)
		},
	}
}
