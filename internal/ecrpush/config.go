// Package ecrpush is the ecr-push tool: it pushes an image (an OCI layout,
// a docker-save tarball, the local Docker daemon's image or a docker buildx
// build) to Amazon ECR or any OCI registry, ensures the repository, tags it,
// promotes an existing image to new tags by digest, and records the tag in
// an SSM parameter.
//
// The shape every tool has: Command reads the flags into a Config;
// Config.Validate checks it once, before any network call, and returns the
// Plan, the checked and parsed values; Run(ctx, plan, deps) does the work
// and returns a plain Result. Run takes nothing else, so it cannot be handed
// a configuration that skipped the checks.
package ecrpush

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/mlship/mlship/internal/awsconfig"
	"github.com/mlship/mlship/internal/ecrref"
	"github.com/mlship/mlship/internal/exitcode"
)

// Config is the command line as given.
type Config struct {
	Repository string   // repository name, e.g. team/model
	Tags       []string // as given: repeated, comma-separated, with templates

	// Sources; exactly one, or none with CheckExists or LabelEquals.
	OCILayout string // OCI image layout directory
	Tarball   string // docker save tarball
	Image     string // image in the local Docker daemon
	Context   string // build context: runs docker buildx build
	SourceTag string // promote the image with this tag (no layers pulled)

	File       string   // Dockerfile for a build
	BuildArgs  []string // KEY=VALUE build arguments
	Secrets    []string // BuildKit secrets: id=ID,env=VARIABLE or id=ID,src=FILE
	Platform   string   // e.g. linux/amd64,linux/arm64
	Target     string   // build stage
	Provenance bool     // keep buildx's provenance attestation

	SourceRepository string // repository of SourceTag; default Repository
	SourceDigest     string // promote only when SourceTag is this digest

	Registry         string // HOST[:PORT]; empty: the account's ECR registry
	Region           string
	CreateRepository bool
	ScanOnPush       bool
	TagMutability    string // MUTABLE or IMMUTABLE, for a created repository
	SSMParameter     string
	CheckExists      bool
	// LabelEquals are KEY=VALUE labels to compare with the image under
	// the tags (nothing is pushed): the result says whether it changed.
	LabelEquals []string
	Jobs        int // concurrent blob uploads

	// Getenv reads the workflow context for tag templates and the
	// variables --secret env= names.
	Getenv func(string) string
}

// Plan is a checked Config: what Validate makes of it, and the only thing
// Run takes.
type Plan struct {
	cfg        Config
	tags       []string // rendered, checked, without repeats
	ecr        bool     // the registry is ECR (API calls, login)
	registryID string   // registry id of an ECR --registry host
	region     string   // AWS region: --region, else an ECR --registry host's
	mutability string   // "", MUTABLE or IMMUTABLE
	buildArgs  []buildArg
	secrets    []string
	// secretValues are the values of the variables env= secrets name,
	// masked before the build runs.
	secretValues []string
	labels       []label // --label-equals
}

type buildArg struct{ key, value string }

type label struct{ key, value string }

// lookupOnly reports whether the run only looks the image up (a missing
// repository is then an answer, not an error).
func (p *Plan) lookupOnly() bool { return p.cfg.CheckExists || len(p.labels) > 0 }

// maxIndexJSON bounds an OCI layout's index.json, read whole: an index of
// thousands of images is a few hundred KiB.
const maxIndexJSON = 4 << 20

// Source names what is pushed: oci-layout, tarball, daemon, build, promote,
// or none (--check-exists).
func (p *Plan) Source() string {
	c := &p.cfg
	switch {
	case c.OCILayout != "":
		return "oci-layout"
	case c.Tarball != "":
		return "tarball"
	case c.Image != "":
		return "daemon"
	case c.Context != "":
		return "build"
	case c.SourceTag != "":
		return "promote"
	}
	return "none"
}

// Tags are the tags to set, placeholders filled in.
func (p *Plan) Tags() []string { return slices.Clone(p.tags) }

// needsAWS reports whether the run calls AWS at all.
func (p *Plan) needsAWS() bool { return p.ecr || p.cfg.SSMParameter != "" }

// The patterns are compiled when first used, not at start-up: a run that
// only prints its version or help needs none of them.
var (
	// The OCI distribution spec's repository name rule, for registries
	// other than ECR.
	ociRepoName = lazyRegexp(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	ssmName     = lazyRegexp(`^[A-Za-z0-9_.\-/]+$`)
	placeholder = lazyRegexp(`\{([^{}]*)\}`)
	notTagChars = lazyRegexp(`[^A-Za-z0-9_.-]+`)
)

func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// badInput is the one form of a bad-input error: the option as the user
// wrote it, its value, then what is wrong.
// isSHA256Digest reports whether s is sha256: and 64 lower-case hex digits.
func isSHA256Digest(s string) bool {
	hex, ok := strings.CutPrefix(s, "sha256:")
	return ok && len(hex) == 64 && strings.Trim(hex, "0123456789abcdef") == ""
}

func badInput(flag, value, format string, a ...any) error {
	return exitcode.BadInputf("--%s %q: %s", flag, value, fmt.Sprintf(format, a...))
}

// Validate checks the configuration before anything is sent, renders the
// tags and returns the plan Run carries out. Every error is bad input
// (exit 2) naming the input. Local files are looked at here; what needs a
// program (docker) is checked by Run before its first network call.
func (c Config) Validate() (*Plan, error) {
	p := &Plan{cfg: c}
	c.Repository = strings.TrimSpace(c.Repository)
	c.Registry = strings.TrimSpace(c.Registry)
	p.cfg = c
	if err := awsconfig.CheckRegion(c.Region); err != nil {
		return nil, err
	}
	p.region = c.Region
	if c.Registry == "" {
		p.ecr = true
	} else {
		if strings.Contains(c.Registry, "://") || strings.ContainsAny(c.Registry, "/@ ") {
			return nil, badInput("registry", c.Registry, "want HOST[:PORT], without scheme or path")
		}
		if _, err := name.NewRegistry(c.Registry, name.StrictValidation); err != nil {
			return nil, badInput("registry", c.Registry, "want HOST[:PORT]")
		}
		if h, ok := ecrref.ParseHost(c.Registry); ok {
			p.ecr, p.registryID = true, h.Account
			if p.region == "" {
				p.region = h.Region
			}
		}
	}
	if err := p.checkRepository("repository", c.Repository); err != nil {
		return nil, err
	}
	tags, err := RenderTags(c.Tags, c.Getenv)
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, exitcode.BadInputf("--tag: at least one tag is needed")
	}
	p.tags = tags

	for _, l := range c.LabelEquals {
		k, v, ok := strings.Cut(l, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok || k == "":
			return nil, badInput("label-equals", l, "want KEY=VALUE, e.g. org.opencontainers.image.revision=<commit>")
		case v == "":
			// An empty commit is a parameter that was not filled in; an
			// image without the label must not count as unchanged.
			return nil, badInput("label-equals", l, "the value is empty")
		}
		p.labels = append(p.labels, label{key: k, value: v})
	}
	if err := p.checkSources(); err != nil {
		return nil, err
	}
	if err := p.checkRepositorySettings(); err != nil {
		return nil, err
	}
	if c.SSMParameter != "" {
		lower := strings.ToLower(strings.TrimPrefix(c.SSMParameter, "/"))
		if len(c.SSMParameter) > 2048 || !ssmName().MatchString(c.SSMParameter) || strings.HasPrefix(lower, "aws") || strings.HasPrefix(lower, "ssm") {
			return nil, badInput("ssm-parameter", c.SSMParameter, "not a valid parameter name (letters, digits, '.', '-', '_', '/'; not starting with aws or ssm)")
		}
	}
	if c.Jobs < 1 || c.Jobs > 64 {
		return nil, badInput("jobs", fmt.Sprint(c.Jobs), "want 1 to 64")
	}
	return p, nil
}

// checkSources checks that there is one source (or none with
// --check-exists), that the build options come with a build, and what can
// be checked of the source without a program or the network.
func (p *Plan) checkSources() error {
	c := &p.cfg
	var sources []string
	for _, s := range []struct{ flag, val string }{
		{"oci-layout", c.OCILayout}, {"tarball", c.Tarball}, {"image", c.Image}, {"context", c.Context}, {"source-tag", c.SourceTag},
	} {
		if s.val != "" {
			sources = append(sources, "--"+s.flag)
		}
	}
	check := ""
	switch {
	case c.CheckExists && len(p.labels) > 0:
		return exitcode.BadInputf("--check-exists and --label-equals: give one (--label-equals also reports whether the tags exist)")
	case c.CheckExists:
		check = "--check-exists: only looks the tags up"
	case len(p.labels) > 0:
		check = "--label-equals: only compares the labels of the image in the registry"
	}
	switch {
	case check != "" && len(sources) > 0:
		return exitcode.BadInputf("%s and takes no %s", check, sources[0])
	case check != "" && (c.CreateRepository || c.SSMParameter != ""):
		return exitcode.BadInputf("%s; --create-repository and --ssm-parameter do not apply", check)
	case check == "" && len(sources) == 0:
		return exitcode.BadInputf("nothing to push: give one of --oci-layout, --tarball, --image, --context or --source-tag (or --check-exists or --label-equals)")
	case len(sources) > 1:
		return exitcode.BadInputf("%s: give only one source", strings.Join(sources, " and "))
	}
	if c.Context == "" {
		for _, f := range []struct {
			flag, value string
		}{{"file", c.File}, {"build-arg", strings.Join(c.BuildArgs, " ")}, {"secret", strings.Join(c.Secrets, " ")},
			{"platform", c.Platform}, {"target", c.Target}} {
			if f.value != "" {
				return badInput(f.flag, f.value, "is for a build and needs --context")
			}
		}
		if c.Provenance {
			return exitcode.BadInputf("--provenance: is for a build and needs --context")
		}
	}
	if c.SourceRepository != "" && c.SourceTag == "" {
		return badInput("source-repository", c.SourceRepository, "needs --source-tag")
	}
	if c.SourceDigest != "" {
		if c.SourceTag == "" {
			return badInput("source-digest", c.SourceDigest, "needs --source-tag")
		}
		if !isSHA256Digest(c.SourceDigest) {
			return badInput("source-digest", c.SourceDigest, "want sha256: and 64 lower-case hex digits")
		}
	}

	switch {
	case c.OCILayout != "":
		st, err := os.Stat(filepath.Join(c.OCILayout, "index.json"))
		switch {
		case err != nil || st.IsDir():
			return badInput("oci-layout", c.OCILayout, "not an OCI image layout (no index.json)")
		case st.Size() > maxIndexJSON:
			return badInput("oci-layout", c.OCILayout, "index.json is larger than %d MiB", maxIndexJSON>>20)
		}
	case c.Tarball != "":
		st, err := os.Stat(c.Tarball)
		switch {
		case err != nil:
			return badInput("tarball", c.Tarball, "no such file")
		case st.IsDir():
			return badInput("tarball", c.Tarball, "is a directory (for an OCI layout use --oci-layout)")
		}
	case c.Image != "":
		if _, err := name.ParseReference(c.Image); err != nil {
			return badInput("image", c.Image, "not an image reference: %v", err)
		}
	case c.Context != "":
		return p.checkBuild()
	case c.SourceTag != "":
		if !ecrref.ValidTag(c.SourceTag) {
			return badInput("source-tag", c.SourceTag, "not a valid tag (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')")
		}
		if c.SourceRepository != "" {
			return p.checkRepository("source-repository", c.SourceRepository)
		}
	}
	return nil
}

// checkBuild checks the build's directory, Dockerfile, arguments and
// secrets.
func (p *Plan) checkBuild() error {
	c := &p.cfg
	if st, err := os.Stat(c.Context); err != nil || !st.IsDir() {
		return badInput("context", c.Context, "no such directory")
	}
	if c.File != "" {
		if st, err := os.Stat(c.File); err != nil || st.IsDir() {
			return badInput("file", c.File, "no such file")
		}
	}
	for _, a := range c.BuildArgs {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			// The value is not shown: it may be a secret given the wrong
			// way.
			key, _, _ := strings.Cut(a, "=")
			return badInput("build-arg", key, "want KEY=VALUE")
		}
		p.buildArgs = append(p.buildArgs, buildArg{key: k, value: v})
	}
	getenv := c.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	for _, s := range c.Secrets {
		env, err := checkSecret(s, getenv)
		if err != nil {
			return err
		}
		p.secrets = append(p.secrets, s)
		if env != "" {
			p.secretValues = append(p.secretValues, getenv(env))
		}
	}
	return nil
}

// checkSecret checks a BuildKit secret: id=ID with env=VARIABLE (set) or
// src=FILE (a file), as docker buildx build --secret takes it, and returns
// the variable an env= secret names.
func checkSecret(s string, getenv func(string) string) (env string, err error) {
	fields := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || v == "" {
			return "", badInput("secret", s, "want id=ID,env=VARIABLE or id=ID,src=FILE")
		}
		switch k {
		case "id", "env", "src", "type":
		case "source":
			k = "src"
		default:
			return "", badInput("secret", s, "unknown key %q (want id, env or src)", k)
		}
		fields[k] = v
	}
	if fields["type"] == "env" && fields["env"] == "" {
		fields["env"] = fields["id"] // as buildx reads type=env
	}
	switch {
	case fields["id"] == "":
		return "", badInput("secret", s, "needs id=ID")
	case fields["type"] != "" && fields["type"] != "env" && fields["type"] != "file":
		return "", badInput("secret", s, "type is env or file")
	case fields["env"] != "" && fields["src"] != "":
		return "", badInput("secret", s, "give env= or src=, not both")
	case fields["env"] != "":
		if getenv(fields["env"]) == "" {
			return "", badInput("secret", s, "the variable %s is not set", fields["env"])
		}
		return fields["env"], nil
	case fields["src"] != "":
		if st, err := os.Stat(fields["src"]); err != nil || st.IsDir() {
			return "", badInput("secret", s, "no such file %s", fields["src"])
		}
		return "", nil
	}
	return "", badInput("secret", s, "needs env=VARIABLE or src=FILE")
}

// checkRepositorySettings checks the options for a repository this run
// creates.
func (p *Plan) checkRepositorySettings() error {
	c := &p.cfg
	if !p.ecr {
		for _, f := range []struct {
			flag string
			set  bool
		}{{"create-repository", c.CreateRepository}, {"scan-on-push", c.ScanOnPush}, {"tag-mutability", c.TagMutability != ""}} {
			if f.set {
				return exitcode.BadInputf("--%s: is for Amazon ECR; registry %s is not an ECR registry", f.flag, c.Registry)
			}
		}
	}
	switch m := strings.ToUpper(c.TagMutability); m {
	case "", "MUTABLE", "IMMUTABLE":
		p.mutability = m
	default:
		return badInput("tag-mutability", c.TagMutability, "want MUTABLE or IMMUTABLE")
	}
	const why = "--scan-on-push and --tag-mutability set up a repository this run creates and need --create-repository"
	switch {
	case c.ScanOnPush && !c.CreateRepository:
		return exitcode.BadInputf("--scan-on-push: %s", why)
	case p.mutability != "" && !c.CreateRepository:
		return badInput("tag-mutability", c.TagMutability, why)
	}
	return nil
}

// checkRepository checks a repository name against ECR's rules (or the
// OCI rules for another registry), with a message that says what is wrong.
func (p *Plan) checkRepository(flag, repo string) error {
	switch {
	case repo == "":
		return exitcode.BadInputf("--%s is required", flag)
	case strings.ContainsAny(repo, ":@"):
		return badInput(flag, repo, "a repository name has no tag or digest; give tags with --tag")
	case strings.Contains(repo, "/") && looksLikeHost(strings.SplitN(repo, "/", 2)[0]):
		return badInput(flag, repo, "give the repository name without the registry host (use --registry for another registry)")
	case repo != strings.ToLower(repo):
		return badInput(flag, repo, "repository names are lowercase")
	}
	if p.ecr {
		// ECR: 2 to 256 characters, lowercase components separated by
		// slashes, each of letters and digits joined by single periods,
		// underscores or dashes.
		if len(repo) < 2 || len(repo) > 256 {
			return badInput(flag, repo, "an ECR repository name has 2 to 256 characters")
		}
		if !ecrref.ValidRepository(repo) {
			return badInput(flag, repo, "not a valid ECR repository name (lowercase letters and digits, separated by single '.', '_' or '-', in '/'-separated parts)")
		}
		return nil
	}
	if len(repo) > 255 || !ociRepoName().MatchString(repo) {
		return badInput(flag, repo, "not a valid repository name")
	}
	return nil
}

// looksLikeHost reports whether the first part of a repository name is a
// registry host someone pasted with it (an image URI instead of a name).
func looksLikeHost(s string) bool {
	s = strings.ToLower(s)
	if s == "localhost" || ecrref.IsHost(s) {
		return true
	}
	for _, h := range []string{"docker.io", "ghcr.io", "quay.io", "gcr.io", "pkg.dev", "public.ecr.aws", "amazonaws.com", "amazonaws.com.cn", "on.aws", "azurecr.io"} {
		if s == h || strings.HasSuffix(s, "."+h) {
			return true
		}
	}
	return false
}

// templates are the placeholders a tag may hold, and where their values
// come from (the GitHub Actions default environment).
var templates = map[string]func(getenv func(string) string) (string, string){
	"run_id":      func(g func(string) string) (string, string) { return g("GITHUB_RUN_ID"), "GITHUB_RUN_ID" },
	"run_number":  func(g func(string) string) (string, string) { return g("GITHUB_RUN_NUMBER"), "GITHUB_RUN_NUMBER" },
	"run_attempt": func(g func(string) string) (string, string) { return g("GITHUB_RUN_ATTEMPT"), "GITHUB_RUN_ATTEMPT" },
	"sha":         func(g func(string) string) (string, string) { return g("GITHUB_SHA"), "GITHUB_SHA" },
	"sha7": func(g func(string) string) (string, string) {
		s := g("GITHUB_SHA")
		if len(s) > 7 {
			s = s[:7]
		}
		return s, "GITHUB_SHA"
	},
	"ref_name": func(g func(string) string) (string, string) {
		return sanitizeTag(g("GITHUB_REF_NAME")), "GITHUB_REF_NAME"
	},
}

// TemplateNames lists the placeholders tags may use, sorted.
func TemplateNames() []string {
	var names []string
	for n := range templates {
		names = append(names, "{"+n+"}")
	}
	slices.Sort(names)
	return names
}

// sanitizeTag turns a branch name like feature/x into feature-x.
func sanitizeTag(s string) string {
	s = notTagChars().ReplaceAllString(s, "-")
	return strings.TrimLeft(s, ".-")
}

// RenderTags splits tags given repeated or comma-separated (or one per
// line), fills in the {placeholders} from getenv, checks each tag and drops
// repeats, keeping the order.
func RenderTags(raw []string, getenv func(string) string) ([]string, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	var out []string
	for _, r := range raw {
		for _, t := range strings.FieldsFunc(r, func(c rune) bool { return c == ',' || c == '\n' }) {
			t = strings.TrimSpace(t)
			if t == "" {
				continue
			}
			var missing, unknown string
			rendered := t
			if strings.Contains(t, "{") {
				rendered = placeholder().ReplaceAllStringFunc(t, func(m string) string {
					key := m[1 : len(m)-1]
					fn, ok := templates[key]
					if !ok {
						unknown = m
						return m
					}
					v, env := fn(getenv)
					if v == "" && missing == "" {
						missing = fmt.Sprintf("%s needs %s, which is not set", m, env)
					}
					return v
				})
			}
			switch {
			case unknown != "":
				return nil, badInput("tag", t, "unknown placeholder %s (known: %s)", unknown, strings.Join(TemplateNames(), ", "))
			case missing != "":
				return nil, badInput("tag", t, "%s", missing)
			case !ecrref.ValidTag(rendered):
				return nil, badInput("tag", rendered, "not a valid tag (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')")
			}
			if !slices.Contains(out, rendered) {
				out = append(out, rendered)
			}
		}
	}
	return out, nil
}
