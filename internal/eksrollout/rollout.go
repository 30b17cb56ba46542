package eksrollout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
)

// Deps are what Run works with.
type Deps struct {
	Kube *kube.Client
	Log  action.Logger
	Now  func() time.Time // nil: time.Now
}

// target is one workload the rollout changes or follows.
type target struct {
	ref    kube.Ref
	object *kube.Object      // its manifest, when it comes from one
	set    map[string]string // --container images, for the --deployment
	before *kube.Workload    // as read before the change; nil: it did not exist
	prev   int64             // its revision before the change
	want   map[string]string // the images its new pods must run
	after  *kube.Workload    // right after the change
	tmpl   *corev1.PodTemplateSpec
	change bool // a new generation was made
	done   *kube.Rollout
	state  *kube.WorkloadState
	isvc   *isvcTarget // for an InferenceService
}

type roller struct {
	cfg     *Config
	d       Deps
	log     action.Logger
	res     *Result
	ns      string
	targets []*target
	primary *target
	st      kube.State
	armed   bool // a change was made: a failure from here on is rolled back
	start   time.Time
}

func (r *roller) now() time.Time {
	if r.d.Now != nil {
		return r.d.Now()
	}
	return time.Now()
}

// Run rolls cfg (validated) out and returns what it did. The Result comes
// with the error too, so that outputs such as rolled-back and the state
// file are written when the rollout fails.
func Run(ctx context.Context, cfg *Config, d Deps) (*Result, error) {
	r := &roller{cfg: cfg, d: d, log: d.Log, res: &Result{DryRun: cfg.DryRun, Cluster: cfg.Target.Cluster, Context: cfg.Target.Context}}
	if r.log == nil {
		r.log = nopLogger{}
	}
	r.start = r.now()
	err := r.run(ctx)
	var cc *kube.ConcurrentChange
	if err != nil && r.armed && cfg.RollbackOnFailure && !errors.As(err, &cc) {
		err = r.rollback(ctx, err)
	}
	r.finish(err)
	return r.res, err
}

func (r *roller) run(ctx context.Context) error {
	cfg := r.cfg
	r.ns = cmp.Or(cfg.Namespace, r.d.Kube.Namespace, "default")
	r.res.Namespace = r.ns
	r.st = kube.State{Cluster: cfg.Target.Cluster, Context: cfg.Target.Context, Server: r.d.Kube.Server}
	r.plan()
	if r.primary != nil && r.primary.ref.Kind == kube.InferenceService {
		return r.runISVC(ctx)
	}
	if err := r.read(ctx); err != nil {
		return err
	}
	r.describe()
	if cfg.DryRun {
		return r.dryRun(ctx)
	}
	if err := r.writeState("recording the state before the rollout"); err != nil {
		return err
	}
	if err := r.change(ctx); err != nil {
		return err
	}
	if err := r.writeState("recording the change"); err != nil {
		return err
	}
	return r.wait(ctx)
}

// plan lists the workloads: those of the manifests, then --deployment.
func (r *roller) plan() {
	for i := range r.cfg.objects {
		o := &r.cfg.objects[i]
		if ref, ok := o.WorkloadRef(r.ns); ok {
			r.targets = append(r.targets, &target{ref: ref, object: o})
		}
	}
	if ref := r.cfg.ref; ref != nil {
		want := *ref
		want.Namespace = r.ns
		var t *target
		for _, x := range r.targets {
			if x.ref == want {
				t = x
			}
		}
		if t == nil {
			t = &target{ref: want}
			r.targets = append(r.targets, t)
		}
		if len(r.cfg.containers) > 0 {
			t.set = r.cfg.containers
		}
		r.primary = t
	}
	if r.primary == nil && len(r.targets) > 0 {
		r.primary = r.targets[0]
	}
}

// read reads every workload before anything is changed.
func (r *roller) read(ctx context.Context) error {
	kc := r.d.Kube
	for _, t := range r.targets {
		w, err := kc.Get(ctx, t.ref)
		var nf *kube.ErrNotFound
		switch {
		case errors.As(err, &nf) && t.object == nil:
			return exitcode.BadInputf("--deployment %q: %s does not exist in namespace %s of %s", r.cfg.Deployment, t.ref, t.ref.Namespace, r.where())
		case errors.As(err, &nf):
			t.state = &kube.WorkloadState{Kind: t.ref.Kind, Namespace: t.ref.Namespace, Name: t.ref.Name, Images: map[string]string{}}
			continue
		case err != nil:
			return err
		}
		if w.Paused {
			return exitcode.Wrap(exitcode.Failed, fmt.Errorf("%w; nothing was changed", &kube.Paused{Ref: t.ref}))
		}
		if t.set != nil {
			if _, err := kube.SetImages(w.Template.DeepCopy(), t.set); err != nil {
				return exitcode.BadInputf("--container: %s: %v", t.ref, err)
			}
		}
		rev, err := kc.Revision(ctx, w)
		if err != nil {
			return err
		}
		t.before, t.prev = w, rev
		t.state = &kube.WorkloadState{Kind: t.ref.Kind, Namespace: t.ref.Namespace, Name: t.ref.Name, UID: w.UID, Existed: true,
			Revision: rev, Generation: w.Generation, Images: kube.Images(w.Template)}
	}
	r.st.Workloads = nil
	for _, t := range r.targets {
		r.st.Workloads = append(r.st.Workloads, *t.state)
		t.state = &r.st.Workloads[len(r.st.Workloads)-1]
	}
	return nil
}

// describe logs what will change.
func (r *roller) describe() {
	for _, o := range r.cfg.objects {
		r.res.Applied = append(r.res.Applied, fmt.Sprintf("%s/%s", strings.ToLower(o.GetKind()), o.GetName()))
	}
	if len(r.res.Applied) > 0 {
		r.plan1("apply (server-side, field manager %s): %s", kube.FieldManager, strings.Join(r.res.Applied, ", "))
	}
	for _, t := range r.targets {
		switch {
		case t.before == nil:
			r.plan1("%s: create (from %s)", t.ref, t.object.Source)
		case t.set != nil:
			after := t.before.Template.DeepCopy()
			changed, _ := kube.SetImages(after, t.set)
			if changed {
				r.plan1("%s: set %s (now %s, revision %d)", t.ref, kube.FormatImages(diffImages(kube.Images(t.before.Template), kube.Images(after))), kube.FormatImages(kube.Images(t.before.Template)), t.prev)
			} else {
				r.plan1("%s: already runs %s (revision %d): no new revision", t.ref, kube.FormatImages(kube.Images(after)), t.prev)
			}
		default:
			r.plan1("%s: update from %s (now revision %d, %s)", t.ref, t.object.Source, t.prev, kube.FormatImages(kube.Images(t.before.Template)))
		}
	}
}

func (r *roller) plan1(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	r.res.Plan = append(r.res.Plan, line)
	r.log.Logf("%s", line)
}

// dryRun has the API server check every change without keeping it.
func (r *roller) dryRun(ctx context.Context) error {
	for _, o := range r.cfg.objects {
		out, err := r.d.Kube.Apply(ctx, o, r.ns, r.cfg.ForceConflicts, true)
		if err != nil {
			return err
		}
		if t := r.targetOf(o); t != nil && t.before != nil && out.GetGeneration() == t.before.Generation {
			r.event("dry run: %s unchanged by %s", t.ref, o.Source)
		}
	}
	r.event("dry run: nothing was changed")
	return nil
}

func (r *roller) targetOf(o kube.Object) *target {
	for _, t := range r.targets {
		if t.object != nil && t.object.Unstructured == o.Unstructured {
			return t
		}
	}
	return nil
}

// change applies the manifests (namespaces first), then sets the
// --container images.
func (r *roller) change(ctx context.Context) error {
	kc := r.d.Kube
	objs := make([]kube.Object, 0, len(r.cfg.objects))
	for _, o := range r.cfg.objects {
		if o.GetKind() == "Namespace" && o.GroupVersionKind().Group == "" {
			objs = append(objs, o)
		}
	}
	for _, o := range r.cfg.objects {
		if o.GetKind() != "Namespace" || o.GroupVersionKind().Group != "" {
			objs = append(objs, o)
		}
	}
	for _, o := range objs {
		r.armed = true
		out, err := kc.Apply(ctx, o, r.ns, r.cfg.ForceConflicts, false)
		if err != nil {
			return err
		}
		t := r.targetOf(o)
		if t == nil {
			r.event("applied %s/%s", strings.ToLower(o.GetKind()), o.GetName())
			continue
		}
		w, err := kube.WorkloadOf(out)
		if err != nil {
			return exitcode.Incompletef("%v", err)
		}
		t.after, t.tmpl = w, w.Template
		t.want = kube.Images(w.Template)
		t.change = t.before == nil || w.Generation != t.before.Generation
		if t.change {
			r.event("applied %s (generation %d)", t.ref, w.Generation)
		} else {
			r.event("applied %s: unchanged", t.ref)
		}
	}
	for _, t := range r.targets {
		if t.set == nil {
			continue
		}
		cur := t.before
		if t.after != nil {
			cur = t.after
		}
		r.armed = true
		replaced, after, changed, err := kc.SetWorkloadImages(ctx, cur, t.set)
		if err != nil {
			return err
		}
		if t.after == nil && replaced.Generation != t.before.Generation {
			// Someone changed it between the read and the update: what is
			// recorded is what was replaced.
			if err := r.rerecord(ctx, t, replaced); err != nil {
				return err
			}
		}
		t.after, t.tmpl = after, after.Template
		t.want = kube.WantedImages(after.Template, t.set)
		t.change = t.change || changed
		if changed {
			r.event("set %s on %s (generation %d)", kube.FormatImages(t.want), t.ref, after.Generation)
		} else {
			r.event("%s already runs %s: no new revision", t.ref, kube.FormatImages(t.want))
		}
	}
	for _, t := range r.targets {
		t.state.Deployed = &kube.DeployedState{Changed: t.change, Generation: t.after.Generation, Images: kube.Images(t.after.Template)}
	}
	return nil
}

func (r *roller) rerecord(ctx context.Context, t *target, w *kube.Workload) error {
	rev, err := r.d.Kube.Revision(ctx, w)
	if err != nil {
		return err
	}
	t.before, t.prev = w, rev
	t.state.Revision, t.state.Generation, t.state.Images = rev, w.Generation, kube.Images(w.Template)
	return r.writeState("recording the state before the rollout")
}

// wait follows each rollout within one --timeout.
func (r *roller) wait(ctx context.Context) error {
	deadline := r.start.Add(r.cfg.Timeout)
	for _, t := range r.targets {
		left := deadline.Sub(r.now())
		if left <= 0 {
			left = time.Millisecond
		}
		ro, err := r.d.Kube.Wait(ctx, t.ref, kube.WaitOptions{
			Generation: t.after.Generation, Template: t.tmpl, Images: t.want, Timeout: left,
			Progress: func(s string) { r.log.Logf("%s", s) },
		})
		if err != nil {
			var rf *kube.RolloutFailed
			var cc *kube.ConcurrentChange
			if errors.As(err, &rf) {
				r.res.FailedPods = rf.Pods
			}
			if errors.As(err, &rf) || errors.As(err, &cc) {
				return exitcode.Wrap(exitcode.Failed, err)
			}
			return err
		}
		t.done = ro
		t.state.Deployed.Revision = ro.Revision
		t.state.Deployed.Succeeded = true
		r.event("%s rolled out: revision %d, %s ready, in %s", t.ref, ro.Revision, plural(int(ro.Ready), "replica", "replicas"), ro.Took.Round(time.Millisecond))
	}
	if err := r.writeState("recording the rollout"); err != nil {
		return err
	}
	return nil
}

// rollback undoes every change this run made, to the revision recorded
// before it, and waits for that rollout.
func (r *roller) rollback(ctx context.Context, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Timeout+time.Minute)
	defer cancel()
	var notes []string
	var failed error
	for _, t := range r.targets {
		if !t.change {
			continue
		}
		if t.isvc != nil {
			note, err := r.rollbackISVC(ctx, t)
			if err != nil {
				failed = err
				break
			}
			notes = append(notes, note)
			r.event("%s", note)
			continue
		}
		if t.before == nil || t.prev == 0 {
			notes = append(notes, fmt.Sprintf("%s was created by this rollout: there is no earlier revision to roll back to", t.ref))
			continue
		}
		r.log.Logf("rolling %s back to revision %d (%s)", t.ref, t.prev, kube.FormatImages(kube.Images(t.before.Template)))
		msg, after, err := r.d.Kube.Undo(ctx, t.ref, t.prev)
		if err != nil {
			failed = err
			break
		}
		ro, err := r.d.Kube.Wait(ctx, t.ref, kube.WaitOptions{
			Generation: after.Generation, Template: after.Template, Images: kube.Images(t.before.Template), Timeout: r.cfg.Timeout,
			Progress: func(s string) { r.log.Logf("%s", s) },
		})
		if err != nil {
			failed = fmt.Errorf("rolling %s back to revision %d: %w", t.ref, t.prev, err)
			break
		}
		t.done = ro
		t.state.Deployed.RolledBack = true
		note := fmt.Sprintf("rolled %s back to revision %d (%s), now revision %d", t.ref, t.prev, kube.FormatImages(ro.Images), ro.Revision)
		if strings.HasPrefix(msg, "skipped") {
			note += " (" + msg + ")"
		}
		notes = append(notes, note)
		r.event("%s", notes[len(notes)-1])
	}
	_ = r.writeState("recording the rollback")
	if failed != nil {
		return exitcode.Incompletef("%v; and the rollback could not finish: %v", cause, failed)
	}
	r.res.RolledBack = len(notes) > 0
	if len(notes) == 0 {
		return cause
	}
	return exitcode.Wrap(exitcode.Of(cause), fmt.Errorf("%w; %s", cause, strings.Join(notes, "; ")))
}

func (r *roller) writeState(what string) error {
	if r.cfg.StateFile == "" {
		return nil
	}
	r.st.RecordedAt = r.now().UTC()
	if err := r.st.Write(r.cfg.StateFile); err != nil {
		return exitcode.Incompletef("%s in %s: %w", what, r.cfg.StateFile, err)
	}
	r.res.StateFile = r.cfg.StateFile
	return nil
}

func (r *roller) where() string {
	if r.cfg.Target.Cluster != "" {
		return "EKS cluster " + r.cfg.Target.Cluster
	}
	return r.d.Kube.Server
}

// finish fills the result in from the primary workload.
func (r *roller) finish(err error) {
	res := r.res
	res.Took = r.now().Sub(r.start)
	res.TookSeconds = res.Took.Round(time.Millisecond).Seconds()
	if err != nil {
		res.Failure = err.Error()
	}
	for _, t := range r.targets {
		if t.isvc != nil {
			wr := isvcResult(t)
			res.Workloads = append(res.Workloads, wr)
			if t == r.primary {
				res.WorkloadResult = wr
			}
			continue
		}
		wr := WorkloadResult{Kind: string(t.ref.Kind), Namespace: t.ref.Namespace, Name: t.ref.Name, PreviousRevision: t.prev, Changed: t.change}
		if t.before != nil {
			wr.PreviousImages = kube.Images(t.before.Template)
		}
		switch {
		case t.done != nil:
			wr.Revision, wr.Images, wr.ReadyReplicas = t.done.Revision, t.done.Images, t.done.Ready
		case t.after != nil:
			wr.Images = kube.Images(t.after.Template)
		case t.before != nil:
			wr.Revision, wr.Images, wr.ReadyReplicas = t.prev, kube.Images(t.before.Template), t.before.Ready
		}
		wr.RolledBack = t.state != nil && t.state.Deployed != nil && t.state.Deployed.RolledBack
		res.Workloads = append(res.Workloads, wr)
		if t == r.primary {
			res.WorkloadResult = wr
		}
	}
}

func (r *roller) event(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	r.res.Events = append(r.res.Events, line)
	r.log.Logf("%s", line)
}

// diffImages is what is in after and differs from before.
func diffImages(before, after map[string]string) map[string]string {
	out := maps.Clone(after)
	for k, v := range before {
		if out[k] == v {
			delete(out, k)
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

type nopLogger struct{}

func (nopLogger) Logf(string, ...any)     {}
func (nopLogger) Warningf(string, ...any) {}
