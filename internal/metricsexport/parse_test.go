package metricsexport

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/exitcode"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestParseGolden parses every fixture in testdata/parse and compares one
// line per metric (name, output name, type, value as written, JSON value,
// line) with X.golden.
func TestParseGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/parse/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".golden") {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			ms, err := Parse(filepath.Base(f), data, FormatAuto)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkNames(ms); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, m := range ms {
				fmt.Fprintf(&b, "%s\t%s\t%s\t%q\t%s\t%d\n", m.Name, m.Output, m.Kind, m.Value, m.JSONValue(), m.Line)
			}
			fmt.Fprintf(&b, "%s\n", metricsJSON(ms, false))
			golden := f + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("%s differs from %s:\n%s", f, golden, got)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, data string
		want       string // the whole message
	}{
		{"m.env", "ACCURACY=0.9\nno equals sign here\n", `m.env:2: expected KEY=VALUE, found "no equals sign here"`},
		{"m.env", "=0.9\n", `m.env:1: expected KEY=VALUE, found no key before "="`},
		{"m.env", "\n\nMY KEY=1\n", `m.env:3: invalid key "MY KEY": a key holds no spaces, quotes or control characters`},
		{"m.env", "A=\"0.9\n", `m.env:1: A: unterminated " quote`},
		{"m.env", "A='0.9\n", `m.env:1: A: unterminated ' quote`},
		{"m.env", "A=\"0.9\" extra\n", `m.env:1: A: unexpected "extra" after the closing quote`},
		{"m.env", "A=1\nB=1e999\n", `m.env:2: B: number 1e999 is out of range`},
		{"m.json", "{\n  \"a\": 0.9,\n  \"b\": \n}\n", `m.json:4: invalid JSON: invalid character '}' looking for beginning of value`},
		{"m.json", "[0.9]", `m.json:1: expected a JSON object of metric names to values`},
		{"m.json", "{\"a\": 1}\n{\"b\": 2}", `m.json:2: unexpected data after the JSON object`},
		{"m.json", "{\"a\": 1,\n", `m.json:2: invalid JSON: unexpected end of file`},
		{"m.json", "{\n\"a\": 1e400}", `m.json:2: a: number 1e400 is out of range`},
		{"m.yaml", "a: 0.9\nb: [1, 2\n", `m.yaml:1: invalid YAML: did not find expected ',' or ']'`},
		{"m.yaml", "- 0.9\n", `m.yaml:1: expected a YAML mapping of metric names to values`},
		{"m.yaml", "a: 1\n---\nb: 2\n", `m.yaml:2: a second YAML document: put all metrics in one mapping`},
		{"m.yaml", "base: &b {x: 1}\nm:\n  <<: *b\n", `m.yaml:3: YAML merge keys (<<) are not supported`},
		{"m.yaml", "? [a, b]\n: 1\n", `m.yaml:1: a metric name must be a plain string`},
		{"m.yaml", "a:\n  \"\": 1\n", `m.yaml:2: empty metric name`},
		{"m.json", "{\"a\": {\n\"\": 1}}", `m.json:2: empty metric name`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.file, []byte(tt.data), FormatAuto)
			if err == nil {
				t.Fatal("no error")
			}
			if code := exitcode.Of(err); code != exitcode.BadInput {
				t.Errorf("exit code %d, want %d", code, exitcode.BadInput)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestParseFormatOverride(t *testing.T) {
	t.Parallel()
	ms, err := Parse("metrics.txt", []byte(`{"a": 1}`), FormatJSON)
	if err != nil || len(ms) != 1 || ms[0].Name != "a" {
		t.Fatalf("got %v, %v", ms, err)
	}
	ms, err = Parse("metrics.txt", []byte("a: 1\n"), FormatYAML)
	if err != nil || len(ms) != 1 || ms[0].Name != "a" {
		t.Fatalf("got %v, %v", ms, err)
	}
	if _, err := Parse("m", nil, "toml"); exitcode.Of(err) != exitcode.BadInput {
		t.Fatalf("unknown format: %v", err)
	}
}

func TestParseCRLFAndBOM(t *testing.T) {
	t.Parallel()
	ms, err := Parse("m.env", []byte("\xef\xbb\xbfA=1\r\nB=\"x\"\r\n"), FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Name != "A" || ms[0].Value != "1" || ms[1].Value != "x" {
		t.Fatalf("got %+v", ms)
	}
}

func TestOutputName(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"ACCURACY":             "ACCURACY",
		"eval.precision":       "eval.precision",
		"f1-score":             "f1-score",
		"eval/f1@5":            "eval_f1_5",
		"1st_place":            "_1st_place",
		"-x":                   "_-x",
		".hidden":              "_.hidden",
		"@k":                   "_k",
		"précision":            "pr_cision",
		"loss (val)":           "loss__val_",
		"_private":             "_private",
		"fairnessScoreEqualOp": "fairnessScoreEqualOp",
	}
	for in, want := range tests {
		if got := OutputName(in); got != want {
			t.Errorf("OutputName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNumberText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		json   string
		number bool
		err    bool
	}{
		{"0.930", "0.930", true, false},
		{"-1", "-1", true, false},
		{"+1", "1", true, false},
		{".5", "0.5", true, false},
		{"5.", "5", true, false},
		{"007", "7", true, false},
		{"1E5", "1E5", true, false},
		{"1e-3", "1e-3", true, false},
		{"12345678901234567890", "12345678901234567890", true, false},
		{"1e999", "", false, true},
		{"1e-500", "", false, true},
		{"nan", "", false, false},
		{"Inf", "", false, false},
		{"0x10", "", false, false},
		{"1_000", "", false, false},
		{"", "", false, false},
		{"-", "", false, false},
		{".", "", false, false},
		{"1e", "", false, false},
		{"85%", "", false, false},
		{" 1", "", false, false},
	}
	for _, tt := range tests {
		text, _, ok, err := numberText(tt.in)
		if ok != tt.number || (err != nil) != tt.err || text != tt.json {
			t.Errorf("numberText(%q) = %q, %v, %v; want %q, %v, error %v", tt.in, text, ok, err, tt.json, tt.number, tt.err)
		}
	}
}

func TestMatchName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"ACCURACY", "ACCURACY", true},
		{"ACCURACY", "accuracy", false},
		{"*", "anything/at.all", true},
		{"eval.*", "eval.per_class.approved", true},
		{"eval.*", "evaluation", false},
		{"*_ms", "latency_p99_ms", true},
		{"*_ms", "latency_p99_s", false},
		{"loss_?", "loss_1", true},
		{"loss_?", "loss_10", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"pré*", "précision", true},
		{"?récision", "précision", true},
	}
	for _, tt := range tests {
		if got := matchName(tt.pattern, tt.name); got != tt.want {
			t.Errorf("matchName(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}
