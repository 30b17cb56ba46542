package ecrpush

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/ecrfake"
	"github.com/mlship/mlship/internal/exitcode"
)

// TestWorkflowStep runs ecr-push as the action runs it: inputs as
// INPUT_<NAME> variables, outputs and summary to the runner's files.
func TestWorkflowStep(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	img := randomImage(t, 1024, 2)
	w := actiontest.NewWorkflow(t, map[string]string{
		"GITHUB_RUN_NUMBER":       "5",
		"GITHUB_SHA":              "abcdef1234567890",
		"INPUT_REPOSITORY":        "credit/model",
		"INPUT_TAG":               "build-{run_number}-{sha7}\nlatest",
		"INPUT_OCI_LAYOUT":        writeLayout(t, img),
		"INPUT_CREATE_REPOSITORY": "true",
		"INPUT_SCAN_ON_PUSH":      "true",
		"INPUT_TAG_MUTABILITY":    "IMMUTABLE",
		"INPUT_JOBS":              "4",
		// Inputs a composite action passes empty when not given.
		"INPUT_TARBALL": "", "INPUT_SSM_PARAMETER": "", "INPUT_PROVENANCE": "",
	})
	var stdout, stderr bytes.Buffer
	code := e.command().Main([]string{"ecr-push"}, command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: w.Getenv})
	if code != exitcode.OK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	outs := w.Outputs(t)
	digest := digestOf(t, img)
	want := map[string]string{
		"registry":     e.host,
		"repository":   "credit/model",
		"image-uri":    e.host + "/credit/model:build-5-abcdef1",
		"image-digest": digest,
		"image-ref":    e.host + "/credit/model@" + digest,
		"tags":         "build-5-abcdef1,latest",
		"exists":       "true",
	}
	for k, v := range want {
		if outs[k] != v {
			t.Errorf("output %s = %q, want %q", k, outs[k], v)
		}
	}
	if outs["pushed-bytes"] == "" || outs["pushed-bytes"] == "0" {
		t.Errorf("pushed-bytes = %q", outs["pushed-bytes"])
	}
	summary := w.SummaryText(t)
	if !strings.Contains(summary, digest) || !strings.Contains(summary, "created `credit/model`") {
		t.Errorf("summary:\n%s", summary)
	}
	// The registry password is masked before anything could print it, and
	// appears nowhere else.
	log := stdout.String()
	if !strings.Contains(log, "::add-mask::"+ecrfake.DefaultPassword) {
		t.Errorf("password not masked:\n%s", log)
	}
	rest := strings.ReplaceAll(log, "::add-mask::"+ecrfake.DefaultPassword, "")
	for where, text := range map[string]string{"log": rest, "stderr": stderr.String(), "summary": summary, "outputs": readFile(t, w.OutputFile)} {
		if strings.Contains(text, ecrfake.DefaultPassword) {
			t.Errorf("password printed in %s", where)
		}
	}

	// Another image under the same immutable tag: exit 1, one error line
	// with both digests, outputs still written.
	other := randomImage(t, 1024, 2)
	w2 := actiontest.NewWorkflow(t, map[string]string{
		"INPUT_REPOSITORY": "credit/model", "INPUT_TAG": "latest", "INPUT_OCI_LAYOUT": writeLayout(t, other),
	})
	stdout.Reset()
	code = e.command().Main([]string{"ecr-push"}, command.Env{Stdout: &stdout, Stderr: &stderr, Getenv: w2.Getenv})
	if code != exitcode.Failed {
		t.Fatalf("exit %d, want 1\n%s", code, stdout.String())
	}
	var errLines []string
	for _, l := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(l, "::error") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 || !strings.Contains(errLines[0], digest) || !strings.Contains(errLines[0], digestOf(t, other)) {
		t.Errorf("error annotation: %q", errLines)
	}
	if got := w2.Outputs(t)["image-digest"]; got != digestOf(t, other) {
		t.Errorf("outputs not written on failure: image-digest %q", got)
	}
}

func TestCommandLineBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, args := range [][]string{
		{"--tag", "v1", "--oci-layout", "x"},                                    // no repository
		{"--repository", "app", "--oci-layout", "x"},                            // no tag
		{"--repository", "app", "--tag", "v1", "--oci-layout", "/nope"},         // missing layout
		{"--repository", "app", "--tag", "v1", "--image", "a b"},                // bad reference
		{"--repository", "app", "--tag", "v1", "--check-exists", "--jobs", "x"}, // bad number
	} {
		var stdout, stderr bytes.Buffer
		code := e.command().Main(append([]string{"ecr-push"}, args...), command.Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
		if code != exitcode.BadInput {
			t.Errorf("%q: exit %d, want 2\n%s", args, code, stderr.String())
		}
		if msg := strings.TrimSpace(stderr.String()); msg == "" || strings.Contains(msg, "\n") {
			t.Errorf("%q: stderr is not one error line:\n%s", args, stderr.String())
		}
	}
	if n := e.ecr.Calls("GetAuthorizationToken"); n != 0 {
		t.Errorf("bad input reached ECR (%d calls)", n)
	}
}

// TestRealSDKRetries drives the command with the real configuration loader
// and ECR client against the fake served over HTTP: throttling is retried
// by the SDK, access denied is not.
func TestRealSDKRetries(t *testing.T) {
	f := ecrfake.New()
	reg := f.Registry(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	regSrv := httptest.NewServer(reg)
	defer regSrv.Close()
	f.ProxyEndpoint = regSrv.URL
	apiSrv := httptest.NewServer(f.Handler())
	defer apiSrv.Close()

	home := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_ECR": apiSrv.URL, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_REGION": "eu-west-1", "AWS_CONFIG_FILE": filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	dir := writeLayout(t, randomImage(t, 512, 1))
	run := func(args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := Command().Main(append([]string{"ecr-push"}, args...), command.Env{Stdout: &stdout, Stderr: &stderr, Getenv: os.Getenv})
		return code, stderr.String()
	}

	f.FailNext("GetAuthorizationToken", 1, ecrfake.Throttling())
	code, stderr := run("--repository", "app", "--tag", "v1", "--oci-layout", dir, "--create-repository")
	if code != exitcode.OK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := f.Calls("GetAuthorizationToken"); n != 2 {
		t.Errorf("GetAuthorizationToken called %d times, want 2 (one throttled)", n)
	}
	if _, ok := f.TagDigest("app", "v1"); !ok {
		t.Error("image not tagged")
	}

	f.FailAlways("PutImage", ecrfake.AccessDenied("PutImage"))
	before := f.Calls("PutImage")
	code, stderr = run("--repository", "app", "--tag", "v2", "--oci-layout", dir)
	if code != exitcode.Incomplete || !strings.Contains(stderr, "AccessDeniedException") {
		t.Errorf("exit %d, stderr %q; want 3 and AccessDeniedException", code, stderr)
	}
	if n := f.Calls("PutImage") - before; n != 1 {
		t.Errorf("access denied was retried: %d calls", n)
	}
}
