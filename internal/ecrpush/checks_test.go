package ecrpush

import (
	"context"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/ecrfake"
	"github.com/mlship/mlship/internal/exitcode"
)

// TestRunNeedsAPlan: Run takes only what Validate returns; anything else
// is refused, not run half-checked.
func TestRunNeedsAPlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, p := range []*Plan{nil, {}} {
		res, err := Run(context.Background(), p, e.deps())
		wantCode(t, err, exitcode.Incomplete, "Config.Validate")
		if res != nil {
			t.Errorf("result %+v", res)
		}
	}
	if n := e.ecr.Calls("GetAuthorizationToken"); n != 0 {
		t.Errorf("an unchecked plan reached ECR (%d calls)", n)
	}
}

// TestBadInputNamesTheOption: each bad input is one line in the form
// `--flag "value": what is wrong` (or `--flag: ...` for a switch).
func TestBadInputNamesTheOption(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	layoutDir := writeLayout(t, randomImage(t, 64, 1))
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Repository: "app", Tags: []string{"v1"}, OCILayout: layoutDir, Jobs: 0}, `--jobs "0": want 1 to 64`},
		{Config{Repository: "app", Tags: []string{"v1"}, OCILayout: filepath.Join(dir, "nope"), Jobs: 1}, `--oci-layout "` + filepath.Join(dir, "nope") + `": not an OCI image layout`},
		{Config{Repository: "app", Tags: []string{"v1"}, Tarball: dir, Jobs: 1}, `--tarball "` + dir + `": is a directory`},
		{Config{Repository: "App", Tags: []string{"v1"}, OCILayout: layoutDir, Jobs: 1}, `--repository "App": repository names are lowercase`},
		{Config{Repository: "app", Tags: []string{"v1"}, OCILayout: layoutDir, Jobs: 1, Region: "us-east-1; rm -rf /"}, `--region "us-east-1; rm -rf /": not an AWS region name`},
		{Config{Repository: "app", Tags: []string{"v1"}, OCILayout: layoutDir, Jobs: 1, Registry: "https://x"}, `--registry "https://x": want HOST[:PORT]`},
		{Config{Repository: "app", Tags: []string{"v1"}, OCILayout: layoutDir, Jobs: 1, File: "Dockerfile"}, `--file "Dockerfile": is for a build and needs --context`},
		{Config{Repository: "app", Tags: []string{"v1"}, Context: dir, Jobs: 1, BuildArgs: []string{"TOKEN"}}, `--build-arg "TOKEN": want KEY=VALUE`},
		{Config{Repository: "app", Tags: []string{"v1"}, Context: dir, Jobs: 1, Secrets: []string{"id=npm,env=NPM_TOKEN"}}, `--secret "id=npm,env=NPM_TOKEN": the variable NPM_TOKEN is not set`},
		{Config{Repository: "app", Tags: []string{"v1"}, Context: dir, Jobs: 1, Secrets: []string{"id=npm"}}, `--secret "id=npm": needs env=VARIABLE or src=FILE`},
		{Config{Repository: "app", Tags: []string{"v1"}, Context: dir, Jobs: 1, Secrets: []string{"id=k,src=" + filepath.Join(dir, "nope")}}, `--secret "id=k,src=` + filepath.Join(dir, "nope") + `": no such file`},
		{Config{Repository: "app", Tags: []string{"v1"}, OCILayout: layoutDir, Jobs: 1, Secrets: []string{"id=x,env=HOME"}}, `--secret "id=x,env=HOME": is for a build and needs --context`},
		{Config{Repository: "app", Tags: []string{"v1"}, OCILayout: layoutDir, Jobs: 1, CreateRepository: true, TagMutability: "sometimes"}, `--tag-mutability "sometimes": want MUTABLE or IMMUTABLE`},
		{Config{Repository: "app", Tags: []string{"v1"}, CheckExists: true, Jobs: 1, ScanOnPush: true}, `--scan-on-push: `},
		{Config{Repository: "app", Tags: []string{"-v1"}, OCILayout: layoutDir, Jobs: 1}, `--tag "-v1": not a valid tag`},
	}
	huge := t.TempDir()
	if err := os.WriteFile(filepath.Join(huge, "index.json"), nil, 0o644); err != nil || os.Truncate(filepath.Join(huge, "index.json"), 5<<20) != nil {
		t.Fatal("writing a large index.json")
	}
	tests = append(tests, struct {
		cfg  Config
		want string
	}{Config{Repository: "app", Tags: []string{"v1"}, OCILayout: huge, Jobs: 1}, `--oci-layout "` + huge + `": index.json is larger than 4 MiB`})
	form := regexp.MustCompile(`^--[a-z-]+( "[^"]*")?: `)
	for _, tt := range tests {
		_, err := tt.cfg.Validate()
		if exitcode.Of(err) != exitcode.BadInput || !strings.HasPrefix(err.Error(), tt.want) || !form.MatchString(err.Error()) {
			t.Errorf("error %v (exit %d), want bad input starting %q", err, exitcode.Of(err), tt.want)
		}
	}
}

// TestLocalInputsBeforeLogin: a tarball that is not one, or a build
// without buildx, is bad input found before any AWS or registry call.
func TestLocalInputsBeforeLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("app", false)
	notatar := filepath.Join(t.TempDir(), "notatar")
	if err := os.WriteFile(notatar, []byte("this is not a tarball"), 0o644); err != nil {
		t.Fatal(err)
	}
	damaged := writeLayout(t, randomImage(t, 64, 1))
	if err := os.WriteFile(filepath.Join(damaged, "index.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := standInDocker(t)
	if err := os.WriteFile(filepath.Join(bin, "NO_BUILDX"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctxDir := t.TempDir()
	requests := e.requests.Load()

	_, err := e.run(Config{Repository: "app", Tags: []string{"v1"}, Tarball: notatar})
	wantCode(t, err, exitcode.BadInput, `--tarball "`+notatar+`": not a docker save tarball`)
	_, err = e.run(Config{Repository: "app", Tags: []string{"v1"}, OCILayout: damaged})
	wantCode(t, err, exitcode.BadInput, `--oci-layout "`+damaged+`"`)

	deps := e.deps()
	deps.Docker = filepath.Join(bin, "docker")
	_, err = runConfig(context.Background(), Config{Repository: "app", Tags: []string{"v1"}, Context: ctxDir, Jobs: 1}, deps)
	wantCode(t, err, exitcode.BadInput, "docker buildx is needed for --context (or push an OCI layout/tarball)")
	deps.Docker = ""
	_, err = runConfig(context.Background(), Config{Repository: "app", Tags: []string{"v1"}, Context: ctxDir, Jobs: 1}, deps)
	wantCode(t, err, exitcode.BadInput, "docker buildx is needed for --context")

	if n := e.ecr.Calls("GetAuthorizationToken") + e.ecr.Calls("DescribeRepositories"); n != 0 {
		t.Errorf("bad local input reached ECR (%d calls)", n)
	}
	if n := e.requests.Load() - requests; n != 0 {
		t.Errorf("bad local input reached the registry (%d requests)", n)
	}
}

// TestBuildWithoutBuildxInAWorkflow: the one line, exit 2.
func TestBuildWithoutBuildxInAWorkflow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bin := standInDocker(t)
	if err := os.WriteFile(filepath.Join(bin, "NO_BUILDX"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	step := actiontest.NewStep(t, map[string]string{"repository": "app", "tag": "v1", "context": t.TempDir()})
	step.Env["PATH"] = bin
	code := step.Run(e.commandWithDocker())
	if code != exitcode.BadInput {
		t.Fatalf("exit %d, want 2\n%s%s", code, step.Stdout.String(), step.Stderr.String())
	}
	want := "::error::ecr-push: docker buildx is needed for --context (or push an OCI layout/tarball)"
	if cmds := actiontest.Commands(step.Stdout.String()); len(cmds) != 1 || !strings.HasPrefix(cmds[0], want) {
		t.Errorf("workflow commands %q, want one starting %q", cmds, want)
	}
	if strings.Contains(step.Stdout.String()+step.Stderr.String(), "Run 'docker --help'") {
		t.Errorf("docker's usage text reached the log:\n%s", step.Stderr.String())
	}
}

// TestBuildArgumentsAndSecrets: build-argument values are not logged;
// BuildKit secrets reach buildx as --secret, and an env= secret's value is
// masked before the build runs.
func TestBuildArgumentsAndSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("app", false)
	bin := standInDocker(t)
	ctxDir := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	step := actiontest.NewStep(t, map[string]string{
		"repository": "app", "tag": "v1", "context": ctxDir,
		"build-arg": "MODEL=credit\nAPI_TOKEN=tok-build-arg-value",
		"secret":    "id=npm,env=NPM_TOKEN\nid=key,src=" + keyFile,
	})
	step.Env["PATH"] = bin
	step.Env["NPM_TOKEN"] = "npm-secret-value"
	if code := step.Run(e.commandWithDocker()); code != exitcode.OK {
		t.Fatalf("exit %d\n%s%s", code, step.Stdout.String(), step.Stderr.String())
	}
	args := strings.Split(readFile(t, filepath.Join(bin, "args")), "\n")
	for _, want := range [][2]string{{"--build-arg", "API_TOKEN=tok-build-arg-value"}, {"--secret", "id=npm,env=NPM_TOKEN"}, {"--secret", "id=key,src=" + keyFile}} {
		i := slices.Index(args, want[1])
		if i < 1 || args[i-1] != want[0] {
			t.Errorf("docker args %q lack %s %s", args, want[0], want[1])
		}
	}
	log := step.Stdout.String() + step.Stderr.String()
	if strings.Contains(log, "tok-build-arg-value") {
		t.Errorf("a build argument's value reached the log:\n%s", log)
	}
	if !strings.Contains(log, "--build-arg API_TOKEN=***") {
		t.Errorf("the build command line is not logged with the value hidden:\n%s", log)
	}
	if !slices.Contains(actiontest.Commands(step.Stdout.String()), "::add-mask::npm-secret-value") {
		t.Errorf("the secret's value is not masked:\n%s", step.Stdout.String())
	}
}

// TestPartialRetag: a tag taken between the check and the write fails the
// run with exactly which tags this run set, and the outputs name only the
// tags that point at the image.
func TestPartialRetag(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("app", true)
	img := randomImage(t, 512, 1)
	other := randomImage(t, 512, 1)
	otherRaw, _ := other.RawManifest()
	// "b" is taken by another image; the lookups report both tags free
	// (as when someone sets "b" right after the check).
	if _, err := e.ecr.AddImage("app", otherRaw, "b"); err != nil {
		t.Fatal(err)
	}
	e.ecr.FailNext("DescribeImages", 2, &ecrtypes.ImageNotFoundException{Message: aws.String("not found")})
	res, err := e.run(Config{Repository: "app", OCILayout: writeLayout(t, img), Tags: []string{"a", "b", "c"}})
	wantCode(t, err, exitcode.Failed, "tag b", "immutable", "this run set a", "not set: b, c")
	if res == nil {
		t.Fatal("no result for a run that set a tag")
	}
	if !slices.Equal(res.Tags, []string{"a"}) || res.Exists {
		t.Errorf("tags %q exists %t, want [a] and false", res.Tags, res.Exists)
	}
	want := []TagResult{{Tag: "a", Status: "created"}, {Tag: "b", Status: "not set"}, {Tag: "c", Status: "not set"}}
	if !slices.Equal(res.TagResults, want) {
		t.Errorf("tag results %+v, want %+v", res.TagResults, want)
	}
	if _, ok := e.ecr.TagDigest("app", "c"); ok {
		t.Error("c was set after the failure")
	}
}

// TestRefusedConnection: a registry that cannot be reached gives one error
// line and no outputs: no image-digest of an image that was never pushed.
func TestRefusedConnection(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	e := newEnv(t)
	step := actiontest.NewStep(t, map[string]string{
		"registry": host, "repository": "app", "tag": "v1", "oci-layout": writeLayout(t, randomImage(t, 64, 1)),
	})
	code := step.Run(newCommand(func(context.Context, *Plan, *command.Runtime) (Deps, error) {
		return Deps{Log: e.log, Keychain: authn.NewMultiKeychain()}, nil
	}))
	if code != exitcode.Incomplete {
		t.Fatalf("exit %d, want 3\n%s", code, step.Stdout.String())
	}
	lines := strings.Split(strings.TrimSpace(step.Stdout.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "::error::ecr-push: ") || !strings.Contains(lines[0], "connection refused") {
		t.Errorf("stdout %q, want one error line", lines)
	}
	if outs := step.Outputs(t); len(outs) != 0 {
		t.Errorf("outputs written for a push that did not happen: %v", outs)
	}
}

// TestCheckExistsMissingRepository says that the repository is missing, in
// ECR and in another registry.
func TestCheckExistsMissingRepository(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res, err := e.run(Config{Repository: "nothing", Tags: []string{"abc"}, CheckExists: true})
	wantCode(t, err, exitcode.Failed, "repository nothing does not exist")
	if strings.Contains(err.Error(), "has no tag") || res == nil || res.Exists {
		t.Errorf("error %q, result %+v", err, res)
	}

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	deps := Deps{Log: &recLog{}, Keychain: authn.NewMultiKeychain()}
	_, err = runConfig(context.Background(), Config{Registry: host, Repository: "nothing", Tags: []string{"abc"}, CheckExists: true, Jobs: 1}, deps)
	wantCode(t, err, exitcode.Failed, "repository nothing does not exist")
	// An existing repository without the tag still says which tag.
	if _, err := runConfig(context.Background(), Config{Registry: host, Repository: "demo", OCILayout: writeLayout(t, randomImage(t, 64, 1)), Tags: []string{"v1"}, Jobs: 1}, deps); err != nil {
		t.Fatal(err)
	}
	_, err = runConfig(context.Background(), Config{Registry: host, Repository: "demo", Tags: []string{"abc"}, CheckExists: true, Jobs: 1}, deps)
	wantCode(t, err, exitcode.Failed, "has no tag abc")
}

// TestOutsideTextIsNotACommand: registry and AWS error messages and
// docker's output are text from outside; none of it may reach the runner
// as a workflow command.
func TestOutsideTextIsNotACommand(t *testing.T) {
	t.Parallel()
	const hostile = "::add-mask::x\n::error title=injected::pwned\n::stop-commands::abc\n##[set-output name=image-digest;]sha256:0"
	for _, tc := range []struct {
		name  string
		setup func(e *env) map[string]string
	}{
		{"registry error", func(e *env) map[string]string {
			e.createRepo("app", false)
			e.reg.Fail(ecrfake.RegistryFault{Method: "PUT", PathContains: "/manifests/", N: -1, Status: 403, Code: "DENIED", Message: hostile})
			return map[string]string{"oci-layout": writeLayout(t, randomImage(t, 64, 1))}
		}},
		{"AWS error", func(e *env) map[string]string {
			e.ecr.FailAlways("DescribeRepositories", ecrfake.AccessDenied(hostile))
			return map[string]string{"oci-layout": writeLayout(t, randomImage(t, 64, 1))}
		}},
		{"docker output", func(e *env) map[string]string {
			e.createRepo("app", false)
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "FAIL"), []byte(hostile), 0o644); err != nil {
				t.Fatal(err)
			}
			return map[string]string{"context": dir}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			inputs := tc.setup(e)
			inputs["repository"], inputs["tag"] = "app", "v1"
			step := actiontest.NewStep(t, inputs)
			step.Env["PATH"] = standInDocker(t)
			if code := step.Run(e.commandWithDocker()); code == exitcode.OK {
				t.Fatal("exit 0")
			}
			// The masks of the registry token and password are the tool's
			// own; every other command would come from the hostile text.
			var cmds []string
			for _, c := range actiontest.Commands(step.Stdout.String() + step.Stderr.String()) {
				if !strings.HasPrefix(c, "::add-mask::") || c == "::add-mask::x" {
					cmds = append(cmds, c)
				}
			}
			if len(cmds) != 1 || !strings.HasPrefix(cmds[0], "::error::ecr-push: ") {
				t.Errorf("workflow commands %q, want only the one error line\nstdout:\n%s\nstderr:\n%s", cmds, step.Stdout.String(), step.Stderr.String())
			}
			if outs := step.Outputs(t); outs["image-digest"] == "sha256:0" {
				t.Errorf("outputs %v", outs)
			}
		})
	}
}
