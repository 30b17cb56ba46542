package kube

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/mlship/mlship/internal/exitcode"
)

// maxConflicts is how often SetWorkloadImages reads again after its update
// lost a race with another writer.
const maxConflicts = 5

// SetWorkloadImages sets container images on a workload as kubectl set
// image does (see SetImages), starting from cur as read. The update
// carries cur's resourceVersion, so a change made in between is never
// overwritten: on a conflict the workload is read again and the images set
// on what it is then. It returns the workload as replaced (cur, or what
// was read after a conflict), the workload after, and whether anything
// changed; setting the images it already runs changes nothing.
func (c *Client) SetWorkloadImages(ctx context.Context, cur *Workload, images map[string]string) (replaced, after *Workload, changed bool, err error) {
	for attempt := 0; ; attempt++ {
		t := cur.Template.DeepCopy()
		changed, err := SetImages(t, images)
		if err != nil {
			return nil, nil, false, exitcode.BadInputf("--container: %s: %v", cur.Ref, err)
		}
		if !changed {
			return cur, cur, false, nil
		}
		obj, err := get(ctx, c, func(ctx context.Context) (runtime.Object, error) { return c.updateTemplate(ctx, cur, t) })
		if apierrors.IsConflict(err) && attempt < maxConflicts {
			if cur, err = c.Get(ctx, cur.Ref); err != nil {
				return nil, nil, false, err
			}
			continue
		}
		if err != nil {
			return nil, nil, false, APIError("setting the images of "+cur.Ref.String(), err)
		}
		w, err := workloadOf(obj)
		return cur, w, true, err
	}
}

func (c *Client) updateTemplate(ctx context.Context, w *Workload, t *corev1.PodTemplateSpec) (runtime.Object, error) {
	apps, opts := c.Kube.AppsV1(), metav1.UpdateOptions{FieldManager: FieldManager}
	switch o := w.Object.DeepCopyObject().(type) {
	case *appsv1.Deployment:
		o.Spec.Template = *t
		return apps.Deployments(o.Namespace).Update(ctx, o, opts)
	case *appsv1.StatefulSet:
		o.Spec.Template = *t
		return apps.StatefulSets(o.Namespace).Update(ctx, o, opts)
	case *appsv1.DaemonSet:
		o.Spec.Template = *t
		return apps.DaemonSets(o.Namespace).Update(ctx, o, opts)
	}
	return nil, fmt.Errorf("%T is not a workload", w.Object)
}

// WorkloadOf reads a workload from an object the API server returned (an
// applied manifest).
func WorkloadOf(u *unstructured.Unstructured) (*Workload, error) {
	var obj runtime.Object
	switch u.GetKind() {
	case string(Deployment):
		obj = &appsv1.Deployment{}
	case string(StatefulSet):
		obj = &appsv1.StatefulSet{}
	case string(DaemonSet):
		obj = &appsv1.DaemonSet{}
	default:
		return nil, fmt.Errorf("%s is not a workload", u.GetKind())
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return workloadOf(obj)
}
