package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/mlship/mlship/internal/exitcode"
)

// FieldManager is the field manager of everything mlship applies.
const FieldManager = "mlship"

// maxManifestFile bounds each manifest file read.
const maxManifestFile = 8 << 20

// Object is one manifest document.
type Object struct {
	*unstructured.Unstructured
	Source string // file (and document number) it came from
}

// ImageSub replaces, in a manifest, every image named Name (without its
// tag or digest, as kustomize's images: name) by Ref.
type ImageSub struct {
	Name string
	Ref  string
}

// ParseImageRef checks an image reference: [REGISTRY/]REPOSITORY[:TAG][@DIGEST].
func ParseImageRef(s string) error {
	if s == "" {
		return errors.New("empty image reference")
	}
	if _, err := name.ParseReference(s); err != nil {
		return err
	}
	return nil
}

// ParseImageSub reads --image NAME=REF.
func ParseImageSub(s string) (ImageSub, error) {
	n, ref, ok := strings.Cut(strings.TrimSpace(s), "=")
	switch {
	case !ok || n == "":
		return ImageSub{}, exitcode.BadInputf("--image %q: want NAME=IMAGE, NAME the image in the manifests without its tag", s)
	case strings.ContainsAny(n, "@") || strings.LastIndex(n, ":") > strings.LastIndex(n, "/"):
		return ImageSub{}, exitcode.BadInputf("--image %q: NAME %q has a tag or digest; name the image without it", s, n)
	}
	if err := ParseImageRef(ref); err != nil {
		return ImageSub{}, exitcode.BadInputf("--image %q: %q is not an image reference: %v", s, ref, err)
	}
	return ImageSub{Name: n, Ref: ref}, nil
}

// imageName is an image reference without its tag or digest.
func imageName(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// LoadManifests reads the Kubernetes objects in paths: YAML or JSON files,
// several documents each, and the .yaml, .yml and .json files of a
// directory (not its subdirectories, as kubectl apply -f). Lists (kind
// List) are opened. subs are applied to every container image; one that
// matches no image is bad input, as is any document that is not an object.
// It reads only local files.
func LoadManifests(paths []string, subs []ImageSub) ([]Object, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, exitcode.BadInputf("--manifest %q: %v", p, unwrapPath(err))
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, exitcode.BadInputf("--manifest %q: %v", p, unwrapPath(err))
		}
		n := len(files)
		for _, e := range ents {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".yaml", ".yml", ".json":
				if !e.IsDir() {
					files = append(files, filepath.Join(p, e.Name()))
				}
			}
		}
		if len(files) == n {
			return nil, exitcode.BadInputf("--manifest %q: a directory with no .yaml, .yml or .json file", p)
		}
	}
	var objs []Object
	for _, f := range files {
		got, err := readManifest(f)
		if err != nil {
			return nil, err
		}
		objs = append(objs, got...)
	}
	if len(objs) == 0 {
		return nil, exitcode.BadInputf("--manifest %q: no Kubernetes object in it", strings.Join(paths, ", "))
	}
	used := make([]bool, len(subs))
	for _, o := range objs {
		if err := substitute(o, subs, used); err != nil {
			return nil, err
		}
	}
	for i, u := range used {
		if !u {
			return nil, exitcode.BadInputf("--image %s=%s: no container in the manifests has an image named %s", subs[i].Name, subs[i].Ref, subs[i].Name)
		}
	}
	return objs, nil
}

func readManifest(path string) ([]Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, exitcode.BadInputf("--manifest %q: %v", path, unwrapPath(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestFile+1))
	if err != nil {
		return nil, exitcode.BadInputf("--manifest %q: %v", path, unwrapPath(err))
	}
	if len(b) > maxManifestFile {
		return nil, exitcode.BadInputf("--manifest %q: larger than %d MB", path, maxManifestFile>>20)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []Object
	for doc := 1; ; doc++ {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, exitcode.BadInputf("--manifest %q: document %d: %v", path, doc, err)
		}
		if len(m) == 0 {
			continue
		}
		src := fmt.Sprintf("%s (document %d)", path, doc)
		u := &unstructured.Unstructured{Object: m}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				return nil, exitcode.BadInputf("--manifest %q: %v", src, err)
			}
			for i := range list.Items {
				o := Object{Unstructured: &list.Items[i], Source: fmt.Sprintf("%s item %d", src, i+1)}
				if err := checkObject(o); err != nil {
					return nil, err
				}
				out = append(out, o)
			}
			continue
		}
		o := Object{Unstructured: u, Source: src}
		if err := checkObject(o); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func checkObject(o Object) error {
	switch {
	case o.GetAPIVersion() == "" || o.GetKind() == "":
		return exitcode.BadInputf("--manifest %s: not a Kubernetes object (no apiVersion or kind)", o.Source)
	case o.GetName() == "":
		return exitcode.BadInputf("--manifest %s: %s has no metadata.name", o.Source, o.GetKind())
	}
	return nil
}

// podSpecPaths are where objects keep a pod spec.
var podSpecPaths = map[string][]string{
	"Pod":         {"spec"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template", "spec"},
	"Deployment":  {"spec", "template", "spec"},
	"StatefulSet": {"spec", "template", "spec"},
	"DaemonSet":   {"spec", "template", "spec"},
	"ReplicaSet":  {"spec", "template", "spec"},
	"Job":         {"spec", "template", "spec"},
}

func substitute(o Object, subs []ImageSub, used []bool) error {
	path, ok := podSpecPaths[o.GetKind()]
	if !ok || len(subs) == 0 {
		return nil
	}
	for _, field := range []string{"initContainers", "containers"} {
		cs, found, err := unstructured.NestedSlice(o.Object, append(slices.Clone(path), field)...)
		if err != nil {
			return exitcode.BadInputf("--manifest %s: %s: %v", o.Source, field, err)
		}
		if !found {
			continue
		}
		for _, c := range cs {
			cm, ok := c.(map[string]any)
			if !ok {
				continue
			}
			img, _ := cm["image"].(string)
			for i, s := range subs {
				if img != "" && imageName(img) == s.Name {
					cm["image"] = s.Ref
					used[i] = true
				}
			}
		}
		if err := unstructured.SetNestedSlice(o.Object, cs, append(slices.Clone(path), field)...); err != nil {
			return exitcode.BadInputf("--manifest %s: %v", o.Source, err)
		}
	}
	return nil
}

// WorkloadRef returns the workload o is (a Deployment, StatefulSet or
// DaemonSet of apps/v1), in namespace ns when it names none.
func (o Object) WorkloadRef(ns string) (Ref, bool) {
	if o.GroupVersionKind().Group != "apps" {
		return Ref{}, false
	}
	k, ok := ParseKind(o.GetKind())
	if !ok {
		return Ref{}, false
	}
	if n := o.GetNamespace(); n != "" {
		ns = n
	}
	return Ref{Kind: k, Namespace: ns, Name: o.GetName()}, true
}

// Apply applies o with server-side apply (field manager mlship), in
// namespace ns when o names none and is namespaced. force takes over
// fields another manager owns (kubectl apply --server-side
// --force-conflicts); dryRun has the API server check the change and
// return its result without keeping it.
func (c *Client) Apply(ctx context.Context, o Object, ns string, force, dryRun bool) (*unstructured.Unstructured, error) {
	gvk := o.GroupVersionKind()
	what := fmt.Sprintf("applying %s %s from %s", o.GetKind(), o.GetName(), o.Source)
	mapping, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		return nil, exitcode.BadInputf("--manifest %s: the cluster serves no %s in %s", o.Source, gvk.Kind, gvk.GroupVersion())
	}
	if err != nil {
		return nil, APIError(what, err)
	}
	res := c.Dynamic.Resource(mapping.Resource)
	var ri interface {
		Patch(ctx context.Context, name string, pt types.PatchType, data []byte, options metav1.PatchOptions, subresources ...string) (*unstructured.Unstructured, error)
	} = res
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if o.GetNamespace() != "" {
			ns = o.GetNamespace()
		}
		ri = res.Namespace(ns)
	}
	body, err := json.Marshal(o.Object)
	if err != nil {
		return nil, exitcode.BadInputf("--manifest %s: %v", o.Source, err)
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	out, err := get(ctx, c, func(ctx context.Context) (*unstructured.Unstructured, error) {
		return ri.Patch(ctx, o.GetName(), types.ApplyPatchType, body, opts)
	})
	if apierrors.IsConflict(err) {
		return nil, exitcode.Failedf("%s: %s (another field manager owns these fields; --force-conflicts takes them over)", what, oneLine(err.Error()))
	}
	if err != nil {
		return nil, APIError(what, err)
	}
	return out, nil
}
