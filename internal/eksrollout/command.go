// Package eksrollout is the eks-rollout tool: it rolls a new image out to
// a Kubernetes workload (EKS natively, or any cluster through a
// kubeconfig) the way kubectl set image, kubectl apply --server-side and
// kubectl rollout status do, but waits with a watch, says why a rollout
// failed (the pods that are not ready and their reasons), reports success
// only when the new pods run the image asked for, notices a change by
// someone else, rolls back on failure, and records the state before the
// change for health-rollback.
package eksrollout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"regexp"

	"github.com/urfave/cli/v2"

	"github.com/mlship/mlship/internal/awsconfig"
	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/kube"
)

// Name is the tool's name.
const Name = "eks-rollout"

// Command is the eks-rollout command line.
func Command() *command.Command {
	return newCommand(Connect)
}

// connectFunc connects to the cluster a Target names; tests swap it.
type connectFunc func(ctx context.Context, t kube.Target, region string) (*kube.Client, error)

// Connect is kube.Connect for eks-rollout.
func Connect(ctx context.Context, t kube.Target, region string) (*kube.Client, error) {
	return kube.Connect(ctx, Name, t, region)
}

func newCommand(connect connectFunc) *command.Command {
	outs := make([]command.OutputSpec, 0, len(outputSpecs))
	for _, s := range outputSpecs {
		outs = append(outs, command.OutputSpec{Name: s.name, Description: s.desc})
	}
	return &command.Command{
		Name:  Name,
		Usage: "roll a new image out to a Kubernetes Deployment (EKS natively, or any cluster), wait with kubectl's meaning of done, say why it failed, roll back",
		Description: `Connects to an EKS cluster with nothing but AWS credentials (--cluster:
DescribeCluster and a token signed with STS, renewed while a long wait
runs; no kubeconfig, AWS CLI or exec plugin), or to any cluster through a
kubeconfig (--kubeconfig, --context).

Sets container images as kubectl set image does (--container NAME=IMAGE,
repeated; IMAGE alone for a pod with one container) and/or applies
manifests with server-side apply, field manager mlship (--manifest, files or
directories), with --image NAME=IMAGE putting the build's image in place of
the one the manifest names. Setting the images a workload already runs makes
no new revision.

Then watches the rollout until kubectl's status viewer says it is done (for
a Deployment: the new generation observed, every replica updated, the old
ones gone, the new ones available), printing its progress, within
--timeout. Success is reported only when the pods of the new revision run
the images asked for.

An InferenceService of KServe (--deployment inferenceservice/NAME, or
isvc/NAME) is changed in its predictor: --storage-uri sets the model's
storageUri, --container the image of a container of spec.predictor.containers
or of the model (kserve-container), --canary-traffic-percent the share of
traffic the new revision gets. The wait then follows KServe's status: the
generation observed, Ready, PredictorReady, IngressReady and
LatestDeploymentReady True, the latest created revision the latest ready
one; a condition KServe sets False fails the rollout with its reason and
message, and --rollback-on-failure restores the predictor recorded before.

When the rollout exceeds its progress deadline or the
timeout, it exits 1 with the Deployment's condition and each pod that is not
ready with its reason (ImagePullBackOff with the image, CrashLoopBackOff with
the last exit code, Pending with the scheduler's reason). When someone else
changes the workload during the wait, it stops and says so. With
--rollback-on-failure a failed rollout is undone to the revision recorded
before the change (kubectl rollout undo --to-revision), and that rollout is
waited for too. A paused Deployment is refused.

Before the first change the state of each workload (revision, images) is
written as JSON (state-file) for health-rollback, and again once the change
is made. --dry-run reads everything, has the API server check the
manifests, and prints the plan.`,
		Examples: `eks-rollout --cluster retail-prod --region us-east-1 --namespace retail \
    --deployment retail-api --container api=123456789012.dkr.ecr.us-east-1.amazonaws.com/retail-api:build-42-abc1234 \
    --timeout 300s --rollback-on-failure
eks-rollout --context kind-dev --manifest k8s/ \
    --image retail-api=123456789012.dkr.ecr.us-east-1.amazonaws.com/retail-api:build-42-abc1234
eks-rollout --kubeconfig ~/.kube/config --deployment statefulset/model-cache --container cache=redis:7.4 --dry-run
eks-rollout --cluster ml-prod --namespace models --deployment isvc/credit-model \
    --storage-uri s3://models/credit/v8 --canary-traffic-percent 10 --rollback-on-failure`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "cluster", Usage: "EKS cluster `NAME`: connect with AWS credentials alone (DescribeCluster and an STS-signed token), no kubeconfig"},
			awsconfig.RegionFlag(),
			&cli.StringFlag{Name: "kubeconfig", Usage: "kubeconfig `PATH` for any other cluster (default: KUBECONFIG, else ~/.kube/config)"},
			&cli.StringFlag{Name: "context", Usage: "kubeconfig context `NAME` (default: its current context)"},
			&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Usage: "`NAMESPACE` of the workload (default: the context's, else default)"},
			&cli.StringFlag{Name: "deployment", Usage: "the workload `NAME` to set images on and report: a Deployment, or KIND/NAME (statefulset/db, daemonset/agent, inferenceservice/model or isvc/model)"},
			&cli.StringFlag{Name: "kind", Value: "deployment", Usage: "`KIND` of --deployment when it is a bare name: deployment, statefulset, daemonset or inferenceservice (isvc)"},
			&cli.StringSliceFlag{Name: "container", Usage: "container image to set, `NAME=IMAGE` as kubectl set image (repeatable; IMAGE alone for a pod with one container, *=IMAGE for all)"},
			&cli.StringSliceFlag{Name: "manifest", Usage: "manifest `PATH` (file or directory of .yaml, .yml, .json) to apply with server-side apply (repeatable)"},
			&cli.StringSliceFlag{Name: "image", Usage: "`NAME=IMAGE`: in the manifests, the image named NAME (without tag) becomes IMAGE (repeatable)"},
			&cli.StringFlag{Name: "storage-uri", Usage: "for an InferenceService: the model `URI` to serve (spec.predictor.model.storageUri: s3://, gs://, pvc://, hf://...)"},
			&cli.StringFlag{Name: "canary-traffic-percent", Usage: "for an InferenceService: the `PERCENT` (0 to 100) of traffic the new revision gets, the rest staying on the last one rolled out (spec.predictor.canaryTrafficPercent)"},
			&cli.DurationFlag{Name: "timeout", Value: DefaultTimeout, Usage: "how long to wait for the rollout (e.g. 300s, 10m)"},
			&cli.BoolFlag{Name: "rollback-on-failure", Usage: "when the rollout fails, undo it to the revision recorded before the change and wait for that"},
			&cli.BoolFlag{Name: "force-conflicts", Usage: "server-side apply takes over fields another field manager owns (kubectl apply --force-conflicts)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "read everything, have the API server check the manifests, print the plan; change nothing"},
			&cli.StringFlag{Name: "state-file", Usage: "write the state record to `PATH` (default: a new file in RUNNER_TEMP or the temporary directory)"},
		},
		Outputs: outs,
		Run: func(ctx context.Context, c *cli.Context, rt *command.Runtime) (command.Result, error) {
			cfg := &Config{
				Target:               kube.Target{Cluster: c.String("cluster"), Kubeconfig: c.String("kubeconfig"), Context: c.String("context")},
				Namespace:            c.String("namespace"),
				Deployment:           c.String("deployment"),
				Kind:                 c.String("kind"),
				Containers:           c.StringSlice("container"),
				Manifests:            c.StringSlice("manifest"),
				Images:               c.StringSlice("image"),
				StorageURI:           c.String("storage-uri"),
				CanaryTrafficPercent: c.String("canary-traffic-percent"),
				Timeout:              c.Duration("timeout"),
				RollbackOnFailure:    c.Bool("rollback-on-failure"),
				ForceConflicts:       c.Bool("force-conflicts"),
				DryRun:               c.Bool("dry-run"),
				StateFile:            c.String("state-file"),
			}
			if err := cfg.Validate(); err != nil {
				return nil, err
			}
			if cfg.StateFile == "" && !cfg.DryRun {
				name := "manifests"
				if cfg.ref != nil {
					name = cfg.ref.Name
				}
				cfg.StateFile = filepath.Join(command.TempDir(rt.Getenv), "eks-rollout-"+fileSafe(name)+"-"+randomSuffix()+".json")
			}
			kc, err := connect(ctx, cfg.Target, c.String("region"))
			if err != nil {
				return nil, err
			}
			return Run(ctx, cfg, Deps{Kube: kc, Log: rt})
		},
	}
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

func fileSafe(s string) string { return unsafeChars.ReplaceAllString(s, "_") }

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
