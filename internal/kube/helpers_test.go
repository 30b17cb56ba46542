package kube_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/mlship/mlship/internal/kube"
	"github.com/mlship/mlship/internal/kube/kubetest"
)

// realClient is a kube.Client on the test control plane, working in a
// namespace of the test's own.
func realClient(t *testing.T) (*kube.Client, *kubetest.Cluster, string) {
	t.Helper()
	c := kubetest.Get(t)
	ns := c.Namespace(t)
	kc, err := kube.NewClient(c.Config, ns, "", "mlship-test")
	if err != nil {
		t.Fatal(err)
	}
	kc.Backoff = wait.Backoff{Duration: 10 * time.Millisecond, Factor: 2, Steps: 3}
	return kc, c, ns
}

type depOpt func(*appsv1.Deployment)

func withLabel(k, v string) depOpt {
	return func(d *appsv1.Deployment) { d.Spec.Template.Labels[k] = v }
}

func withDeadline(s int32) depOpt {
	return func(d *appsv1.Deployment) { d.Spec.ProgressDeadlineSeconds = &s }
}

func withNodeSelector(k, v string) depOpt {
	return func(d *appsv1.Deployment) { d.Spec.Template.Spec.NodeSelector = map[string]string{k: v} }
}

func paused(d *appsv1.Deployment) { d.Spec.Paused = true }

func deployment(ns, name, image string, replicas int32, opts ...depOpt) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
	for _, o := range opts {
		o(d)
	}
	return d
}

func create(t *testing.T, kc *kube.Client, d *appsv1.Deployment) *appsv1.Deployment {
	t.Helper()
	got, err := kc.Kube.AppsV1().Deployments(d.Namespace).Create(context.Background(), d, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating deployment %s: %v", d.Name, err)
	}
	return got
}

// update changes a Deployment as someone else would (kubectl edit),
// retrying on conflicts with the controllers' status updates, and returns
// it after.
func update(t *testing.T, kc *kube.Client, ns, name string, change func(*appsv1.Deployment)) *appsv1.Deployment {
	t.Helper()
	ctx := context.Background()
	var out *appsv1.Deployment
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := kc.Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(d)
		out, err = kc.Kube.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("updating deployment %s: %v", name, err)
	}
	return out
}

// setImage changes the image of container app, as kubectl set image would.
func setImage(t *testing.T, kc *kube.Client, ns, name, image string) *appsv1.Deployment {
	t.Helper()
	return update(t, kc, ns, name, func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image })
}

func waitOpts(d *appsv1.Deployment, timeout time.Duration) kube.WaitOptions {
	return kube.WaitOptions{Generation: d.Generation, Template: &d.Spec.Template, Images: kube.Images(&d.Spec.Template), Timeout: timeout}
}

func ref(ns, name string) kube.Ref { return kube.Ref{Kind: kube.Deployment, Namespace: ns, Name: name} }

var deploymentsGVR = appsv1.SchemeGroupVersion.WithResource("deployments")
