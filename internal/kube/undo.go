package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"

	"github.com/mlship/mlship/internal/exitcode"
)

// Paused is a Deployment that is paused: it rolls nothing out until it is
// resumed, and kubectl's rollbacker refuses it.
type Paused struct{ Ref Ref }

func (e *Paused) Error() string {
	return fmt.Sprintf("%s is paused: it rolls nothing out until resumed (kubectl rollout resume %s -n %s)", e.Ref, e.Ref, e.Ref.Namespace)
}

// Undo rolls ref back to toRevision (0: the revision before the current
// one) with kubectl's rollbacker, as kubectl rollout undo does, and
// returns what it said ("rolled back", or "skipped rollback (current
// template already matches revision 3)") with the workload as it is
// after. It does not wait for the rollout.
func (c *Client) Undo(ctx context.Context, ref Ref, toRevision int64) (string, *Workload, error) {
	w, err := c.Get(ctx, ref)
	if err != nil {
		return "", nil, err
	}
	if w.Paused {
		return "", nil, exitcode.Wrap(exitcode.Failed, &Paused{Ref: ref})
	}
	rb, err := polymorphichelpers.RollbackerFor(ref.Kind.GroupKind(), c.Kube)
	if err != nil {
		return "", nil, exitcode.Incompletef("rolling back %s: %v", ref, err)
	}
	// 0 is cmdutil.DryRunNone; that package is not imported by name here,
	// as it would tie the tools to kubectl's command line code.
	msg, err := rb.Rollback(w.Object, nil, toRevision, 0)
	if err != nil {
		what := fmt.Sprintf("rolling back %s", ref)
		if toRevision > 0 {
			what = fmt.Sprintf("rolling back %s to revision %d", ref, toRevision)
		}
		return "", nil, exitcode.Incompletef("%s: %v", what, err)
	}
	after, err := c.Get(ctx, ref)
	if err != nil {
		return "", nil, err
	}
	return strings.TrimSpace(msg), after, nil
}

// RevisionImages returns the images of each recorded revision of a
// Deployment (from its ReplicaSets) or of a StatefulSet or DaemonSet (from
// its ControllerRevisions, when they can be read as pod templates).
func (c *Client) RevisionImages(ctx context.Context, w *Workload) (map[int64]map[string]string, error) {
	out := map[int64]map[string]string{}
	if w.Ref.Kind == Deployment {
		rss, err := c.replicaSets(ctx, w)
		if err != nil {
			return nil, err
		}
		for _, rs := range rss {
			if rev, err := revisionOf(rs.Annotations); err == nil && rev > 0 {
				out[rev] = Images(&rs.Spec.Template)
			}
		}
		return out, nil
	}
	revs, err := c.controllerRevisions(ctx, w)
	if err != nil {
		return nil, err
	}
	for _, r := range revs {
		if t, err := templateOfRevision(r.Data.Raw); err == nil {
			out[r.Revision] = Images(t)
		}
	}
	return out, nil
}

func (c *Client) replicaSets(ctx context.Context, w *Workload) ([]appsv1.ReplicaSet, error) {
	sel, err := metav1.LabelSelectorAsSelector(w.Selector)
	if err != nil {
		return nil, fmt.Errorf("%s: its selector: %w", w.Ref, err)
	}
	list, err := get(ctx, c, func(ctx context.Context) (*appsv1.ReplicaSetList, error) {
		return c.Kube.AppsV1().ReplicaSets(w.Ref.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	})
	if err != nil {
		return nil, APIError("listing the ReplicaSets of "+w.Ref.String(), err)
	}
	var out []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if owned(rs.OwnerReferences, w.UID) {
			out = append(out, rs)
		}
	}
	return out, nil
}

func revisionOf(annotations map[string]string) (int64, error) {
	return strconv.ParseInt(annotations[deploymentutil.RevisionAnnotation], 10, 64)
}

// templateOfRevision reads the pod template a StatefulSet's or DaemonSet's
// ControllerRevision records (a patch of spec.template).
func templateOfRevision(raw []byte) (*corev1.PodTemplateSpec, error) {
	var patch struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &patch); err != nil {
		return nil, err
	}
	return &patch.Spec.Template, nil
}
