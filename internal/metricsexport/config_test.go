package metricsexport

import (
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/exitcode"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := func(c Config) Config {
		if c.Files == nil {
			c.Files = []string{"m.env"}
		}
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want string // "" for valid
	}{
		{"minimal", ok(Config{}), ""},
		{"everything", ok(Config{
			Format: "yaml", Include: []string{"*"}, Rename: []string{"A=B"},
			Baseline: "b.json", Compare: []string{"B:higher:1%"}, FailOnRegression: true,
			Upload: []string{"r.html"}, Bucket: "my-reports.v2", Prefix: "runs/1/", Presign: "7d",
			Namespace: "MLModels/credit", Dimensions: []string{"Model=credit", "Stage=prod"}, Units: []string{"*_ms=milliseconds"},
		}), ""},
		{"no file", Config{}, "--file: no metrics file given"},
		{"format", ok(Config{Format: "toml"}), `--format "toml": want auto, env, json or yaml`},
		{"rename without =", ok(Config{Rename: []string{"A"}}), `--rename "A": want OLD=NEW`},
		{"rename twice", ok(Config{Rename: []string{"A=B", "A=C"}}), `--rename "A=C": A is renamed twice`},
		{"compare without baseline", ok(Config{Compare: []string{"a:higher"}}), "--compare needs --baseline"},
		{"fail without baseline", ok(Config{FailOnRegression: true}), "--fail-on-regression needs --baseline"},
		{"upload without bucket", ok(Config{Upload: []string{"r.html"}}), "--upload needs --bucket"},
		{"bucket as URI", ok(Config{Upload: []string{"r.html"}, Bucket: "s3://b/p"}), `--bucket "s3://b/p": give the bucket name only, and the rest as --prefix`},
		{"bucket name", ok(Config{Upload: []string{"r.html"}, Bucket: "My_Bucket"}), `--bucket "My_Bucket": not a valid S3 bucket name`},
		{"prefix", ok(Config{Prefix: "../x"}), `--prefix "../x": must not hold ".." or line breaks`},
		{"presign syntax", ok(Config{Presign: "soon"}), `--presign "soon": want a duration such as 1h, 12h or 7d`},
		{"presign too long", ok(Config{Presign: "8d"}), `--presign "8d": must be between 1s and 7d`},
		{"reserved namespace", ok(Config{Namespace: "AWS/Lambda"}), `--cloudwatch-namespace "AWS/Lambda": namespaces starting with AWS/ are reserved`},
		{"namespace colon", ok(Config{Namespace: ":x"}), `--cloudwatch-namespace ":x": must not start with ":"`},
		{"namespace non-ASCII", ok(Config{Namespace: "Modèles"}), `--cloudwatch-namespace "Modèles": only printable ASCII`},
		{"namespace too long", ok(Config{Namespace: strings.Repeat("n", 256)}), `longer than 255 characters`},
		{"dimension without namespace", ok(Config{Dimensions: []string{"A=b"}}), "--dimension needs --cloudwatch-namespace"},
		{"unit without namespace", ok(Config{Units: []string{"*=Percent"}}), "--unit needs --cloudwatch-namespace"},
		{"dimension syntax", ok(Config{Namespace: "N", Dimensions: []string{"Model"}}), `--dimension "Model": want Name=Value`},
		{"dimension twice", ok(Config{Namespace: "N", Dimensions: []string{"M=a", "M=b"}}), `--dimension "M=b": M is given twice`},
		{"dimension value too long", ok(Config{Namespace: "N", Dimensions: []string{"M=" + strings.Repeat("v", 1025)}}), "value longer than 1024 characters"},
		{"31 dimensions", ok(Config{Namespace: "N", Dimensions: func() []string {
			var d []string
			for i := range 31 {
				d = append(d, "D"+strings.Repeat("x", i)+"=v")
			}
			return d
		}()}), "--dimension: 31 given, CloudWatch takes at most 30"},
		{"unknown unit", ok(Config{Namespace: "N", Units: []string{"*=Furlongs"}}), `--unit "*=Furlongs": unknown unit "Furlongs"`},
		{"several problems at once", Config{Format: "x", Upload: []string{"r"}}, `3 problems: --file: no metrics file given; --format "x": want auto, env, json or yaml; --upload needs --bucket`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if exitcode.Of(err) != exitcode.BadInput {
				t.Errorf("exit code %d, want 2", exitcode.Of(err))
			}
		})
	}
}

func TestValidateUnitsCanonical(t *testing.T) {
	t.Parallel()
	c := Config{Files: []string{"m"}, Namespace: "N", Units: []string{"*_ms=milliseconds", "rate=bytes/second"}}
	p, err := c.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if p.units[0].unit != "Milliseconds" || p.units[1].unit != "Bytes/Second" {
		t.Errorf("units %v", p.units)
	}
}
