package kube

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"

	"github.com/mlship/mlship/internal/exitcode"
)

// Kind is a workload kind that kubectl's rollout helpers support.
type Kind string

const (
	Deployment  Kind = "Deployment"
	StatefulSet Kind = "StatefulSet"
	DaemonSet   Kind = "DaemonSet"
	// InferenceService is KServe's serving.kserve.io/v1beta1
	// InferenceService: not a pod template but a predictor whose revisions
	// KServe (and Knative) roll out; see inferenceservice.go.
	InferenceService Kind = "InferenceService"
)

// ParseKind reads a kind as kubectl spells it: deployment, deploy,
// deployments, statefulset, sts, daemonset, ds, inferenceservice, isvc, in
// any case, with or without the group (deployment.apps,
// inferenceservice.serving.kserve.io).
func ParseKind(s string) (Kind, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if k, ok := strings.CutSuffix(s, "."+InferenceServiceGroup); ok {
		switch k {
		case "inferenceservice", "inferenceservices", "isvc":
			return InferenceService, true
		}
		return "", false
	}
	s = strings.TrimSuffix(s, ".apps")
	switch s {
	case "inferenceservice", "inferenceservices", "isvc":
		return InferenceService, true
	case "deployment", "deployments", "deploy":
		return Deployment, true
	case "statefulset", "statefulsets", "sts":
		return StatefulSet, true
	case "daemonset", "daemonsets", "ds":
		return DaemonSet, true
	}
	return "", false
}

// KindNames lists the kinds ParseKind reads, for messages.
const KindNames = "deployment, statefulset, daemonset or inferenceservice"

// GroupKind is the kind's API group and kind.
func (k Kind) GroupKind() schema.GroupKind {
	if k == InferenceService {
		return schema.GroupKind{Group: InferenceServiceGroup, Kind: string(k)}
	}
	return schema.GroupKind{Group: "apps", Kind: string(k)}
}

// Ref names one workload.
type Ref struct {
	Kind      Kind
	Namespace string
	Name      string
}

// String is the workload as kubectl names it: deployment/web.
func (r Ref) String() string { return strings.ToLower(string(r.Kind)) + "/" + r.Name }

// Validate checks the namespace and name.
func (r Ref) Validate(flag string) error {
	if errs := validation.IsDNS1123Subdomain(r.Name); len(errs) > 0 {
		return exitcode.BadInputf("--%s %q: not a Kubernetes object name (%s)", flag, r.Name, errs[0])
	}
	if errs := validation.IsDNS1123Label(r.Namespace); len(errs) > 0 {
		return exitcode.BadInputf("--namespace %q: not a namespace name (%s)", r.Namespace, errs[0])
	}
	return nil
}

// ParseRef reads a workload as --deployment takes it: NAME, or KIND/NAME
// as kubectl writes it (deployment/web, statefulset/db, ds/agent).
func ParseRef(s string, kind Kind, namespace string) (Ref, error) {
	s = strings.TrimSpace(s)
	if k, name, ok := strings.Cut(s, "/"); ok {
		pk, ok := ParseKind(k)
		if !ok {
			return Ref{}, exitcode.BadInputf("--deployment %q: unknown kind %q (want %s)", s, k, KindNames)
		}
		kind, s = pk, name
	}
	r := Ref{Kind: kind, Namespace: namespace, Name: s}
	return r, r.Validate("deployment")
}

// Workload is what is read of a workload to change it and follow its
// rollout, whatever its kind.
type Workload struct {
	Ref        Ref
	UID        string
	Generation int64
	Paused     bool
	Template   *corev1.PodTemplateSpec
	Selector   *metav1.LabelSelector
	Replicas   int32 // desired; for a DaemonSet, the nodes it should run on
	Ready      int32
	// Revision is a Deployment's revision annotation (0 for the other
	// kinds, whose revisions are ControllerRevisions; see Revision).
	Revision int64
	Object   runtime.Object // *appsv1.Deployment, StatefulSet or DaemonSet
}

// ErrNotFound is returned by Get for a workload that does not exist.
type ErrNotFound struct{ Ref Ref }

func (e *ErrNotFound) Error() string {
	return fmt.Sprintf("%s not found in namespace %s", e.Ref, e.Ref.Namespace)
}

// Get reads a workload.
func (c *Client) Get(ctx context.Context, ref Ref) (*Workload, error) {
	obj, err := get(ctx, c, func(ctx context.Context) (runtime.Object, error) {
		apps := c.Kube.AppsV1()
		opts := metav1.GetOptions{}
		switch ref.Kind {
		case Deployment:
			return apps.Deployments(ref.Namespace).Get(ctx, ref.Name, opts)
		case StatefulSet:
			return apps.StatefulSets(ref.Namespace).Get(ctx, ref.Name, opts)
		case DaemonSet:
			return apps.DaemonSets(ref.Namespace).Get(ctx, ref.Name, opts)
		case InferenceService:
			return nil, fmt.Errorf("an InferenceService has no pod template: read it with GetInferenceService")
		}
		return nil, fmt.Errorf("unknown kind %q", ref.Kind)
	})
	if apierrors.IsNotFound(err) {
		return nil, &ErrNotFound{Ref: ref}
	}
	if err != nil {
		return nil, APIError("reading "+ref.String(), err)
	}
	return workloadOf(obj)
}

func workloadOf(obj runtime.Object) (*Workload, error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		rev, _ := deploymentutil.Revision(o)
		return &Workload{
			Ref: Ref{Kind: Deployment, Namespace: o.Namespace, Name: o.Name}, UID: string(o.UID),
			Generation: o.Generation, Paused: o.Spec.Paused, Template: &o.Spec.Template, Selector: o.Spec.Selector,
			Replicas: replicas(o.Spec.Replicas), Ready: o.Status.ReadyReplicas, Revision: rev, Object: o,
		}, nil
	case *appsv1.StatefulSet:
		return &Workload{
			Ref: Ref{Kind: StatefulSet, Namespace: o.Namespace, Name: o.Name}, UID: string(o.UID),
			Generation: o.Generation, Template: &o.Spec.Template, Selector: o.Spec.Selector,
			Replicas: replicas(o.Spec.Replicas), Ready: o.Status.ReadyReplicas, Object: o,
		}, nil
	case *appsv1.DaemonSet:
		return &Workload{
			Ref: Ref{Kind: DaemonSet, Namespace: o.Namespace, Name: o.Name}, UID: string(o.UID),
			Generation: o.Generation, Template: &o.Spec.Template, Selector: o.Spec.Selector,
			Replicas: o.Status.DesiredNumberScheduled, Ready: o.Status.NumberReady, Object: o,
		}, nil
	}
	return nil, fmt.Errorf("%T is not a workload", obj)
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// Revision returns the workload's current revision: a Deployment's
// revision annotation, the ControllerRevision a StatefulSet updates to, or
// a DaemonSet's newest ControllerRevision. 0 means none yet.
func (c *Client) Revision(ctx context.Context, w *Workload) (int64, error) {
	if w.Ref.Kind == Deployment {
		return w.Revision, nil
	}
	revs, err := c.controllerRevisions(ctx, w)
	if err != nil {
		return 0, err
	}
	if sts, ok := w.Object.(*appsv1.StatefulSet); ok && sts.Status.UpdateRevision != "" {
		for _, r := range revs {
			if r.Name == sts.Status.UpdateRevision {
				return r.Revision, nil
			}
		}
	}
	var newest int64
	for _, r := range revs {
		newest = max(newest, r.Revision)
	}
	return newest, nil
}

func (c *Client) controllerRevisions(ctx context.Context, w *Workload) ([]appsv1.ControllerRevision, error) {
	sel, err := metav1.LabelSelectorAsSelector(w.Selector)
	if err != nil {
		return nil, fmt.Errorf("%s: its selector: %w", w.Ref, err)
	}
	list, err := get(ctx, c, func(ctx context.Context) (*appsv1.ControllerRevisionList, error) {
		return c.Kube.AppsV1().ControllerRevisions(w.Ref.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	})
	if err != nil {
		return nil, APIError("listing the revisions of "+w.Ref.String(), err)
	}
	var out []appsv1.ControllerRevision
	for _, r := range list.Items {
		if owned(r.OwnerReferences, w.UID) {
			out = append(out, r)
		}
	}
	return out, nil
}

func owned(refs []metav1.OwnerReference, uid string) bool {
	for _, o := range refs {
		if o.Controller != nil && *o.Controller && string(o.UID) == uid {
			return true
		}
	}
	return false
}

// Images returns a pod template's images by container name, init
// containers included.
func Images(t *corev1.PodTemplateSpec) map[string]string {
	m := map[string]string{}
	for _, c := range t.Spec.InitContainers {
		m[c.Name] = c.Image
	}
	for _, c := range t.Spec.Containers {
		m[c.Name] = c.Image
	}
	return m
}

// AnyContainer is the container name that sets every container's image
// (kubectl set image's "*").
const AnyContainer = "*"

// SetImages sets the images of want (container name to image) in t, as
// kubectl set image does: "*" sets every container, and "" the only one.
// It reports whether anything changed, and fails, changing nothing, when
// a container is not in t.
func SetImages(t *corev1.PodTemplateSpec, want map[string]string) (bool, error) {
	names := slices.Sorted(maps.Keys(Images(t)))
	for name := range want {
		switch {
		case name == AnyContainer:
		case name == "":
			if len(t.Spec.Containers) != 1 || len(t.Spec.InitContainers) != 0 {
				return false, fmt.Errorf("the pod has %d containers (%s): name the one to set (NAME=IMAGE)", len(names), strings.Join(names, ", "))
			}
		case !slices.Contains(names, name):
			return false, fmt.Errorf("the pod has no container %q (it has %s)", name, strings.Join(names, ", "))
		}
	}
	changed := false
	set := func(cs []corev1.Container) {
		for i := range cs {
			img, ok := want[cs[i].Name]
			if !ok {
				img, ok = want[AnyContainer]
			}
			if !ok {
				img, ok = want[""]
			}
			if ok && cs[i].Image != img {
				cs[i].Image = img
				changed = true
			}
		}
	}
	set(t.Spec.InitContainers)
	set(t.Spec.Containers)
	return changed, nil
}

// WantedImages resolves want (as SetImages takes it) against t: the image
// each named container must run.
func WantedImages(t *corev1.PodTemplateSpec, want map[string]string) map[string]string {
	cp := t.DeepCopy()
	if _, err := SetImages(cp, want); err != nil {
		return nil
	}
	all := Images(cp)
	out := map[string]string{}
	for name := range all {
		if _, ok := want[name]; ok || want[AnyContainer] != "" || want[""] != "" {
			out[name] = all[name]
		}
	}
	return out
}
