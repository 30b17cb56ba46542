package healthrollback

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
	"github.com/mlship/mlship/internal/kube/kubetest"
)

const (
	imgV1 = "registry.example/retail-api:build-41"
	imgV2 = "registry.example/retail-api:build-42"
	imgV3 = "registry.example/retail-api:build-43"
)

// cluster is a namespace of the test's own on the real control plane.
type cluster struct {
	*kubetest.Cluster
	ns string
	kc *kube.Client
}

func newCluster(t *testing.T) *cluster { return newClusterB(t) }

func newClusterB(t testing.TB) *cluster {
	t.Helper()
	c := kubetest.Get(t)
	ns := c.Namespace(t)
	kc, err := kube.NewClient(c.Config, ns, "", "mlship-test")
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{Cluster: c, ns: ns, kc: kc}
}

func (c *cluster) ref(name string) kube.Ref {
	return kube.Ref{Kind: kube.Deployment, Namespace: c.ns, Name: name}
}

// rollout changes a Deployment to image (creating it with the first) and
// waits for that, as eks-rollout would.
func (c *cluster) rollout(t *testing.T, name, image string) *appsv1.Deployment {
	return c.rolloutB(t, name, image)
}

func (c *cluster) rolloutB(t testing.TB, name, image string) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	if _, err := c.Client.AppsV1().Deployments(c.ns).Get(context.Background(), name, metav1.GetOptions{}); err != nil {
		d = kubetest.Create(t, c.Client, kubetest.Deployment(c.ns, name, image, 2))
	} else {
		d = kubetest.SetImage(t, c.Client, c.ns, name, image)
	}
	if _, err := c.kc.Wait(context.Background(), c.ref(name), kube.WaitOptions{Generation: d.Generation, Timeout: time.Minute}); err != nil {
		t.Fatalf("rollout of %s: %v", image, err)
	}
	return d
}

func (c *cluster) image(t *testing.T, name string) string {
	t.Helper()
	d, err := c.Client.AppsV1().Deployments(c.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// state writes the record eks-rollout makes of a change from revision
// `from` (image before) to revision `to` (image after).
func (c *cluster) state(t *testing.T, name string, from int64, before string, to int64, after string) string {
	t.Helper()
	st := &kube.State{Context: "test", Workloads: []kube.WorkloadState{{
		Kind: kube.Deployment, Namespace: c.ns, Name: name, Existed: true, Revision: from, Images: map[string]string{"app": before},
		Deployed: &kube.DeployedState{Changed: true, Revision: to, Images: map[string]string{"app": after}, Succeeded: true},
	}}}
	path := filepath.Join(t.TempDir(), "state.json")
	if err := st.Write(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func (c *cluster) deps(cfg *Config) Deps { return Deps{Kube: c.kc} }

// TestUnhealthyRollsBackToRecordedRevision is the retail pipeline's last
// step: /health fails after build-42 rolled out; the Deployment goes back
// to the revision eks-rollout recorded (build-41), and that rollout is
// waited for.
func TestUnhealthyRollsBackToRecordedRevision(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.rollout(t, "retail-api", imgV1)
	c.rollout(t, "retail-api", imgV2)
	srv := newServer(t, down503)
	s := runStep(t, map[string]string{
		"url": srv.URL + "/health", "interval": "10ms", "attempts": "3", "successes": "2",
		"deployment": "retail-api", "namespace": c.ns, "state-file": c.state(t, "retail-api", 1, imgV1, 2, imgV2),
	}, c.deps)
	if s.code != exitcode.Failed {
		t.Fatalf("exit %d, want 1\n%s%s", s.code, s.stdout, s.stderr)
	}
	if s.outputs["healthy"] != "false" || s.outputs["rolled-back"] != "true" || s.outputs["restored-revision"] != "1" || s.outputs["restored-version"] != "" {
		t.Errorf("outputs %v", s.outputs)
	}
	cs := failedChecks(t, s.outputs["failed-checks"])
	if len(cs) != 1 || cs[0].Status != 503 || cs[0].Failures != 2 || !strings.Contains(cs[0].Body, "upstream connect error") {
		t.Errorf("failed checks %+v", cs)
	}
	if got := c.image(t, "retail-api"); got != imgV1 {
		t.Errorf("after the rollback it runs %s", got)
	}
	if !strings.Contains(s.stdout, "rolled back deployment/retail-api from revision 2") || !strings.Contains(s.summary, "unhealthy, rolled back") {
		t.Errorf("log:\n%s\nsummary:\n%s", s.stdout, s.summary)
	}
}

// Without a state file, the revision before the live one.
func TestUnhealthyRollsBackToPreviousRevision(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	for _, img := range []string{imgV1, imgV2, imgV3} {
		c.rollout(t, "retail-api", img)
	}
	srv := newServer(t, stale)
	cfg := fast(&Config{URLs: []string{srv.URL}, ExpectBody: "build-43", Attempts: 2, Successes: 1, Deployment: "retail-api", Namespace: c.ns})
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), cfg, c.deps(cfg))
	if exitcode.Of(err) != exitcode.Failed || !res.RolledBack || res.RestoredRevision != 2 {
		t.Fatalf("err %v, result %+v", err, res)
	}
	if got := c.image(t, "retail-api"); got != imgV2 {
		t.Errorf("after the rollback it runs %s", got)
	}
}

// A newer change than the one judged is live: refused, unless --force.
func TestRefusesToRollBackOverANewerChange(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	for _, img := range []string{imgV1, imgV2, imgV3} {
		c.rollout(t, "retail-api", img)
	}
	srv := newServer(t, down503)
	state := c.state(t, "retail-api", 1, imgV1, 2, imgV2) // the judged change is build-42, but build-43 is live
	inputs := map[string]string{"url": srv.URL, "interval": "5ms", "attempts": "1", "successes": "1", "deployment": "retail-api", "namespace": c.ns, "state-file": state}
	s := runStep(t, inputs, c.deps)
	if s.code != exitcode.Failed || s.outputs["rolled-back"] != "false" || s.outputs["restored-revision"] != "" {
		t.Fatalf("exit %d, outputs %v\n%s", s.code, s.outputs, s.stdout)
	}
	if !strings.Contains(s.stdout, "is at revision 3, but the change being judged is revision 2") || c.image(t, "retail-api") != imgV3 {
		t.Errorf("log:\n%s\nimage %s", s.stdout, c.image(t, "retail-api"))
	}

	inputs["force"] = "true"
	s = runStep(t, inputs, c.deps)
	if s.code != exitcode.Failed || s.outputs["rolled-back"] != "true" || s.outputs["restored-revision"] != "1" || c.image(t, "retail-api") != imgV1 {
		t.Errorf("--force: exit %d, outputs %v, image %s\n%s", s.code, s.outputs, c.image(t, "retail-api"), s.stdout)
	}
}

func TestHealthyDoesNotRollBack(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.rollout(t, "retail-api", imgV1)
	c.rollout(t, "retail-api", imgV2)
	srv := newServer(t, ok200)
	s := runStep(t, map[string]string{"url": srv.URL, "interval": "5ms", "deployment": "retail-api", "namespace": c.ns,
		"expect-body": "build-42", "state-file": c.state(t, "retail-api", 1, imgV1, 2, imgV2)}, c.deps)
	if s.code != 0 || s.outputs["healthy"] != "true" || s.outputs["rolled-back"] != "false" || s.outputs["failed-checks"] != "[]" {
		t.Fatalf("exit %d, outputs %v\n%s%s", s.code, s.outputs, s.stdout, s.stderr)
	}
	if c.image(t, "retail-api") != imgV2 {
		t.Error("a healthy Deployment was changed")
	}
}

func TestDryRunRollsNothingBack(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.rollout(t, "retail-api", imgV1)
	d := c.rollout(t, "retail-api", imgV2)
	srv := newServer(t, down503)
	s := runStep(t, map[string]string{"url": srv.URL, "interval": "5ms", "attempts": "1", "successes": "1", "deployment": "retail-api",
		"namespace": c.ns, "dry-run": "true"}, c.deps)
	if s.code != exitcode.Failed || s.outputs["rolled-back"] != "false" || s.outputs["restored-revision"] != "1" {
		t.Fatalf("exit %d, outputs %v\n%s", s.code, s.outputs, s.stdout)
	}
	if !strings.Contains(s.stdout, "dry run: would roll back deployment/retail-api from revision 2 (app="+imgV2+") to revision 1 (app="+imgV1+")") {
		t.Errorf("log:\n%s", s.stdout)
	}
	got, _ := c.Client.AppsV1().Deployments(c.ns).Get(context.Background(), "retail-api", metav1.GetOptions{})
	if got.Generation != d.Generation {
		t.Error("the dry run changed the Deployment")
	}
}

// A paused Deployment cannot be rolled back: the rollback could not
// finish (3).
func TestRollbackOfPausedCouldNotFinish(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.rollout(t, "retail-api", imgV1)
	c.rollout(t, "retail-api", imgV2)
	kubetest.Update(t, c.Client, c.ns, "retail-api", kubetest.Paused)
	srv := newServer(t, down503)
	s := runStep(t, map[string]string{"url": srv.URL, "interval": "5ms", "attempts": "1", "successes": "1", "deployment": "retail-api", "namespace": c.ns}, c.deps)
	if s.code != exitcode.Incomplete || !strings.Contains(s.stdout, "is paused") || s.outputs["rolled-back"] != "false" {
		t.Errorf("exit %d, outputs %v\n%s", s.code, s.outputs, s.stdout)
	}
}

// TestServiceLoadBalancer probes a Service through its load balancer: it
// waits for the address (here set by the test, as a cloud's controller
// would), then probes it at --path.
func TestServiceLoadBalancer(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	srv := newServer(t, ok200)
	u, _ := url.Parse(srv.URL)
	host, portStr, _ := net.SplitHostPort(u.Host)
	port, _ := strconv.Atoi(portStr)
	svc, err := c.Client.CoreV1().Services(c.ns).Create(context.Background(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "retail-api"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "retail-api"},
			Ports: []corev1.ServicePort{{Name: "http", Port: int32(port), TargetPort: intstr.FromInt(8080)}, {Name: "metrics", Port: 9090}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan step, 1)
	waiting := make(chan struct{})
	go func() {
		done <- runStepWatching(t, map[string]string{"service": c.ns + "/retail-api", "path": "/health?full=1", "interval": "5ms", "attempts": "3", "successes": "2",
			"kubeconfig": c.Kubeconfig}, c.deps, "for the load balancer of service", waiting)
	}()
	// The load balancer gets its address once the step waits for it.
	<-waiting
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: host}}
	if _, err := c.Client.CoreV1().Services(c.ns).UpdateStatus(context.Background(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	s := <-done
	if s.code != 0 || s.outputs["healthy"] != "true" {
		t.Fatalf("exit %d, outputs %v\n%s%s", s.code, s.outputs, s.stdout, s.stderr)
	}
	want := fmt.Sprintf("http://%s:%d/health?full=1", host, port)
	if !strings.Contains(s.stdout, "probing service "+c.ns+"/retail-api at "+want) {
		t.Errorf("log:\n%s", s.stdout)
	}
}

func TestServiceWithoutLoadBalancer(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	for _, typ := range []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeLoadBalancer} {
		name := strings.ToLower(string(typ))
		_, err := c.Client.CoreV1().Services(c.ns).Create(context.Background(), &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.ServiceSpec{Type: typ, Ports: []corev1.ServicePort{{Port: 80}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	s := runStep(t, map[string]string{"service": c.ns + "/clusterip", "path": "/health"}, c.deps)
	if s.code != exitcode.BadInput || !strings.Contains(s.stdout, "a ClusterIP Service has no load balancer") {
		t.Errorf("ClusterIP: exit %d\n%s", s.code, s.stdout)
	}
	s = runStep(t, map[string]string{"service": c.ns + "/loadbalancer", "address-timeout": "1s"}, c.deps)
	if s.code != exitcode.Incomplete || !strings.Contains(s.stdout, "has no hostname or IP after 1s") {
		t.Errorf("no address: exit %d\n%s", s.code, s.stdout)
	}
	s = runStep(t, map[string]string{"service": c.ns + "/nothing"}, c.deps)
	if s.code != exitcode.BadInput {
		t.Errorf("missing Service: exit %d\n%s", s.code, s.stdout)
	}
}
