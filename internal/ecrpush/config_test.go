package ecrpush

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/exitcode"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	layoutDir := filepath.Join(dir, "layout")
	if err := os.MkdirAll(layoutDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(layoutDir, "index.json"), []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := func() Config {
		return Config{Repository: "team/model", Tags: []string{"v1"}, OCILayout: layoutDir, Jobs: 4}
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string // "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"valid nested name", func(c *Config) { c.Repository = "a.b/c-d/e_f" }, ""},
		{"valid dotted first part", func(c *Config) { c.Repository = "ml.models/app" }, ""},
		{"no repository", func(c *Config) { c.Repository = "" }, "--repository is required"},
		{"uppercase", func(c *Config) { c.Repository = "Team/model" }, "lowercase"},
		{"with tag", func(c *Config) { c.Repository = "team/model:v1" }, "no tag or digest"},
		{"image uri", func(c *Config) { c.Repository = "123456789012.dkr.ecr.us-east-1.amazonaws.com/model" }, "without the registry host"},
		{"too short", func(c *Config) { c.Repository = "a" }, "2 to 256"},
		{"too long", func(c *Config) { c.Repository = strings.Repeat("a", 257) }, "2 to 256"},
		{"double separator", func(c *Config) { c.Repository = "team//model" }, "not a valid ECR repository name"},
		{"trailing dash", func(c *Config) { c.Repository = "model-" }, "not a valid ECR repository name"},
		{"no tags", func(c *Config) { c.Tags = []string{" , "} }, "at least one tag"},
		{"bad tag", func(c *Config) { c.Tags = []string{"-v1"} }, "not a valid tag"},
		{"long tag", func(c *Config) { c.Tags = []string{strings.Repeat("v", 129)} }, "not a valid tag"},
		{"unknown placeholder", func(c *Config) { c.Tags = []string{"build-{run}"} }, "unknown placeholder {run}"},
		{"placeholder unset", func(c *Config) { c.Tags = []string{"{sha7}"} }, "needs GITHUB_SHA"},
		{"no source", func(c *Config) { c.OCILayout = "" }, "nothing to push"},
		{"two sources", func(c *Config) { c.Tarball = "x.tar" }, "--oci-layout and --tarball"},
		{"missing layout", func(c *Config) { c.OCILayout = filepath.Join(dir, "nope") }, "no index.json"},
		{"missing tarball", func(c *Config) { c.OCILayout, c.Tarball = "", filepath.Join(dir, "nope.tar") }, "no such file"},
		{"bad image ref", func(c *Config) { c.OCILayout, c.Image = "", "UPPER:tag" }, "not an image reference"},
		{"missing context", func(c *Config) { c.OCILayout, c.Context = "", filepath.Join(dir, "nope") }, "no such directory"},
		{"file without context", func(c *Config) { c.File = "Dockerfile" }, `--file "Dockerfile": is for a build`},
		{"bad build arg", func(c *Config) { c.OCILayout, c.Context, c.BuildArgs = "", dir, []string{"NOVALUE"} }, "KEY=VALUE"},
		{"source repository alone", func(c *Config) { c.SourceRepository = "x/y" }, "needs --source-tag"},
		{"source digest alone", func(c *Config) { c.SourceDigest = "sha256:" + strings.Repeat("a", 64) }, "--source-digest \"sha256:" + strings.Repeat("a", 64) + "\": needs --source-tag"},
		{"bad source digest", func(c *Config) { c.OCILayout, c.SourceTag, c.SourceDigest = "", "v1", "sha256:ABC" }, "--source-digest \"sha256:ABC\": want sha256: and 64 lower-case hex digits"},
		{"bad source tag", func(c *Config) { c.OCILayout, c.SourceTag = "", "a b" }, "--source-tag"},
		{"check with source", func(c *Config) { c.CheckExists = true }, "takes no --oci-layout"},
		{"check with create", func(c *Config) { c.OCILayout, c.CheckExists, c.CreateRepository = "", true, true }, "do not apply"},
		{"registry with scheme", func(c *Config) { c.Registry = "https://reg.example.com" }, "without scheme"},
		{"registry with path", func(c *Config) { c.Registry = "reg.example.com/team" }, "HOST[:PORT]"},
		{"create on other registry", func(c *Config) { c.Registry, c.CreateRepository = "localhost:5000", true }, "not an ECR registry"},
		{"ecr registry host", func(c *Config) {
			c.Registry, c.CreateRepository = "123456789012.dkr.ecr.eu-west-1.amazonaws.com", true
		}, ""},
		{"mutability value", func(c *Config) { c.CreateRepository, c.TagMutability = true, "sometimes" }, "MUTABLE or IMMUTABLE"},
		{"mutability without create", func(c *Config) { c.TagMutability = "IMMUTABLE" }, "need --create-repository"},
		{"ssm reserved", func(c *Config) { c.SSMParameter = "/aws/x" }, "--ssm-parameter"},
		{"ssm chars", func(c *Config) { c.SSMParameter = "a b" }, "--ssm-parameter"},
		{"jobs", func(c *Config) { c.Jobs = 0 }, "--jobs"},
		{"other registry name rules", func(c *Config) { c.Registry, c.Repository = "localhost:5000", "a__b" }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := ok()
			tc.edit(&c)
			_, err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if exitcode.Of(err) != exitcode.BadInput {
				t.Fatalf("got %v (exit %d), want bad input", err, exitcode.Of(err))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error has more than one line: %q", err)
			}
		})
	}
}

func TestValidateECRHost(t *testing.T) {
	t.Parallel()
	c := Config{Repository: "mm", Tags: []string{"v1"}, CheckExists: true, Jobs: 1, Registry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com"}
	p, err := c.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if !p.ecr || p.registryID != "123456789012" || p.region != "eu-west-1" {
		t.Errorf("ecr %t account %s region %s", p.ecr, p.registryID, p.region)
	}
}

func TestRenderTags(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"GITHUB_RUN_ID": "9876543210", "GITHUB_RUN_NUMBER": "17", "GITHUB_RUN_ATTEMPT": "2",
		"GITHUB_SHA": "a1b2c3d4e5f6a7b8c9d0", "GITHUB_REF_NAME": "feature/New model",
	}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		in   []string
		want []string
	}{
		{[]string{"build-{run_number}-{sha7}", "latest"}, []string{"build-17-a1b2c3d", "latest"}},
		{[]string{"build-{run_number}-{sha7},latest"}, []string{"build-17-a1b2c3d", "latest"}},
		{[]string{"a\nb", " c ,", "a"}, []string{"a", "b", "c"}},
		{[]string{"{run_id}.{run_attempt}"}, []string{"9876543210.2"}},
		{[]string{"{sha}"}, []string{"a1b2c3d4e5f6a7b8c9d0"}},
		{[]string{"{ref_name}"}, []string{"feature-New-model"}},
	}
	for _, tc := range tests {
		got, err := RenderTags(tc.in, getenv)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("RenderTags(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
