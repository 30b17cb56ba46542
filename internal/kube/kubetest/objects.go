package kubetest

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// DeploymentOption changes a Deployment made by Deployment.
type DeploymentOption func(*appsv1.Deployment)

// WithLabel labels the pod template.
func WithLabel(k, v string) DeploymentOption {
	return func(d *appsv1.Deployment) { d.Spec.Template.Labels[k] = v }
}

// WithDeadline sets progressDeadlineSeconds.
func WithDeadline(seconds int32) DeploymentOption {
	return func(d *appsv1.Deployment) { d.Spec.ProgressDeadlineSeconds = &seconds }
}

// WithNodeSelector makes the pods need a node labelled k=v.
func WithNodeSelector(k, v string) DeploymentOption {
	return func(d *appsv1.Deployment) { d.Spec.Template.Spec.NodeSelector = map[string]string{k: v} }
}

// WithImage sets the image of container app.
func WithImage(img string) DeploymentOption {
	return func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = img }
}

// Paused pauses the Deployment.
func Paused(d *appsv1.Deployment) { d.Spec.Paused = true }

// Deployment is a Deployment of replicas pods with one container, app,
// running image.
func Deployment(ns, name, image string, replicas int32, opts ...DeploymentOption) *appsv1.Deployment {
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

// Create creates d.
func Create(t testing.TB, cs kubernetes.Interface, d *appsv1.Deployment) *appsv1.Deployment {
	t.Helper()
	got, err := cs.AppsV1().Deployments(d.Namespace).Create(context.Background(), d, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating deployment %s: %v", d.Name, err)
	}
	return got
}

// Update changes a Deployment as someone else would (kubectl edit),
// retrying on conflicts with the controllers' status updates, and returns
// it after.
func Update(t testing.TB, cs kubernetes.Interface, ns, name string, change func(*appsv1.Deployment)) *appsv1.Deployment {
	t.Helper()
	ctx := context.Background()
	var out *appsv1.Deployment
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(d)
		out, err = cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("updating deployment %s: %v", name, err)
	}
	return out
}

// SetImage changes the image of container app, as kubectl set image would.
func SetImage(t testing.TB, cs kubernetes.Interface, ns, name, image string) *appsv1.Deployment {
	t.Helper()
	return Update(t, cs, ns, name, func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image })
}
