package examples

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/yaml"

	"github.com/mlship/mlship/internal/kube/kubetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Run(m)) }

var (
	crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	wftGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "workflowtemplates"}
)

const argoCRD = "workflowtemplates.argoproj.io"

var installCRD sync.Once

// argoCluster is the control plane with Argo Workflows' WorkflowTemplate
// CRD installed: the full CRD of the release (its whole OpenAPI schema and
// validation rules), applied server-side as Argo's install says.
func argoCluster(t *testing.T) dynamic.Interface {
	t.Helper()
	c := kubetest.Get(t)
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	var ierr error
	installCRD.Do(func() { ierr = applyCRD(dyn) })
	if ierr != nil {
		t.Fatalf("installing Argo's WorkflowTemplate CRD: %v", ierr)
	}
	return dyn
}

func applyCRD(dyn dynamic.Interface) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f, err := os.Open(filepath.Join("testdata", "argo", "crd-wft-"+argoVersions[len(argoVersions)-1]+".yaml.gz"))
	if err != nil {
		return err
	}
	defer f.Close()
	raw, err := gunzip(f)
	if err != nil {
		return err
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return err
	}
	force := true
	if _, err := dyn.Resource(crdGVR).Patch(ctx, argoCRD, types.ApplyPatchType, js, metav1.PatchOptions{FieldManager: "mlship-test", Force: &force}); err != nil {
		return err
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = "metadata.name=" + argoCRD
			return dyn.Resource(crdGVR).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = "metadata.name=" + argoCRD
			return dyn.Resource(crdGVR).Watch(ctx, o)
		},
	}
	_, err = watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, nil, func(ev watch.Event) (bool, error) {
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return errors.New("waiting for the CRD to be Established: " + err.Error())
	}
	return nil
}

// applyStrict applies a manifest server-side with strict field validation:
// an unknown or duplicated field is an error, as are the CRD's schema and
// validation rules.
func applyStrict(ctx context.Context, dyn dynamic.Interface, ns string, obj map[string]any) error {
	js, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	name, _, _ := unstructured.NestedString(obj, "metadata", "name")
	force := true
	_, err = dyn.Resource(wftGVR).Namespace(ns).Patch(ctx, name, types.ApplyPatchType, js,
		metav1.PatchOptions{FieldManager: "mlship-test", Force: &force, FieldValidation: "Strict"})
	return err
}

// The WorkflowTemplates of the examples and the docs are accepted by a
// real API server with Argo's CRD, as `kubectl apply --server-side` would
// send them, and read back as sent.
func TestArgoExamplesApplyToTheControlPlane(t *testing.T) {
	t.Parallel()
	dyn := argoCluster(t)
	ns := kubetest.Get(t).Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	applied := 0
	for _, d := range argoDocs(t) {
		if d.wt == nil {
			continue
		}
		if err := applyStrict(ctx, dyn, ns, d.obj); err != nil {
			t.Errorf("%s: applying %s: %v", d.where, d.wt.Metadata.Name, err)
			continue
		}
		got, err := dyn.Resource(wftGVR).Namespace(ns).Get(ctx, d.wt.Metadata.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Nothing was pruned: the schema knew every field.
		want, _ := json.Marshal(d.obj["spec"])
		have, _ := json.Marshal(got.Object["spec"])
		if !jsonEqual(want, have) {
			t.Errorf("%s: the API server stored another spec than was applied:\napplied %s\nstored  %s", d.where, want, have)
		}
		applied++
	}
	if applied < 4 {
		t.Errorf("applied %d WorkflowTemplates", applied)
	}
}

// The API server refuses what Argo's CRD does not allow, so the test
// above cannot pass everything.
func TestArgoControlPlaneRefusesMistakes(t *testing.T) {
	t.Parallel()
	dyn := argoCluster(t)
	ns := kubetest.Get(t).Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	good := `apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: check
spec:
  entrypoint: main
  templates:
    - name: main
      container:
        image: ghcr.io/mlship/mlship:v1
        command: [policy-gate]
`
	apply := func(src string) error {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(src), &obj); err != nil {
			t.Fatal(err)
		}
		return applyStrict(ctx, dyn, ns, obj)
	}
	if err := apply(good); err != nil {
		t.Fatalf("a good template: %v", err)
	}
	for _, tt := range []struct{ old, new, want string }{
		{"      container:", "      contianer:", ".spec.templates[0].contianer: field not declared in schema"},
		{"  entrypoint: main\n", "  entrypoint: main\n  parallelism: many\n", ".spec.parallelism: expected numeric"},
		{"        command: [policy-gate]", "        command: policy-gate", ".spec.templates[0].container.command: expected list"},
		{"  name: check\n", "  name: Check_1\n", "metadata.name"},
	} {
		// Server-side apply answers a field that does not fit the CRD's
		// schema with a Failure status (code 500: the patch cannot be
		// typed), a metadata mistake with 422.
		err := apply(strings.Replace(good, tt.old, tt.new, 1))
		var status apierrors.APIStatus
		if !errors.As(err, &status) || status.Status().Status != metav1.StatusFailure || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q -> %q: %v, want a refusal naming %s", tt.old, tt.new, err, tt.want)
		}
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
