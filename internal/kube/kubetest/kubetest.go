// Package kubetest runs the tests of a package against a real Kubernetes
// control plane on loopback: etcd, kube-apiserver, kube-controller-manager
// (the Deployment controller: ReplicaSets, revisions, progress deadlines),
// kube-scheduler and kwok, a node that runs no containers but reports pods
// Running and Ready, or, for pods labelled KubeletLabel, the failures a
// kubelet would report (an image that cannot be pulled, a container that
// keeps crashing, one that never gets ready).
//
// The control plane is the `control-plane` script of a shared/kube folder
// beside the repository (or beside one of its parent folders, or named by
// MLSHIP_KUBE_DIR), with etcd from PATH. It starts the first time a test
// asks for it and stops when the test binary ends (Run). Without it a
// test skips, saying what is missing; with MLSHIP_REQUIRE_KUBE=1 (as CI
// sets) it fails instead.
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	watchtools "k8s.io/client-go/tools/watch"
)

// KubeletLabel on a pod template makes kwok report, for its pods, what a
// kubelet would for a pod that fails in one way: one of the values below.
const KubeletLabel = "mlship.test/kubelet"

// Values of KubeletLabel.
const (
	// ImagePullBackOff: the image cannot be pulled (phase Pending, the
	// container waiting with reason ImagePullBackOff).
	ImagePullBackOff = "image-pull-backoff"
	// CrashLoopBackOff: the container exits with code 1 and is restarted
	// with back-off.
	CrashLoopBackOff = "crash-loop"
	// Unready: the container runs, but its readiness probe fails.
	Unready = "unready"
)

// UnpullableImage is an image kwok treats as one that cannot be pulled:
// pods running it stay Pending in ImagePullBackOff, whatever their labels.
const UnpullableImage = "registry.invalid/mlship/missing:v0"

// NodeName is the kwok node pods are scheduled to.
const NodeName = "kwok-node-0"

// Cluster is a running control plane.
type Cluster struct {
	Dir        string
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	// Server is the API server's URL; CAFile its serving certificate and
	// the authority that signed it; Token a bearer token of an admin.
	Server string
	CAFile string
	Token  string
}

var (
	once    sync.Once
	cluster *Cluster
	missing string // why there is no control plane here
	failure error  // why it did not start
)

// Run runs a package's tests and stops the control plane after them, if
// one was started; TestMain passes its result to os.Exit.
func Run(m *testing.M) int {
	code := m.Run()
	if cluster != nil {
		if err := stop(cluster.Dir); err != nil {
			fmt.Fprintf(os.Stderr, "kubetest: stopping the control plane: %v\n", err)
		}
	}
	return code
}

// Get returns the control plane, starting it on first use. When the
// binaries or etcd are not here, t is skipped with what is missing (and
// fails with MLSHIP_REQUIRE_KUBE=1); when they are but the control plane
// does not start, t fails.
func Get(t testing.TB) *Cluster {
	t.Helper()
	once.Do(func() { cluster, missing, failure = start() })
	switch {
	case missing != "" && os.Getenv("MLSHIP_REQUIRE_KUBE") == "1":
		t.Fatalf("no Kubernetes control plane, and MLSHIP_REQUIRE_KUBE=1: %s", missing)
	case missing != "":
		t.Skipf("SKIPPED, not passed: no Kubernetes control plane: %s", missing)
	case failure != nil:
		t.Fatalf("starting the Kubernetes control plane: %v", failure)
	}
	return cluster
}

// find locates the control-plane script and checks what it needs.
func find() (script, why string) {
	var dirs []string
	if d := os.Getenv("MLSHIP_KUBE_DIR"); d != "" {
		dirs = append(dirs, d)
	} else if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			dirs = append(dirs, filepath.Join(d, "shared", "kube"))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, d := range dirs {
		if st, err := os.Stat(filepath.Join(d, "control-plane")); err == nil && !st.IsDir() {
			script = filepath.Join(d, "control-plane")
			break
		}
	}
	if script == "" && os.Getenv("MLSHIP_KUBE_DIR") != "" {
		return "", "MLSHIP_KUBE_DIR=" + os.Getenv("MLSHIP_KUBE_DIR") + " has no control-plane script"
	}
	if script == "" {
		return "", "no control-plane script in a shared/kube folder beside the repository or its parents (or set MLSHIP_KUBE_DIR)"
	}
	var absent []string
	if _, err := exec.LookPath("etcd"); err != nil {
		absent = append(absent, "etcd (apt-get install etcd-server)")
	}
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		if !haveBinary(filepath.Dir(script), b) {
			absent = append(absent, b+" (in "+filepath.Dir(script)+" or $KUBE_BIN)")
		}
	}
	for _, tool := range []string{"bash", "openssl", "python3", "curl", "gzip"} {
		if _, err := exec.LookPath(tool); err != nil {
			absent = append(absent, tool)
		}
	}
	if len(absent) > 0 {
		return "", "missing " + strings.Join(absent, ", ")
	}
	return script, ""
}

func haveBinary(dir, name string) bool {
	if kb := os.Getenv("KUBE_BIN"); kb != "" {
		if _, err := os.Stat(filepath.Join(kb, name)); err == nil {
			return true
		}
	}
	if _, err := os.Stat(filepath.Join(dir, name+".gz")); err == nil {
		return true
	}
	_, err := exec.LookPath(name)
	return err == nil
}

func start() (*Cluster, string, error) {
	script, why := find()
	if why != "" {
		return nil, why, nil
	}
	dir, err := os.MkdirTemp("", "mlship-kube-")
	if err != nil {
		return nil, "", err
	}
	// kwok reads its stages from $KWOK_WORKDIR/kwok.yaml.
	kwokDir := filepath.Join(dir, "kwok")
	if err := os.MkdirAll(kwokDir, 0o755); err != nil {
		return nil, "", err
	}
	if err := os.WriteFile(filepath.Join(kwokDir, "kwok.yaml"), []byte(stages), 0o644); err != nil {
		return nil, "", err
	}
	cmd := exec.Command("bash", script, dir)
	cmd.Env = append(os.Environ(), "KWOK_WORKDIR="+kwokDir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		_ = stop(dir)
		return nil, "", fmt.Errorf("%s %s: %v: %s (logs in %s)", script, dir, err, strings.TrimSpace(stderr.String()), dir)
	}
	c := &Cluster{Dir: dir, Kubeconfig: strings.TrimSpace(stdout.String()), CAFile: filepath.Join(dir, "certs", "apiserver.crt")}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err == nil {
		c.Config, c.Server, c.Token = cfg, cfg.Host, cfg.BearerToken
		c.Client, err = kubernetes.NewForConfig(cfg)
	}
	if err == nil {
		err = c.addNode()
	}
	if err != nil {
		_ = stop(dir)
		return nil, "", fmt.Errorf("%v (logs in %s)", err, dir)
	}
	return c, "", nil
}

func stop(dir string) error {
	script, _ := find()
	if script != "" {
		if out, err := exec.Command("bash", script, "--stop", dir).CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
	}
	if os.Getenv("MLSHIP_KUBE_KEEP") == "" {
		return os.RemoveAll(dir)
	}
	return nil
}

// addNode registers the kwok node and waits until kwok reports it Ready.
func (c *Cluster) addNode() error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	qty := map[corev1.ResourceName]resource.Quantity{
		corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("500"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels:      map[string]string{"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"},
		},
		Status: corev1.NodeStatus{Allocatable: qty, Capacity: qty},
	}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the kwok node: %w", err)
	}
	sel := fields.OneTermEqualSelector("metadata.name", NodeName).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return c.Client.CoreV1().Nodes().List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return c.Client.CoreV1().Nodes().Watch(ctx, o)
		},
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Node{}, nil, func(ev watch.Event) (bool, error) {
		n, ok := ev.Object.(*corev1.Node)
		if !ok {
			return false, nil
		}
		for _, cond := range n.Spec.Taints {
			if cond.Effect == corev1.TaintEffectNoSchedule {
				return false, nil
			}
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for kwok to report node %s Ready (is kwok running? see kwok.log): %w", NodeName, err)
	}
	return nil
}

var notLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace creates a namespace of its own for t.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := notLabel.ReplaceAllString(strings.ToLower(t.Name()), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	name = strings.Trim(name, "-") + "-" + hex.EncodeToString(b[:])
	_, err := c.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	return name
}
