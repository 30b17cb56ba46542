package metricsexport

import (
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/exitcode"
)

func mustParse(t *testing.T, file, data string) []Metric {
	t.Helper()
	ms, err := Parse(file, []byte(data), FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func mustRules(t *testing.T, specs ...string) []Rule {
	t.Helper()
	var rules []Rule
	for _, s := range specs {
		r, err := ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, r)
	}
	return rules
}

func TestCompare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		current, baseline string
		rules             []string
		want              string // name:delta:relative:regressed per comparison
		missing           string
	}{
		{
			name:     "exact decimal delta",
			current:  "acc=0.93\n",
			baseline: "acc=0.91\n",
			rules:    []string{"acc:higher"},
			want:     "acc:0.02:0.02197802197802198:false",
		},
		{
			name:     "fell more than the tolerance",
			current:  "acc=0.89\n",
			baseline: "acc=0.91\n",
			rules:    []string{"acc:higher:0.01"},
			want:     "acc:-0.02:-0.02197802197802198:true",
		},
		{
			name:     "fell exactly the tolerance",
			current:  "acc=0.9\n",
			baseline: "acc=0.91\n",
			rules:    []string{"acc:higher:0.01"},
			want:     "acc:-0.01:-0.01098901098901099:false",
		},
		{
			name:     "relative tolerance",
			current:  "lat=104\nlat2=106\n",
			baseline: "lat=100\nlat2=100\n",
			rules:    []string{"lat*:lower:5%"},
			want:     "lat:4:0.04:false lat2:6:0.06:true",
		},
		{
			name:     "lower is better and improved",
			current:  "gap=10\n",
			baseline: "gap=14\n",
			rules:    []string{"gap:lower"},
			want:     "gap:-4:-0.2857142857142857:false",
		},
		{
			name:     "zero baseline has no relative change",
			current:  "errors=2\n",
			baseline: "errors=0\n",
			rules:    []string{"errors:lower:1"},
			want:     "errors:2::true",
		},
		{
			name:     "first matching rule wins",
			current:  "acc=0.80\n",
			baseline: "acc=0.90\n",
			rules:    []string{"acc:higher:0.2", "*:higher"},
			want:     "acc:-0.1:-0.1111111111111111:false",
		},
		{
			name:     "no rule: delta only",
			current:  "acc=0.5\nname=x\n",
			baseline: "acc=0.75\nname=y\n",
			want:     "acc:-0.25:-0.3333333333333333:false",
		},
		{
			name:     "new metric is reported, not judged",
			current:  "acc=0.9\nauc=0.8\n",
			baseline: "acc=0.9\n",
			rules:    []string{"*:higher"},
			want:     "acc:0:0:false",
			missing:  "auc",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmps, missing, err := Compare(mustParse(t, "cur.env", tt.current), mustParse(t, "base.env", tt.baseline), mustRules(t, tt.rules...))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cmps {
				reg := "false"
				if c.Regressed {
					reg = "true"
				}
				got = append(got, c.Name+":"+c.Delta+":"+c.Relative+":"+reg)
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("comparisons\n got %s\nwant %s", g, tt.want)
			}
			if m := strings.Join(missing, " "); m != tt.missing {
				t.Errorf("new metrics %q, want %q", m, tt.missing)
			}
		})
	}
}

func TestCompareBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, current, baseline, rule, want string
	}{
		{"current not a number", "acc=high\n", "acc=0.9\n", "acc:higher", `cur.env:1: acc: "high" is not a number (--compare acc)`},
		{"baseline not a number", "acc=0.9\n", "x=1\nacc=n/a\n", "acc:higher", `base.env:2: acc: "n/a" is not a number (baseline for --compare acc)`},
		{"rule matches nothing", "acc=0.9\n", "acc=0.9\n", "auc:higher", `--compare "auc:higher": no metric matches auc`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := Compare(mustParse(t, "cur.env", tt.current), mustParse(t, "base.env", tt.baseline), mustRules(t, tt.rule))
			if exitcode.Of(err) != exitcode.BadInput || err.Error() != tt.want {
				t.Errorf("error %v (exit %d), want %s (exit 2)", err, exitcode.Of(err), tt.want)
			}
		})
	}
}

func TestParseRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, pattern, dir, tol string
		relative              bool
		err                   string
	}{
		{in: "accuracy:higher", pattern: "accuracy", dir: "higher", tol: "0"},
		{in: "accuracy:HIGHER:0.01", pattern: "accuracy", dir: "higher", tol: "1/100"},
		{in: "latency_*:lower:5%", pattern: "latency_*", dir: "lower", tol: "5", relative: true},
		{in: "ns:metric:lower:1", pattern: "ns:metric", dir: "lower", tol: "1"},
		{in: "acc:higher:0.5%", pattern: "acc", dir: "higher", tol: "1/2", relative: true},
		{in: "accuracy", err: `--compare "accuracy": want NAME:higher or NAME:lower, with an optional :TOLERANCE (0.01 or 2%)`},
		{in: "accuracy:up", err: `--compare "accuracy:up": want NAME:higher or NAME:lower`},
		{in: ":higher", err: `--compare ":higher": no metric name`},
		{in: "a:higher:x", err: `--compare "a:higher:x": tolerance "x" is not a number (0.01) or a percentage (2%)`},
		{in: "a:higher:-1", err: `--compare "a:higher:-1": tolerance "-1" must not be negative`},
	}
	for _, tt := range tests {
		r, err := ParseRule(tt.in)
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) || exitcode.Of(err) != exitcode.BadInput {
				t.Errorf("ParseRule(%q) error %v, want %s", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRule(%q): %v", tt.in, err)
			continue
		}
		if r.Pattern != tt.pattern || r.Direction() != tt.dir || r.Tolerance.RatString() != tt.tol || r.Relative != tt.relative {
			t.Errorf("ParseRule(%q) = %s %s %s %v", tt.in, r.Pattern, r.Direction(), r.Tolerance.RatString(), r.Relative)
		}
	}
}
