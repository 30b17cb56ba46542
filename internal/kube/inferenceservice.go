package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/mlship/mlship/internal/exitcode"
)

// InferenceServiceGroup is KServe's API group.
const InferenceServiceGroup = "serving.kserve.io"

// InferenceServiceResource is the resource of KServe's InferenceService.
var InferenceServiceResource = schema.GroupVersionResource{Group: InferenceServiceGroup, Version: "v1beta1", Resource: "inferenceservices"}

// ModelContainer is the name KServe gives the container that serves
// spec.predictor.model (its runtime's image, or model.image).
const ModelContainer = "kserve-container"

// Conditions KServe sets on an InferenceService (Ready is PredictorReady
// and IngressReady together; LatestDeploymentReady and RoutesReady only in
// serverless mode).
var isvcConditions = []string{"PredictorReady", "PredictorConfigurationReady", "PredictorRouteReady", "LatestDeploymentReady", "RoutesReady", "IngressReady", "Ready"}

// Condition is one of an InferenceService's status conditions.
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

func (c Condition) String() string {
	s := c.Type + " " + c.Status
	if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	if c.Message != "" {
		s += ": " + oneLine(c.Message)
	}
	return s
}

// TrafficTarget is one entry of status.components.predictor.traffic.
type TrafficTarget struct {
	Revision string `json:"revisionName"`
	Percent  int64  `json:"percent"`
	Latest   bool   `json:"latestRevision"`
	Tag      string `json:"tag,omitempty"`
}

// ISVC is what is read of an InferenceService to change its predictor and
// follow the rollout of its new revision.
type ISVC struct {
	Ref                Ref
	UID                string
	Generation         int64
	ObservedGeneration int64
	// Predictor is spec.predictor as read.
	Predictor map[string]any
	// StorageURI is spec.predictor.model.storageUri; Images the
	// predictor's container images by name (the model's as
	// ModelContainer, when it names an image); Canary its
	// canaryTrafficPercent, nil when unset.
	StorageURI string
	Images     map[string]string
	Canary     *int64
	// From status.components.predictor.
	LatestCreated, LatestReady, LatestRolledout, PreviousRolledout string
	Traffic                                                        []TrafficTarget
	URL                                                            string
	DeploymentMode                                                 string
	Conditions                                                     []Condition
	Object                                                         *unstructured.Unstructured
}

// Condition returns the condition of type t, or nil.
func (s *ISVC) Condition(t string) *Condition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// LatestPercent is the share of traffic the latest ready revision gets.
func (s *ISVC) LatestPercent() int64 {
	var n int64
	for _, t := range s.Traffic {
		if t.Latest || (t.Revision != "" && t.Revision == s.LatestReady) {
			n += t.Percent
		}
	}
	return n
}

// PreviousTarget is the revision a canary leaves the rest of the traffic
// on (KServe tags it prev: the last one rolled out with 100%), or "".
func (s *ISVC) PreviousTarget() (string, int64) {
	for _, t := range s.Traffic {
		if !t.Latest && t.Revision != "" && t.Revision != s.LatestReady {
			return t.Revision, t.Percent
		}
	}
	return "", 0
}

// String sums the InferenceService up for messages.
func (s *ISVC) String() string {
	var parts []string
	if s.StorageURI != "" {
		parts = append(parts, "storageUri "+s.StorageURI)
	}
	if len(s.Images) > 0 {
		parts = append(parts, FormatImages(s.Images))
	}
	if s.LatestReady != "" {
		parts = append(parts, fmt.Sprintf("latest ready revision %s with %d%% of traffic", s.LatestReady, s.LatestPercent()))
	}
	if prev, pct := s.PreviousTarget(); prev != "" {
		parts = append(parts, fmt.Sprintf("%s with %d%%", prev, pct))
	}
	return strings.Join(parts, ", ")
}

// PredictorJSON is spec.predictor as JSON, for the state record.
func (s *ISVC) PredictorJSON() json.RawMessage {
	b, _ := json.Marshal(s.Predictor)
	return b
}

func (c *Client) isvcs(ns string) interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions, sub ...string) (*unstructured.Unstructured, error)
	Update(ctx context.Context, obj *unstructured.Unstructured, opts metav1.UpdateOptions, sub ...string) (*unstructured.Unstructured, error)
	List(ctx context.Context, opts metav1.ListOptions) (*unstructured.UnstructuredList, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
} {
	return c.Dynamic.Resource(InferenceServiceResource).Namespace(ns)
}

// GetInferenceService reads an InferenceService. One that does not exist
// is *ErrNotFound; a cluster without KServe's CRD says so.
func (c *Client) GetInferenceService(ctx context.Context, ref Ref) (*ISVC, error) {
	if c.Dynamic == nil {
		return nil, exitcode.Incompletef("reading %s: no dynamic client", ref)
	}
	u, err := get(ctx, c, func(ctx context.Context) (*unstructured.Unstructured, error) {
		return c.isvcs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	})
	if apierrors.IsNotFound(err) {
		if crdMissing(err) {
			return nil, exitcode.BadInputf("%s: the cluster does not serve %s (is KServe installed?)", ref, InferenceServiceResource.GroupResource())
		}
		return nil, &ErrNotFound{Ref: ref}
	}
	if err != nil {
		return nil, APIError("reading "+ref.String(), err)
	}
	return ISVCOf(u)
}

// crdMissing tells a 404 for a resource the API server does not serve
// from one for an object that does not exist.
func crdMissing(err error) bool {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		return false
	}
	d := se.Status().Details
	return d == nil || d.Name == ""
}

// ISVCOf reads an InferenceService from an object the API server returned.
func ISVCOf(u *unstructured.Unstructured) (*ISVC, error) {
	if u.GetKind() != string(InferenceService) {
		return nil, fmt.Errorf("%s is not an InferenceService", u.GetKind())
	}
	s := &ISVC{
		Ref: Ref{Kind: InferenceService, Namespace: u.GetNamespace(), Name: u.GetName()}, UID: string(u.GetUID()),
		Generation: u.GetGeneration(), Object: u, Images: map[string]string{},
	}
	s.Predictor, _, _ = unstructured.NestedMap(u.Object, "spec", "predictor")
	if s.Predictor == nil {
		s.Predictor = map[string]any{}
	}
	s.StorageURI, _, _ = unstructured.NestedString(s.Predictor, "model", "storageUri")
	if img, _, _ := unstructured.NestedString(s.Predictor, "model", "image"); img != "" {
		s.Images[ModelContainer] = img
	}
	for _, c := range containersOf(s.Predictor) {
		name, _ := c["name"].(string)
		img, _ := c["image"].(string)
		s.Images[name] = img
	}
	if v, ok, _ := unstructured.NestedFieldNoCopy(s.Predictor, "canaryTrafficPercent"); ok && v != nil {
		n, ok := asInt(v)
		if !ok {
			return nil, fmt.Errorf("%s: spec.predictor.canaryTrafficPercent %v is not a number", s.Ref, v)
		}
		s.Canary = &n
	}
	st, _, _ := unstructured.NestedMap(u.Object, "status")
	if st == nil {
		return s, nil
	}
	s.ObservedGeneration, _, _ = unstructured.NestedInt64(st, "observedGeneration")
	s.URL, _, _ = unstructured.NestedString(st, "url")
	s.DeploymentMode, _, _ = unstructured.NestedString(st, "deploymentMode")
	if err := fromField(st, &s.Conditions, "conditions"); err != nil {
		return nil, fmt.Errorf("%s: status.conditions: %w", s.Ref, err)
	}
	p, _, _ := unstructured.NestedMap(st, "components", "predictor")
	if p != nil {
		s.LatestCreated, _, _ = unstructured.NestedString(p, "latestCreatedRevision")
		s.LatestReady, _, _ = unstructured.NestedString(p, "latestReadyRevision")
		s.LatestRolledout, _, _ = unstructured.NestedString(p, "latestRolledoutRevision")
		s.PreviousRolledout, _, _ = unstructured.NestedString(p, "previousRolledoutRevision")
		if err := fromField(p, &s.Traffic, "traffic"); err != nil {
			return nil, fmt.Errorf("%s: status.components.predictor.traffic: %w", s.Ref, err)
		}
	}
	return s, nil
}

func fromField(m map[string]any, out any, field string) error {
	v, ok := m[field]
	if !ok || v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		return int64(n), n == float64(int64(n))
	}
	return 0, false
}

func containersOf(predictor map[string]any) []map[string]any {
	list, _ := predictor["containers"].([]any)
	var out []map[string]any
	for _, c := range list {
		if m, ok := c.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// ISVCChange is what eks-rollout changes on a predictor; a zero field
// changes nothing.
type ISVCChange struct {
	StorageURI string
	// Images as --container gives them: by container name, "" for the
	// only one, "*" for all; the model's container is ModelContainer.
	Images map[string]string
	Canary *int64
}

// Empty reports whether ch changes nothing.
func (ch ISVCChange) Empty() bool {
	return ch.StorageURI == "" && len(ch.Images) == 0 && ch.Canary == nil
}

// ApplyTo returns predictor with ch made, and whether that differs from
// predictor; it fails, changing nothing, when ch names a container the
// predictor does not have or a storage URI for a predictor without a
// model.
func (ch ISVCChange) ApplyTo(predictor map[string]any) (map[string]any, bool, error) {
	p := runtime.DeepCopyJSON(predictor)
	model, hasModel := p["model"].(map[string]any)
	containers := containersOf(p)
	if ch.StorageURI != "" {
		if !hasModel {
			return nil, false, fmt.Errorf("the predictor has no model (spec.predictor.model) to set storageUri on")
		}
		model["storageUri"] = ch.StorageURI
	}
	var names []string
	if hasModel {
		names = append(names, ModelContainer)
	}
	for _, c := range containers {
		if n, _ := c["name"].(string); n != ModelContainer || !hasModel {
			names = append(names, n)
		}
	}
	for name := range ch.Images {
		switch {
		case name == AnyContainer:
		case name == "":
			if len(names) != 1 {
				return nil, false, fmt.Errorf("the predictor has %d containers (%s): name the one to set (NAME=IMAGE)", len(names), strings.Join(names, ", "))
			}
		case !slices.Contains(names, name):
			return nil, false, fmt.Errorf("the predictor has no container %q (it has %s; %s is the model's)", name, strings.Join(names, ", "), ModelContainer)
		}
	}
	image := func(name string) (string, bool) {
		for _, k := range []string{name, AnyContainer, ""} {
			if img, ok := ch.Images[k]; ok {
				return img, true
			}
		}
		return "", false
	}
	if hasModel {
		if img, ok := image(ModelContainer); ok {
			model["image"] = img
		}
	}
	for _, c := range containers {
		n, _ := c["name"].(string)
		if img, ok := image(n); ok {
			c["image"] = img
		}
	}
	if ch.Canary != nil {
		p["canaryTrafficPercent"] = *ch.Canary
	}
	return p, !apiequality.Semantic.DeepEqual(normalize(p), normalize(predictor)), nil
}

// normalize makes numbers compare the same whether read as int64 or
// float64.
func normalize(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// SamePredictor reports whether two predictor specs are the same.
func SamePredictor(a, b map[string]any) bool {
	return apiequality.Semantic.DeepEqual(normalize(a), normalize(b))
}

// PredictorFromJSON reads a predictor a state record kept.
func PredictorFromJSON(b json.RawMessage) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// ChangeInferenceService makes ch on the predictor of cur as read. The
// update carries cur's resourceVersion: on a conflict it is read again and
// ch made on what it is then. It returns the InferenceService as replaced,
// as it is after, and whether anything changed.
func (c *Client) ChangeInferenceService(ctx context.Context, cur *ISVC, ch ISVCChange) (replaced, after *ISVC, changed bool, err error) {
	for attempt := 0; ; attempt++ {
		p, changed, err := ch.ApplyTo(cur.Predictor)
		if err != nil {
			return nil, nil, false, exitcode.BadInputf("%s: %v", cur.Ref, err)
		}
		if !changed {
			return cur, cur, false, nil
		}
		out, err := c.updatePredictor(ctx, cur, p)
		if apierrors.IsConflict(err) && attempt < maxConflicts {
			if cur, err = c.GetInferenceService(ctx, cur.Ref); err != nil {
				return nil, nil, false, err
			}
			continue
		}
		if err != nil {
			return nil, nil, false, APIError("changing the predictor of "+cur.Ref.String(), err)
		}
		return cur, out, true, nil
	}
}

// SetPredictor replaces the predictor of cur (as read) with p, failing on
// a conflict rather than overwriting a change made since cur was read.
func (c *Client) SetPredictor(ctx context.Context, cur *ISVC, p map[string]any) (*ISVC, error) {
	out, err := c.updatePredictor(ctx, cur, p)
	if err != nil {
		return nil, APIError("setting the predictor of "+cur.Ref.String(), err)
	}
	return out, nil
}

func (c *Client) updatePredictor(ctx context.Context, cur *ISVC, p map[string]any) (*ISVC, error) {
	obj := cur.Object.DeepCopy()
	if err := unstructured.SetNestedField(obj.Object, runtime.DeepCopyJSON(p), "spec", "predictor"); err != nil {
		return nil, err
	}
	out, err := get(ctx, c, func(ctx context.Context) (*unstructured.Unstructured, error) {
		return c.isvcs(obj.GetNamespace()).Update(ctx, obj, metav1.UpdateOptions{FieldManager: FieldManager})
	})
	if err != nil {
		return nil, err
	}
	return ISVCOf(out)
}

// ISVCWaitOptions say what rollout of an InferenceService to wait for.
type ISVCWaitOptions struct {
	// Generation is the InferenceService's generation after the change;
	// Predictor the spec.predictor of that change: when the generation
	// moves past it with another predictor, the wait stops with
	// *ConcurrentChange.
	Generation int64
	Predictor  map[string]any
	Timeout    time.Duration
	Progress   func(string)
}

// ISVCReason is the reason of a rollout that failed because KServe set a
// condition False.
const ISVCReason = "ConditionFalse"

// WaitInferenceService watches ref until KServe reports the change
// rolled out: status.observedGeneration at least opts.Generation, Ready,
// PredictorReady and (when set) IngressReady and LatestDeploymentReady
// True, and the latest created revision of the predictor the latest ready
// one. A condition that turns False for that generation fails it
// (*RolloutFailed with the condition's reason and message): in serverless
// mode that is Knative's verdict on the revision (RevisionFailed,
// ProgressDeadlineExceeded); in RawDeployment mode PredictorReady is False
// until the Deployment is available, and only a False with a reason other
// than MinimumReplicasUnavailable counts.
func (c *Client) WaitInferenceService(ctx context.Context, ref Ref, opts ISVCWaitOptions) (*ISVC, error) {
	start := c.now()
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	wctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	ours, predictor := opts.Generation, opts.Predictor
	var last *ISVC
	var lastMsg string
	cond := func(ev watch.Event) (bool, error) {
		obj, err := rolloutEvent(ev, ref)
		if obj == nil || err != nil {
			return false, err
		}
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		s, err := ISVCOf(u)
		if err != nil {
			return false, err
		}
		last = s
		if ours == 0 {
			ours, predictor = s.Generation, s.Predictor
		}
		if s.Generation > ours {
			if predictor != nil && !SamePredictor(predictor, s.Predictor) {
				return false, &ConcurrentChange{Ref: ref, Ours: ours, Theirs: s.Generation, Images: s.Images}
			}
			ours = s.Generation
		}
		msg, done, failed := isvcStatus(s, ours)
		if failed != nil {
			return false, failed
		}
		if msg != lastMsg && opts.Progress != nil && !done {
			opts.Progress(msg)
		}
		lastMsg = msg
		return done, nil
	}
	api := c.isvcs(ref.Namespace)
	lw := listWatchNamed(ref.Name, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return api.List(ctx, o) }, api.Watch)
	_, err := watchtools.UntilWithSync(wctx, lw, &unstructured.Unstructured{}, nil, cond)
	if err := waitError(ctx, wctx, ref, err, lastMsg, last != nil, c.now().Sub(start)); err != nil {
		return nil, err
	}
	return last, nil
}

// isvcStatus says where the rollout of generation gen stands, as KServe
// reports it.
func isvcStatus(s *ISVC, gen int64) (msg string, done bool, failed *RolloutFailed) {
	if s.ObservedGeneration < gen {
		return fmt.Sprintf("Waiting for KServe to observe generation %d of %s (observed %d)...", gen, s.Ref, s.ObservedGeneration), false, nil
	}
	var falses []Condition
	for _, t := range isvcConditions {
		if cd := s.Condition(t); cd != nil && cd.Status == "False" {
			if s.DeploymentMode == "RawDeployment" && (cd.Reason == "" || cd.Reason == "MinimumReplicasUnavailable") {
				continue
			}
			falses = append(falses, *cd)
		}
	}
	if len(falses) > 0 {
		// Ready repeats the component's condition: report it only alone.
		if len(falses) > 1 && falses[len(falses)-1].Type == "Ready" {
			falses = falses[:len(falses)-1]
		}
		f := &RolloutFailed{Ref: s.Ref, Reason: ISVCReason, Detail: falses[0].String()}
		for _, cd := range falses[1:] {
			f.Conditions = append(f.Conditions, cd.String())
		}
		if s.LatestCreated != "" && s.LatestCreated != s.LatestReady {
			f.Conditions = append(f.Conditions, fmt.Sprintf("revision %s is not ready; %s", s.LatestCreated, readyRevision(s)))
		}
		return "", false, f
	}
	for _, t := range []string{"Ready", "PredictorReady", "IngressReady", "LatestDeploymentReady"} {
		cd := s.Condition(t)
		if cd == nil && (t == "IngressReady" || t == "LatestDeploymentReady") {
			continue
		}
		if cd == nil || cd.Status != "True" {
			what := t + " not set"
			if cd != nil {
				what = cd.String()
			}
			return fmt.Sprintf("Waiting for %s to be ready: %s...", s.Ref, what), false, nil
		}
	}
	if s.LatestCreated != s.LatestReady {
		return fmt.Sprintf("Waiting for revision %s of %s to be ready (%s)...", s.LatestCreated, s.Ref, readyRevision(s)), false, nil
	}
	return "", true, nil
}

func readyRevision(s *ISVC) string {
	if s.LatestReady == "" {
		return "no revision is ready"
	}
	return "the latest ready one is " + s.LatestReady
}

// FormatTraffic prints a traffic split: rev-00002=10%, rev-00001=90%.
func FormatTraffic(ts []TrafficTarget) string {
	m := map[string]int64{}
	for _, t := range ts {
		m[t.Revision] += t.Percent
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d%%", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
