package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"
	"k8s.io/kubectl/pkg/util/podutils"
)

// PodProblem is why one pod is not ready.
type PodProblem struct {
	Pod       string `json:"pod"`
	Phase     string `json:"phase"`
	Reason    string `json:"reason"`              // ImagePullBackOff, CrashLoopBackOff, Unschedulable, NotReady, ...
	Container string `json:"container,omitempty"` // the container it is about
	Image     string `json:"image,omitempty"`
	Message   string `json:"message,omitempty"`
	// ExitCode is the last exit code of a container that keeps stopping.
	ExitCode *int32 `json:"exitCode,omitempty"`
	Restarts int32  `json:"restarts,omitempty"`
}

func (p PodProblem) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pod %s (%s): %s", p.Pod, p.Phase, p.Reason)
	if p.Container != "" {
		fmt.Fprintf(&b, ", container %s", p.Container)
	}
	if p.Image != "" {
		fmt.Fprintf(&b, ", image %s", p.Image)
	}
	if p.ExitCode != nil {
		fmt.Fprintf(&b, ", last exit code %d", *p.ExitCode)
	}
	if p.Restarts > 0 {
		fmt.Fprintf(&b, ", %s", plural(int(p.Restarts), "restart", "restarts"))
	}
	if p.Message != "" {
		fmt.Fprintf(&b, ": %s", cut(oneLine(p.Message), 300))
	}
	return b.String()
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// maxPodProblems is how many not-ready pods a failure lists.
const maxPodProblems = 5

// explain fills a failure in with the workload's conditions and the pods of
// its new revision that are not ready. It reads with its own short
// deadline, since the wait's may be what ran out.
func (c *Client) explain(ctx context.Context, obj runtime.Object, f *RolloutFailed) {
	if obj == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	w, err := workloadOf(obj)
	if err != nil {
		return
	}
	if d, ok := obj.(*appsv1.Deployment); ok {
		// Progressing is False once the deadline passed; ReplicaFailure is
		// True when pods could not even be created (a quota, a webhook).
		if cond := deploymentutil.GetDeploymentCondition(d.Status, appsv1.DeploymentProgressing); cond != nil && cond.Status == corev1.ConditionFalse {
			f.Conditions = append(f.Conditions, fmt.Sprintf("condition Progressing %s: %s", cond.Reason, oneLine(cond.Message)))
		}
		if cond := deploymentutil.GetDeploymentCondition(d.Status, appsv1.DeploymentReplicaFailure); cond != nil && cond.Status == corev1.ConditionTrue {
			f.Conditions = append(f.Conditions, fmt.Sprintf("condition ReplicaFailure %s: %s", cond.Reason, oneLine(cond.Message)))
		}
	}
	pods, err := c.newPods(ctx, w)
	if err != nil {
		f.Conditions = append(f.Conditions, "the pods could not be read: "+oneLine(err.Error()))
		return
	}
	probs := Diagnose(pods)
	if len(probs) > maxPodProblems {
		f.MorePods = len(probs) - maxPodProblems
		probs = probs[:maxPodProblems]
	}
	f.Pods = probs
}

// newPods returns the pods of the workload's newest revision: for a
// Deployment those of its new ReplicaSet (none when it has none yet), for
// the other kinds every pod it owns.
func (c *Client) newPods(ctx context.Context, w *Workload) ([]corev1.Pod, error) {
	owner := w.UID
	if d, ok := w.Object.(*appsv1.Deployment); ok {
		newRS, err := get(ctx, c, func(ctx context.Context) (*appsv1.ReplicaSet, error) {
			_, _, rs, err := deploymentutil.GetAllReplicaSets(d, c.Kube.AppsV1())
			return rs, err
		})
		if err != nil {
			return nil, APIError("reading the ReplicaSets of "+w.Ref.String(), err)
		}
		if newRS == nil {
			return nil, nil
		}
		owner = string(newRS.UID)
	}
	sel, err := metav1.LabelSelectorAsSelector(w.Selector)
	if err != nil {
		return nil, fmt.Errorf("%s: its selector: %w", w.Ref, err)
	}
	list, err := get(ctx, c, func(ctx context.Context) (*corev1.PodList, error) {
		return c.Kube.CoreV1().Pods(w.Ref.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	})
	if err != nil {
		return nil, APIError("listing the pods of "+w.Ref.String(), err)
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if owned(p.OwnerReferences, owner) {
			pods = append(pods, p)
		}
	}
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods, nil
}

// Diagnose says why each pod that is not ready is not: the scheduler's
// reason for a Pending pod, a container's waiting reason with its image
// (ImagePullBackOff, ErrImagePull, CreateContainerConfigError) or last
// exit code (CrashLoopBackOff), a container that runs but fails its
// readiness probe. Ready and terminating pods are left out.
func Diagnose(pods []corev1.Pod) []PodProblem {
	var out []PodProblem
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || podutils.IsPodReady(p) {
			continue
		}
		out = append(out, diagnosePod(p))
	}
	return out
}

func diagnosePod(p *corev1.Pod) PodProblem {
	pr := PodProblem{Pod: p.Name, Phase: string(p.Status.Phase)}
	if pr.Phase == "" {
		pr.Phase = string(corev1.PodPending)
	}
	images := Images(&corev1.PodTemplateSpec{Spec: p.Spec})
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			pr.Reason, pr.Message = nonEmpty(c.Reason, "NotScheduled"), c.Message
			return pr
		}
	}
	statuses := append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...)
	// A container that is waiting or stopping says more than one that runs
	// unready, so those come first.
	for _, s := range statuses {
		switch {
		case s.State.Waiting != nil && s.State.Waiting.Reason != "" && s.State.Waiting.Reason != "PodInitializing" && s.State.Waiting.Reason != "ContainerCreating":
			pr.Reason, pr.Container, pr.Image, pr.Message, pr.Restarts = s.State.Waiting.Reason, s.Name, images[s.Name], s.State.Waiting.Message, s.RestartCount
			if t := s.LastTerminationState.Terminated; t != nil {
				code := t.ExitCode
				pr.ExitCode = &code
				if pr.Message == "" || s.State.Waiting.Reason == "CrashLoopBackOff" {
					pr.Message = strings.TrimSpace(nonEmpty(t.Reason, "") + " " + t.Message)
				}
			}
			return pr
		case s.State.Terminated != nil && s.State.Terminated.ExitCode != 0:
			code := s.State.Terminated.ExitCode
			pr.Reason, pr.Container, pr.Image, pr.ExitCode, pr.Restarts = nonEmpty(s.State.Terminated.Reason, "Error"), s.Name, images[s.Name], &code, s.RestartCount
			pr.Message = s.State.Terminated.Message
			return pr
		}
	}
	for _, s := range statuses {
		if s.State.Running != nil && !s.Ready {
			pr.Reason, pr.Container, pr.Image, pr.Restarts = "NotReady", s.Name, images[s.Name], s.RestartCount
			pr.Message = "running, but not ready (its readiness probe fails)"
			return pr
		}
		if s.State.Waiting != nil {
			pr.Reason, pr.Container, pr.Image = nonEmpty(s.State.Waiting.Reason, "Waiting"), s.Name, images[s.Name]
			return pr
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status != corev1.ConditionTrue {
			pr.Reason, pr.Message = nonEmpty(c.Reason, "NotReady"), c.Message
			return pr
		}
	}
	pr.Reason = nonEmpty(p.Status.Reason, "NotReady")
	pr.Message = p.Status.Message
	return pr
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
