package image

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type workflowStep struct {
	ID   string            `yaml:"id"`
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	With map[string]string `yaml:"with"`
	Env  map[string]string `yaml:"env"`
}

// The release publishes the image it tested: built for both platforms,
// its tools run from the layout, pushed from that layout, and the pushed
// digest given a build-provenance and an SBOM attestation in the registry.
func TestReleasePublishesTheTestedImage(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join(repoRoot, ".github", "workflows", "release.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Jobs map[string]struct {
			Needs       any               `yaml:"needs"`
			Permissions map[string]string `yaml:"permissions"`
			Steps       []workflowStep    `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(src, &wf); err != nil {
		t.Fatal(err)
	}
	job, ok := wf.Jobs["image"]
	if !ok {
		t.Fatal("release.yml has no image job")
	}
	if job.Needs != "release" {
		t.Errorf("the image job needs %v, want release (no image without the archives)", job.Needs)
	}
	for k, v := range map[string]string{"packages": "write", "id-token": "write", "attestations": "write", "contents": "read"} {
		if job.Permissions[k] != v {
			t.Errorf("permission %s: %q, want %s", k, job.Permissions[k], v)
		}
	}
	order := []struct {
		what string
		ok   func(workflowStep) bool
	}{
		{"make image for linux/amd64 and linux/arm64", func(s workflowStep) bool {
			return strings.Contains(s.Run, "make image IMAGE_PLATFORMS=linux/amd64,linux/arm64")
		}},
		{"TestImageRunsTools on the layout", func(s workflowStep) bool {
			return strings.Contains(s.Run, "MLSHIP_IMAGE_LAYOUT=bin/image/oci go test") && strings.Contains(s.Run, "TestImageRunsTools") && strings.Contains(s.Run, "./internal/image")
		}},
		{"push the layout to ghcr.io", func(s workflowStep) bool {
			return s.ID == "push" && strings.Contains(s.Run, "--registry ghcr.io --repository mlship/mlship --oci-layout bin/image/oci")
		}},
		{"attest the build provenance of the pushed digest", func(s workflowStep) bool {
			return strings.HasPrefix(s.Uses, "actions/attest-build-provenance@") && pushed(s)
		}},
		{"attest the SBOM of the pushed digest", func(s workflowStep) bool {
			return strings.HasPrefix(s.Uses, "actions/attest-sbom@") && pushed(s) && s.With["sbom-path"] == "bin/image/sbom.spdx.json"
		}},
	}
	i := 0
	pinned := regexp.MustCompile(`^[^@]+@[0-9a-f]{40}$`)
	for _, s := range job.Steps {
		if s.Uses != "" && !pinned.MatchString(s.Uses) {
			t.Errorf("step %q: %s is not pinned by a full commit SHA", s.Name, s.Uses)
		}
		if i < len(order) && order[i].ok(s) {
			i++
		}
	}
	if i < len(order) {
		t.Errorf("the image job does not %s (after the steps before it)", order[i].what)
	}
}

func pushed(s workflowStep) bool {
	return s.With["subject-name"] == "ghcr.io/mlship/mlship" &&
		s.With["subject-digest"] == "${{ steps.push.outputs.image-digest }}" && s.With["push-to-registry"] == "true"
}
