package metricsexport

import (
	"math/big"
	"slices"
	"strconv"

	"github.com/mlship/mlship/internal/exitcode"
)

// Comparison is one metric against its baseline. Differences are computed
// exactly on the decimal values as written, so 0.93 - 0.91 is 0.02 and a
// value exactly at the tolerance is not a regression.
type Comparison struct {
	Name     string `json:"name"`
	Current  string `json:"current"`
	Baseline string `json:"baseline"`
	// Delta is current - baseline.
	Delta string `json:"delta"`
	// Relative is Delta / |baseline| (empty when the baseline is 0).
	Relative string `json:"relative,omitempty"`
	// Direction, Tolerance and Regressed are set when a --compare rule
	// matched the metric.
	Direction string `json:"direction,omitempty"`
	Tolerance string `json:"tolerance,omitempty"`
	Regressed bool   `json:"regressed"`
}

// Compare compares every numeric metric that the baseline also holds, and
// judges the ones a rule matches (the first matching rule wins). A rule
// naming a metric that is not there, or a rule on a value that is not a
// number, is bad input. Metrics missing from the baseline are new and are
// only reported.
func Compare(current, baseline []Metric, rules []Rule) (cmps []Comparison, missing []string, err error) {
	base := make(map[string]*Metric, len(baseline))
	for i := range baseline {
		base[baseline[i].Name] = &baseline[i]
	}
	for _, r := range rules {
		if !slices.ContainsFunc(current, func(m Metric) bool { return matchName(r.Pattern, m.Name) }) {
			return nil, nil, exitcode.BadInputf("--compare %q: no metric matches %s", r.given, r.Pattern)
		}
	}
	for i := range current {
		m := &current[i]
		ri := -1
		for j, r := range rules {
			if matchName(r.Pattern, m.Name) {
				ri = j
				break
			}
		}
		b := base[m.Name]
		if ri >= 0 {
			if m.Kind != KindNumber {
				return nil, nil, exitcode.BadInputf("%s: %s: %q is not a number (--compare %s)", m.Where(), m.Name, m.Value, rules[ri].Pattern)
			}
			if b == nil {
				missing = append(missing, m.Name)
				continue
			}
			if b.Kind != KindNumber {
				return nil, nil, exitcode.BadInputf("%s: %s: %q is not a number (baseline for --compare %s)", b.Where(), b.Name, b.Value, rules[ri].Pattern)
			}
		}
		if b == nil || m.Kind != KindNumber || b.Kind != KindNumber {
			continue
		}
		c := compareOne(m, b)
		if ri >= 0 {
			judge(&c, m, b, rules[ri])
		}
		cmps = append(cmps, c)
	}
	return cmps, missing, nil
}

func rat(m *Metric) *big.Rat {
	r, ok := new(big.Rat).SetString(m.jsonText)
	if !ok {
		r = new(big.Rat)
		r.SetFloat64(m.float)
	}
	return r
}

func compareOne(m, b *Metric) Comparison {
	cur, base := rat(m), rat(b)
	delta := new(big.Rat).Sub(cur, base)
	c := Comparison{Name: m.Name, Current: m.Value, Baseline: b.Value, Delta: ratText(delta)}
	if base.Sign() != 0 {
		c.Relative = ratText(new(big.Rat).Quo(delta, new(big.Rat).Abs(base)))
	}
	return c
}

func judge(c *Comparison, m, b *Metric, r Rule) {
	cur, base := rat(m), rat(b)
	tol := new(big.Rat).Set(r.Tolerance)
	if r.Relative {
		tol.Mul(tol, new(big.Rat).Abs(base))
		tol.Quo(tol, big.NewRat(100, 1))
	}
	c.Direction, c.Tolerance = r.Direction(), r.text
	if r.Higher {
		c.Regressed = cur.Cmp(new(big.Rat).Sub(base, tol)) < 0
	} else {
		c.Regressed = cur.Cmp(new(big.Rat).Add(base, tol)) > 0
	}
}

// ratText is r as the shortest float that reads back as the nearest
// float64: a JSON number.
func ratText(r *big.Rat) string {
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}
