package healthrollback

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
	"github.com/mlship/mlship/internal/lambdaalias"
)

// refusal is a rollback that was not made, and why: unhealthy stays exit
// 1, since nothing failed to finish.
type refusal struct{ why string }

func (e *refusal) Error() string { return e.why }

// prepareDeployment reads the workload before any probe, so that one that
// does not exist is bad input before anything is judged.
func (r *runner) prepareDeployment(ctx context.Context) error {
	cfg := r.cfg
	ref := *cfg.ref
	rec := cfg.stateRecord()
	ref.Namespace = cmp.Or(cfg.Namespace, nsOf(rec), r.d.Kube.Namespace, "default")
	r.ref = &ref
	r.res.Deployment = ref.String()
	r.res.Namespace = ref.Namespace
	if ref.Kind == kube.InferenceService {
		return r.prepareISVC(ctx)
	}
	w, err := r.d.Kube.Get(ctx, ref)
	var nf *kube.ErrNotFound
	if errors.As(err, &nf) {
		return exitcode.BadInputf("--deployment %q: %s does not exist in namespace %s", cfg.Deployment, ref, ref.Namespace)
	}
	if err != nil {
		return err
	}
	rev, err := r.d.Kube.Revision(ctx, w)
	if err != nil {
		return err
	}
	r.log.Logf("%s is at revision %d (%s)", ref, rev, kube.FormatImages(kube.Images(w.Template)))
	return nil
}

func nsOf(w *kube.WorkloadState) string {
	if w == nil {
		return ""
	}
	return w.Namespace
}

// rollbackDeployment puts the workload back: to the revision the state
// file recorded before eks-rollout's change, else to the revision before
// the live one; then waits for that rollout.
func (r *runner) rollbackDeployment(ctx context.Context) error {
	cfg, kc, ref := r.cfg, r.d.Kube, *r.ref
	if ref.Kind == kube.InferenceService {
		return r.rollbackISVC(ctx)
	}
	rec := cfg.stateRecord()
	w, err := kc.Get(ctx, ref)
	if err != nil {
		return err
	}
	live, err := kc.Revision(ctx, w)
	if err != nil {
		return err
	}
	revs, err := kc.RevisionImages(ctx, w)
	if err != nil {
		return err
	}
	to := int64(0)
	if rec != nil {
		d := rec.Deployed
		judged := "the change being judged"
		switch {
		case d == nil:
			if !cfg.Force {
				return &refusal{fmt.Sprintf("the state file records no change to %s (eks-rollout stopped before making one): not rolling back (--force rolls back to revision %d)", ref, rec.Revision)}
			}
		case d.RolledBack:
			return &refusal{fmt.Sprintf("eks-rollout already rolled %s back to revision %d", ref, rec.Revision)}
		case !d.Changed && !cfg.Force:
			return &refusal{fmt.Sprintf("eks-rollout made no new revision of %s (it already ran %s): nothing of its own to roll back (--force rolls back to the revision before the live one)", ref, kube.FormatImages(d.Images))}
		case d.Revision != 0 && live != d.Revision && !cfg.Force:
			return &refusal{fmt.Sprintf("%s is at revision %d, but %s is revision %d (state file): a newer change is live; not rolling it back (--force does)", ref, live, judged, d.Revision)}
		case d.Revision == 0 && !maps.Equal(pick(kube.Images(w.Template), d.Images), d.Images) && !cfg.Force:
			return &refusal{fmt.Sprintf("%s runs %s, not %s (the change being judged): a newer change is live; not rolling it back (--force does)", ref, kube.FormatImages(kube.Images(w.Template)), kube.FormatImages(d.Images))}
		}
		switch {
		case !rec.Existed:
			return &refusal{fmt.Sprintf("%s was created by the rollout being judged: there is no earlier revision to roll back to", ref)}
		case d != nil && d.Changed:
			to = rec.Revision
		}
	}
	if to == 0 {
		for rev := range revs {
			if rev < live && rev > to {
				to = rev
			}
		}
		if to == 0 {
			return exitcode.Incompletef("rolling back %s: it has no revision before %d", ref, live)
		}
	}
	images, ok := revs[to]
	if !ok {
		return exitcode.Incompletef("rolling back %s to revision %d: no longer in its history (revisionHistoryLimit)", ref, to)
	}
	if to == live {
		return &refusal{fmt.Sprintf("%s is at revision %d already", ref, live)}
	}
	what := fmt.Sprintf("%s from revision %d (%s) to revision %d (%s)", ref, live, kube.FormatImages(kube.Images(w.Template)), to, kube.FormatImages(images))
	r.res.RestoredRevision = to
	if cfg.DryRun {
		r.event("dry run: would roll back %s", what)
		return nil
	}
	r.log.Logf("rolling back %s", what)
	msg, after, err := kc.Undo(ctx, ref, to)
	if err != nil {
		r.res.RestoredRevision = 0
		return exitcode.Wrap(exitcode.Incomplete, err)
	}
	ro, err := kc.Wait(ctx, ref, kube.WaitOptions{
		Generation: after.Generation, Template: after.Template, Images: images, Timeout: cfg.RolloutTimeout,
		Progress: func(s string) { r.log.Logf("%s", s) },
	})
	if err != nil {
		return exitcode.Incompletef("rolled back %s, but that rollout did not complete: %v", what, err)
	}
	r.res.RolledBack = true
	r.event("rolled back %s (%s), now revision %d with %d ready", what, msg, ro.Revision, ro.Ready)
	return nil
}

// pick is m's entries for the keys of keys.
func pick(m, keys map[string]string) map[string]string {
	out := map[string]string{}
	for k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// LambdaAPI is the part of the Lambda API a rollback of an alias calls.
type LambdaAPI interface {
	lambdaalias.GetUpdater
	GetFunction(context.Context, *lambda.GetFunctionInput, ...func(*lambda.Options)) (*lambda.GetFunctionOutput, error)
}

// prepareAlias reads the alias before any probe.
func (r *runner) prepareAlias(ctx context.Context) error {
	cfg := r.cfg
	a, err := lambdaalias.Get(ctx, r.d.Lambda, cfg.Function, cfg.Alias)
	switch {
	case lambdaalias.IsNotFound(err):
		return exitcode.BadInputf("--alias %q: function %s has no such alias (or the function does not exist)", cfg.Alias, cfg.Function)
	case err != nil:
		return exitcode.Incompletef("%v", err)
	}
	r.res.Function, r.res.Alias = cfg.Function, cfg.Alias
	r.log.Logf("alias %s of %s: %s", cfg.Alias, cfg.Function, a)
	return nil
}

// rollbackAlias points the alias back at the version lambda-deploy's state
// file recorded (else --to-version) with no routing, refusing when the
// alias serves neither that version nor the image the deploy put.
func (r *runner) rollbackAlias(ctx context.Context) error {
	cfg, api := r.cfg, r.d.Lambda
	version := cfg.ToVersion
	if st := cfg.lambda; st != nil {
		v, err := st.RollbackVersion()
		if err != nil {
			return &refusal{err.Error()}
		}
		version = v
	}
	cur, err := lambdaalias.Get(ctx, api, cfg.Function, cfg.Alias)
	if err != nil {
		return exitcode.Incompletef("%v", err)
	}
	if cur.Version == version && !cur.Routed() {
		return &refusal{fmt.Sprintf("alias %s of %s is on version %s already", cfg.Alias, cfg.Function, version)}
	}
	if st := cfg.lambda; st != nil && !cfg.Force {
		if err := r.judgedIsLive(ctx, cur, st, version); err != nil {
			return err
		}
	}
	what := fmt.Sprintf("alias %s of %s from %s to version %s", cfg.Alias, cfg.Function, cur, version)
	r.res.RestoredVersion = version
	if cfg.DryRun {
		r.event("dry run: would roll back %s", what)
		return nil
	}
	r.log.Logf("rolling back %s", what)
	_, _, err = lambdaalias.RollBack(ctx, api, cur, version, lambdaalias.Options{Timing: r.d.LambdaTiming, Log: r.log})
	switch {
	case lambdaalias.IsChanged(err):
		r.res.RestoredVersion = ""
		return exitcode.Incompletef("rolling back %s: someone moved the alias meanwhile (its RevisionId changed); left as it is: %v", what, err)
	case err != nil:
		r.res.RestoredVersion = ""
		return exitcode.Incompletef("rolling back %s: %v", what, err)
	}
	r.res.RolledBack = true
	r.event("rolled back %s", what)
	return nil
}

// judgedIsLive makes sure the alias still serves the deploy being judged:
// one of its versions runs the image lambda-deploy put (by digest).
func (r *runner) judgedIsLive(ctx context.Context, cur lambdaalias.Alias, st *lambdaalias.PreviousState, rollbackTo string) error {
	want := st.Deploy.ImageDigest
	if want == "" {
		return nil
	}
	versions := append([]string{cur.Version}, slices.Sorted(maps.Keys(cur.Weights))...)
	var seen []string
	for _, v := range versions {
		if v == rollbackTo {
			continue
		}
		out, err := r.d.Lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(r.cfg.Function), Qualifier: aws.String(v)})
		if err != nil {
			return exitcode.Incompletef("reading version %s of %s: %v", v, r.cfg.Function, err)
		}
		ds := digestsOf(out)
		if slices.Contains(ds, want) {
			return nil
		}
		d := ""
		if len(ds) > 0 {
			d = ds[0]
		}
		seen = append(seen, fmt.Sprintf("version %s runs %s", v, cmp.Or(d, "an image of unknown digest")))
	}
	return &refusal{fmt.Sprintf("alias %s of %s no longer serves the deploy being judged (%s, state file): %s; a newer change is live, not rolling it back (--force does)",
		r.cfg.Alias, r.cfg.Function, want, strings.Join(seen, ", "))}
}

// digestsOf are the image digests Lambda reports for a version: of its
// resolved image URI, of its image URI when that is by digest, and its
// CodeSha256 (an image's manifest digest). The last "@" counts: an
// emulator's resolved URI may repeat the digest's prefix.
func digestsOf(out *lambda.GetFunctionOutput) []string {
	var ds []string
	if out == nil {
		return nil
	}
	if out.Code != nil {
		for _, u := range []*string{out.Code.ResolvedImageUri, out.Code.ImageUri} {
			if i := strings.LastIndex(aws.ToString(u), "@"); i >= 0 {
				ds = append(ds, aws.ToString(u)[i+1:])
			}
		}
	}
	if out.Configuration != nil && aws.ToString(out.Configuration.CodeSha256) != "" {
		ds = append(ds, "sha256:"+strings.TrimPrefix(aws.ToString(out.Configuration.CodeSha256), "sha256:"))
	}
	return ds
}
