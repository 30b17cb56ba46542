package eksrollout

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/kube"
	"github.com/mlship/mlship/internal/kube/kubetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Run(m)) }

const (
	imgV1 = "registry.example/retail-api:build-41"
	imgV2 = "registry.example/retail-api:build-42"
	imgV3 = "registry.example/retail-api:build-43"
)

// cluster is a namespace of the test's own on the real control plane.
type cluster struct {
	*kubetest.Cluster
	ns string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := kubetest.Get(t)
	return &cluster{Cluster: c, ns: c.Namespace(t)}
}

// deploy creates a Deployment and waits until its first rollout is done.
func (c *cluster) deploy(t *testing.T, name, image string, replicas int32, opts ...kubetest.DeploymentOption) *appsv1.Deployment {
	t.Helper()
	d := kubetest.Create(t, c.Client, kubetest.Deployment(c.ns, name, image, replicas, opts...))
	kc := c.kube(t)
	if _, err := kc.Wait(context.Background(), kube.Ref{Kind: kube.Deployment, Namespace: c.ns, Name: name},
		kube.WaitOptions{Generation: d.Generation, Timeout: time.Minute}); err != nil {
		t.Fatalf("first rollout of %s: %v", name, err)
	}
	return d
}

func (c *cluster) kube(t *testing.T) *kube.Client {
	t.Helper()
	kc, err := kube.NewClient(c.Config, c.ns, "", "mlship-test")
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

func (c *cluster) get(t *testing.T, name string) *appsv1.Deployment {
	t.Helper()
	d, err := c.Client.AppsV1().Deployments(c.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (c *cluster) replicaSets(t *testing.T) int {
	t.Helper()
	l, err := c.Client.AppsV1().ReplicaSets(c.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return len(l.Items)
}

// run is one eks-rollout run through Command().Main.
type run struct {
	code           int
	stdout, stderr string
	outputs        map[string]string
	summary        string
	result         Result
}

// syncBuffer is a buffer that a test may read while the tool writes it.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	watch string
	seen  chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	if s.seen != nil && strings.Contains(s.b.String(), s.watch) {
		close(s.seen)
		s.seen = nil
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// inWorkflow runs eks-rollout as an action step with inputs, against the
// cluster's kubeconfig. When seen is not nil it is closed once the log
// shows watch.
func (c *cluster) inWorkflow(t *testing.T, inputs map[string]string, watch string, seen chan struct{}) run {
	t.Helper()
	env := map[string]string{}
	for k, v := range inputs {
		env[command.InputEnv(k)] = v
	}
	env[command.InputEnv("kubeconfig")] = c.Kubeconfig
	env[command.InputEnv("namespace")] = c.ns
	wf := actiontest.NewWorkflow(t, env)
	stdout := &syncBuffer{watch: watch, seen: seen}
	var stderr bytes.Buffer
	code := Command().Main([]string{Name}, command.Env{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: &stderr, Getenv: wf.Getenv})
	summary, _ := os.ReadFile(wf.Summary)
	return run{code: code, stdout: stdout.String(), stderr: stderr.String(), outputs: wf.Outputs(t), summary: string(summary)}
}

// onTerminal runs eks-rollout with args and --json.
func (c *cluster) onTerminal(t *testing.T, args ...string) run {
	t.Helper()
	var stdout, stderr bytes.Buffer
	argv := append([]string{Name, "--kubeconfig", c.Kubeconfig, "--namespace", c.ns, "--json"}, args...)
	code := Command().Main(argv, command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
	r := run{code: code, stdout: stdout.String(), stderr: stderr.String()}
	if stdout.Len() > 0 {
		if err := json.Unmarshal(stdout.Bytes(), &r.result); err != nil {
			t.Fatalf("--json printed %q: %v", &stdout, err)
		}
	}
	return r
}

func readState(t *testing.T, path string) *kube.State {
	t.Helper()
	st, err := kube.ReadState(path)
	if err != nil {
		t.Fatalf("state file: %v", err)
	}
	return st
}
