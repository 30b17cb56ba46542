package healthrollback

import (
	"context"
	"errors"
	"fmt"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
)

// prepareISVC reads the InferenceService before any probe.
func (r *runner) prepareISVC(ctx context.Context) error {
	ref := *r.ref
	s, err := r.d.Kube.GetInferenceService(ctx, ref)
	var nf *kube.ErrNotFound
	if errors.As(err, &nf) {
		return exitcode.BadInputf("--deployment %q: %s does not exist in namespace %s", r.cfg.Deployment, ref, ref.Namespace)
	}
	if err != nil {
		return err
	}
	r.log.Logf("%s: %s", ref, s)
	return nil
}

// rollbackISVC sends all traffic back to the previous ready revision, as
// KServe documents it: with a canary in flight, canaryTrafficPercent 0
// (the rest of the traffic was on the last revision rolled out with 100%,
// which then gets it all); else the predictor eks-rollout recorded before
// its change is restored. Then it waits for KServe to report that ready.
// A predictor that is no longer the one the judged change set is a newer
// change: refused, unless --force.
func (r *runner) rollbackISVC(ctx context.Context) error {
	cfg, kc, ref := r.cfg, r.d.Kube, *r.ref
	rec := cfg.stateRecord()
	cur, err := kc.GetInferenceService(ctx, ref)
	if err != nil {
		return err
	}
	if rec != nil {
		d := rec.Deployed
		switch {
		case d == nil:
			if !cfg.Force {
				return &refusal{fmt.Sprintf("the state file records no change to %s (eks-rollout stopped before making one): not rolling back (--force does)", ref)}
			}
		case d.RolledBack:
			return &refusal{fmt.Sprintf("eks-rollout already restored the predictor of %s recorded before its change", ref)}
		case !d.Changed && !cfg.Force:
			return &refusal{fmt.Sprintf("eks-rollout did not change %s (its predictor already was as asked): nothing of its own to roll back (--force rolls back anyway)", ref)}
		case len(d.Predictor) > 0 && !cfg.Force:
			judged, err := kube.PredictorFromJSON(d.Predictor)
			if err != nil {
				return exitcode.Incompletef("--state-file %q: the predictor of %s: %v", cfg.StateFile, ref, err)
			}
			if !kube.SamePredictor(judged, cur.Predictor) {
				return &refusal{fmt.Sprintf("%s is at generation %d and its predictor (%s) is not the one the change being judged set (state file, generation %d): a newer change is live; not rolling it back (--force does)",
					ref, cur.Generation, cur, d.Generation)}
			}
		}
		if !rec.Existed {
			return &refusal{fmt.Sprintf("%s was created by the rollout being judged: there is no earlier revision to roll back to", ref)}
		}
	}
	prev, prevPct := cur.PreviousTarget()
	var what string
	var change func() (*kube.ISVC, error)
	var check func(*kube.ISVC) error
	switch {
	case cur.Canary != nil && *cur.Canary > 0 && prev != "":
		what = fmt.Sprintf("%s: canaryTrafficPercent %d to 0, all traffic to %s (now %s)", ref, *cur.Canary, prev, kube.FormatTraffic(cur.Traffic))
		r.res.RestoredRevisionName = prev
		zero := int64(0)
		change = func() (*kube.ISVC, error) {
			_, after, _, err := kc.ChangeInferenceService(ctx, cur, kube.ISVCChange{Canary: &zero})
			return after, err
		}
		check = func(s *kube.ISVC) error {
			if p, pct := s.PreviousTarget(); p != prev || pct != 100 {
				return fmt.Errorf("KServe routes %s, not 100%% to %s", kube.FormatTraffic(s.Traffic), prev)
			}
			return nil
		}
	case rec != nil && len(rec.Predictor) > 0:
		before, err := kube.PredictorFromJSON(rec.Predictor)
		if err != nil {
			return exitcode.Incompletef("--state-file %q: the predictor of %s: %v", cfg.StateFile, ref, err)
		}
		if kube.SamePredictor(before, cur.Predictor) {
			return &refusal{fmt.Sprintf("%s already has the predictor recorded before the change (%s)", ref, cur)}
		}
		what = fmt.Sprintf("%s: restore the predictor recorded before the change (storageUri %s, %s; revision %s then), now %s",
			ref, rec.StorageURI, kube.FormatImages(rec.Images), rec.LatestReadyRevision, cur)
		r.res.RestoredRevisionName = rec.LatestReadyRevision
		change = func() (*kube.ISVC, error) { return kc.SetPredictor(ctx, cur, before) }
		check = func(s *kube.ISVC) error {
			if s.LatestPercent() != 100 {
				return fmt.Errorf("KServe routes %s, not 100%% to %s", kube.FormatTraffic(s.Traffic), s.LatestReady)
			}
			return nil
		}
	case cur.Canary != nil && *cur.Canary == 0 && prev != "" && prevPct == 100:
		return &refusal{fmt.Sprintf("%s already sends all traffic to %s (canaryTrafficPercent 0)", ref, prev)}
	default:
		return exitcode.Incompletef("rolling back %s: no canary is in flight (%s) and no state file records its predictor before the change (give --state-file, eks-rollout's record)", ref, cur)
	}
	if cfg.DryRun {
		r.event("dry run: would roll back %s", what)
		return nil
	}
	r.log.Logf("rolling back %s", what)
	after, err := change()
	if err != nil {
		r.res.RestoredRevisionName = ""
		return exitcode.Wrap(exitcode.Incomplete, err)
	}
	done, err := kc.WaitInferenceService(ctx, ref, kube.ISVCWaitOptions{
		Generation: after.Generation, Predictor: after.Predictor, Timeout: cfg.RolloutTimeout,
		Progress: func(s string) { r.log.Logf("%s", s) },
	})
	if err == nil {
		err = check(done)
	}
	if err != nil {
		r.res.RestoredRevisionName = ""
		return exitcode.Incompletef("rolled back %s, but KServe did not report it done: %v", what, err)
	}
	if done.LatestPercent() == 100 {
		r.res.RestoredRevisionName = done.LatestReady
	}
	r.res.RolledBack = true
	r.event("rolled back %s; traffic now %s", what, kube.FormatTraffic(done.Traffic))
	return nil
}
