package examples

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/toolset"
)

// runStep runs an mlship template of the examples as Argo would: its
// command line with the inputs substituted, extra arguments after it, and
// returns the exit code and the result file's JSON.
func runStep(t *testing.T, tm *template, inputs map[string]string, extra ...string) (int, map[string]any, string) {
	t.Helper()
	cn := tm.container()
	resultFile := ""
	var args []string
	for _, a := range cn.Args {
		a = simpleTag.ReplaceAllStringFunc(a, func(m string) string {
			name := strings.TrimPrefix(simpleTag.FindStringSubmatch(m)[1], "inputs.parameters.")
			v, ok := inputs[name]
			if !ok {
				t.Fatalf("%s: no value for %s", tm.Name, m)
			}
			return v
		})
		if f, ok := strings.CutPrefix(a, "--result-file="); ok {
			// The template's path, in this test's folder.
			resultFile = filepath.Join(t.TempDir(), filepath.Base(f))
			a = "--result-file=" + resultFile
		}
		args = append(args, a)
	}
	i := slices.IndexFunc(toolset.All, func(tl toolset.Tool) bool { return tl.Name == cn.Command[0] })
	var stdout, stderr bytes.Buffer
	code := toolset.All[i].Command().Main(append(append([]string{cn.Command[0]}, args...), extra...),
		command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
	var res map[string]any
	if b, err := os.ReadFile(resultFile); err == nil {
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatalf("%s: the result file: %v", tm.Name, err)
		}
	}
	return code, res, stderr.String()
}

// The promotion's gate as the template runs it: health-rollback with the
// template's own arguments against a /version endpoint. Only the model
// version asked for passes; another one (1.0.70 for 1.0.7 too: the quotes
// of --expect-body="..." are part of what must match), an error or no
// answer fails the step (exit 1), so the retag after it never runs.
func TestArgoVersionCheckRefusesABrokenModel(t *testing.T) {
	t.Parallel()
	set, _ := exampleSet(t)
	check := set["mlship-steps"].template("check-version")
	if check == nil {
		t.Fatal("mlship-steps has no check-version")
	}
	for _, tt := range []struct {
		name   string
		status int
		body   string
		code   int
	}{
		{"the promoted model", 200, `{"model_version": "1.0.7", "status": "ok"}`, 0},
		{"another model", 200, `{"model_version": "1.0.6", "status": "ok"}`, 1},
		{"a version that starts the same", 200, `{"model_version": "1.0.70", "status": "ok"}`, 1},
		{"a broken model", 500, `{"detail": "model failed to load"}`, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/version" {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			t.Cleanup(srv.Close)
			// The template's 12 attempts, 10 ms apart instead of 10 s.
			code, res, stderr := runStep(t, check, map[string]string{"url": srv.URL, "version": "1.0.7"}, "--interval=10ms")
			if code != tt.code {
				t.Fatalf("exit %d (%s), want %d", code, stderr, tt.code)
			}
			if res == nil || res["healthy"] != (tt.code == 0) {
				t.Errorf("result %v: healthy should be %t", res, tt.code == 0)
			}
		})
	}
}

// The image-changed step as the template runs it, against a registry in
// this process (--registry added: the template pushes to the account's
// ECR): the result's $.changed, which train-model's build step reads, is
// false only for the commit the image was built from.
func TestArgoImageChangedStep(t *testing.T) {
	t.Parallel()
	set, _ := exampleSet(t)
	step := set["mlship-steps"].template("image-changed")
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := mutate.Config(empty.Image, v1.Config{Labels: map[string]string{"org.opencontainers.image.revision": "abc123"}})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/gourmetgram-train:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		repository, commit string
		changed            bool
	}{
		{"gourmetgram-train", "abc123", false},
		{"gourmetgram-train", "def456", true},
		{"gourmetgram-new", "abc123", true},
	} {
		code, res, stderr := runStep(t, step, map[string]string{"repository": tt.repository, "tag": "latest", "commit": tt.commit}, "--registry="+host)
		if code != 0 || res == nil || res["changed"] != tt.changed {
			t.Errorf("%s at %s: exit %d (%s), result %v; want changed %t", tt.repository, tt.commit, code, stderr, res, tt.changed)
		}
	}
}
