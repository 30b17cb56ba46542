package healthrollback

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

func TestBadInputExits2BeforeAnyCall(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	eksState := filepath.Join(dir, "eks.json")
	if err := (&kube.State{Workloads: []kube.WorkloadState{{Kind: kube.Deployment, Namespace: "retail", Name: "retail-api", Existed: true, Revision: 1}}}).Write(eksState); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.json")
	if err := os.WriteFile(garbage, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	u := "http://retail.example.com/health"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"nothing to check", []string{"--deployment", "web"}, "nothing to check"},
		{"not a URL", []string{"--url", "retail.example.com/health"}, `--url "retail.example.com/health": not an http:// or https:// URL`},
		{"another scheme", []string{"--url", "ftp://x/y"}, "not an http:// or https:// URL"},
		{"credentials in the URL", []string{"--url", "https://user:pw@x/y"}, "no credentials in it"},
		{"bad service", []string{"--service", "retail/Retail_API"}, `--service "retail/Retail_API"`},
		{"path without service", []string{"--url", u, "--path", "/health"}, "is for --service"},
		{"path without slash", []string{"--service", "retail/api", "--path", "health"}, "must start with /"},
		{"bad status", []string{"--url", u, "--expect-status", "ok"}, `--expect-status "ok"`},
		{"bad regex", []string{"--url", u, "--expect-body", "/build-(/"}, "not a regular expression"},
		{"bad header", []string{"--url", u, "--header", "no colon"}, `--header "no colon": want NAME: VALUE`},
		{"negative timeout", []string{"--url", u, "--timeout", "-1s"}, "--timeout -1s: must be more than zero"},
		{"negative interval", []string{"--url", u, "--interval", "-5s"}, "--interval -5s"},
		{"negative watch", []string{"--alarm", "x", "--watch", "-1m"}, "--watch -1m0s"},
		{"not a duration", []string{"--url", u, "--interval", "often"}, "interval"},
		{"negative attempts", []string{"--url", u, "--attempts", "-1"}, "--attempts -1"},
		{"successes beyond attempts", []string{"--url", u, "--attempts", "2", "--successes", "3"}, "more than --attempts 2"},
		{"two targets", []string{"--url", u, "--deployment", "web", "--function", "fn", "--alias", "live"}, "not both"},
		{"function without alias", []string{"--url", u, "--function", "fn", "--to-version", "3"}, "needs --alias"},
		{"function without version", []string{"--url", u, "--function", "fn", "--alias", "live"}, "needs --state-file"},
		{"bad version", []string{"--url", u, "--function", "fn", "--alias", "live", "--to-version", "$LATEST"}, `--to-version "$LATEST"`},
		{"eks state for lambda", []string{"--url", u, "--function", "fn", "--alias", "live", "--state-file", eksState}, `schema "mlship.eks-rollout.state/v1", want "mlship.lambda-deploy.previous-state/v2"`},
		{"state file not there", []string{"--url", u, "--deployment", "web", "--state-file", filepath.Join(dir, "nope.json")}, "no such file"},
		{"state file not json", []string{"--url", u, "--deployment", "web", "--state-file", garbage}, "not JSON"},
		{"state of another workload", []string{"--url", u, "--deployment", "web", "--state-file", eksState}, "no record of deployment/web (it records deployment/retail-api in retail)"},
		{"state without target", []string{"--url", u, "--state-file", eksState}, "needs a rollback target"},
		{"force without target", []string{"--url", u, "--force"}, "--force: needs a rollback target"},
		{"unknown kind", []string{"--url", u, "--deployment", "job/web"}, `unknown kind "job"`},
		{"kubeconfig without kube", []string{"--url", u, "--kubeconfig", "/x"}, "are for --service and --deployment"},
		{"cluster and context", []string{"--url", u, "--deployment", "web", "--cluster", "retail", "--context", "kind"}, "not both"},
		{"positional", []string{u}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			connected := false
			cmd := newCommand(func(context.Context, *Config) (Deps, error) {
				connected = true
				return Deps{}, exitcode.Incompletef("connected")
			})
			var stdout, stderr bytes.Buffer
			code := cmd.Main(append([]string{Name}, tt.args...), command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
			if code != exitcode.BadInput {
				t.Errorf("exit %d, want 2\n%s", code, &stderr)
			}
			if connected {
				t.Error("connected")
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
				t.Errorf("stderr %q, want one line with %q", stderr.String(), tt.want)
			}
		})
	}
}
