package kube_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
)

func TestStateRoundTrip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	st := &kube.State{Cluster: "retail-prod", Workloads: []kube.WorkloadState{{
		Kind: kube.Deployment, Namespace: "prod", Name: "retail-api", UID: "u1", Existed: true,
		Revision: 6, Generation: 9, Images: map[string]string{"api": "retail-api:build-41"},
		Deployed: &kube.DeployedState{Changed: true, Generation: 10, Revision: 7, Images: map[string]string{"api": "retail-api:build-42"}},
	}}}
	if err := st.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := kube.ReadState(path)
	if err != nil {
		t.Fatal(err)
	}
	w := got.Find(kube.Ref{Kind: kube.Deployment, Namespace: "prod", Name: "retail-api"})
	if got.Schema != kube.StateSchema || w == nil || w.Revision != 6 || w.Deployed.Revision != 7 || w.Images["api"] != "retail-api:build-41" {
		t.Errorf("read back %+v", got)
	}
	if got.Find(kube.Ref{Kind: kube.Deployment, Namespace: "staging", Name: "retail-api"}) != nil {
		t.Error("found a workload of another namespace")
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func TestReadStateRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := map[string]string{
		"missing":      "",
		"not json":     `{"schema": "mlship.eks-rollout.state/v1", "workloads": [`,
		"other schema": `{"schema": "mlship.lambda-deploy.previous-state/v1"}`,
		"bad workload": `{"schema": "mlship.eks-rollout.state/v1", "workloads": [{"kind": "Pod", "namespace": "x", "name": "y"}]}`,
		"too large":    `{"schema": "mlship.eks-rollout.state/v1", "cluster": "` + strings.Repeat("x", 2<<20) + `"}`,
	}
	for name, content := range tests {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if content != "" {
			writeFile(t, dir, filepath.Base(path), content)
		}
		_, err := kube.ReadState(path)
		if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), "--state-file") {
			t.Errorf("%s: %v (exit %d), want exit 2 naming --state-file", name, err, exitcode.Of(err))
		}
	}
}

func TestLoadKubeconfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeFile(t, dir, "config", `apiVersion: v1
kind: Config
clusters:
- {name: kind, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}
- {name: k3s, cluster: {server: "https://10.0.0.5:6443", insecure-skip-tls-verify: true}}
users: [{name: dev, user: {token: "t0ken"}}]
contexts:
- {name: kind-dev, context: {cluster: kind, user: dev, namespace: retail}}
- {name: k3s, context: {cluster: k3s, user: dev}}
current-context: kind-dev
`)
	cfg, ns, err := kube.LoadKubeconfig(path, "")
	if err != nil || cfg.Host != "https://127.0.0.1:6443" || ns != "retail" || cfg.BearerToken != "t0ken" {
		t.Errorf("current context: %v %q %v", cfg, ns, err)
	}
	cfg, ns, err = kube.LoadKubeconfig(path, "k3s")
	if err != nil || cfg.Host != "https://10.0.0.5:6443" || ns != "default" {
		t.Errorf("--context k3s: %v %q %v", cfg, ns, err)
	}
	for _, tt := range []struct{ path, ctx, want string }{
		{path, "gke", `--context "gke": context "gke" does not exist`},
		{filepath.Join(dir, "missing"), "", "--kubeconfig"},
		{writeFile(t, dir, "garbage", "{{{"), "", "--kubeconfig"},
	} {
		_, _, err := kube.LoadKubeconfig(tt.path, tt.ctx)
		if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %q: %v (exit %d), want exit 2 with %q", tt.path, tt.ctx, err, exitcode.Of(err), tt.want)
		}
	}
}

func TestTargetValidate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		t    kube.Target
		want string
	}{
		{kube.Target{Cluster: "retail-prod"}, ""},
		{kube.Target{Kubeconfig: "/x", Context: "kind"}, ""},
		{kube.Target{Cluster: "retail prod"}, "not an EKS cluster name"},
		{kube.Target{Cluster: "-x"}, "not an EKS cluster name"},
		{kube.Target{Cluster: "retail", Context: "kind"}, "not both"},
	} {
		err := tt.t.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && (!strings.Contains(err.Error(), tt.want) || exitcode.Of(err) != exitcode.BadInput)) {
			t.Errorf("%+v: %v, want %q", tt.t, err, tt.want)
		}
	}
}
