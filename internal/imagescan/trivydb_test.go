package imagescan

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/trivytest"
)

// dbRegistry is an in-process OCI registry serving the fixture database as
// the trivy-db artifact, where paths holding a fault's text answer as a
// rate-limited registry does.
type dbRegistry struct {
	inner http.Handler
	mu    sync.Mutex
	// limited: path substring -> how many more requests to refuse (<0: all)
	limited map[string]int
	hits    map[string]int // path substring -> requests refused
	gets    int            // requests served
}

func (d *dbRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	for sub, n := range d.limited {
		if n != 0 && strings.Contains(r.URL.Path, sub) {
			d.limited[sub] = n - 1
			d.hits[sub]++
			d.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"retry-after: 1s, allowed: 44000/minute"}]}`)
			return
		}
	}
	if r.Method == http.MethodGet && r.URL.Path != "/v2/" {
		d.gets++
	}
	d.mu.Unlock()
	d.inner.ServeHTTP(w, r)
}

func newDBRegistry(t *testing.T) (*dbRegistry, string) {
	t.Helper()
	d := &dbRegistry{inner: quietRegistry(), limited: map[string]int{}, hits: map[string]int{}}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	art, err := trivytest.DBArtifact(trivytest.AlpineFixture)
	if err != nil {
		t.Fatal(err)
	}
	for _, repo := range []string{"aquasec/trivy-db:2", "limited/trivy-db:2", "flaky/trivy-db:2"} {
		pushImage(t, host+"/"+repo, art)
	}
	return d, host
}

// TestDatabaseDownloadFallsBackWhenRateLimited: the first repository
// answers TOOMANYREQUESTS to every attempt, the second does not hold the
// database, the third serves it. The scan then finds what it finds with a
// local database, and a second run downloads nothing.
func TestDatabaseDownloadFallsBackWhenRateLimited(t *testing.T) {
	t.Parallel()
	reg, host := newDBRegistry(t)
	reg.mu.Lock()
	reg.limited["/limited/"] = -1
	reg.mu.Unlock()

	cfg := baseConfig(t)
	cfg.CacheDir, cfg.SkipDBUpdate = t.TempDir(), false
	cfg.DBRepositories = []string{host + "/limited/trivy-db:2", host + "/missing/trivy-db:2", host + "/aquasec/trivy-db:2"}
	deps := testDeps(t, nil)
	log := &testLog{t: t}
	deps.Log = log

	res, err := runConfig(context.Background(), cfg, deps)
	if exitcode.Of(err) != exitcode.Failed {
		t.Fatalf("exit %d (%v), want 1 (the fixture's findings)\nlogs:\n%s", exitcode.Of(err), err, log.text())
	}
	if res.Total != 6 || res.TrivyDB == nil || res.TrivyDB.Repository != host+"/aquasec/trivy-db:2" || res.TrivyDB.DownloadedAt.IsZero() {
		t.Errorf("total %d, database %+v", res.Total, res.TrivyDB)
	}
	if n := reg.hits["/limited/"]; n != dbAttempts {
		t.Errorf("the rate-limited repository was tried %d times, want %d", n, dbAttempts)
	}
	joined := log.text()
	for _, want := range []string{
		host + "/limited/trivy-db:2: rate limited (TOOMANYREQUESTS); retrying in",
		"Could not download the vulnerability database from " + host + "/missing/trivy-db:2",
		"Downloading the vulnerability database from " + host + "/aquasec/trivy-db:2",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("logs lack %q:\n%s", want, joined)
		}
	}
	entries, _ := os.ReadDir(cfg.CacheDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "db-download-") {
			t.Errorf("download directory %s left behind", e.Name())
		}
	}

	gets := reg.gets
	if _, err := runConfig(context.Background(), cfg, deps); exitcode.Of(err) != exitcode.Failed {
		t.Fatalf("second run: %v", err)
	}
	if reg.gets != gets {
		t.Errorf("second run made %d registry requests; the database is current", reg.gets-gets)
	}
}

// TestDatabaseDownloadRetriesARateLimitedBlob: the manifest comes, the
// layer is refused twice, the third attempt gets it from the same
// repository.
func TestDatabaseDownloadRetriesARateLimitedBlob(t *testing.T) {
	t.Parallel()
	reg, host := newDBRegistry(t)
	reg.mu.Lock()
	reg.limited["/flaky/trivy-db/blobs/"] = 2
	reg.mu.Unlock()
	cfg := baseConfig(t)
	cfg.CacheDir, cfg.SkipDBUpdate = t.TempDir(), false
	cfg.DBRepositories = []string{host + "/flaky/trivy-db:2"}
	res, err := runConfig(context.Background(), cfg, testDeps(t, nil))
	if exitcode.Of(err) != exitcode.Failed || res.Total != 6 {
		t.Fatalf("exit %d (%v)", exitcode.Of(err), err)
	}
	if reg.hits["/flaky/trivy-db/blobs/"] != 2 {
		t.Errorf("refused %d blob requests, want 2", reg.hits["/flaky/trivy-db/blobs/"])
	}
}

func TestDatabaseDownloadFailsEverywhere(t *testing.T) {
	t.Parallel()
	reg, host := newDBRegistry(t)
	reg.mu.Lock()
	reg.limited["/limited/"] = -1
	reg.mu.Unlock()
	cfg := baseConfig(t)
	cfg.CacheDir, cfg.SkipDBUpdate = t.TempDir(), false
	cfg.DBRepositories = []string{host + "/limited/trivy-db:2", host + "/missing/trivy-db:2"}
	res, err := runConfig(context.Background(), cfg, testDeps(t, nil))
	if exitcode.Of(err) != exitcode.Incomplete {
		t.Fatalf("exit %d (%v), want 3", exitcode.Of(err), err)
	}
	for _, want := range []string{"failed from every repository", host + "/limited/trivy-db:2", host + "/missing/trivy-db:2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if res.Passed || res.Complete {
		t.Errorf("passed %t complete %t", res.Passed, res.Complete)
	}
	if _, err := os.Stat(filepath.Join(cfg.CacheDir, "db", "trivy.db")); !os.IsNotExist(err) {
		t.Errorf("a database file exists after a failed download: %v", err)
	}
}
