package kube_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
	"github.com/mlship/mlship/internal/kube/kubetest"
)

func TestWaitCompletes(t *testing.T) {
	t.Parallel()
	kc, _, ns := realClient(t)
	ctx := context.Background()
	d := create(t, kc, deployment(ns, "web", "registry.example/web:v1", 2))
	var progress []string
	opts := waitOpts(d, 2*time.Minute)
	opts.Progress = func(s string) { progress = append(progress, s) }
	ro, err := kc.Wait(ctx, ref(ns, "web"), opts)
	if err != nil {
		t.Fatalf("first rollout: %v", err)
	}
	if ro.Revision != 1 || ro.Ready != 2 || ro.Images["app"] != "registry.example/web:v1" {
		t.Errorf("first rollout: %+v", ro)
	}
	if len(progress) == 0 || !strings.Contains(progress[0], `deployment`) {
		t.Errorf("progress = %q, want kubectl's status lines", progress)
	}

	d = setImage(t, kc, ns, "web", "registry.example/web:v2")
	ro, err = kc.Wait(ctx, ref(ns, "web"), waitOpts(d, 2*time.Minute))
	if err != nil {
		t.Fatalf("second rollout: %v", err)
	}
	if ro.Revision != 2 || ro.Ready != 2 || ro.Images["app"] != "registry.example/web:v2" {
		t.Errorf("second rollout: %+v", ro)
	}
}

// stalled runs a rollout that cannot complete and returns its failure.
func stalled(t *testing.T, timeout time.Duration, opts ...depOpt) *kube.RolloutFailed {
	t.Helper()
	kc, _, ns := realClient(t)
	d := create(t, kc, deployment(ns, "web", "registry.example/web:v1", 2, opts...))
	_, err := kc.Wait(context.Background(), ref(ns, "web"), waitOpts(d, timeout))
	var f *kube.RolloutFailed
	if !errors.As(err, &f) {
		t.Fatalf("err = %v, want *kube.RolloutFailed", err)
	}
	t.Logf("%v", err)
	return f
}

func TestWaitProgressDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		opts      []depOpt
		reason    string
		message   string
		exitCode  int32
		withImage bool
	}{
		{"unready", []depOpt{withLabel(kubetest.KubeletLabel, kubetest.Unready)}, "NotReady", "readiness probe", 0, true},
		{"image cannot be pulled", []depOpt{withLabel(kubetest.KubeletLabel, kubetest.ImagePullBackOff)}, "ImagePullBackOff", `Back-off pulling image "registry.example/web:v1"`, 0, true},
		{"crash loop", []depOpt{withLabel(kubetest.KubeletLabel, kubetest.CrashLoopBackOff)}, "CrashLoopBackOff", "Error", 1, true},
		{"unpullable image", []depOpt{withImage(kubetest.UnpullableImage)}, "ImagePullBackOff", `Back-off pulling image "` + kubetest.UnpullableImage + `"`, 0, false},
		{"no node matches", []depOpt{withNodeSelector("disktype", "ssd")}, "Unschedulable", "didn't match Pod's node affinity/selector", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := stalled(t, 2*time.Minute, append(tt.opts, withDeadline(2))...)
			if f.Reason != kube.ReasonDeadline {
				t.Errorf("reason %q, want %q", f.Reason, kube.ReasonDeadline)
			}
			if len(f.Conditions) == 0 || !strings.Contains(f.Conditions[0], "ProgressDeadlineExceeded") || !strings.Contains(f.Conditions[0], "has timed out progressing") {
				t.Errorf("conditions %q, want the Progressing condition's message", f.Conditions)
			}
			if len(f.Pods) != 2 {
				t.Fatalf("pods %+v, want both", f.Pods)
			}
			for _, p := range f.Pods {
				if p.Reason != tt.reason || !strings.Contains(p.Message, tt.message) {
					t.Errorf("pod %s: %s %q, want %s with %q", p.Pod, p.Reason, p.Message, tt.reason, tt.message)
				}
				if tt.withImage && (p.Container != "app" || p.Image != "registry.example/web:v1") {
					t.Errorf("pod %s: container %q image %q, want app and its image", p.Pod, p.Container, p.Image)
				}
				if tt.exitCode != 0 && (p.ExitCode == nil || *p.ExitCode != tt.exitCode) {
					t.Errorf("pod %s: exit code %v, want %d", p.Pod, p.ExitCode, tt.exitCode)
				}
			}
			msg := f.Error()
			if !strings.Contains(msg, "progress deadline") || !strings.Contains(msg, tt.reason) {
				t.Errorf("message %q names neither the deadline nor %s", msg, tt.reason)
			}
		})
	}
}

func TestWaitTimeout(t *testing.T) {
	t.Parallel()
	f := stalled(t, 3*time.Second, withLabel(kubetest.KubeletLabel, kubetest.Unready))
	if f.Reason != kube.ReasonTimeout {
		t.Errorf("reason %q, want %q", f.Reason, kube.ReasonTimeout)
	}
	if !strings.Contains(f.Detail, "updated replicas are available") {
		t.Errorf("detail %q, want the last status line", f.Detail)
	}
	if len(f.Pods) != 2 || f.Pods[0].Reason != "NotReady" {
		t.Errorf("pods %+v, want two NotReady", f.Pods)
	}
}

// TestWaitStopsOnConcurrentChange changes the Deployment's image as
// someone else while the wait follows a rollout that cannot finish: the
// wait stops and says so rather than follow their rollout.
func TestWaitStopsOnConcurrentChange(t *testing.T) {
	t.Parallel()
	kc, _, ns := realClient(t)
	d := create(t, kc, deployment(ns, "web", "registry.example/web:v1", 1, withLabel(kubetest.KubeletLabel, kubetest.Unready)))
	opts := waitOpts(d, 2*time.Minute)
	started := make(chan struct{})
	var once bool
	opts.Progress = func(string) {
		if !once {
			once = true
			close(started)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := kc.Wait(context.Background(), ref(ns, "web"), opts)
		done <- err
	}()
	<-started
	theirs := deployment(ns, "web", "registry.example/web:theirs", 1)
	update(t, kc, ns, "web", func(d *appsv1.Deployment) { d.Spec.Template = theirs.Spec.Template })
	err := <-done
	var cc *kube.ConcurrentChange
	if !errors.As(err, &cc) {
		t.Fatalf("err = %v, want *kube.ConcurrentChange", err)
	}
	if cc.Ours != d.Generation || cc.Theirs <= d.Generation || cc.Images["app"] != "registry.example/web:theirs" {
		t.Errorf("concurrent change %+v", cc)
	}
}

// TestWaitAdoptsScale: a scale during the wait moves the generation but
// not the pod template; the rollout is still this one.
func TestWaitAdoptsScale(t *testing.T) {
	t.Parallel()
	kc, _, ns := realClient(t)
	d := create(t, kc, deployment(ns, "web", "registry.example/web:v1", 1, withNodeSelector("disktype", "ssd")))
	opts := waitOpts(d, 2*time.Minute)
	started := make(chan struct{})
	var once bool
	opts.Progress = func(string) {
		if !once {
			once = true
			close(started)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := kc.Wait(context.Background(), ref(ns, "web"), opts)
		done <- err
	}()
	<-started
	// Scaled to none, the pod that cannot be scheduled goes and the
	// rollout completes.
	update(t, kc, ns, "web", func(d *appsv1.Deployment) {
		zero := int32(0)
		d.Spec.Replicas = &zero
	})
	if err := <-done; err != nil {
		t.Fatalf("a scale during the wait: %v", err)
	}
}

func TestUndoToRecordedRevision(t *testing.T) {
	t.Parallel()
	kc, _, ns := realClient(t)
	ctx := context.Background()
	d := create(t, kc, deployment(ns, "web", "registry.example/web:v1", 2))
	if _, err := kc.Wait(ctx, ref(ns, "web"), waitOpts(d, time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"v2", "v3"} {
		d = setImage(t, kc, ns, "web", "registry.example/web:"+tag)
		if _, err := kc.Wait(ctx, ref(ns, "web"), waitOpts(d, time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	w, err := kc.Get(ctx, ref(ns, "web"))
	if err != nil {
		t.Fatal(err)
	}
	revs, err := kc.RevisionImages(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if revs[1]["app"] != "registry.example/web:v1" || revs[3]["app"] != "registry.example/web:v3" {
		t.Errorf("revision images %v", revs)
	}

	msg, after, err := kc.Undo(ctx, ref(ns, "web"), 1)
	if err != nil {
		t.Fatalf("undo: %v", err)
	}
	if msg != "rolled back" || after.Template.Spec.Containers[0].Image != "registry.example/web:v1" {
		t.Errorf("undo said %q, template %s", msg, after.Template.Spec.Containers[0].Image)
	}
	ro, err := kc.Wait(ctx, ref(ns, "web"), kube.WaitOptions{Generation: after.Generation, Template: after.Template, Images: map[string]string{"app": "registry.example/web:v1"}, Timeout: time.Minute})
	if err != nil {
		t.Fatalf("rollout of the undo: %v", err)
	}
	// The Deployment controller gives revision 1's template the next
	// number.
	if ro.Revision != 4 || ro.Images["app"] != "registry.example/web:v1" {
		t.Errorf("after undo: %+v", ro)
	}

	msg, _, err = kc.Undo(ctx, ref(ns, "web"), 4)
	if err != nil || !strings.Contains(msg, "skipped rollback") {
		t.Errorf("undo to the current revision: %q, %v; want skipped", msg, err)
	}
	if _, _, err := kc.Undo(ctx, ref(ns, "web"), 9); err == nil || exitcode.Of(err) != exitcode.Incomplete {
		t.Errorf("undo to a revision that never was: %v, want exit 3", err)
	}
}

func TestUndoRefusesPaused(t *testing.T) {
	t.Parallel()
	kc, _, ns := realClient(t)
	ctx := context.Background()
	create(t, kc, deployment(ns, "web", "registry.example/web:v1", 1, paused))
	_, _, err := kc.Undo(ctx, ref(ns, "web"), 0)
	var p *kube.Paused
	if !errors.As(err, &p) || exitcode.Of(err) != exitcode.Failed {
		t.Fatalf("err = %v (exit %d), want *kube.Paused, exit 1", err, exitcode.Of(err))
	}
	if !strings.Contains(err.Error(), "kubectl rollout resume deployment/web") {
		t.Errorf("message %q does not say how to resume", err)
	}
}

func TestGetNotFound(t *testing.T) {
	t.Parallel()
	kc, _, ns := realClient(t)
	_, err := kc.Get(context.Background(), ref(ns, "nothing"))
	var nf *kube.ErrNotFound
	if !errors.As(err, &nf) {
		t.Fatalf("err = %v, want *kube.ErrNotFound", err)
	}
}
