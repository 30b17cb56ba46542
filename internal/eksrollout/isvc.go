package eksrollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
)

// isvcTarget is an InferenceService the rollout changes: its predictor,
// whose revisions KServe makes and routes traffic to.
type isvcTarget struct {
	change kube.ISVCChange
	before *kube.ISVC // as read before the change
	after  *kube.ISVC // right after it
	done   *kube.ISVC // once rolled out, or rolled back
}

// runISVC is run for an InferenceService: read, record, change the
// predictor, record, wait for KServe to make the new revision ready.
func (r *roller) runISVC(ctx context.Context) error {
	cfg, kc, t := r.cfg, r.d.Kube, r.primary
	it := &isvcTarget{change: kube.ISVCChange{StorageURI: cfg.StorageURI, Images: cfg.containers, Canary: cfg.canary}}
	t.isvc = it
	cur, err := kc.GetInferenceService(ctx, t.ref)
	var nf *kube.ErrNotFound
	switch {
	case errors.As(err, &nf):
		return exitcode.BadInputf("--deployment %q: %s does not exist in namespace %s of %s", cfg.Deployment, t.ref, t.ref.Namespace, r.where())
	case err != nil:
		return err
	}
	want, changed, err := it.change.ApplyTo(cur.Predictor)
	if err != nil {
		return exitcode.BadInputf("%s: %v", t.ref, err)
	}
	it.before = cur
	r.st.Workloads = []kube.WorkloadState{isvcState(cur)}
	t.state = &r.st.Workloads[0]

	if changed {
		after, _ := kube.ISVCOf(withPredictor(cur, want))
		r.plan1("%s: %s (now %s)", t.ref, describeISVCChange(cur, after), cur)
	} else {
		r.plan1("%s: its predictor already is as asked (%s): no new revision", t.ref, cur)
	}
	if cfg.DryRun {
		r.event("dry run: nothing was changed")
		return nil
	}
	if err := r.writeState("recording the state before the rollout"); err != nil {
		return err
	}
	r.armed = true
	replaced, after, changed, err := kc.ChangeInferenceService(ctx, cur, it.change)
	if err != nil {
		return err
	}
	if replaced.Generation != cur.Generation {
		// Someone changed it between the read and the update: what is
		// recorded is what was replaced.
		it.before = replaced
		*t.state = isvcState(replaced)
		if err := r.writeState("recording the state before the rollout"); err != nil {
			return err
		}
	}
	it.after, t.change = after, changed
	t.state.Deployed = &kube.DeployedState{Changed: changed, Generation: after.Generation, Images: after.Images,
		Predictor: after.PredictorJSON(), StorageURI: after.StorageURI, CanaryTrafficPercent: after.Canary}
	if changed {
		r.event("changed the predictor of %s: %s (generation %d)", t.ref, describeISVCChange(it.before, after), after.Generation)
	} else {
		r.event("%s: its predictor already is as asked: no new revision", t.ref)
	}
	if err := r.writeState("recording the change"); err != nil {
		return err
	}
	left := r.start.Add(cfg.Timeout).Sub(r.now())
	done, err := kc.WaitInferenceService(ctx, t.ref, kube.ISVCWaitOptions{
		Generation: after.Generation, Predictor: after.Predictor, Timeout: max(left, time.Millisecond),
		Progress: func(s string) { r.log.Logf("%s", s) },
	})
	if err != nil {
		var rf *kube.RolloutFailed
		var cc *kube.ConcurrentChange
		if errors.As(err, &rf) || errors.As(err, &cc) {
			return exitcode.Wrap(exitcode.Failed, err)
		}
		return err
	}
	it.done = done
	t.state.Deployed.LatestReadyRevision = done.LatestReady
	t.state.Deployed.Succeeded = true
	r.event("%s rolled out: revision %s ready, traffic %s, in %s", t.ref, done.LatestReady, kube.FormatTraffic(done.Traffic), r.now().Sub(r.start).Round(time.Millisecond))
	return r.writeState("recording the rollout")
}

func isvcState(s *kube.ISVC) kube.WorkloadState {
	return kube.WorkloadState{Kind: kube.InferenceService, Namespace: s.Ref.Namespace, Name: s.Ref.Name, UID: s.UID, Existed: true,
		Generation: s.Generation, Images: s.Images, Predictor: s.PredictorJSON(), StorageURI: s.StorageURI, LatestReadyRevision: s.LatestReady}
}

func withPredictor(s *kube.ISVC, p map[string]any) *unstructured.Unstructured {
	u := s.Object.DeepCopy()
	_ = unstructured.SetNestedField(u.Object, p, "spec", "predictor")
	return u
}

// describeISVCChange says what differs from before to after.
func describeISVCChange(before, after *kube.ISVC) string {
	var parts []string
	if after.StorageURI != before.StorageURI {
		parts = append(parts, "set storageUri "+after.StorageURI)
	}
	if d := diffImages(before.Images, after.Images); len(d) > 0 {
		parts = append(parts, "set "+kube.FormatImages(d))
	}
	if !sameCanary(before.Canary, after.Canary) {
		if after.Canary == nil {
			parts = append(parts, "unset canaryTrafficPercent")
		} else {
			parts = append(parts, fmt.Sprintf("set canaryTrafficPercent %d", *after.Canary))
		}
	}
	if len(parts) == 0 {
		return "change the predictor"
	}
	return strings.Join(parts, ", ")
}

func sameCanary(a, b *int64) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// rollbackISVC puts back the predictor recorded before the change, when
// the InferenceService still has the one this run set, and waits for
// KServe to make that revision ready and route all traffic to it.
func (r *roller) rollbackISVC(ctx context.Context, t *target) (string, error) {
	kc, it := r.d.Kube, t.isvc
	cur, err := kc.GetInferenceService(ctx, t.ref)
	if err != nil {
		return "", err
	}
	if !kube.SamePredictor(cur.Predictor, it.after.Predictor) {
		return "", fmt.Errorf("%s was changed by someone else since (generation %d): not restoring its predictor over that", t.ref, cur.Generation)
	}
	r.log.Logf("restoring the predictor of %s recorded before the rollout (%s)", t.ref, it.before)
	after, err := kc.SetPredictor(ctx, cur, it.before.Predictor)
	if err != nil {
		return "", err
	}
	done, err := kc.WaitInferenceService(ctx, t.ref, kube.ISVCWaitOptions{
		Generation: after.Generation, Predictor: after.Predictor, Timeout: r.cfg.Timeout,
		Progress: func(s string) { r.log.Logf("%s", s) },
	})
	if err != nil {
		return "", fmt.Errorf("restoring the predictor of %s: %w", t.ref, err)
	}
	it.done = done
	t.state.Deployed.RolledBack = true
	return fmt.Sprintf("restored the predictor of %s recorded before the rollout (%s): revision %s ready, traffic %s",
		t.ref, describeSpec(it.before), done.LatestReady, kube.FormatTraffic(done.Traffic)), nil
}

func describeSpec(s *kube.ISVC) string {
	var parts []string
	if s.StorageURI != "" {
		parts = append(parts, "storageUri "+s.StorageURI)
	}
	if len(s.Images) > 0 {
		parts = append(parts, kube.FormatImages(s.Images))
	}
	if len(parts) == 0 {
		return "its spec"
	}
	return strings.Join(parts, ", ")
}

// isvcResult is where an InferenceService stands at the end.
func isvcResult(t *target) WorkloadResult {
	it := t.isvc
	wr := WorkloadResult{Kind: string(t.ref.Kind), Namespace: t.ref.Namespace, Name: t.ref.Name, Changed: t.change}
	if it.before == nil {
		return wr
	}
	wr.PreviousImages, wr.PreviousStorageURI, wr.PreviousReadyRevision = it.before.Images, it.before.StorageURI, it.before.LatestReady
	now := it.before
	for _, s := range []*kube.ISVC{it.after, it.done} {
		if s != nil {
			now = s
		}
	}
	wr.Images, wr.StorageURI = now.Images, now.StorageURI
	status := it.before
	if it.done != nil {
		status = it.done
	}
	wr.LatestReadyRevision, wr.PreviousRolledoutRevision, wr.URL = status.LatestReady, status.PreviousRolledout, status.URL
	if status.LatestReady != "" {
		pct := status.LatestPercent()
		wr.TrafficPercent = &pct
	}
	wr.RolledBack = t.state != nil && t.state.Deployed != nil && t.state.Deployed.RolledBack
	return wr
}
