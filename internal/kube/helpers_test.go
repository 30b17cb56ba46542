package kube_test

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/wait"

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

var (
	deployment       = kubetest.Deployment
	withLabel        = kubetest.WithLabel
	withDeadline     = kubetest.WithDeadline
	withNodeSelector = kubetest.WithNodeSelector
	withImage        = kubetest.WithImage
	paused           = kubetest.Paused
)

type depOpt = kubetest.DeploymentOption

func create(t *testing.T, kc *kube.Client, d *appsv1.Deployment) *appsv1.Deployment {
	return kubetest.Create(t, kc.Kube, d)
}

func update(t *testing.T, kc *kube.Client, ns, name string, change func(*appsv1.Deployment)) *appsv1.Deployment {
	return kubetest.Update(t, kc.Kube, ns, name, change)
}

func setImage(t *testing.T, kc *kube.Client, ns, name, image string) *appsv1.Deployment {
	return kubetest.SetImage(t, kc.Kube, ns, name, image)
}

func waitOpts(d *appsv1.Deployment, timeout time.Duration) kube.WaitOptions {
	return kube.WaitOptions{Generation: d.Generation, Template: &d.Spec.Template, Images: kube.Images(&d.Spec.Template), Timeout: timeout}
}

func ref(ns, name string) kube.Ref { return kube.Ref{Kind: kube.Deployment, Namespace: ns, Name: name} }

var deploymentsGVR = appsv1.SchemeGroupVersion.WithResource("deployments")
