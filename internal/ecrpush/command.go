package ecrpush

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/urfave/cli/v2"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/awsconfig"
	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/ssmclient"
)

// Command is the ecr-push command line.
func Command() *command.Command {
	return newCommand(defaultDeps)
}

// depsFunc builds the outside world for a validated configuration.
type depsFunc func(ctx context.Context, p *Plan, rt *command.Runtime) (Deps, error)

func newCommand(makeDeps depsFunc) *command.Command {
	return &command.Command{
		Name:  "ecr-push",
		Usage: "push an image to Amazon ECR (or any OCI registry), tag it, promote it by digest",
		Description: `Pushes an image from an OCI layout, a docker-save tarball, the local Docker
daemon or a docker buildx build to the account's ECR registry (logging in
through GetAuthorizationToken) or to --registry. Layers the registry has are
not uploaded again; tags that already point at the image are left alone; a
tag that points at another digest in an immutable repository fails the run
before anything is uploaded. --source-tag promotes an image already in the
registry to new tags by digest, without pulling its layers.

Tags may use placeholders filled from the workflow context: {run_id},
{run_number}, {run_attempt}, {sha}, {sha7} and {ref_name}.`,
		Examples: `ecr-push --repository credit/model --oci-layout ./image --tag 'build-{run_number}-{sha7},latest'
ecr-push --repository credit/model --context . --file Dockerfile --tag '{sha7}' --create-repository --scan-on-push
ecr-push --repository credit/model --source-tag staging-1.0.7 --tag canary-1.0.7
ecr-push --repository pricing/api --tag v3 --check-exists
ecr-push --repository gourmetgram/train --tag latest --label-equals org.opencontainers.image.revision=$COMMIT
ecr-push --registry localhost:5000 --repository demo --tarball image.tar --tag dev`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "repository", Usage: "repository `NAME`, e.g. team/model (ECR naming rules)", Required: true},
			&cli.StringSliceFlag{Name: "tag", Usage: "`TAG` to set (repeat, or separate with commas); placeholders {run_id}, {run_number}, {run_attempt}, {sha}, {sha7}, {ref_name}", Required: true},
			&cli.StringFlag{Name: "oci-layout", Usage: "push the image (or multi-platform index) in the OCI layout `DIR`"},
			&cli.StringFlag{Name: "tarball", Usage: "push the image in a docker save tarball `FILE`"},
			&cli.StringFlag{Name: "image", Usage: "push `NAME:TAG` from the local Docker daemon"},
			&cli.StringFlag{Name: "context", Usage: "build context `DIR`: run docker buildx build and push the result"},
			&cli.StringFlag{Name: "file", Usage: "Dockerfile `PATH` for the build"},
			&cli.StringSliceFlag{Name: "build-arg", Usage: "build argument `KEY=VALUE` (repeat); not for credentials, which end up in the image's history: use --secret"},
			&cli.StringSliceFlag{Name: "secret", Usage: "BuildKit secret for the build, `id=ID,env=VARIABLE` or id=ID,src=FILE (repeat); read in the Dockerfile with RUN --mount=type=secret,id=ID"},
			&cli.StringFlag{Name: "platform", Usage: "target `PLATFORMS` of the build, e.g. linux/amd64,linux/arm64"},
			&cli.StringFlag{Name: "target", Usage: "build `STAGE`"},
			&cli.BoolFlag{Name: "provenance", Usage: "keep buildx's provenance attestation (off: a single-platform build is one image manifest, as Lambda needs)"},
			&cli.StringFlag{Name: "source-tag", Usage: "promote the image tagged `TAG` to --tag by digest, without pulling layers"},
			&cli.StringFlag{Name: "source-repository", Usage: "repository `NAME` of --source-tag (default --repository)"},
			&cli.StringFlag{Name: "source-digest", Usage: "promote only if --source-tag is the image with this `DIGEST` (sha256:...), the one that was tested"},
			&cli.StringFlag{Name: "registry", Usage: "push to the OCI registry `HOST[:PORT]` instead of the account's ECR registry (plain HTTP for localhost and 127.0.0.1)"},
			awsconfig.RegionFlag(),
			&cli.BoolFlag{Name: "create-repository", Usage: "create the ECR repository when it does not exist (an existing one is never changed)"},
			&cli.BoolFlag{Name: "scan-on-push", Usage: "turn on scan-on-push in a repository this run creates"},
			&cli.StringFlag{Name: "tag-mutability", Usage: "tag `MUTABILITY` of a repository this run creates: MUTABLE (default) or IMMUTABLE"},
			&cli.StringFlag{Name: "ssm-parameter", Usage: "record the first tag in the SSM parameter `NAME`"},
			&cli.BoolFlag{Name: "check-exists", Usage: "only check that every tag exists (exit 1 when one does not); push nothing"},
			&cli.StringSliceFlag{Name: "label-equals", Usage: "only compare the label `KEY=VALUE` (repeat) with the image under every tag, e.g. org.opencontainers.image.revision=<commit>: output changed=false when each tag exists and has it; push nothing"},
			&cli.IntFlag{Name: "jobs", Usage: "`N` blobs uploaded at once", Value: 4},
		},
		Outputs: []command.OutputSpec{
			{Name: "registry", Description: "Registry host, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com."},
			{Name: "repository", Description: "Repository name."},
			{Name: "image-uri", Description: "Image URI with the first tag: registry/repository:tag."},
			{Name: "image-digest", Description: "Digest of the pushed manifest (sha256:...)."},
			{Name: "image-ref", Description: "Image reference by digest: registry/repository@sha256:...."},
			{Name: "tags", Description: "The tags set, comma-separated, placeholders filled in."},
			{Name: "pushed-bytes", Description: "Bytes of layers and config uploaded (0 when the registry had them all)."},
			{Name: "exists", Description: "true when the image exists under every tag (after a push, or for --check-exists and --label-equals)."},
			{Name: "changed", Description: "For --label-equals: false when the image under every tag has every label with the value given (the build can be skipped), true otherwise; empty without --label-equals."},
		},
		Run: func(ctx context.Context, c *cli.Context, rt *command.Runtime) (command.Result, error) {
			plan, err := configFrom(c, rt.Getenv).Validate()
			if err != nil {
				return nil, err
			}
			deps, err := makeDeps(ctx, plan, rt)
			if err != nil {
				return nil, err
			}
			return Run(ctx, plan, deps)
		},
	}
}

func configFrom(c *cli.Context, getenv func(string) string) Config {
	return Config{
		Repository:       strings.TrimSpace(c.String("repository")),
		Tags:             c.StringSlice("tag"),
		OCILayout:        c.String("oci-layout"),
		Tarball:          c.String("tarball"),
		Image:            c.String("image"),
		Context:          c.String("context"),
		File:             c.String("file"),
		BuildArgs:        c.StringSlice("build-arg"),
		Secrets:          c.StringSlice("secret"),
		Platform:         c.String("platform"),
		Target:           c.String("target"),
		Provenance:       c.Bool("provenance"),
		SourceTag:        c.String("source-tag"),
		SourceRepository: c.String("source-repository"),
		SourceDigest:     c.String("source-digest"),
		Registry:         strings.TrimSpace(c.String("registry")),
		Region:           c.String("region"),
		CreateRepository: c.Bool("create-repository"),
		ScanOnPush:       c.Bool("scan-on-push"),
		TagMutability:    c.String("tag-mutability"),
		SSMParameter:     c.String("ssm-parameter"),
		CheckExists:      c.Bool("check-exists"),
		LabelEquals:      c.StringSlice("label-equals"),
		Jobs:             c.Int("jobs"),
		Getenv:           getenv,
	}
}

// defaultDeps builds AWS clients only for what the run needs.
func defaultDeps(ctx context.Context, p *Plan, rt *command.Runtime) (Deps, error) {
	deps := Deps{
		Log:       rt.Action,
		Mask:      rt.Mask,
		Docker:    lookPath("docker", rt.Getenv("PATH")),
		DockerEnv: os.Environ(),
		TempDir:   command.TempDir(rt.Getenv),
	}
	if !p.needsAWS() {
		return deps, nil
	}
	awsCfg, err := awsconfig.Load(ctx, "ecr-push", p.region)
	if err != nil {
		return deps, err
	}
	if p.ecr {
		deps.ECR = ecr.NewFromConfig(awsCfg)
	}
	if p.cfg.SSMParameter != "" {
		if deps.SSM, err = ssmclient.New(ctx, awsCfg, "ecr-push"); err != nil {
			return deps, exitcode.Incompletef("setting up SSM: %w", err)
		}
	}
	return deps, nil
}

// lookPath finds an executable in the directories of path.
func lookPath(file, path string) string {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, file)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// Outputs are the step outputs.
func (r *Result) Outputs() []action.Output {
	changed := ""
	if r.Changed != nil {
		changed = strconv.FormatBool(*r.Changed)
	}
	return []action.Output{
		{Name: "registry", Value: r.Registry},
		{Name: "repository", Value: r.Repository},
		{Name: "image-uri", Value: r.ImageURI},
		{Name: "image-digest", Value: r.ImageDigest},
		{Name: "image-ref", Value: r.ImageRef},
		{Name: "tags", Value: strings.Join(r.Tags, ",")},
		{Name: "pushed-bytes", Value: strconv.FormatInt(r.PushedBytes, 10)},
		{Name: "exists", Value: strconv.FormatBool(r.Exists)},
		{Name: "changed", Value: changed},
	}
}

// Summary is the job summary.
func (r *Result) Summary() string {
	var b strings.Builder
	title := "Pushed"
	switch {
	case r.Source == "none" && r.Changed != nil && *r.Changed:
		title = "Changed"
	case r.Source == "none" && r.Changed != nil:
		title = "Unchanged"
	case r.Source == "none":
		title = "Checked"
	case r.Source == "promote":
		title = "Promoted"
	}
	fmt.Fprintf(&b, "### ecr-push: %s `%s`\n\n", title, r.ImageURI)
	b.WriteString("| | |\n|---|---|\n")
	if r.ImageDigest != "" {
		fmt.Fprintf(&b, "| Digest | `%s` |\n", r.ImageDigest)
	}
	if r.MediaType != "" {
		fmt.Fprintf(&b, "| Media type | `%s` |\n", r.MediaType)
	}
	for _, t := range r.TagResults {
		fmt.Fprintf(&b, "| Tag `%s` | %s |\n", t.Tag, describeTag(t))
	}
	for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
		fmt.Fprintf(&b, "| Label `%s` | `%s` |\n", k, r.Labels[k])
	}
	if r.Source != "none" {
		fmt.Fprintf(&b, "| Uploaded | %s |\n", humanBytes(r.PushedBytes))
	}
	if r.RepositoryCreated {
		fmt.Fprintf(&b, "| Repository | created `%s` |\n", r.Repository)
	}
	if r.SSMParameter != "" {
		fmt.Fprintf(&b, "| SSM parameter | `%s` = `%s` |\n", r.SSMParameter, r.Tags[0])
	}
	return b.String()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
