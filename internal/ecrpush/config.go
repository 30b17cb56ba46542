// Package ecrpush is the ecr-push tool: it pushes an image (an OCI layout,
// a docker-save tarball, the local Docker daemon's image or a docker buildx
// build) to Amazon ECR or any OCI registry, ensures the repository, tags it,
// promotes an existing image to new tags by digest, and records the tag in
// an SSM parameter.
package ecrpush

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/mlship/mlship/internal/exitcode"
)

// Config is everything one run needs. Validate fills in the derived fields.
type Config struct {
	Repository string   // repository name, e.g. team/model
	Tags       []string // as given: repeated, comma-separated, with templates

	// Sources; exactly one, or none with CheckExists.
	OCILayout string // OCI image layout directory
	Tarball   string // docker save tarball
	Image     string // image in the local Docker daemon
	Context   string // build context: runs docker buildx build
	SourceTag string // promote the image with this tag (no layers pulled)

	File       string   // Dockerfile for a build
	BuildArgs  []string // KEY=VALUE build arguments
	Platform   string   // e.g. linux/amd64,linux/arm64
	Target     string   // build stage
	Provenance bool     // keep buildx's provenance attestation

	SourceRepository string // repository of SourceTag; default Repository

	Registry         string // HOST[:PORT]; empty: the account's ECR registry
	Region           string
	CreateRepository bool
	ScanOnPush       bool
	TagMutability    string // MUTABLE or IMMUTABLE, for a created repository
	SSMParameter     string
	CheckExists      bool
	Jobs             int // concurrent blob uploads

	// Getenv reads the workflow context for tag templates.
	Getenv func(string) string

	// Derived by Validate.
	tags       []string
	ecr        bool   // the registry is ECR (API calls, login)
	ecrAccount string // registry id, when --registry names an ECR host
	ecrRegion  string // region of an ECR --registry host
}

// Source names what is pushed.
func (c *Config) Source() string {
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

// ECR's repository name rules: 2 to 256 characters, lowercase components
// separated by slashes, each of letters and digits joined by single
// periods, underscores or dashes.
var (
	ecrRepoName = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	// The OCI distribution spec's rule, for other registries.
	ociRepoName = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagName     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	ecrHost     = regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$`)
	ssmName     = regexp.MustCompile(`^[A-Za-z0-9_.\-/]+$`)
	placeholder = regexp.MustCompile(`\{([^{}]*)\}`)
)

// Validate checks the configuration before anything is sent and renders the
// tags. Every error is bad input (exit 2) naming the input.
func (c *Config) Validate() error {
	if c.Registry == "" {
		c.ecr = true
	} else {
		if strings.Contains(c.Registry, "://") || strings.ContainsAny(c.Registry, "/@ ") {
			return exitcode.BadInputf("--registry %q: want HOST[:PORT], without scheme or path", c.Registry)
		}
		if _, err := name.NewRegistry(c.Registry, name.StrictValidation); err != nil {
			return exitcode.BadInputf("--registry %q: want HOST[:PORT]", c.Registry)
		}
		if m := ecrHost.FindStringSubmatch(strings.ToLower(c.Registry)); m != nil {
			c.ecr, c.ecrAccount, c.ecrRegion = true, m[1], m[2]
		}
	}
	if err := c.validateRepository("repository", c.Repository); err != nil {
		return err
	}
	tags, err := RenderTags(c.Tags, c.Getenv)
	if err != nil {
		return err
	}
	if len(tags) == 0 {
		return exitcode.BadInputf("--tag: at least one tag is needed")
	}
	c.tags = tags

	var sources []string
	for _, s := range []struct{ flag, val string }{
		{"oci-layout", c.OCILayout}, {"tarball", c.Tarball}, {"image", c.Image}, {"context", c.Context}, {"source-tag", c.SourceTag},
	} {
		if s.val != "" {
			sources = append(sources, "--"+s.flag)
		}
	}
	switch {
	case c.CheckExists && len(sources) > 0:
		return exitcode.BadInputf("--check-exists only looks the tags up; it takes no %s", sources[0])
	case c.CheckExists && (c.CreateRepository || c.SSMParameter != ""):
		return exitcode.BadInputf("--check-exists only looks the tags up; --create-repository and --ssm-parameter do not apply")
	case !c.CheckExists && len(sources) == 0:
		return exitcode.BadInputf("nothing to push: give one of --oci-layout, --tarball, --image, --context or --source-tag (or --check-exists)")
	case len(sources) > 1:
		return exitcode.BadInputf("%s: give only one source", strings.Join(sources, " and "))
	}
	if c.Context == "" {
		for _, f := range []struct {
			flag string
			set  bool
		}{{"file", c.File != ""}, {"build-arg", len(c.BuildArgs) > 0}, {"platform", c.Platform != ""}, {"target", c.Target != ""}, {"provenance", c.Provenance}} {
			if f.set {
				return exitcode.BadInputf("--%s is for a build and needs --context", f.flag)
			}
		}
	}
	if c.SourceRepository != "" && c.SourceTag == "" {
		return exitcode.BadInputf("--source-repository needs --source-tag")
	}

	switch {
	case c.OCILayout != "":
		if _, err := os.Stat(filepath.Join(c.OCILayout, "index.json")); err != nil {
			return exitcode.BadInputf("--oci-layout %s: not an OCI image layout (no index.json)", c.OCILayout)
		}
	case c.Tarball != "":
		if st, err := os.Stat(c.Tarball); err != nil || st.IsDir() {
			return exitcode.BadInputf("--tarball %s: no such file", c.Tarball)
		}
	case c.Image != "":
		if _, err := name.ParseReference(c.Image); err != nil {
			return exitcode.BadInputf("--image %q: not an image reference: %v", c.Image, err)
		}
	case c.Context != "":
		if st, err := os.Stat(c.Context); err != nil || !st.IsDir() {
			return exitcode.BadInputf("--context %s: no such directory", c.Context)
		}
		if c.File != "" {
			if _, err := os.Stat(c.File); err != nil {
				return exitcode.BadInputf("--file %s: no such file", c.File)
			}
		}
		for _, a := range c.BuildArgs {
			if k, _, ok := strings.Cut(a, "="); !ok || k == "" {
				return exitcode.BadInputf("--build-arg %q: want KEY=VALUE", a)
			}
		}
	case c.SourceTag != "":
		if !tagName.MatchString(c.SourceTag) {
			return exitcode.BadInputf("--source-tag %q: not a valid tag (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')", c.SourceTag)
		}
		if c.SourceRepository != "" {
			if err := c.validateRepository("source-repository", c.SourceRepository); err != nil {
				return err
			}
		}
	}

	if !c.ecr {
		for _, f := range []struct {
			flag string
			set  bool
		}{{"create-repository", c.CreateRepository}, {"scan-on-push", c.ScanOnPush}, {"tag-mutability", c.TagMutability != ""}} {
			if f.set {
				return exitcode.BadInputf("--%s is for Amazon ECR; registry %s is not an ECR registry", f.flag, c.Registry)
			}
		}
	}
	switch m := strings.ToUpper(c.TagMutability); m {
	case "", "MUTABLE", "IMMUTABLE":
		c.TagMutability = m
	default:
		return exitcode.BadInputf("--tag-mutability %q: want MUTABLE or IMMUTABLE", c.TagMutability)
	}
	if (c.ScanOnPush || c.TagMutability != "") && !c.CreateRepository {
		return exitcode.BadInputf("--scan-on-push and --tag-mutability set up a new repository and need --create-repository")
	}
	if c.SSMParameter != "" {
		lower := strings.ToLower(strings.TrimPrefix(c.SSMParameter, "/"))
		if len(c.SSMParameter) > 2048 || !ssmName.MatchString(c.SSMParameter) || strings.HasPrefix(lower, "aws") || strings.HasPrefix(lower, "ssm") {
			return exitcode.BadInputf("--ssm-parameter %q: not a valid parameter name (letters, digits, '.', '-', '_', '/'; not starting with aws or ssm)", c.SSMParameter)
		}
	}
	if c.Jobs < 1 || c.Jobs > 64 {
		return exitcode.BadInputf("--jobs %d: want 1 to 64", c.Jobs)
	}
	return nil
}

// validateRepository checks a repository name against ECR's rules (or the
// OCI rules for another registry), with a message that says what is wrong.
func (c *Config) validateRepository(flag, repo string) error {
	switch {
	case repo == "":
		return exitcode.BadInputf("--%s is required", flag)
	case strings.ContainsAny(repo, ":@"):
		return exitcode.BadInputf("--%s %q: a repository name has no tag or digest; give tags with --tag", flag, repo)
	case strings.Contains(repo, "/") && looksLikeHost(strings.SplitN(repo, "/", 2)[0]):
		return exitcode.BadInputf("--%s %q: give the repository name without the registry host (use --registry for another registry)", flag, repo)
	case repo != strings.ToLower(repo):
		return exitcode.BadInputf("--%s %q: repository names are lowercase", flag, repo)
	}
	if c.ecr {
		if len(repo) < 2 || len(repo) > 256 {
			return exitcode.BadInputf("--%s %q: an ECR repository name has 2 to 256 characters", flag, repo)
		}
		if !ecrRepoName.MatchString(repo) {
			return exitcode.BadInputf("--%s %q: not a valid ECR repository name (lowercase letters and digits, separated by single '.', '_' or '-', in '/'-separated parts)", flag, repo)
		}
		return nil
	}
	if len(repo) > 255 || !ociRepoName.MatchString(repo) {
		return exitcode.BadInputf("--%s %q: not a valid repository name", flag, repo)
	}
	return nil
}

// looksLikeHost reports whether the first part of a repository name is a
// registry host someone pasted with it (an image URI instead of a name).
func looksLikeHost(s string) bool {
	s = strings.ToLower(s)
	if s == "localhost" || ecrHost.MatchString(s) {
		return true
	}
	for _, h := range []string{"docker.io", "ghcr.io", "quay.io", "gcr.io", "pkg.dev", "public.ecr.aws", "amazonaws.com", "azurecr.io"} {
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

var notTagChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// sanitizeTag turns a branch name like feature/x into feature-x.
func sanitizeTag(s string) string {
	s = notTagChars.ReplaceAllString(s, "-")
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
			rendered := placeholder.ReplaceAllStringFunc(t, func(m string) string {
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
			switch {
			case unknown != "":
				return nil, exitcode.BadInputf("--tag %q: unknown placeholder %s (known: %s)", t, unknown, strings.Join(TemplateNames(), ", "))
			case missing != "":
				return nil, exitcode.BadInputf("--tag %q: %s", t, missing)
			case !tagName.MatchString(rendered):
				return nil, exitcode.BadInputf("--tag %q: not a valid tag (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')", rendered)
			}
			if !slices.Contains(out, rendered) {
				out = append(out, rendered)
			}
		}
	}
	return out, nil
}
