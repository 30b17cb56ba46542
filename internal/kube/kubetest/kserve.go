package kubetest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

//go:embed testdata/serving.kserve.io_inferenceservices.yaml
var kserveCRD []byte

var (
	isvcGVR = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}
	crdGVR  = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

	crdOnce sync.Once
	crdErr  error
)

// InstallKServe installs KServe's InferenceService CRD (a trimmed copy, in
// testdata) in the control plane, once, and waits until it is served.
func (c *Cluster) InstallKServe(t testing.TB) {
	t.Helper()
	crdOnce.Do(func() { crdErr = c.installCRD() })
	if crdErr != nil {
		t.Fatalf("installing the InferenceService CRD: %v", crdErr)
	}
}

func (c *Cluster) installCRD() error {
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	var obj map[string]any
	if err := yaml.Unmarshal(kserveCRD, &obj); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = dyn.Resource(crdGVR).Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// Established, and the resource answers a list.
	for {
		u, err := dyn.Resource(crdGVR).Get(ctx, "inferenceservices.serving.kserve.io", metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, cd := range conds {
				m, _ := cd.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					if _, err := dyn.Resource(isvcGVR).Namespace("default").List(ctx, metav1.ListOptions{}); err == nil {
						return nil
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the CRD was not established: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// RevisionOutcome is what the KServe stand-in does with a new revision.
type RevisionOutcome struct {
	// Ready: the revision becomes ready. Otherwise, with Reason, it fails
	// as Knative reports a revision that cannot run (PredictorReady False
	// with Reason and Message); without, it never becomes ready
	// (PredictorReady Unknown, as while a revision deploys).
	Ready   bool
	Reason  string
	Message string
}

// Outcomes a test gives the KServe stand-in.
var (
	RevisionReady = RevisionOutcome{Ready: true}
	RevisionStuck = RevisionOutcome{}
)

// RevisionFailed is a revision Knative reports failed, e.g. its container
// exits.
func RevisionFailed(message string) RevisionOutcome {
	return RevisionOutcome{Reason: "RevisionFailed", Message: message}
}

// KServe plays KServe's controller (in serverless mode, with Knative
// under it) for the InferenceServices of one namespace: on each new
// generation it makes a new predictor revision <name>-predictor-0000N when
// the predictor changed (not for canaryTrafficPercent alone), routes
// traffic as KServe does (canaryTrafficPercent to the latest ready
// revision, the rest to the last one rolled out with 100%, tagged prev),
// and writes the status through the status subresource: conditions,
// components.predictor revisions and traffic, observedGeneration, url.
type KServe struct {
	dyn dynamic.ResourceInterface
	ns  string

	mu       sync.Mutex
	outcomes []RevisionOutcome
	state    map[string]*isvcState
	errs     []error
}

type isvcState struct {
	observed  int64
	template  map[string]any
	n         int
	created   string
	outcome   RevisionOutcome
	ready     string
	rolledout string
	previous  string
}

// StartKServe starts the stand-in for namespace ns; it stops when t ends.
func (c *Cluster) StartKServe(t testing.TB, ns string) *KServe {
	t.Helper()
	c.InstallKServe(t)
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	k := &KServe{dyn: dyn.Resource(isvcGVR).Namespace(ns), ns: ns, state: map[string]*isvcState{}}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := k.dyn.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		cancel()
		t.Fatalf("watching InferenceServices: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		k.run(ctx, w)
	}()
	t.Cleanup(func() {
		cancel()
		w.Stop()
		<-done
		k.mu.Lock()
		defer k.mu.Unlock()
		for _, err := range k.errs {
			t.Errorf("KServe stand-in: %v", err)
		}
	})
	return k
}

// Next sets what becomes of the next new revisions, in order; once they
// are used up, a new revision becomes ready.
func (k *KServe) Next(outcomes ...RevisionOutcome) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.outcomes = append(k.outcomes, outcomes...)
}

func (k *KServe) run(ctx context.Context, w watch.Interface) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok {
				if ctx.Err() == nil {
					k.fail(fmt.Errorf("the watch closed"))
				}
				return
			}
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
				continue
			}
			if err := k.reconcile(ctx, u); err != nil && ctx.Err() == nil {
				k.fail(err)
			}
		}
	}
}

func (k *KServe) fail(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.errs = append(k.errs, err)
}

func (k *KServe) reconcile(ctx context.Context, u *unstructured.Unstructured) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	name := u.GetName()
	st := k.state[name]
	if st == nil {
		st = &isvcState{}
		k.state[name] = st
	}
	if u.GetGeneration() <= st.observed {
		return nil
	}
	predictor, _, _ := unstructured.NestedMap(u.Object, "spec", "predictor")
	canary, hasCanary, _ := unstructured.NestedInt64(u.Object, "spec", "predictor", "canaryTrafficPercent")
	template := runtime.DeepCopyJSON(predictor)
	delete(template, "canaryTrafficPercent")
	if st.n == 0 || !reflect.DeepEqual(template, st.template) {
		st.n++
		st.template = template
		st.created = fmt.Sprintf("%s-predictor-%05d", name, st.n)
		st.outcome = RevisionReady
		if len(k.outcomes) > 0 {
			st.outcome, k.outcomes = k.outcomes[0], k.outcomes[1:]
		}
		if st.outcome.Ready {
			st.ready = st.created
		}
	}
	// The route: Knative's latestRevision target is the latest ready one.
	var traffic []any
	latest := int64(100)
	if hasCanary && st.rolledout != "" && st.rolledout != st.ready {
		latest = canary
		traffic = append(traffic, target(st.ready, canary, true, "latest"), target(st.rolledout, 100-canary, false, "prev"))
	} else if st.ready != "" {
		traffic = append(traffic, target(st.ready, 100, true, ""))
	}
	if st.ready != "" && latest == 100 && st.rolledout != st.ready {
		st.previous, st.rolledout = st.rolledout, st.ready
	}

	now := time.Now().UTC().Format(time.RFC3339)
	cond := func(typ, status, reason, msg string) map[string]any {
		m := map[string]any{"type": typ, "status": status, "lastTransitionTime": now}
		if reason != "" {
			m["reason"] = reason
		}
		if msg != "" {
			m["message"] = msg
		}
		return m
	}
	var predictorReady map[string]any
	o := st.outcome
	switch {
	case o.Ready:
		predictorReady = cond("PredictorReady", "True", "", "")
	case o.Reason != "":
		predictorReady = cond("PredictorReady", "False", o.Reason, fmt.Sprintf("Revision %q failed with message: %s.", st.created, o.Message))
	default:
		predictorReady = cond("PredictorReady", "Unknown", "RevisionMissing", fmt.Sprintf("Configuration %q is waiting for a Revision to become ready.", name+"-predictor"))
	}
	configReady := runtime.DeepCopyJSON(predictorReady)
	configReady["type"] = "PredictorConfigurationReady"
	ready := runtime.DeepCopyJSON(predictorReady)
	ready["type"] = "Ready"
	latestDeployment := cond("LatestDeploymentReady", "True", "", "")
	if !o.Ready {
		status := "Unknown"
		if o.Reason != "" {
			status = "False"
		}
		latestDeployment = cond("LatestDeploymentReady", status, "PredictorConfigurationReady not ready", "")
	}
	routeStatus := "True"
	if st.ready == "" {
		routeStatus = "Unknown"
	}
	conds := []any{
		cond("IngressReady", "True", "", ""), latestDeployment, configReady, predictorReady,
		cond("PredictorRouteReady", routeStatus, "", ""), ready, cond("RoutesReady", routeStatus, "", ""),
	}
	url := fmt.Sprintf("http://%s.%s.example.com", name, k.ns)
	comp := map[string]any{
		"latestCreatedRevision": st.created,
		"url":                   fmt.Sprintf("http://%s-predictor.%s.example.com", name, k.ns),
	}
	for key, v := range map[string]string{"latestReadyRevision": st.ready, "latestRolledoutRevision": st.rolledout, "previousRolledoutRevision": st.previous} {
		if v != "" {
			comp[key] = v
		}
	}
	if len(traffic) > 0 {
		comp["traffic"] = traffic
	}
	status := map[string]any{
		"observedGeneration": u.GetGeneration(),
		"conditions":         conds,
		"components":         map[string]any{"predictor": comp},
		"url":                url,
		"address":            map[string]any{"url": fmt.Sprintf("http://%s.%s.svc.cluster.local", name, k.ns)},
		"deploymentMode":     "Serverless",
		"modelStatus":        map[string]any{"transitionStatus": transition(o)},
	}
	obj := u.DeepCopy()
	obj.Object["status"] = status
	for {
		_, err := k.dyn.UpdateStatus(ctx, obj, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			if err == nil {
				st.observed = u.GetGeneration()
			}
			return err
		}
		cur, err := k.dyn.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.GetGeneration() != u.GetGeneration() {
			return nil // the watch brings the newer generation
		}
		cur.Object["status"] = status
		obj = cur
	}
}

func transition(o RevisionOutcome) string {
	switch {
	case o.Ready:
		return "UpToDate"
	case o.Reason != "":
		return "BlockedByFailedLoad"
	}
	return "InProgress"
}

func target(rev string, percent int64, latest bool, tag string) map[string]any {
	m := map[string]any{"revisionName": rev, "percent": percent, "latestRevision": latest}
	if tag != "" {
		m["tag"] = tag
	}
	return m
}

// InferenceServiceObject is an InferenceService with an sklearn model at
// storageURI.
func InferenceServiceObject(ns, name, storageURI string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "serving.kserve.io/v1beta1",
		"kind":       "InferenceService",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{"predictor": map[string]any{
			"minReplicas": int64(1),
			"model": map[string]any{
				"modelFormat": map[string]any{"name": "sklearn"},
				"storageUri":  storageURI,
				"resources":   map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "256Mi"}},
			},
		}},
	}}
}

// CreateInferenceService creates obj and waits until the stand-in has made
// its first revision ready.
func (k *KServe) CreateInferenceService(t testing.TB, obj *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := k.dyn.Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating InferenceService %s: %v", obj.GetName(), err)
	}
	return k.WaitObserved(t, out.GetName(), out.GetGeneration())
}

// WaitObserved waits until the stand-in has written the status of
// generation gen of name, and returns the object then.
func (k *KServe) WaitObserved(t testing.TB, name string, gen int64) *unstructured.Unstructured {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		u, err := k.dyn.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("reading InferenceService %s: %v", name, err)
		}
		if og, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); og >= gen {
			return u
		}
		select {
		case <-ctx.Done():
			t.Fatalf("InferenceService %s: generation %d was never observed", name, gen)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Get reads an InferenceService.
func (k *KServe) Get(t testing.TB, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := k.dyn.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading InferenceService %s: %v", name, err)
	}
	return u
}

// Update changes the predictor of name with change and waits until the
// stand-in observed it.
func (k *KServe) Update(t testing.TB, name string, change func(predictor map[string]any)) *unstructured.Unstructured {
	t.Helper()
	for {
		u := k.Get(t, name)
		p, _, _ := unstructured.NestedMap(u.Object, "spec", "predictor")
		change(p)
		_ = unstructured.SetNestedMap(u.Object, p, "spec", "predictor")
		out, err := k.dyn.Update(context.Background(), u, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			t.Fatalf("updating InferenceService %s: %v", name, err)
		}
		return k.WaitObserved(t, name, out.GetGeneration())
	}
}

// Predictor is status.components.predictor of u, as JSON-shaped maps.
func Predictor(u *unstructured.Unstructured) map[string]any {
	p, _, _ := unstructured.NestedMap(u.Object, "status", "components", "predictor")
	return p
}

// Traffic is the percent each revision gets, from u's status.
func Traffic(u *unstructured.Unstructured) map[string]int64 {
	out := map[string]int64{}
	b, _ := json.Marshal(Predictor(u)["traffic"])
	var ts []struct {
		Revision string `json:"revisionName"`
		Percent  int64  `json:"percent"`
	}
	_ = json.Unmarshal(b, &ts)
	for _, t := range ts {
		out[t.Revision] += t.Percent
	}
	return out
}
