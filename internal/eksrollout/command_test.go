package eksrollout

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
)

func writeManifest(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadInputExits2BeforeAnyCall(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	manifest := writeManifest(t, dir, "app.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers: [{name: web, image: web:latest}]\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"nothing to do", []string{"--deployment", "web"}, "nothing to roll out"},
		{"container without deployment", []string{"--container", "app=web:v2"}, "needs --deployment"},
		{"malformed image", []string{"--deployment", "web", "--container", "app=Web:V2!"}, `--container "app=Web:V2!": "Web:V2!" is not an image reference`},
		{"image with spaces", []string{"--deployment", "web", "--container", "app=web: v2"}, "is not an image reference"},
		{"bad container name", []string{"--deployment", "web", "--container", "App_1=web:v2"}, "not a container name"},
		{"container twice", []string{"--deployment", "web", "--container", "app=web:v2", "--container", "app=web:v3"}, "set twice"},
		{"unnamed among several", []string{"--deployment", "web", "--container", "web:v2", "--container", "side=side:v2"}, "name each container"},
		{"unknown kind", []string{"--deployment", "cronjob/web", "--container", "web:v2"}, `unknown kind "cronjob"`},
		{"unknown --kind", []string{"--kind", "replicaset", "--deployment", "web", "--container", "web:v2"}, `--kind "replicaset"`},
		{"bad name", []string{"--deployment", "Web_App", "--container", "web:v2"}, "not a Kubernetes object name"},
		{"bad namespace", []string{"--namespace", "Prod", "--deployment", "web", "--container", "web:v2"}, `--namespace "Prod"`},
		{"negative timeout", []string{"--deployment", "web", "--container", "web:v2", "--timeout", "-5m"}, "--timeout -5m0s: must be more than zero"},
		{"not a duration", []string{"--deployment", "web", "--container", "web:v2", "--timeout", "soon"}, "timeout"},
		{"cluster and kubeconfig", []string{"--cluster", "retail", "--kubeconfig", "/x", "--deployment", "web", "--container", "web:v2"}, "not both"},
		{"bad cluster", []string{"--cluster", "retail prod", "--deployment", "web", "--container", "web:v2"}, "not an EKS cluster name"},
		{"image without manifest", []string{"--deployment", "web", "--container", "web:v2", "--image", "web=web:v2"}, "substitutes images in --manifest"},
		{"image substitution unused", []string{"--manifest", manifest, "--image", "api=api:v2"}, "no container in the manifests has an image named api"},
		{"bad substitution", []string{"--manifest", manifest, "--image", "web"}, "want NAME=IMAGE"},
		{"missing manifest", []string{"--manifest", filepath.Join(dir, "nope.yaml")}, "no such file"},
		{"deployment not in manifests", []string{"--manifest", manifest, "--deployment", "api"}, "not among the workloads of the manifests (deployment/web)"},
		{"state file in no directory", []string{"--deployment", "web", "--container", "web:v2", "--state-file", filepath.Join(dir, "no", "state.json")}, "does not exist"},
		{"state file a directory", []string{"--deployment", "web", "--container", "web:v2", "--state-file", dir}, "is a directory"},
		{"positional argument", []string{"web"}, "unexpected argument"},
		{"bad kubeconfig", []string{"--kubeconfig", filepath.Join(dir, "nope"), "--deployment", "web", "--container", "web:v2"}, "--kubeconfig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			connected := false
			cmd := newCommand(func(ctx context.Context, tg kube.Target, region string) (*kube.Client, error) {
				if tg.Cluster == "" {
					// Reading a kubeconfig is local: a bad one is bad input
					// before any call.
					if _, _, err := kube.LoadKubeconfig(tg.Kubeconfig, tg.Context); err != nil {
						return nil, err
					}
				}
				connected = true
				return nil, exitcode.Incompletef("connected")
			})
			var stdout, stderr bytes.Buffer
			code := cmd.Main(append([]string{Name}, tt.args...), command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
			if code != exitcode.BadInput {
				t.Errorf("exit %d, want 2\n%s", code, &stderr)
			}
			if connected {
				t.Error("connected to a cluster")
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
				t.Errorf("stderr %q, want one line with %q", stderr.String(), tt.want)
			}
		})
	}
}
