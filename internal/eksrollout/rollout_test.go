package eksrollout

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
	"github.com/mlship/mlship/internal/kube/kubetest"
)

// TestRolloutCompletes is the retail pipeline's step as an action: set the
// image, wait, outputs and state record.
func TestRolloutCompletes(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.deploy(t, "retail-api", imgV1, 3)
	r := c.inWorkflow(t, map[string]string{"deployment": "retail-api", "container": "app=" + imgV2, "timeout": "120s"}, "", nil)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	want := map[string]string{
		"revision": "2", "previous-revision": "1", "previous-images": `{"app":"` + imgV1 + `"}`, "images": `{"app":"` + imgV2 + `"}`,
		"ready-replicas": "3", "changed": "true", "rolled-back": "false",
	}
	for k, v := range want {
		if r.outputs[k] != v {
			t.Errorf("output %s = %q, want %q", k, r.outputs[k], v)
		}
	}
	if !strings.Contains(r.stdout, "updated replicas are available") && !strings.Contains(r.stdout, "new replicas have been updated") {
		t.Errorf("no progress in the log:\n%s", r.stdout)
	}
	if !strings.Contains(r.summary, "rolled out") || !strings.Contains(r.summary, imgV2) || !strings.Contains(r.summary, "Revision 1 → 2, 3 ready") {
		t.Errorf("summary:\n%s", r.summary)
	}
	st := readState(t, r.outputs["state-file"])
	w := st.Find(kube.Ref{Kind: kube.Deployment, Namespace: c.ns, Name: "retail-api"})
	if w == nil || !w.Existed || w.Revision != 1 || w.Images["app"] != imgV1 || w.Deployed == nil ||
		!w.Deployed.Changed || w.Deployed.Revision != 2 || !w.Deployed.Succeeded || w.Deployed.Images["app"] != imgV2 {
		t.Errorf("state %+v (deployed %+v)", w, w.Deployed)
	}
	if got := c.get(t, "retail-api").Spec.Template.Spec.Containers[0].Image; got != imgV2 {
		t.Errorf("the Deployment runs %s", got)
	}
}

// TestRolloutIdempotent: the image it already runs makes no new revision.
func TestRolloutIdempotent(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	d := c.deploy(t, "retail-api", imgV1, 2)
	rs := c.replicaSets(t)
	r := c.onTerminal(t, "--deployment", "retail-api", "--container", imgV1, "--timeout", "1m")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if r.result.Changed || r.result.Revision != 1 || r.result.PreviousRevision != 1 || r.result.ReadyReplicas != 2 {
		t.Errorf("result %+v", r.result.WorkloadResult)
	}
	if got := c.get(t, "retail-api"); got.Generation != d.Generation || c.replicaSets(t) != rs {
		t.Errorf("generation %d (was %d), %d ReplicaSets (was %d)", got.Generation, d.Generation, c.replicaSets(t), rs)
	}
	if !strings.Contains(r.stderr, "already runs app="+imgV1) {
		t.Errorf("log:\n%s", r.stderr)
	}
}

// TestRolloutStallsAndRollsBack: the new image cannot be pulled; past the
// progress deadline the tool says why, undoes to the recorded revision and
// waits for that.
func TestRolloutStallsAndRollsBack(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.deploy(t, "retail-api", imgV1, 2, kubetest.WithDeadline(3))
	r := c.inWorkflow(t, map[string]string{"deployment": "retail-api", "container": "app=" + kubetest.UnpullableImage, "rollback-on-failure": "true", "timeout": "2m"}, "", nil)
	t.Logf("log:\n%s", r.stdout)
	if r.code != exitcode.Failed {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	var errLine string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "::error::") {
			if errLine != "" {
				t.Errorf("a second error line: %s", l)
			}
			errLine = l
		}
	}
	for _, want := range []string{"progress deadline", "ProgressDeadlineExceeded", "ImagePullBackOff", "image " + kubetest.UnpullableImage, "rolled deployment/retail-api back to revision 1"} {
		if !strings.Contains(errLine, want) {
			t.Errorf("error line does not say %q:\n%s", want, errLine)
		}
	}
	if r.outputs["rolled-back"] != "true" || r.outputs["images"] != `{"app":"`+imgV1+`"}` || r.outputs["revision"] != "3" || r.outputs["previous-revision"] != "1" {
		t.Errorf("outputs %v", r.outputs)
	}
	if got := c.get(t, "retail-api").Spec.Template.Spec.Containers[0].Image; got != imgV1 {
		t.Errorf("after the rollback the Deployment runs %s", got)
	}
	st := readState(t, r.outputs["state-file"])
	if w := st.Workloads[0]; w.Deployed == nil || !w.Deployed.RolledBack || w.Deployed.Succeeded {
		t.Errorf("state %+v", w.Deployed)
	}
}

// TestRolloutFailsWithoutRollback: the same, without --rollback-on-failure,
// and a timeout shorter than the deadline.
func TestRolloutTimesOut(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.deploy(t, "retail-api", imgV1, 1)
	r := c.onTerminal(t, "--deployment", "retail-api", "--container", "app="+kubetest.UnpullableImage, "--timeout", "4s")
	if r.code != exitcode.Failed {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "was not rolled out after 4s") || !strings.Contains(r.stderr, "ImagePullBackOff") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if r.result.RolledBack || len(r.result.FailedPods) == 0 || r.result.FailedPods[0].Image != kubetest.UnpullableImage {
		t.Errorf("result %+v", r.result)
	}
	if got := c.get(t, "retail-api").Spec.Template.Spec.Containers[0].Image; got != kubetest.UnpullableImage {
		t.Errorf("without --rollback-on-failure the change is left for inspection; it runs %s", got)
	}
}

// TestRolloutStopsOnSomeoneElsesChange: during the wait someone sets
// another image; the tool stops, says so, and does not roll their change
// back even with --rollback-on-failure.
func TestRolloutStopsOnSomeoneElsesChange(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.deploy(t, "retail-api", imgV1, 2)
	seen := make(chan struct{})
	done := make(chan run, 1)
	go func() {
		done <- c.inWorkflow(t, map[string]string{"deployment": "retail-api", "container": "app=" + kubetest.UnpullableImage, "rollback-on-failure": "true", "timeout": "2m"},
			"Waiting for deployment", seen)
	}()
	<-seen
	kubetest.SetImage(t, c.Client, c.ns, "retail-api", imgV3)
	r := <-done
	t.Logf("log:\n%s", r.stdout)
	if r.code != exitcode.Failed {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "changed by someone else during the rollout") || !strings.Contains(r.stdout, "app="+imgV3) {
		t.Errorf("log:\n%s", r.stdout)
	}
	if r.outputs["rolled-back"] != "false" {
		t.Errorf("rolled-back = %q: their change was rolled back", r.outputs["rolled-back"])
	}
	if got := c.get(t, "retail-api").Spec.Template.Spec.Containers[0].Image; got != imgV3 {
		t.Errorf("the Deployment runs %s, want their %s", got, imgV3)
	}
}

func TestRolloutRefusesPaused(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	d := c.deploy(t, "retail-api", imgV1, 1)
	kubetest.Update(t, c.Client, c.ns, "retail-api", kubetest.Paused)
	d = c.get(t, "retail-api")
	state := filepath.Join(t.TempDir(), "state.json")
	r := c.onTerminal(t, "--deployment", "retail-api", "--container", "app="+imgV2, "--rollback-on-failure", "--state-file", state)
	if r.code != exitcode.Failed {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "deployment/retail-api is paused") || !strings.Contains(last, "kubectl rollout resume") || !strings.Contains(last, "nothing was changed") {
		t.Errorf("last line: %s", last)
	}
	if got := c.get(t, "retail-api"); got.Generation != d.Generation {
		t.Errorf("a paused Deployment was changed: generation %d, was %d", got.Generation, d.Generation)
	}
}

// TestRolloutManifests applies a manifest folder with the build's image
// substituted: created the first time (nothing to roll back to), updated
// the second.
func TestRolloutManifests(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	dir := t.TempDir()
	writeManifest(t, dir, "app.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: retail-api}
spec:
  replicas: 2
  selector: {matchLabels: {app: retail-api}}
  template:
    metadata: {labels: {app: retail-api}}
    spec:
      containers:
      - {name: api, image: "registry.example/retail-api:latest"}
---
apiVersion: v1
kind: Service
metadata: {name: retail-api}
spec:
  selector: {app: retail-api}
  ports: [{port: 80, targetPort: 8080}]
`)
	r := c.onTerminal(t, "--manifest", dir, "--image", "registry.example/retail-api="+imgV1)
	if r.code != 0 {
		t.Fatalf("first apply: exit %d\n%s", r.code, r.stderr)
	}
	if r.result.Name != "retail-api" || r.result.Revision != 1 || r.result.PreviousRevision != 0 || !r.result.Changed || r.result.Images["api"] != imgV1 {
		t.Errorf("first apply %+v", r.result.WorkloadResult)
	}
	if len(r.result.Applied) != 2 {
		t.Errorf("applied %v", r.result.Applied)
	}
	st := readState(t, r.result.StateFile)
	if st.Workloads[0].Existed {
		t.Error("state: a created Deployment recorded as existing")
	}

	r = c.onTerminal(t, "--manifest", dir, "--image", "registry.example/retail-api="+imgV2, "--deployment", "retail-api")
	if r.code != 0 {
		t.Fatalf("second apply: exit %d\n%s", r.code, r.stderr)
	}
	if r.result.Revision != 2 || r.result.PreviousRevision != 1 || r.result.PreviousImages["api"] != imgV1 || r.result.Images["api"] != imgV2 {
		t.Errorf("second apply %+v", r.result.WorkloadResult)
	}
	d := c.get(t, "retail-api")
	if d.ManagedFields[0].Manager != kube.FieldManager {
		t.Errorf("field manager %q", d.ManagedFields[0].Manager)
	}

	// A dry run of a third build changes nothing.
	r = c.onTerminal(t, "--manifest", dir, "--image", "registry.example/retail-api="+imgV3, "--dry-run")
	if r.code != 0 || !r.result.DryRun || r.result.StateFile != "" {
		t.Fatalf("dry run: exit %d, %+v\n%s", r.code, r.result, r.stderr)
	}
	if got := c.get(t, "retail-api"); got.Generation != d.Generation {
		t.Errorf("the dry run changed the Deployment")
	}
}

// TestRolloutCreatedCannotRollBack: a workload the rollout created has no
// earlier revision; the failure says so.
func TestRolloutCreatedCannotRollBack(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	dir := t.TempDir()
	writeManifest(t, dir, "app.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  progressDeadlineSeconds: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "`+kubetest.UnpullableImage+`"}]
`)
	r := c.onTerminal(t, "--manifest", dir, "--rollback-on-failure", "--timeout", "1m")
	if r.code != exitcode.Failed || !strings.Contains(r.stderr, "was created by this rollout: there is no earlier revision") {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
}

func TestRolloutNotFound(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	r := c.onTerminal(t, "--deployment", "nothing", "--container", imgV2)
	if r.code != exitcode.BadInput || !strings.Contains(r.stderr, `--deployment "nothing": deployment/nothing does not exist in namespace `+c.ns) {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
	c.deploy(t, "web", imgV1, 1)
	r = c.onTerminal(t, "--deployment", "web", "--container", "api="+imgV2)
	if r.code != exitcode.BadInput || !strings.Contains(r.stderr, `no container "api" (it has app)`) {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
}
