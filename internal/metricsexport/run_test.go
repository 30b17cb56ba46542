package metricsexport

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/exitcode"
)

// TestRunIncompleteOutweighsRegression: a failed upload (exit 3) and a
// regression with FailOnRegression (exit 1) in one run exit 3, the message
// tells both, and the result still holds everything that was done.
func TestRunIncompleteOutweighsRegression(t *testing.T) {
	t.Parallel()
	srv := newS3Server(t, false, "reports")
	srv.setFail(func(r *http.Request) bool { return r.Method == http.MethodPut })
	cw := newFakeCloudWatch()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"m.env": "acc=0.8\nname=x\n", "b.env": "acc=0.9\n", "r.html": "<html>"})
	deps := srv.deps()
	deps.CloudWatch = cw
	res, err := run(t, Config{
		Files: []string{filepath.Join(dir, "m.env")}, TempDir: dir,
		Baseline: filepath.Join(dir, "b.env"), Compare: []string{"acc:higher"}, FailOnRegression: true,
		Upload: []string{filepath.Join(dir, "r.html")}, Bucket: "reports",
		Namespace: "N",
	}, deps)
	if exitcode.Of(err) != exitcode.Incomplete {
		t.Fatalf("error %v (exit %d), want exit 3", err, exitcode.Of(err))
	}
	for _, s := range []string{"uploading " + filepath.Join(dir, "r.html"), "regression against " + filepath.Join(dir, "b.env") + ": acc fell from 0.9 to 0.8"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	if res == nil || len(res.Reports) != 0 || !res.Regressed || len(res.Failures) != 1 {
		t.Fatalf("result %+v", res)
	}
	if res.CloudWatch.Put != 1 || res.CloudWatch.Requests != 1 || len(res.CloudWatch.Skipped) != 1 || res.CloudWatch.Skipped[0] != "name" {
		t.Errorf("cloudwatch %+v", res.CloudWatch)
	}
	if data, err := os.ReadFile(res.MetricsFile); err != nil || string(data) != "{\n  \"acc\": 0.8,\n  \"name\": \"x\"\n}\n" {
		t.Errorf("metrics file %q, %v", data, err)
	}
}

// TestRunCloudWatchFailure: a CloudWatch failure is exit 3 with the count
// of what was put; the uploads still happen.
func TestRunCloudWatchFailure(t *testing.T) {
	t.Parallel()
	srv := newS3Server(t, false, "reports")
	cw := newFakeCloudWatch()
	cw.failFrom = 0
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"m.json": `{"a": 1, "b": 2}`, "r.html": "<html>"})
	deps := srv.deps()
	deps.CloudWatch = cw
	res, err := run(t, Config{
		Files: []string{filepath.Join(dir, "m.json")}, TempDir: dir,
		Upload: []string{filepath.Join(dir, "r.html")}, Bucket: "reports", Namespace: "N",
	}, deps)
	if exitcode.Of(err) != exitcode.Incomplete || !strings.Contains(err.Error(), "putting metrics to CloudWatch namespace N (0 of 2 put): ") {
		t.Fatalf("error %v", err)
	}
	if len(res.Reports) != 1 || res.CloudWatch.Put != 0 || res.CloudWatch.Requests != 0 {
		t.Errorf("result %+v %+v", res.Reports, res.CloudWatch)
	}
}

// run validates cfg, as the command does, and runs it.
func run(t *testing.T, cfg Config, deps Deps) (*Result, error) {
	t.Helper()
	p, err := cfg.Validate()
	if err != nil {
		return nil, err
	}
	return Run(context.Background(), p, deps)
}
