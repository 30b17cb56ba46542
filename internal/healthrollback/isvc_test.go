package healthrollback

import (
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
	"github.com/mlship/mlship/internal/kube/kubetest"
)

const (
	modelV1 = "s3://models/credit/v1"
	modelV2 = "s3://models/credit/v2"
	modelV3 = "s3://models/credit/v3"
)

// kserve is a namespace with the KServe stand-in and InferenceService
// credit-model serving modelV1 (revision 00001).
func newKServe(t *testing.T) (*cluster, *kubetest.KServe) {
	t.Helper()
	c := newCluster(t)
	k := c.StartKServe(t, c.ns)
	k.CreateInferenceService(t, kubetest.InferenceServiceObject(c.ns, "credit-model", modelV1))
	return c, k
}

func (c *cluster) isvc(t *testing.T) *kube.ISVC {
	t.Helper()
	s, err := c.kc.GetInferenceService(t.Context(), kube.Ref{Kind: kube.InferenceService, Namespace: c.ns, Name: "credit-model"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rolloutISVC changes the predictor as eks-rollout would, and returns the
// record it would write of the change.
func (c *cluster) rolloutISVC(t *testing.T, k *kubetest.KServe, change func(p map[string]any)) string {
	t.Helper()
	before := c.isvc(t)
	k.Update(t, "credit-model", change)
	after := c.isvc(t)
	st := &kube.State{Context: "test", Workloads: []kube.WorkloadState{{
		Kind: kube.InferenceService, Namespace: c.ns, Name: "credit-model", UID: before.UID, Existed: true, Generation: before.Generation,
		Images: before.Images, Predictor: before.PredictorJSON(), StorageURI: before.StorageURI, LatestReadyRevision: before.LatestReady,
		Deployed: &kube.DeployedState{Changed: true, Generation: after.Generation, Images: after.Images, Predictor: after.PredictorJSON(),
			StorageURI: after.StorageURI, CanaryTrafficPercent: after.Canary, LatestReadyRevision: after.LatestReady, Succeeded: true},
	}}}
	path := filepath.Join(t.TempDir(), "state.json")
	if err := st.Write(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func setModel(uri string, canary ...int64) func(p map[string]any) {
	return func(p map[string]any) {
		_ = unstructured.SetNestedField(p, uri, "model", "storageUri")
		if len(canary) > 0 {
			p["canaryTrafficPercent"] = canary[0]
		}
	}
}

// TestUnhealthyCanaryGoesBackToPreviousRevision: a canary with 10% is
// unhealthy; canaryTrafficPercent 0 sends all traffic back to the last
// revision rolled out.
func TestUnhealthyCanaryGoesBackToPreviousRevision(t *testing.T) {
	t.Parallel()
	c, k := newKServe(t)
	state := c.rolloutISVC(t, k, setModel(modelV2, 10))
	if tr := kubetest.Traffic(k.Get(t, "credit-model")); tr["credit-model-predictor-00002"] != 10 {
		t.Fatalf("the canary has traffic %v", tr)
	}
	srv := newServer(t, down503)
	s := runStep(t, map[string]string{"url": srv.URL, "interval": "5ms", "attempts": "2", "successes": "1",
		"deployment": "isvc/credit-model", "namespace": c.ns, "state-file": state}, c.deps)
	if s.code != exitcode.Failed {
		t.Fatalf("exit %d, want 1\n%s%s", s.code, s.stdout, s.stderr)
	}
	if s.outputs["rolled-back"] != "true" || s.outputs["restored-revision"] != "credit-model-predictor-00001" {
		t.Errorf("outputs %v", s.outputs)
	}
	s2 := c.isvc(t)
	if s2.Canary == nil || *s2.Canary != 0 || s2.StorageURI != modelV2 {
		t.Errorf("predictor after: canary %v, storageUri %s", s2.Canary, s2.StorageURI)
	}
	if tr := kubetest.Traffic(k.Get(t, "credit-model")); tr["credit-model-predictor-00001"] != 100 || tr["credit-model-predictor-00002"] != 0 {
		t.Errorf("traffic %v", tr)
	}
	if !strings.Contains(s.stdout, "canaryTrafficPercent 10 to 0, all traffic to credit-model-predictor-00001") {
		t.Errorf("log:\n%s", s.stdout)
	}
}

// TestUnhealthyInferenceServiceRestoresRecordedPredictor: the new model
// took all traffic; the predictor recorded before comes back, and its
// revision takes all traffic.
func TestUnhealthyInferenceServiceRestoresRecordedPredictor(t *testing.T) {
	t.Parallel()
	c, k := newKServe(t)
	state := c.rolloutISVC(t, k, setModel(modelV2))
	srv := newServer(t, down503)
	s := runStep(t, map[string]string{"url": srv.URL, "interval": "5ms", "attempts": "1", "successes": "1",
		"kind": "inferenceservice", "deployment": "credit-model", "namespace": c.ns, "state-file": state}, c.deps)
	if s.code != exitcode.Failed || s.outputs["rolled-back"] != "true" || s.outputs["restored-revision"] != "credit-model-predictor-00003" {
		t.Fatalf("exit %d, outputs %v\n%s%s", s.code, s.outputs, s.stdout, s.stderr)
	}
	if got := c.isvc(t); got.StorageURI != modelV1 || got.LatestPercent() != 100 {
		t.Errorf("after: %s", got)
	}
}

func TestHealthyInferenceServiceUnchanged(t *testing.T) {
	t.Parallel()
	c, k := newKServe(t)
	state := c.rolloutISVC(t, k, setModel(modelV2, 10))
	gen := c.isvc(t).Generation
	srv := newServer(t, ok200)
	s := runStep(t, map[string]string{"url": srv.URL, "interval": "5ms", "deployment": "isvc/credit-model", "namespace": c.ns, "state-file": state}, c.deps)
	if s.code != 0 || s.outputs["healthy"] != "true" || s.outputs["rolled-back"] != "false" || s.outputs["restored-revision"] != "" {
		t.Fatalf("exit %d, outputs %v\n%s%s", s.code, s.outputs, s.stdout, s.stderr)
	}
	if got := c.isvc(t); got.Generation != gen || *got.Canary != 10 {
		t.Errorf("a healthy InferenceService was changed: %s", got)
	}
}

func TestDryRunLeavesInferenceService(t *testing.T) {
	t.Parallel()
	c, k := newKServe(t)
	state := c.rolloutISVC(t, k, setModel(modelV2, 20))
	gen := c.isvc(t).Generation
	srv := newServer(t, down503)
	s := runStep(t, map[string]string{"url": srv.URL, "interval": "5ms", "attempts": "1", "successes": "1", "deployment": "isvc/credit-model",
		"namespace": c.ns, "state-file": state, "dry-run": "true"}, c.deps)
	if s.code != exitcode.Failed || s.outputs["rolled-back"] != "false" || s.outputs["restored-revision"] != "credit-model-predictor-00001" {
		t.Fatalf("exit %d, outputs %v\n%s", s.code, s.outputs, s.stdout)
	}
	if !strings.Contains(s.stdout, "dry run: would roll back inferenceservice/credit-model: canaryTrafficPercent 20 to 0") {
		t.Errorf("log:\n%s", s.stdout)
	}
	if got := c.isvc(t); got.Generation != gen {
		t.Errorf("the dry run changed the InferenceService: %s", got)
	}
}

// A newer change than the judged one is live: refused, unless --force.
func TestRefusesToRollBackInferenceServiceOverANewerChange(t *testing.T) {
	t.Parallel()
	c, k := newKServe(t)
	state := c.rolloutISVC(t, k, setModel(modelV2, 10))
	k.Update(t, "credit-model", setModel(modelV3, 10))
	gen := c.isvc(t).Generation
	srv := newServer(t, down503)
	inputs := map[string]string{"url": srv.URL, "interval": "5ms", "attempts": "1", "successes": "1", "deployment": "isvc/credit-model", "namespace": c.ns, "state-file": state}
	s := runStep(t, inputs, c.deps)
	if s.code != exitcode.Failed || s.outputs["rolled-back"] != "false" || s.outputs["restored-revision"] != "" {
		t.Fatalf("exit %d, outputs %v\n%s", s.code, s.outputs, s.stdout)
	}
	if !strings.Contains(s.stdout, "a newer change is live") || c.isvc(t).Generation != gen {
		t.Errorf("log:\n%s", s.stdout)
	}
	inputs["force"] = "true"
	s = runStep(t, inputs, c.deps)
	if s.code != exitcode.Failed || s.outputs["rolled-back"] != "true" || s.outputs["restored-revision"] != "credit-model-predictor-00001" {
		t.Errorf("--force: exit %d, outputs %v\n%s", s.code, s.outputs, s.stdout)
	}
}
