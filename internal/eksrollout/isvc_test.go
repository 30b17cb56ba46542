package eksrollout

import (
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
)

// newKServe is a namespace with KServe's CRD, the KServe stand-in, and an
// InferenceService credit-model serving modelV1 (revision 00001).
func newKServe(t *testing.T) (*cluster, *kubetest.KServe) {
	t.Helper()
	c := newCluster(t)
	k := c.StartKServe(t, c.ns)
	k.CreateInferenceService(t, kubetest.InferenceServiceObject(c.ns, "credit-model", modelV1))
	return c, k
}

func storageURI(u *unstructured.Unstructured) string {
	s, _, _ := unstructured.NestedString(u.Object, "spec", "predictor", "model", "storageUri")
	return s
}

// TestInferenceServiceRollout: a new model URI makes a new revision;
// eks-rollout waits until KServe reports it ready and takes all traffic.
func TestInferenceServiceRollout(t *testing.T) {
	t.Parallel()
	c, k := newKServe(t)
	r := c.inWorkflow(t, map[string]string{"deployment": "inferenceservice/credit-model", "storage-uri": modelV2, "timeout": "60s"}, "", nil)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	want := map[string]string{
		"latest-ready-revision": "credit-model-predictor-00002", "previous-rolledout-revision": "credit-model-predictor-00001",
		"traffic-percent": "100", "url": "http://credit-model." + c.ns + ".example.com", "changed": "true", "rolled-back": "false", "revision": "",
	}
	for name, v := range want {
		if r.outputs[name] != v {
			t.Errorf("output %s = %q, want %q", name, r.outputs[name], v)
		}
	}
	if got := storageURI(k.Get(t, "credit-model")); got != modelV2 {
		t.Errorf("storageUri %s", got)
	}
	if !strings.Contains(r.summary, "credit-model-predictor-00002") || !strings.Contains(r.summary, modelV2) {
		t.Errorf("summary:\n%s", r.summary)
	}
	st := readState(t, r.outputs["state-file"])
	w := st.Find(kube.Ref{Kind: kube.InferenceService, Namespace: c.ns, Name: "credit-model"})
	if w == nil || w.StorageURI != modelV1 || w.LatestReadyRevision != "credit-model-predictor-00001" || len(w.Predictor) == 0 ||
		w.Deployed == nil || !w.Deployed.Changed || !w.Deployed.Succeeded || w.Deployed.StorageURI != modelV2 || w.Deployed.LatestReadyRevision != "credit-model-predictor-00002" {
		t.Fatalf("state %+v", w)
	}

	// The same URI again changes nothing.
	r = c.onTerminal(t, "--deployment", "isvc/credit-model", "--storage-uri", modelV2)
	if r.code != 0 || r.result.Changed || r.result.LatestReadyRevision != "credit-model-predictor-00002" {
		t.Errorf("second run: exit %d, result %+v\n%s", r.code, r.result.WorkloadResult, r.stderr)
	}
}

// TestInferenceServiceCanary: --canary-traffic-percent splits traffic
// between the new revision and the last one rolled out.
func TestInferenceServiceCanary(t *testing.T) {
	t.Parallel()
	c, k := newKServe(t)
	r := c.onTerminal(t, "--kind", "isvc", "--deployment", "credit-model", "--storage-uri", modelV2, "--canary-traffic-percent", "10", "--timeout", "60s")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if r.result.TrafficPercent == nil || *r.result.TrafficPercent != 10 || r.result.LatestReadyRevision != "credit-model-predictor-00002" {
		t.Errorf("result %+v", r.result.WorkloadResult)
	}
	traffic := kubetest.Traffic(k.Get(t, "credit-model"))
	if traffic["credit-model-predictor-00002"] != 10 || traffic["credit-model-predictor-00001"] != 90 {
		t.Errorf("traffic %v", traffic)
	}
	// Promoting the canary: 100 percent.
	r = c.onTerminal(t, "--deployment", "isvc/credit-model", "--canary-traffic-percent", "100")
	if r.code != 0 || *r.result.TrafficPercent != 100 || r.result.PreviousRolledoutRevision != "credit-model-predictor-00001" {
		t.Errorf("promotion: exit %d, result %+v\n%s", r.code, r.result.WorkloadResult, r.stderr)
	}
}

// TestInferenceServiceRevisionFails: KServe reports the new revision
// failed; the rollout fails with its message, and is left as it is.
func TestInferenceServiceRevisionFails(t *testing.T) {
	t.Parallel()
	c, k := newKServe(t)
	k.Next(kubetest.RevisionFailed("container exited with code 1: no model at s3://models/credit/v2"))
	r := c.onTerminal(t, "--deployment", "isvc/credit-model", "--storage-uri", modelV2, "--timeout", "60s")
	if r.code != exitcode.Failed {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"rollout of inferenceservice/credit-model failed", "PredictorReady False (RevisionFailed)", `Revision "credit-model-predictor-00002" failed with message: container exited with code 1`, "the latest ready one is credit-model-predictor-00001"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
		}
	}
	if got := storageURI(k.Get(t, "credit-model")); got != modelV2 {
		t.Errorf("without --rollback-on-failure the spec is left: storageUri %s", got)
	}
}

// TestInferenceServiceRevisionFailsAndRollsBack: with
// --rollback-on-failure the recorded predictor is restored, and its
// revision takes all traffic.
func TestInferenceServiceRevisionFailsAndRollsBack(t *testing.T) {
	t.Parallel()
	c, k := newKServe(t)
	k.Next(kubetest.RevisionFailed("container exited with code 1"))
	r := c.inWorkflow(t, map[string]string{"deployment": "isvc/credit-model", "storage-uri": modelV2, "rollback-on-failure": "true", "timeout": "60s"}, "", nil)
	if r.code != exitcode.Failed {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "::error::") || !strings.Contains(r.stdout, "restored the predictor of inferenceservice/credit-model recorded before the rollout (storageUri "+modelV1) {
		t.Errorf("log:\n%s", r.stdout)
	}
	if r.outputs["rolled-back"] != "true" || r.outputs["latest-ready-revision"] != "credit-model-predictor-00003" || r.outputs["traffic-percent"] != "100" {
		t.Errorf("outputs %v", r.outputs)
	}
	u := k.Get(t, "credit-model")
	if got := storageURI(u); got != modelV1 {
		t.Errorf("after the rollback storageUri %s", got)
	}
	if tr := kubetest.Traffic(u); tr["credit-model-predictor-00003"] != 100 || len(tr) != 1 {
		t.Errorf("traffic %v", tr)
	}
	st := readState(t, r.outputs["state-file"])
	if w := st.Workloads[0]; w.Deployed == nil || !w.Deployed.RolledBack || w.Deployed.Succeeded {
		t.Errorf("state %+v", w.Deployed)
	}
}

// TestInferenceServiceTimesOut: the revision never becomes ready.
func TestInferenceServiceTimesOut(t *testing.T) {
	t.Parallel()
	c, k := newKServe(t)
	k.Next(kubetest.RevisionStuck)
	r := c.onTerminal(t, "--deployment", "isvc/credit-model", "--container", "kserve-container=registry.example/sklearn-server:1.5", "--timeout", "3s")
	if r.code != exitcode.Failed {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "inferenceservice/credit-model was not rolled out after 3s") || !strings.Contains(r.stderr, "waiting for a Revision to become ready") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	img, _, _ := unstructured.NestedString(k.Get(t, "credit-model").Object, "spec", "predictor", "model", "image")
	if img != "registry.example/sklearn-server:1.5" {
		t.Errorf("model image %q", img)
	}
}

func TestInferenceServiceBadInput(t *testing.T) {
	t.Parallel()
	c, _ := newKServe(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--deployment", "isvc/credit-model", "--canary-traffic-percent", "101"}, `--canary-traffic-percent "101": want a whole number from 0 to 100`},
		{[]string{"--deployment", "isvc/credit-model", "--canary-traffic-percent", "-1"}, `--canary-traffic-percent "-1"`},
		{[]string{"--deployment", "isvc/credit-model", "--canary-traffic-percent", "ten"}, `--canary-traffic-percent "ten"`},
		{[]string{"--deployment", "isvc/credit-model", "--storage-uri", "models/credit"}, "not a model URI with a scheme"},
		{[]string{"--deployment", "retail-api", "--storage-uri", modelV2}, "is for an InferenceService"},
		{[]string{"--deployment", "retail-api", "--container", imgV2, "--canary-traffic-percent", "10"}, "is for an InferenceService"},
		{[]string{"--deployment", "isvc/credit-model"}, "nothing to roll out"},
		{[]string{"--deployment", "isvc/credit-model", "--container", "sidecar=" + imgV2}, `the predictor has no container "sidecar"`},
		{[]string{"--deployment", "isvc/missing", "--storage-uri", modelV2}, "does not exist"},
		{[]string{"--deployment", "model/credit-model", "--storage-uri", modelV2}, "unknown kind"},
	} {
		r := c.onTerminal(t, tc.args...)
		if r.code != exitcode.BadInput || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, want 2 and one line with %q:\n%s", tc.args, r.code, tc.want, r.stderr)
		}
	}
	if got := storageURI(c.kserveGet(t)); got != modelV1 {
		t.Errorf("bad input changed the InferenceService: %s", got)
	}
}

func (c *cluster) kserveGet(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	u, err := c.kube(t).GetInferenceService(t.Context(), kube.Ref{Kind: kube.InferenceService, Namespace: c.ns, Name: "credit-model"})
	if err != nil {
		t.Fatal(err)
	}
	return u.Object
}
