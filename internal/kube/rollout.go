package kube

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"
)

// WaitOptions say what rollout to wait for.
type WaitOptions struct {
	// Generation is the workload's generation after the change being
	// rolled out; 0 takes the generation the wait first sees.
	Generation int64
	// Template is the pod template of that change. When the generation
	// moves past Generation with a different template, someone else
	// changed the workload and the wait stops with *ConcurrentChange; with
	// the same template (a scale) it goes on.
	Template *corev1.PodTemplateSpec
	// Images are the images the new pods must run, by container; nil
	// checks none.
	Images  map[string]string
	Timeout time.Duration
	// Progress is told each new status line ("Waiting for deployment "web"
	// rollout to finish: 2 of 3 updated replicas are available...").
	Progress func(string)
}

// Rollout is a rollout that completed.
type Rollout struct {
	Ref      Ref
	Revision int64
	Ready    int32
	Images   map[string]string // what the new pods run, by container
	Took     time.Duration
}

// Failure reasons of a rollout.
const (
	ReasonDeadline = "ProgressDeadlineExceeded"
	ReasonTimeout  = "Timeout"
	ReasonDeleted  = "Deleted"
	ReasonImages   = "ImageMismatch"
	ReasonStatus   = "StatusError"
)

// RolloutFailed is a rollout that did not complete, with why.
type RolloutFailed struct {
	Ref    Ref
	Reason string // one of the Reason constants
	// Detail is what kubectl's status viewer or the check said.
	Detail string
	// Conditions are the workload's conditions that explain it (a
	// Deployment's Progressing and ReplicaFailure messages).
	Conditions []string
	Pods       []PodProblem
	// MorePods counts the not-ready pods left out of Pods.
	MorePods int
	Took     time.Duration
}

func (e *RolloutFailed) Error() string {
	var b strings.Builder
	switch e.Reason {
	case ReasonDeadline:
		fmt.Fprintf(&b, "%s did not progress within its progress deadline", e.Ref)
	case ReasonTimeout:
		fmt.Fprintf(&b, "%s was not rolled out after %s", e.Ref, e.Took.Round(time.Second))
	default:
		fmt.Fprintf(&b, "rollout of %s failed", e.Ref)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	for _, c := range e.Conditions {
		fmt.Fprintf(&b, "; %s", c)
	}
	for _, p := range e.Pods {
		fmt.Fprintf(&b, "; %s", p)
	}
	if e.MorePods > 0 {
		fmt.Fprintf(&b, "; and %s", plural(e.MorePods, "more pod not ready", "more pods not ready"))
	}
	return b.String()
}

// ConcurrentChange is a change made by someone else during the wait: the
// workload's generation moved past the one being rolled out, with another
// pod template.
type ConcurrentChange struct {
	Ref          Ref
	Ours, Theirs int64
	Images       map[string]string // the images their change sets
}

func (e *ConcurrentChange) Error() string {
	return fmt.Sprintf("%s was changed by someone else during the rollout (generation %d, this rollout made %d; its images are now %s): stopped waiting, their rollout is not reported as this one",
		e.Ref, e.Theirs, e.Ours, FormatImages(e.Images))
}

// FormatImages prints container images in a stable order: app=img, ...
func FormatImages(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ", ")
}

// Wait watches ref until kubectl's status viewer for its kind says the
// rollout is done (for a Deployment: the new generation observed, every
// replica updated, the old ones gone, the new ones available), then checks
// that the pods of the new revision run opts.Images. A stalled rollout
// (progress deadline exceeded, or opts.Timeout) returns *RolloutFailed
// with the pods that are not ready and why; a change by someone else,
// *ConcurrentChange.
func (c *Client) Wait(ctx context.Context, ref Ref, opts WaitOptions) (*Rollout, error) {
	viewer, err := polymorphichelpers.StatusViewerFor(ref.Kind.GroupKind())
	if err != nil {
		return nil, err
	}
	start := c.now()
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	wctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	ours, template := opts.Generation, opts.Template
	var last runtime.Object
	var lastMsg string
	cond := func(ev watch.Event) (bool, error) {
		obj, err := rolloutEvent(ev, ref)
		if obj == nil || err != nil {
			return false, err
		}
		w, err := workloadOf(obj)
		if err != nil {
			return false, err
		}
		last = obj
		if ours == 0 {
			ours, template = w.Generation, w.Template.DeepCopy()
		}
		if w.Generation < ours {
			// The informer's first list is served from the API server's
			// watch cache, which may not hold our change yet: what it
			// shows is the workload before it, not a finished rollout.
			return false, nil
		}
		if w.Generation > ours {
			if template != nil && !apiequality.Semantic.DeepEqual(template, w.Template) {
				return false, &ConcurrentChange{Ref: ref, Ours: ours, Theirs: w.Generation, Images: Images(w.Template)}
			}
			ours = w.Generation
		}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return false, err
		}
		msg, done, err := viewer.Status(&unstructured.Unstructured{Object: u}, 0)
		if err != nil {
			if d, ok := obj.(*appsv1.Deployment); ok && progressDeadlineExceeded(d) {
				return false, &RolloutFailed{Ref: ref, Reason: ReasonDeadline, Detail: err.Error()}
			}
			return false, &RolloutFailed{Ref: ref, Reason: ReasonStatus, Detail: err.Error()}
		}
		if msg = strings.TrimSpace(msg); msg != lastMsg && opts.Progress != nil && !done {
			opts.Progress(msg)
		}
		lastMsg = msg
		return done, nil
	}

	lw, objType := c.listWatch(ref)
	_, err = watchtools.UntilWithSync(wctx, lw, objType, nil, cond)
	took := c.now().Sub(start)
	if err := waitError(ctx, wctx, ref, err, lastMsg, last != nil, took); err != nil {
		var failed *RolloutFailed
		if errors.As(err, &failed) && (failed.Reason == ReasonDeadline || failed.Reason == ReasonStatus || failed.Reason == ReasonTimeout) {
			c.explain(ctx, last, failed)
		}
		return nil, err
	}
	w, err := workloadOf(last)
	if err != nil {
		return nil, err
	}
	ro := &Rollout{Ref: ref, Ready: w.Ready, Took: took}
	if ro.Revision, err = c.Revision(ctx, w); err != nil {
		return nil, err
	}
	pods, err := c.newPods(ctx, w)
	if err != nil {
		return nil, err
	}
	ro.Images = Images(w.Template)
	if err := checkImages(ref, pods, opts.Images); err != nil {
		return nil, err
	}
	return ro, nil
}

func progressDeadlineExceeded(d *appsv1.Deployment) bool {
	cond := deploymentutil.GetDeploymentCondition(d.Status, appsv1.DeploymentProgressing)
	return cond != nil && cond.Reason == deploymentutil.TimedOutReason
}

// checkImages makes sure the pods of the new revision run what was asked:
// success is never reported for someone else's images.
func checkImages(ref Ref, pods []corev1.Pod, want map[string]string) error {
	if len(want) == 0 {
		return nil
	}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		have := Images(&corev1.PodTemplateSpec{Spec: p.Spec})
		for name, img := range want {
			if have[name] != img {
				return &RolloutFailed{Ref: ref, Reason: ReasonImages,
					Detail: fmt.Sprintf("pod %s of the new revision runs %s=%s, not %s", p.Name, name, have[name], img)}
			}
		}
	}
	return nil
}

func (c *Client) listWatch(ref Ref) (cache.ListerWatcher, runtime.Object) {
	apps := c.Kube.AppsV1()
	lw := func(list func(context.Context, metav1.ListOptions) (runtime.Object, error), w func(context.Context, metav1.ListOptions) (watch.Interface, error)) *cache.ListWatch {
		return listWatchNamed(ref.Name, list, w)
	}
	switch ref.Kind {
	case StatefulSet:
		api := apps.StatefulSets(ref.Namespace)
		return lw(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return api.List(ctx, o) }, api.Watch), &appsv1.StatefulSet{}
	case DaemonSet:
		api := apps.DaemonSets(ref.Namespace)
		return lw(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return api.List(ctx, o) }, api.Watch), &appsv1.DaemonSet{}
	}
	api := apps.Deployments(ref.Namespace)
	return lw(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return api.List(ctx, o) }, api.Watch), &appsv1.Deployment{}
}

// rolloutEvent is the object of ev when ev is a version of ref: nil for
// other objects and events without one (bookmarks, errors); a deletion
// fails the rollout.
func rolloutEvent(ev watch.Event, ref Ref) (runtime.Object, error) {
	if m, err := metaOf(ev.Object); err != nil || m.GetName() != ref.Name {
		return nil, nil
	}
	if ev.Type == watch.Deleted {
		return nil, &RolloutFailed{Ref: ref, Reason: ReasonDeleted, Detail: "it was deleted during the rollout"}
	}
	if ev.Type != watch.Added && ev.Type != watch.Modified {
		return nil, nil
	}
	return ev.Object, nil
}

// waitError is the rollout's error for what watching it returned: a
// *RolloutFailed with the time taken, a timeout of wctx (not of ctx) as
// one, a *ConcurrentChange as it is, anything else an API error. seen is
// whether any version of the object arrived.
func waitError(ctx, wctx context.Context, ref Ref, err error, lastMsg string, seen bool, took time.Duration) error {
	var failed *RolloutFailed
	var cc *ConcurrentChange
	switch {
	case err == nil:
		return nil
	case errors.As(err, &failed):
		failed.Took = took
		return failed
	case errors.As(err, &cc):
		return err
	case ctx.Err() == nil && wctx.Err() != nil:
		failed = &RolloutFailed{Ref: ref, Reason: ReasonTimeout, Detail: lastMsg, Took: took}
		if !seen {
			failed.Detail = "it was never seen: " + err.Error()
		}
		return failed
	}
	return APIError("waiting for the rollout of "+ref.String(), err)
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no metadata", obj)
	}
	return m, nil
}

// listWatchNamed lists and watches the one object called name.
func listWatchNamed(name string, list func(context.Context, metav1.ListOptions) (runtime.Object, error), w func(context.Context, metav1.ListOptions) (watch.Interface, error)) *cache.ListWatch {
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return list(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return w(ctx, o)
		},
	}
}
