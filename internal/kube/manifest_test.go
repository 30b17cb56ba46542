package kube_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
)

const retailManifest = `# the retail API, as kept in the repository
apiVersion: apps/v1
kind: Deployment
metadata:
  name: retail-api
spec:
  replicas: 2
  selector: {matchLabels: {app: retail-api}}
  template:
    metadata: {labels: {app: retail-api}}
    spec:
      initContainers:
      - {name: migrate, image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/retail-api:latest"}
      containers:
      - {name: api, image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/retail-api:latest"}
      - {name: proxy, image: "envoyproxy/envoy:v1.30.1"}
---
apiVersion: v1
kind: Service
metadata:
  name: retail-api
spec:
  type: LoadBalancer
  selector: {app: retail-api}
  ports: [{port: 80, targetPort: 8080}]
---
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadManifests(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "app.yaml", retailManifest)
	writeFile(t, dir, "config.json", `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}},{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}]}`)
	writeFile(t, dir, "README.md", "not a manifest")
	img := "123456789012.dkr.ecr.us-east-1.amazonaws.com/retail-api:build-42-abc1234"
	objs, err := kube.LoadManifests([]string{dir}, []kube.ImageSub{{Name: "123456789012.dkr.ecr.us-east-1.amazonaws.com/retail-api", Ref: img}})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind()+"/"+o.GetName())
	}
	if got := strings.Join(kinds, " "); got != "Deployment/retail-api Service/retail-api ConfigMap/a ConfigMap/b" {
		t.Errorf("objects %s", got)
	}
	cs, _, _ := unstructured.NestedSlice(objs[0].Object, "spec", "template", "spec", "containers")
	ics, _, _ := unstructured.NestedSlice(objs[0].Object, "spec", "template", "spec", "initContainers")
	if cs[0].(map[string]any)["image"] != img || ics[0].(map[string]any)["image"] != img || cs[1].(map[string]any)["image"] != "envoyproxy/envoy:v1.30.1" {
		t.Errorf("images after substitution: %v %v", cs, ics)
	}
	r, ok := objs[0].WorkloadRef("prod")
	if !ok || r != (kube.Ref{Kind: kube.Deployment, Namespace: "prod", Name: "retail-api"}) {
		t.Errorf("workload ref %v %t", r, ok)
	}
	if _, ok := objs[1].WorkloadRef("prod"); ok {
		t.Error("a Service taken for a workload")
	}
}

func TestLoadManifestsBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", retailManifest)
	tests := []struct {
		name  string
		paths []string
		subs  []kube.ImageSub
		want  string
	}{
		{"missing file", []string{filepath.Join(dir, "nope.yaml")}, nil, "no such file"},
		{"not yaml", []string{writeFile(t, dir, "bad.yaml", "apiVersion: v1\nkind: [\n")}, nil, "document 1"},
		{"no kind", []string{writeFile(t, dir, "nokind.yaml", "apiVersion: v1\nmetadata: {name: x}\n")}, nil, "not a Kubernetes object"},
		{"no name", []string{writeFile(t, dir, "noname.yaml", "apiVersion: v1\nkind: ConfigMap\n")}, nil, "has no metadata.name"},
		{"empty dir", []string{t.TempDir()}, nil, "no .yaml"},
		{"nothing in it", []string{writeFile(t, dir, "empty.yaml", "---\n# nothing\n")}, nil, "no Kubernetes object"},
		{"substitution unused", []string{good}, []kube.ImageSub{{Name: "retail-web", Ref: "retail-web:v2"}}, "no container in the manifests has an image named retail-web"},
	}
	for _, tt := range tests {
		_, err := kube.LoadManifests(tt.paths, tt.subs)
		if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v (exit %d), want exit 2 with %q", tt.name, err, exitcode.Of(err), tt.want)
		}
	}
}

func TestParseImageSub(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"retail-api=123456789012.dkr.ecr.us-east-1.amazonaws.com/retail-api:build-1": "",
		"app=registry:5000/app@sha256:" + strings.Repeat("a", 64):                    "",
		"retail-api":               "want NAME=IMAGE",
		"=img:v1":                  "want NAME=IMAGE",
		"app:latest=app:v2":        "has a tag or digest",
		"app=UPPER/case:v1":        "not an image reference",
		"app=app:bad tag":          "not an image reference",
		"registry:5000/app=app:v2": "",
		"app=":                     "not an image reference",
	} {
		_, err := kube.ParseImageSub(in)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// TestApplyServerSide applies manifests to the real API server with
// server-side apply: created with field manager mlship, re-applied without
// a new generation, and refused (exit 1) when another manager owns a
// field unless forced.
func TestApplyServerSide(t *testing.T) {
	t.Parallel()
	kc, _, ns := realClient(t)
	ctx := context.Background()
	dir := t.TempDir()
	objs, err := kube.LoadManifests([]string{writeFile(t, dir, "app.yaml", retailManifest)},
		[]kube.ImageSub{{Name: "123456789012.dkr.ecr.us-east-1.amazonaws.com/retail-api", Ref: "registry.example/retail-api:v1"}})
	if err != nil {
		t.Fatal(err)
	}
	var gen int64
	for _, o := range objs {
		out, err := kc.Apply(ctx, o, ns, false, false)
		if err != nil {
			t.Fatalf("apply %s: %v", o.GetKind(), err)
		}
		if out.GetNamespace() != ns {
			t.Errorf("%s applied in %q, want %q", o.GetKind(), out.GetNamespace(), ns)
		}
		if mf := out.GetManagedFields(); len(mf) == 0 || mf[0].Manager != kube.FieldManager || mf[0].Operation != metav1.ManagedFieldsOperationApply {
			t.Errorf("%s managed fields %+v, want an Apply by %s", o.GetKind(), mf, kube.FieldManager)
		}
		if o.GetKind() == "Deployment" {
			gen = out.GetGeneration()
		}
	}
	// The same again changes nothing.
	out, err := kc.Apply(ctx, objs[0], ns, false, false)
	if err != nil || out.GetGeneration() != gen {
		t.Errorf("re-apply: generation %d (was %d), %v", out.GetGeneration(), gen, err)
	}
	// A dry run reports the change and keeps nothing.
	changed := objs[0].DeepCopy()
	_ = unstructured.SetNestedField(changed.Object, int64(3), "spec", "replicas")
	out, err = kc.Apply(ctx, kube.Object{Unstructured: changed, Source: "test"}, ns, false, true)
	if err != nil || out.GetGeneration() != gen+1 {
		t.Errorf("dry run: generation %d, %v; want %d", out.GetGeneration(), err, gen+1)
	}
	w, err := kc.Get(ctx, ref(ns, "retail-api"))
	if err != nil || w.Generation != gen || w.Replicas != 2 {
		t.Errorf("after the dry run: generation %d, replicas %d, %v", w.Generation, w.Replicas, err)
	}

	// Someone scales it with another field manager; re-applying replicas
	// conflicts.
	scale := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "retail-api"}, "spec": map[string]any{"replicas": int64(5)}}}
	body, _ := scale.MarshalJSON()
	if _, err := kc.Dynamic.Resource(deploymentsGVR).Namespace(ns).Patch(ctx, "retail-api", "application/apply-patch+yaml", body, metav1.PatchOptions{FieldManager: "hpa-ish"}); err == nil {
		t.Fatal("a second manager's apply of a field mlship owns did not conflict")
	}
	force := true
	if _, err := kc.Dynamic.Resource(deploymentsGVR).Namespace(ns).Patch(ctx, "retail-api", "application/apply-patch+yaml", body, metav1.PatchOptions{FieldManager: "hpa-ish", Force: &force}); err != nil {
		t.Fatal(err)
	}
	_, err = kc.Apply(ctx, objs[0], ns, false, false)
	if exitcode.Of(err) != exitcode.Failed || !strings.Contains(err.Error(), "--force-conflicts") {
		t.Errorf("apply over another manager's field: %v (exit %d), want exit 1 naming --force-conflicts", err, exitcode.Of(err))
	}
	if _, err := kc.Apply(ctx, objs[0], ns, true, false); err != nil {
		t.Errorf("forced apply: %v", err)
	}

	// A kind the cluster does not serve is bad input.
	crd := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"}}}
	_, err = kc.Apply(ctx, kube.Object{Unstructured: crd, Source: "w.yaml"}, ns, false, false)
	if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), "serves no Widget") {
		t.Errorf("unknown kind: %v (exit %d)", err, exitcode.Of(err))
	}
}
