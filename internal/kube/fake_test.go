package kube_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
)

func fakeClient(objs ...runtime.Object) (*kube.Client, *fake.Clientset) {
	cs := fake.NewClientset(objs...)
	return &kube.Client{Kube: cs, Namespace: "default", Backoff: wait.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 4}}, cs
}

func yes() *bool { return &[]bool{true}[0] }

func ownedBy(kind, name, uid string) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: types.UID(uid), Controller: yes()}}
}

// history is a Deployment at revision 3 with the ReplicaSets of revisions
// 1 to 3, each with a UID of its own (kubectl's rollbacker tells them
// apart by UID).
func history() (*appsv1.Deployment, []runtime.Object) {
	d := deployment("default", "web", "registry.example/web:v3", 2)
	d.UID = "dep-uid"
	d.Generation = 3
	d.Annotations = map[string]string{"deployment.kubernetes.io/revision": "3"}
	objs := []runtime.Object{d}
	for i, tag := range []string{"v1", "v2", "v3"} {
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{
				Name: "web-" + tag, Namespace: "default", UID: types.UID("rs-uid-" + tag),
				Labels:          map[string]string{"app": "web"},
				Annotations:     map[string]string{"deployment.kubernetes.io/revision": string(rune('1' + i))},
				OwnerReferences: ownedBy("Deployment", "web", "dep-uid"),
			},
			// The API server defaults replicas; kubectl reads them.
			Spec: appsv1.ReplicaSetSpec{Replicas: new(int32), Selector: d.Spec.Selector, Template: *d.Spec.Template.DeepCopy()},
		}
		rs.Spec.Template.Spec.Containers[0].Image = "registry.example/web:" + tag
		objs = append(objs, rs)
	}
	return d, objs
}

func TestUndoWithFakeClientset(t *testing.T) {
	t.Parallel()
	_, objs := history()
	kc, cs := fakeClient(objs...)
	msg, after, err := kc.Undo(context.Background(), ref("default", "web"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if msg != "rolled back" || after.Template.Spec.Containers[0].Image != "registry.example/web:v1" {
		t.Errorf("undo to 1: %q, image %s", msg, after.Template.Spec.Containers[0].Image)
	}
	var patched bool
	for _, a := range cs.Actions() {
		if a.GetVerb() == "patch" && a.GetResource().Resource == "deployments" {
			patched = true
		}
	}
	if !patched {
		t.Error("the Deployment was not patched")
	}

	w, err := kc.Get(context.Background(), ref("default", "web"))
	if err != nil {
		t.Fatal(err)
	}
	revs, err := kc.RevisionImages(context.Background(), w)
	if err != nil || len(revs) != 3 || revs[2]["app"] != "registry.example/web:v2" {
		t.Errorf("revision images %v, %v", revs, err)
	}
}

// Without distinct UIDs kubectl finds no history: the tools depend on it.
func TestUndoNeedsReplicaSetUIDs(t *testing.T) {
	t.Parallel()
	_, objs := history()
	for _, o := range objs[1:] {
		o.(*appsv1.ReplicaSet).UID = ""
	}
	kc, _ := fakeClient(objs...)
	_, _, err := kc.Undo(context.Background(), ref("default", "web"), 1)
	if err == nil || exitcode.Of(err) != exitcode.Incomplete {
		t.Fatalf("err = %v, want exit 3", err)
	}
}

func TestUndoStatefulSet(t *testing.T) {
	t.Parallel()
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", UID: "sts-uid", Generation: 2},
		Spec: appsv1.StatefulSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "postgres:17"}}},
			},
		},
	}
	rev := func(n int64, image string) *appsv1.ControllerRevision {
		return &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: "db-" + image[len("postgres:"):], Namespace: "default", UID: types.UID("cr-" + image),
				Labels: map[string]string{"app": "db"}, OwnerReferences: ownedBy("StatefulSet", "db", "sts-uid")},
			Revision: n,
			Data:     runtime.RawExtension{Raw: []byte(`{"spec":{"template":{"metadata":{"labels":{"app":"db"}},"spec":{"containers":[{"name":"db","image":"` + image + `"}]},"$patch":"replace"}}}`)},
		}
	}
	kc, _ := fakeClient(sts, rev(1, "postgres:16"), rev(2, "postgres:17"))
	w, err := kc.Get(context.Background(), kube.Ref{Kind: kube.StatefulSet, Namespace: "default", Name: "db"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := kc.Revision(context.Background(), w); err != nil || r != 2 {
		t.Errorf("revision %d, %v; want 2", r, err)
	}
	revs, err := kc.RevisionImages(context.Background(), w)
	if err != nil || revs[1]["db"] != "postgres:16" {
		t.Errorf("revision images %v, %v", revs, err)
	}
	msg, after, err := kc.Undo(context.Background(), w.Ref, 1)
	if err != nil {
		t.Fatal(err)
	}
	if msg != "rolled back" || after.Template.Spec.Containers[0].Image != "postgres:16" {
		t.Errorf("undo: %q, image %s", msg, after.Template.Spec.Containers[0].Image)
	}
}

// TestWaitStatefulSetAndDaemonSet follows status changes the way their
// controllers make them, through the fake clientset's watch.
func TestWaitStatefulSetAndDaemonSet(t *testing.T) {
	t.Parallel()
	three := int32(3)
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "registry.example/x:v2"}}},
	}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default", UID: "sts", Generation: 2},
		Spec: appsv1.StatefulSetSpec{Replicas: &three, Selector: sel, Template: tmpl,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 1, UpdatedReplicas: 1, CurrentRevision: "x-1", UpdateRevision: "x-2"},
	}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default", UID: "ds", Generation: 5},
		Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl,
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 5, DesiredNumberScheduled: 2, UpdatedNumberScheduled: 1, NumberAvailable: 1},
	}
	pod := func(name, uid string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "x"},
			OwnerReferences: ownedBy("StatefulSet", "x", uid)}, Spec: tmpl.Spec}
	}
	kc, cs := fakeClient(sts, ds, pod("x-0", "sts"), pod("x-ds", "ds"),
		&appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "x-2", Namespace: "default", Labels: map[string]string{"app": "x"}, OwnerReferences: ownedBy("StatefulSet", "x", "sts")}, Revision: 2})
	ctx := context.Background()

	for _, kind := range []kube.Kind{kube.StatefulSet, kube.DaemonSet} {
		progress := make(chan string, 10)
		done := make(chan error, 1)
		var ro *kube.Rollout
		go func() {
			var err error
			ro, err = kc.Wait(ctx, kube.Ref{Kind: kind, Namespace: "default", Name: "x"}, kube.WaitOptions{
				Images: map[string]string{"x": "registry.example/x:v2"}, Timeout: time.Minute,
				Progress: func(s string) { progress <- s },
			})
			done <- err
		}()
		msg := <-progress
		switch kind {
		case kube.StatefulSet:
			if !strings.Contains(msg, "Waiting for 2 pods to be ready") {
				t.Errorf("statefulset progress %q", msg)
			}
			sts.Status = appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 3, CurrentReplicas: 3, CurrentRevision: "x-2", UpdateRevision: "x-2"}
			if _, err := cs.AppsV1().StatefulSets("default").UpdateStatus(ctx, sts, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		case kube.DaemonSet:
			if !strings.Contains(msg, "1 out of 2 new pods have been updated") {
				t.Errorf("daemonset progress %q", msg)
			}
			ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: 5, DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberAvailable: 2, NumberReady: 2}
			if _, err := cs.AppsV1().DaemonSets("default").UpdateStatus(ctx, ds, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if kind == kube.StatefulSet && (ro.Revision != 2 || ro.Ready != 3) {
			t.Errorf("statefulset rollout %+v, want revision 2, 3 ready", ro)
		}
		if kind == kube.DaemonSet && ro.Ready != 2 {
			t.Errorf("daemonset rollout %+v, want 2 ready", ro)
		}
	}
}

// TestWaitChecksImagesOfNewPods: kubectl's viewer says done, but a pod of
// the new revision runs another image than the one asked for; that is not
// reported as success.
func TestWaitChecksImagesOfNewPods(t *testing.T) {
	t.Parallel()
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "default", UID: "ds", Generation: 1},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:v2"}}}}},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 1, UpdatedNumberScheduled: 1, NumberAvailable: 1},
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "agent-x", Namespace: "default", Labels: map[string]string{"app": "agent"},
		OwnerReferences: ownedBy("DaemonSet", "agent", "ds")}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:v1"}}}}
	kc, _ := fakeClient(ds, pod)
	_, err := kc.Wait(context.Background(), kube.Ref{Kind: kube.DaemonSet, Namespace: "default", Name: "agent"},
		kube.WaitOptions{Images: map[string]string{"agent": "agent:v2"}, Timeout: time.Minute})
	var f *kube.RolloutFailed
	if !errors.As(err, &f) || f.Reason != kube.ReasonImages || !strings.Contains(f.Detail, "agent-x") {
		t.Fatalf("err = %v, want an image mismatch naming the pod", err)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	tests := []struct {
		name  string
		errs  []error
		calls int32
		code  int
		want  string
	}{
		{"unavailable, then answers", []error{apierrors.NewServiceUnavailable("etcd leader changed"), apierrors.NewTooManyRequests("slow down", 0)}, 3, exitcode.OK, ""},
		{"unavailable every time", []error{apierrors.NewServiceUnavailable("x"), apierrors.NewServiceUnavailable("x"), apierrors.NewServiceUnavailable("x"), apierrors.NewServiceUnavailable("x"), apierrors.NewServiceUnavailable("x")}, 4, exitcode.Incomplete, "reading deployment/web"},
		{"forbidden", []error{apierrors.NewForbidden(gr, "web", errors.New(`User "ci" cannot get resource "deployments"`))}, 1, exitcode.Incomplete, "RBAC"},
		{"unauthorized", []error{apierrors.NewUnauthorized("token expired")}, 1, exitcode.Incomplete, "did not accept the credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, _ := history()
			kc, cs := fakeClient(d)
			var calls atomic.Int32
			cs.PrependReactor("get", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
				n := calls.Add(1)
				if int(n) <= len(tt.errs) {
					return true, nil, tt.errs[n-1]
				}
				return false, nil, nil
			})
			_, err := kc.Get(context.Background(), ref("default", "web"))
			if exitcode.Of(err) != tt.code || (tt.want != "" && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("err = %v (exit %d), want exit %d with %q", err, exitcode.Of(err), tt.code, tt.want)
			}
			if calls.Load() != tt.calls {
				t.Errorf("%d calls, want %d", calls.Load(), tt.calls)
			}
		})
	}
}

func TestDiagnose(t *testing.T) {
	t.Parallel()
	one := int32(1)
	pods := []corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "ready"}, Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "going", DeletionTimestamp: &metav1.Time{}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
		{ObjectMeta: metav1.ObjectMeta{Name: "pending"}, Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Insufficient cpu."}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "pull"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:nope"}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "app",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "manifest unknown"}}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "crash"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:v2"}, {Name: "side", Image: "side:v1"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "side", Ready: false, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
				{Name: "app", RestartCount: 7, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 5m0s"}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "init"},
			Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "migrate", Image: "migrate:v2"}}, Containers: []corev1.Container{{Name: "app", Image: "app:v2"}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{{Name: "migrate", RestartCount: one,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}}}}}},
	}
	got := kube.Diagnose(pods)
	if len(got) != 4 {
		t.Fatalf("%d problems, want 4 (ready and terminating pods left out): %+v", len(got), got)
	}
	want := []string{
		"pod pending (Pending): Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.",
		"pod pull (Pending): ErrImagePull, container app, image registry.example/app:nope: manifest unknown",
		"pod crash (Running): CrashLoopBackOff, container app, image app:v2, last exit code 137, 7 restarts: OOMKilled",
		"pod init (Pending): Error, container migrate, image migrate:v2, last exit code 2, 1 restart",
	}
	for i, w := range want {
		if got[i].String() != w {
			t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], w)
		}
	}
}

func TestSetImages(t *testing.T) {
	t.Parallel()
	tmpl := func() *corev1.PodTemplateSpec {
		return &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "migrate", Image: "app:v1"}},
			Containers:     []corev1.Container{{Name: "app", Image: "app:v1"}, {Name: "proxy", Image: "envoy:1.30"}},
		}}
	}
	tests := []struct {
		want    map[string]string
		changed bool
		images  string
		err     string
	}{
		{map[string]string{"app": "app:v2"}, true, "app=app:v2, migrate=app:v1, proxy=envoy:1.30", ""},
		{map[string]string{"app": "app:v1"}, false, "app=app:v1, migrate=app:v1, proxy=envoy:1.30", ""},
		{map[string]string{"migrate": "app:v2", "app": "app:v2"}, true, "app=app:v2, migrate=app:v2, proxy=envoy:1.30", ""},
		{map[string]string{"*": "busybox"}, true, "app=busybox, migrate=busybox, proxy=busybox", ""},
		{map[string]string{"web": "app:v2"}, false, "", `no container "web" (it has app, migrate, proxy)`},
		{map[string]string{"": "app:v2"}, false, "", "has 3 containers"},
	}
	for _, tt := range tests {
		tp := tmpl()
		changed, err := kube.SetImages(tp, tt.want)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v: err %v, want %q", tt.want, err, tt.err)
			}
			if kube.FormatImages(kube.Images(tp)) != kube.FormatImages(kube.Images(tmpl())) {
				t.Errorf("%v: a failed set changed the template", tt.want)
			}
			continue
		}
		if err != nil || changed != tt.changed || kube.FormatImages(kube.Images(tp)) != tt.images {
			t.Errorf("%v: changed %t, images %s, err %v; want %t, %s", tt.want, changed, kube.FormatImages(kube.Images(tp)), err, tt.changed, tt.images)
		}
	}
	single := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:v1"}}}}
	if changed, err := kube.SetImages(single, map[string]string{"": "web:v2"}); err != nil || !changed || single.Spec.Containers[0].Image != "web:v2" {
		t.Errorf("one container, no name: %t, %v, %s", changed, err, single.Spec.Containers[0].Image)
	}
	if got := kube.WantedImages(tmpl(), map[string]string{"": "x"}); got != nil {
		t.Errorf("wanted images of an ambiguous set: %v", got)
	}
	if got := kube.WantedImages(single, map[string]string{"": "web:v3"}); got["web"] != "web:v3" || len(got) != 1 {
		t.Errorf("wanted images: %v", got)
	}
}

// TestWaitIgnoresAnOlderGeneration: the informer's first list may come
// from the API server's watch cache, which need not hold the change yet;
// the finished rollout of the generation before it is not ours.
func TestWaitIgnoresAnOlderGeneration(t *testing.T) {
	t.Parallel()
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "default", UID: "ds", Generation: 2},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:v2"}}}}},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 1, NumberAvailable: 1},
	}
	stale := ds.DeepCopy()
	stale.Generation = 1
	stale.Spec.Template.Spec.Containers[0].Image = "agent:v1"
	stale.Status = appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 1, UpdatedNumberScheduled: 1, NumberAvailable: 1}
	kc, cs := fakeClient(ds)
	cs.PrependReactor("list", "daemonsets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &appsv1.DaemonSetList{Items: []appsv1.DaemonSet{*stale}}, nil
	})
	_, err := kc.Wait(context.Background(), kube.Ref{Kind: kube.DaemonSet, Namespace: "default", Name: "agent"},
		kube.WaitOptions{Generation: 2, Timeout: 300 * time.Millisecond})
	var f *kube.RolloutFailed
	if !errors.As(err, &f) || f.Reason != kube.ReasonTimeout {
		t.Fatalf("err = %v, want a timeout: generation 1's finished rollout is not generation 2's", err)
	}
}
