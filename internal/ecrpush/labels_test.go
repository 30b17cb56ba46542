package ecrpush

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/ecrfake"
	"github.com/mlship/mlship/internal/exitcode"
)

const revisionLabel = "org.opencontainers.image.revision"

func labelled(t *testing.T, labels map[string]string) v1.Image {
	t.Helper()
	img, err := mutate.Config(randomImage(t, 128, 1), v1.Config{Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func changed(t *testing.T, res *Result) bool {
	t.Helper()
	if res == nil || res.Changed == nil {
		t.Fatalf("no changed in the result %+v", res)
	}
	return *res.Changed
}

// The image-changed check of a training pipeline: skip the build when the
// image in the registry was built from this commit.
func TestLabelEquals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("gourmetgram/train", false)
	img := labelled(t, map[string]string{revisionLabel: "abc123", "git.branch": "mlops"})
	e.mustRun(Config{Repository: "gourmetgram/train", OCILayout: writeLayout(t, img), Tags: []string{"latest", "abc123"}})
	e.mustRun(Config{Repository: "gourmetgram/train", OCILayout: writeLayout(t, randomImage(t, 64, 1)), Tags: []string{"unlabelled"}})
	pushes := e.ecr.Calls("PutImage")

	for _, tt := range []struct {
		name        string
		tags        []string
		labels      []string
		changed     bool
		exists      bool
		foundLabels map[string]string
	}{
		{"same commit", []string{"latest"}, []string{revisionLabel + "=abc123"}, false, true, map[string]string{revisionLabel: "abc123"}},
		{"two labels, two tags", []string{"latest", "abc123"}, []string{revisionLabel + "=abc123", "git.branch=mlops"}, false, true, map[string]string{revisionLabel: "abc123", "git.branch": "mlops"}},
		{"another commit", []string{"latest"}, []string{revisionLabel + "=def456"}, true, true, map[string]string{revisionLabel: "abc123"}},
		{"one of two labels differs", []string{"latest"}, []string{revisionLabel + "=abc123", "git.branch=main"}, true, true, map[string]string{revisionLabel: "abc123", "git.branch": "mlops"}},
		{"no such label", []string{"unlabelled"}, []string{revisionLabel + "=abc123"}, true, true, nil},
		{"no such tag", []string{"never"}, []string{revisionLabel + "=abc123"}, true, false, nil},
		{"one tag of two missing", []string{"latest", "never"}, []string{revisionLabel + "=abc123"}, true, false, map[string]string{revisionLabel: "abc123"}},
	} {
		res := e.mustRun(Config{Repository: "gourmetgram/train", Tags: tt.tags, LabelEquals: tt.labels})
		if got := changed(t, res); got != tt.changed || res.Exists != tt.exists {
			t.Errorf("%s: changed %t exists %t, want %t %t", tt.name, got, res.Exists, tt.changed, tt.exists)
		}
		if len(res.Labels) != len(tt.foundLabels) {
			t.Errorf("%s: labels %v, want %v", tt.name, res.Labels, tt.foundLabels)
		}
		for k, v := range tt.foundLabels {
			if res.Labels[k] != v {
				t.Errorf("%s: labels %v, want %v", tt.name, res.Labels, tt.foundLabels)
			}
		}
		if tt.exists && res.ImageDigest != digestOf(t, img) && tt.tags[0] != "unlabelled" {
			t.Errorf("%s: digest %s, want %s", tt.name, res.ImageDigest, digestOf(t, img))
		}
	}
	if n := e.ecr.Calls("PutImage") - pushes; n != 0 {
		t.Errorf("--label-equals called PutImage %d times; it pushes nothing", n)
	}

	// A repository that does not exist yet: nothing was ever built.
	res := e.mustRun(Config{Repository: "gourmetgram/new", Tags: []string{"latest"}, LabelEquals: []string{revisionLabel + "=abc123"}})
	if !changed(t, res) || res.Exists || len(res.TagResults) != 1 || res.TagResults[0].Status != tagMissing {
		t.Errorf("missing repository: %+v", res)
	}
}

// For an index, every platform image must carry the label; attestation
// manifests (platform unknown/unknown) carry none and are left out.
func TestLabelEqualsIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("app", false)
	rev := map[string]string{revisionLabel: "abc123"}
	index := func(arm map[string]string) v1.ImageIndex {
		return mutate.AppendManifests(empty.Index,
			mutate.IndexAddendum{Add: labelled(t, rev), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
			mutate.IndexAddendum{Add: labelled(t, arm), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
			mutate.IndexAddendum{Add: randomImage(t, 32, 1), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
				Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"}}},
		)
	}
	e.mustRun(Config{Repository: "app", OCILayout: writeLayout(t, index(rev)), Tags: []string{"both"}})
	e.mustRun(Config{Repository: "app", OCILayout: writeLayout(t, index(map[string]string{revisionLabel: "old"})), Tags: []string{"one"}})
	cfg := func(tag string) Config {
		return Config{Repository: "app", Tags: []string{tag}, LabelEquals: []string{revisionLabel + "=abc123"}}
	}
	if res := e.mustRun(cfg("both")); changed(t, res) {
		t.Errorf("every platform image has the label: changed %+v", res)
	}
	if res := e.mustRun(cfg("one")); !changed(t, res) {
		t.Errorf("the arm64 image has another revision: unchanged %+v", res)
	}
	if !strings.Contains(strings.Join(e.log.lines, "\n"), `(sha256:`) || !strings.Contains(strings.Join(e.log.lines, "\n"), `linux/arm64): label org.opencontainers.image.revision is "old", not "abc123"`) {
		t.Errorf("the log does not say which platform differs:\n%s", strings.Join(e.log.lines, "\n"))
	}
}

// An image whose labels could not be read has not been found unchanged:
// exit 3, no result.
func TestLabelEqualsRegistryErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("app", false)
	e.mustRun(Config{Repository: "app", OCILayout: writeLayout(t, labelled(t, map[string]string{revisionLabel: "abc"})), Tags: []string{"latest"}})
	e.reg.Fail(ecrfake.RegistryFault{Method: "GET", PathContains: "/blobs/", N: -1, Status: 403, Code: "DENIED", Message: "not authorized: ecr:GetDownloadUrlForLayer"})
	res, err := e.run(Config{Repository: "app", Tags: []string{"latest"}, LabelEquals: []string{revisionLabel + "=abc"}})
	wantCode(t, err, exitcode.Incomplete, "reading the labels of", "DENIED")
	if res != nil {
		t.Errorf("a result with an unreadable image: %+v", res)
	}
	e.ecr.FailAlways("DescribeImages", ecrfake.Throttling())
	_, err = e.run(Config{Repository: "app", Tags: []string{"latest"}, LabelEquals: []string{revisionLabel + "=abc"}})
	wantCode(t, err, exitcode.Incomplete, "DescribeImages")
}

// Another registry than ECR: the tag looked up with a HEAD request, the
// labels read the same way; a repository the registry does not have is a
// change.
func TestLabelEqualsOtherRegistry(t *testing.T) {
	t.Parallel()
	var writes atomic.Int64
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writes.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	deps := Deps{Log: &recLog{}, Keychain: authn.NewMultiKeychain()}
	run := func(cfg Config) *Result {
		t.Helper()
		cfg.Registry, cfg.Jobs = host, 1
		res, err := runConfig(context.Background(), cfg, deps)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := run(Config{Repository: "demo/train", Tags: []string{"latest"}, LabelEquals: []string{revisionLabel + "=abc"}})
	if !changed(t, res) || res.Exists {
		t.Errorf("nothing pushed yet: %+v", res)
	}
	run(Config{Repository: "demo/train", OCILayout: writeLayout(t, labelled(t, map[string]string{revisionLabel: "abc"})), Tags: []string{"latest"}})
	before := writes.Load()
	if res := run(Config{Repository: "demo/train", Tags: []string{"latest"}, LabelEquals: []string{revisionLabel + "=abc"}}); changed(t, res) || !res.Exists {
		t.Errorf("same revision: %+v", res)
	}
	if res := run(Config{Repository: "demo/train", Tags: []string{"latest"}, LabelEquals: []string{revisionLabel + "=abd"}}); !changed(t, res) {
		t.Errorf("another revision: %+v", res)
	}
	if n := writes.Load() - before; n != 0 {
		t.Errorf("--label-equals wrote to the registry %d times", n)
	}
}

func TestLabelEqualsBadInput(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{Repository: "app", Tags: []string{"latest"}, LabelEquals: []string{"org.opencontainers.image.revision"}}, `--label-equals "org.opencontainers.image.revision": want KEY=VALUE`},
		{Config{Repository: "app", Tags: []string{"latest"}, LabelEquals: []string{"=abc"}}, `--label-equals "=abc": want KEY=VALUE`},
		{Config{Repository: "app", Tags: []string{"latest"}, LabelEquals: []string{"org.opencontainers.image.revision="}}, `--label-equals "org.opencontainers.image.revision=": the value is empty`},
		{Config{Repository: "app", Tags: []string{"latest"}, LabelEquals: []string{"a=b"}, CheckExists: true}, "--check-exists and --label-equals: give one"},
		{Config{Repository: "app", Tags: []string{"latest"}, LabelEquals: []string{"a=b"}, SourceTag: "v1"}, "--label-equals: only compares the labels of the image in the registry and takes no --source-tag"},
		{Config{Repository: "app", Tags: []string{"latest"}, LabelEquals: []string{"a=b"}, CreateRepository: true}, "--create-repository and --ssm-parameter do not apply"},
	} {
		tt.cfg.Jobs = 1
		_, err := tt.cfg.Validate()
		wantCode(t, err, exitcode.BadInput, tt.want)
	}
}

// As a step: the changed output, true or false, and empty for a push.
func TestLabelEqualsOutputs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("app", false)
	e.mustRun(Config{Repository: "app", OCILayout: writeLayout(t, labelled(t, map[string]string{revisionLabel: "abc"})), Tags: []string{"latest"}})
	for _, tt := range []struct{ commit, want string }{{"abc", "false"}, {"abd", "true"}} {
		step := actiontest.NewStep(t, map[string]string{"repository": "app", "tag": "latest", "label-equals": revisionLabel + "=" + tt.commit})
		if code := step.Run(e.command()); code != 0 {
			t.Fatalf("exit %d: %s", code, step.Stderr.String())
		}
		out := step.Outputs(t)
		if out["changed"] != tt.want || out["exists"] != "true" {
			t.Errorf("commit %s: outputs %v, want changed=%s", tt.commit, out, tt.want)
		}
	}
	step := actiontest.NewStep(t, map[string]string{"repository": "app", "tag": "v2", "oci-layout": writeLayout(t, randomImage(t, 32, 1))})
	if code := step.Run(e.command()); code != 0 {
		t.Fatalf("push: exit %d: %s", code, step.Stderr.String())
	}
	if out := step.Outputs(t); out["changed"] != "" {
		t.Errorf("a push: changed=%q, want empty", out["changed"])
	}
}
