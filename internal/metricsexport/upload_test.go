package metricsexport

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/awsconfig"
	"github.com/mlship/mlship/internal/exitcode"
)

// writeFiles creates files (path -> content) under dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	resp, err := localhostClient().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

type testLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *testLog) Logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *testLog) Warningf(format string, args ...any) { l.Logf("warning: "+format, args...) }

func TestUploadAddressing(t *testing.T) {
	t.Parallel()
	for _, virtual := range []bool{false, true} {
		name := map[bool]string{false: "path-style", true: "virtual-hosted"}[virtual]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newS3Server(t, virtual, "reports")
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{
				"model_metrics.html":          "<html>metrics</html>",
				"site/index.html":             `<img src="img/plot.png">`,
				"site/img/plot.png":           "\x89PNG",
				"out/eval/confusion.csv":      "a,b\n1,2\n",
				"out/eval/deep/scores.json":   `{"a":1}`,
				"out/eval/deep/ignored.bin":   "x",
				"out/train/model_card.md":     "# card",
				"out/train/deep/notes.txt":    "notes",
				"out/train/deep/skip.parquet": "x",
			})
			files, err := planUploads([]string{
				filepath.Join(dir, "model_metrics.html"),
				filepath.Join(dir, "site"),
				filepath.Join(dir, "out", "**", "*.{csv,json,md,txt}"),
			}, "runs/42")
			if err != nil {
				t.Fatal(err)
			}
			deps := srv.deps()
			reports, err := uploadAll(context.Background(), deps.S3, deps.Presigner, "reports", files, 0, &testLog{})
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, r := range reports {
				keys = append(keys, r.Key)
			}
			want := []string{
				"runs/42/model_metrics.html",
				"runs/42/img/plot.png", "runs/42/index.html",
				"runs/42/eval/confusion.csv", "runs/42/eval/deep/scores.json", "runs/42/train/deep/notes.txt", "runs/42/train/model_card.md",
			}
			if !slices.Equal(keys, want) {
				t.Fatalf("keys\n got %q\nwant %q", keys, want)
			}
			for _, r := range reports {
				if "runs/42/"+r.Name != r.Key {
					t.Errorf("report %s is named %s", r.Key, r.Name)
				}
			}

			// Every request carried the bucket where the addressing style puts it.
			for _, r := range srv.Requests("PUT") {
				_, host, _ := strings.Cut(r, " ")
				if virtual != strings.HasPrefix(host, "reports.localhost:") {
					t.Errorf("request %q: not %s", r, name)
				}
				if !virtual && !strings.Contains(r, " /reports/runs/42/") {
					t.Errorf("request %q: bucket not in the path", r)
				}
			}
			if n := len(srv.Requests("PUT")); n != len(want) {
				t.Errorf("%d PUT requests, want %d", n, len(want))
			}

			first := reports[0]
			wantURL := srv.URL + "/reports/runs/42/model_metrics.html"
			if virtual {
				wantURL = strings.Replace(srv.URL, "//localhost", "//reports.localhost", 1) + "/runs/42/model_metrics.html"
			}
			if first.URL != wantURL || first.URI != "s3://reports/runs/42/model_metrics.html" {
				t.Errorf("URL %s, URI %s; want %s", first.URL, first.URI, wantURL)
			}
			for _, r := range reports {
				status, ctype, body := get(t, r.URL)
				if status != 200 || ctype != ContentType(r.File) {
					t.Errorf("GET %s: %d %s", r.URL, status, ctype)
				}
				if content, _ := os.ReadFile(r.File); body != string(content) {
					t.Errorf("GET %s: body %q", r.URL, body)
				}
			}
			if reports[0].ContentType != "text/html; charset=utf-8" || reports[1].ContentType != "image/png" || reports[3].ContentType != "text/csv; charset=utf-8" {
				t.Errorf("content types %s %s %s", reports[0].ContentType, reports[1].ContentType, reports[3].ContentType)
			}
		})
	}
}

func TestUploadPresigned(t *testing.T) {
	t.Parallel()
	for _, virtual := range []bool{false, true} {
		t.Run(fmt.Sprint("virtual=", virtual), func(t *testing.T) {
			t.Parallel()
			srv := newS3Server(t, virtual, "reports")
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"model metrics+v2.html": "<html>ok</html>"})
			files, err := planUploads([]string{filepath.Join(dir, "model metrics+v2.html")}, "")
			if err != nil {
				t.Fatal(err)
			}
			deps := srv.deps()
			reports, err := uploadAll(context.Background(), deps.S3, deps.Presigner, "reports", files, 12*time.Hour, &testLog{})
			if err != nil {
				t.Fatal(err)
			}
			u := reports[0].URL
			if !strings.Contains(u, "/model%20metrics%2Bv2.html?") || !strings.Contains(u, "X-Amz-Expires=43200") || !strings.Contains(u, "X-Amz-Signature=") {
				t.Errorf("presigned URL %s", u)
			}
			if status, _, body := get(t, u); status != 200 || body != "<html>ok</html>" {
				t.Errorf("GET %s: %d %q", u, status, body)
			}
		})
	}
}

// TestUploadTwice: the same file goes to the same key, and a second run
// finds it there and does not upload it again; a changed file replaces it.
func TestUploadTwice(t *testing.T) {
	t.Parallel()
	srv := newS3Server(t, true, "reports")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"r.html": "v1"})
	deps := srv.deps()
	upload := func() Report {
		t.Helper()
		files, err := planUploads([]string{filepath.Join(dir, "r.html"), filepath.Join(dir, "*.html")}, "p/")
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 1 {
			t.Fatalf("the file named twice is planned %d times", len(files))
		}
		reports, err := uploadAll(context.Background(), deps.S3, deps.Presigner, "reports", files, 0, &testLog{})
		if err != nil {
			t.Fatal(err)
		}
		return reports[0]
	}
	first := upload()
	second := upload()
	if first.Unchanged || !second.Unchanged || first.Key != second.Key || first.URL != second.URL {
		t.Errorf("first %+v\nsecond %+v", first, second)
	}
	if n := len(srv.Requests("PUT")); n != 1 {
		t.Errorf("%d PUT requests for two runs, want 1", n)
	}
	writeFiles(t, dir, map[string]string{"r.html": "v2"})
	third := upload()
	if third.Unchanged || third.Key != first.Key {
		t.Errorf("changed file: %+v", third)
	}
	if _, _, body := get(t, third.URL); body != "v2" {
		t.Errorf("object holds %q after the change", body)
	}
	objects, err := srv.backend.ListBucket("reports", nil, gofakes3ListAll())
	if err != nil {
		t.Fatal(err)
	}
	if len(objects.Contents) != 1 {
		t.Errorf("%d objects in the bucket, want 1", len(objects.Contents))
	}
}

// TestUploadFailure: an object that keeps failing is retried by the SDK,
// then reported as an Incomplete error naming it; the others are uploaded
// and only they are reported.
func TestUploadFailure(t *testing.T) {
	t.Parallel()
	srv := newS3Server(t, false, "reports")
	var attempts atomic.Int32
	srv.setFail(func(r *http.Request) bool {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/b.html") {
			attempts.Add(1)
			return true
		}
		return false
	})
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.html": "a", "b.html": "b", "c.html": "c"})
	files, err := planUploads([]string{filepath.Join(dir, "*.html")}, "")
	if err != nil {
		t.Fatal(err)
	}
	deps := srv.deps()
	reports, err := uploadAll(context.Background(), deps.S3, deps.Presigner, "reports", files, 0, &testLog{})
	if exitcode.Of(err) != exitcode.Incomplete {
		t.Fatalf("error %v, want exit 3", err)
	}
	if !strings.Contains(err.Error(), "uploading "+filepath.Join(dir, "b.html")+" to s3://reports/b.html: ") || !strings.Contains(err.Error(), "InternalError") {
		t.Errorf("error %v", err)
	}
	if n := attempts.Load(); n != awsconfig.MaxAttempts {
		t.Errorf("%d attempts, want %d", n, awsconfig.MaxAttempts)
	}
	var keys []string
	for _, r := range reports {
		keys = append(keys, r.Key)
	}
	if !slices.Equal(keys, []string{"a.html", "c.html"}) {
		t.Errorf("reported %q, want only the uploaded a.html and c.html", keys)
	}
	if status, _, _ := get(t, srv.URL+"/reports/b.html"); status != 404 {
		t.Errorf("b.html is in the bucket (%d)", status)
	}
}

// TestUploadConcurrent: the uploads run at the same time. The server holds
// every PUT until three are in flight; uploads one after another would
// never get there.
func TestUploadConcurrent(t *testing.T) {
	t.Parallel()
	srv := newS3Server(t, false, "reports")
	const n = 3
	var inFlight atomic.Int32
	all := make(chan struct{})
	var once sync.Once
	var timedOut atomic.Bool
	srv.before = func(r *http.Request) {
		if r.Method != http.MethodPut {
			return
		}
		if inFlight.Add(1) == n {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
		case <-time.After(30 * time.Second):
			timedOut.Store(true)
		}
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"1.html": "1", "2.html": "2", "3.html": "3"})
	files, err := planUploads([]string{filepath.Join(dir, "*.html")}, "")
	if err != nil {
		t.Fatal(err)
	}
	deps := srv.deps()
	if _, err := uploadAll(context.Background(), deps.S3, deps.Presigner, "reports", files, 0, &testLog{}); err != nil {
		t.Fatal(err)
	}
	if timedOut.Load() {
		t.Fatalf("the %d uploads did not run concurrently", n)
	}
}

func TestPlanUploadsBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a/r.html": "1", "b/r.html": "2", "c/r.html": "1"})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{filepath.Join(dir, "nope.html")}, `--upload "` + filepath.Join(dir, "nope.html") + `": no such file or directory`},
		{"glob without match", []string{filepath.Join(dir, "*.pdf")}, `--upload "` + filepath.Join(dir, "*.pdf") + `": no file matches`},
		{"two files one key", []string{filepath.Join(dir, "a/r.html"), filepath.Join(dir, "b/r.html")}, "--upload: " + filepath.Join(dir, "a/r.html") + " and " + filepath.Join(dir, "b/r.html") + " would both be stored as r.html"},
		{"bad glob", []string{filepath.Join(dir, "[.html")}, "invalid glob pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := planUploads(tt.args, "")
			if exitcode.Of(err) != exitcode.BadInput || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want exit 2 with %q", err, tt.want)
			}
		})
	}
	// The same content under one key is one upload, not a conflict.
	files, err := planUploads([]string{filepath.Join(dir, "a/r.html"), filepath.Join(dir, "c/r.html")}, "")
	if err != nil || len(files) != 1 {
		t.Errorf("identical files: %v, %v", files, err)
	}
}

func TestContentType(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"model_metrics.html": "text/html; charset=utf-8",
		"REPORT.HTM":         "text/html; charset=utf-8",
		"plot.png":           "image/png",
		"scores.csv":         "text/csv; charset=utf-8",
		"metrics.json":       "application/json",
		"card.md":            "text/markdown; charset=utf-8",
		"model.onnx":         "application/octet-stream",
		"noext":              "application/octet-stream",
		"dir.v2/file":        "application/octet-stream",
	}
	for in, want := range tests {
		if got := ContentType(in); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", in, got, want)
		}
	}
}
