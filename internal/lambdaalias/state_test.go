package lambdaalias

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleState() *PreviousState {
	return &PreviousState{
		RecordedAt: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), FunctionName: "fn",
		FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:fn",
		Alias:       &AliasState{Name: "live", Exists: true, FunctionVersion: "7", AdditionalVersionWeights: map[string]float64{"8": 0.1}, RevisionID: "r1"},
		Latest: LatestState{ImageURI: img1, ResolvedImageURI: "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:" + strings.Repeat("a", 64),
			CodeSha256: strings.Repeat("a", 64), RevisionID: "r2", Environment: Environment{"DB_PASSWORD": "hunter2-secret", "STAGE": "prod"}},
		Deploy: DeployState{ImageURI: "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:" + strings.Repeat("b", 64), ImageTag: "v2", Strategy: "canary"},
	}
}

func TestWriteAndReadState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "prev.json")
	// An older file of looser permissions is replaced, not reused.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteState(path, sampleState()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	st, err := ReadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Schema != StateSchema || st.Latest.Environment["DB_PASSWORD"] != "hunter2-secret" || st.Alias.AdditionalVersionWeights["8"] != 0.1 {
		t.Errorf("read back %+v", st)
	}
	if v, err := st.RollbackVersion(); err != nil || v != "7" {
		t.Errorf("RollbackVersion = %q, %v", v, err)
	}
	if st.Latest.Image() != st.Latest.ResolvedImageURI {
		t.Errorf("Image = %s, want the image by digest", st.Latest.Image())
	}
}

func TestEnvironmentIsMaskedInPrint(t *testing.T) {
	t.Parallel()
	st := sampleState()
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		for _, v := range []any{st, *st, st.Latest, st.Latest.Environment} {
			out := fmt.Sprintf(format, v)
			if strings.Contains(out, "hunter2") || strings.Contains(out, "prod") {
				t.Errorf("%s of %T shows a value: %s", format, v, out)
			}
		}
	}
	if got := st.Latest.Environment.String(); got != "[DB_PASSWORD=*** STAGE=***]" {
		t.Errorf("String = %s", got)
	}
}

func TestStatePathsAndBadRecords(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, p := range []string{dir, filepath.Join(dir, "missing", "prev.json")} {
		if err := CheckStatePath(p); err == nil {
			t.Errorf("CheckStatePath(%s) accepted it", p)
		}
		if err := WriteState(p, sampleState()); err == nil {
			t.Errorf("WriteState(%s) wrote it", p)
		}
	}
	if err := CheckStatePath(filepath.Join(dir, "new.json")); err != nil {
		t.Errorf("a new file in an existing directory: %v", err)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, body := range map[string]string{
		"v1.json":      `{"schema":"mlship.lambda-deploy.previous-state/v1","functionName":"fn"}`,
		"nofn.json":    `{"schema":"` + StateSchema + `"}`,
		"noalias.json": `{"schema":"` + StateSchema + `","functionName":"fn","alias":{"exists":true}}`,
		"junk.json":    `not json`,
		"big.json":     `{"schema":"` + StateSchema + `","functionName":"` + strings.Repeat("x", MaxStateSize) + `"}`,
	} {
		if _, err := ReadState(write(name, body)); err == nil {
			t.Errorf("ReadState accepted %s", name)
		}
	}
	if _, err := ReadState("/dev/zero"); err == nil {
		t.Error("ReadState accepted /dev/zero")
	}
}
