package kube_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/kube"
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
	t.Logf("progress: %q", progress)

	d = setImage(t, kc, ns, "web", "registry.example/web:v2")
	ro, err = kc.Wait(ctx, ref(ns, "web"), waitOpts(d, 2*time.Minute))
	if err != nil {
		t.Fatalf("second rollout: %v", err)
	}
	if ro.Revision != 2 || ro.Ready != 2 || ro.Images["app"] != "registry.example/web:v2" {
		t.Errorf("second rollout: %+v", ro)
	}
}

func TestWaitProgressDeadlineUnready(t *testing.T) {
	t.Parallel()
	kc, _, ns := realClient(t)
	d := create(t, kc, deployment(ns, "web", "registry.example/web:v1", 2, withDeadline(2), withLabel("mlship.test/kubelet", "unready")))
	_, err := kc.Wait(context.Background(), ref(ns, "web"), waitOpts(d, 2*time.Minute))
	var f *kube.RolloutFailed
	if !errors.As(err, &f) {
		t.Fatalf("err = %v, want *kube.RolloutFailed", err)
	}
	t.Logf("%v", err)
}
