package policygate_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bigMetrics is a metrics document of about 1 MB.
func bigMetrics(t *testing.T) (string, []byte) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"accuracy": 0.95`)
	for i := 0; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, `, "metric_%06d": %d.%04d`, i, i%7, i%10000)
	}
	b.WriteString("}")
	path := writeFile(t, "metrics.json", b.String())
	return path, []byte(b.String())
}

// The decision file records each input by path, size and digest; the
// document itself only when asked for.
func TestDecisionFileRecordsInputsByDigest(t *testing.T) {
	t.Parallel()
	path, content := bigMetrics(t)
	sum := sha256.Sum256(content)
	dec := filepath.Join(t.TempDir(), "decision.json")
	r := local(t, "", "-p", "builtin:model-quality", "--param", "min_accuracy=0.9", "-i", path, "--decision-file", dec)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	d := decision(t, dec)
	if len(d.Judgements) != 1 || len(d.Judgements[0].Inputs) != 1 {
		t.Fatalf("decision: %+v", d)
	}
	in := d.Judgements[0].Inputs[0]
	if in.Path != path || in.SHA256 != hex.EncodeToString(sum[:]) || in.Bytes != int64(len(content)) || d.Judgements[0].Input != nil {
		t.Errorf("input recorded as %+v (input %v), want %s, %x, %d bytes", in, d.Judgements[0].Input != nil, path, sum, len(content))
	}
	if info, err := os.Stat(dec); err != nil || info.Size() > 16<<10 {
		t.Errorf("the decision file on a 1 MB input: %v, %d bytes", err, info.Size())
	}

	r = local(t, "", "-p", "builtin:model-quality", "--param", "min_accuracy=0.9", "-i", path, "--decision-file", dec, "--decision-include-input")
	if r.code != 0 {
		t.Fatalf("--decision-include-input: exit %d: %s", r.code, r.stderr)
	}
	d = decision(t, dec)
	doc, _ := d.Judgements[0].Input.(map[string]any)
	if doc["accuracy"] != 0.95 || doc["metric_000123"] != 4.0123 || len(d.Judgements[0].Inputs) != 1 {
		t.Errorf("--decision-include-input: input %d keys, inputs %+v", len(doc), d.Judgements[0].Inputs)
	}

	// Named inputs: every file, by name; standard input as "-".
	r = local(t, `{"critical": 0}`, "-p", "builtin:model-quality", "-p", "builtin:image-scan", "--param", "min_accuracy=0.9",
		"-i", "metrics="+path, "-i", "scan=-", "--decision-file", dec)
	if r.code != 0 {
		t.Fatalf("named: exit %d: %s", r.code, r.stderr)
	}
	d = decision(t, dec)
	if ins := d.Judgements[0].Inputs; len(ins) != 2 || ins[0].Name != "metrics" || ins[1].Name != "scan" || ins[1].Path != "-" || ins[1].Bytes != 15 {
		t.Errorf("named inputs recorded as %+v", ins)
	}
}

// Without checked values the summary shows the input's first values, in
// key order, and says how many more there are.
func TestSummaryShowsTheFirstInputValues(t *testing.T) {
	t.Parallel()
	path, _ := bigMetrics(t)
	own := writeFile(t, "own.rego", "package own\nimport rego.v1\ndeny contains \"low\" if input.accuracy < 0.9\n")
	r := gate(t, map[string]string{"INPUT_POLICY": own, "INPUT_INPUT": path}, "")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stdout)
	}
	s := r.w.SummaryText(t)
	rows := strings.Count(s, "| metric_")
	var n int
	if _, err := fmt.Sscanf(s[strings.Index(s, "| … | ")+len("| … | "):], "%d more values in the input", &n); err != nil {
		t.Fatalf("no count of the values not shown: %v\n%s", err, s)
	}
	if !strings.Contains(s, "| accuracy | 0.95 |\n| metric_000000 | 0.0000 |\n") || rows != 49 || n < 20000 {
		t.Errorf("%d metric rows, %d more:\n%s", rows, n, s[:min(len(s), 3000)])
	}
}
