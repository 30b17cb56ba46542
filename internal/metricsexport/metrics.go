package metricsexport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Kind is the type of a metric's value.
type Kind string

const (
	KindNumber Kind = "number"
	KindString Kind = "string"
	KindBool   Kind = "bool"
	KindNull   Kind = "null"
)

// Metric is one named value read from a metrics file.
type Metric struct {
	// Name is the metric's name after --rename; nested JSON and YAML keys
	// are joined with dots.
	Name string `json:"name"`
	// Original is the name in the file when --rename changed it.
	Original string `json:"original,omitempty"`
	// Output is the step output the value is written to: Name, or Name with
	// every character an output name cannot hold replaced by "_"; empty for
	// a metric that gets no output (see MaxMetricOutputs).
	Output string `json:"output,omitempty"`
	// Value is the value exactly as written in the file (without the quotes
	// of a quoted value).
	Value string `json:"value"`
	Kind  Kind   `json:"type"`
	// File and Line say where the metric was read.
	File string `json:"file"`
	Line int    `json:"line"`

	// jsonText is the value as JSON for numbers (the written form when it
	// is valid JSON, else the shortest form of the parsed float), booleans
	// and null; strings are encoded when needed.
	jsonText string
	float    float64
}

// Where is "file:line" for messages.
func (m *Metric) Where() string { return fmt.Sprintf("%s:%d", m.File, m.Line) }

// Number returns the metric as a float and whether it is a number.
func (m *Metric) Number() (float64, bool) { return m.float, m.Kind == KindNumber }

// JSONValue is the value as JSON: numbers as numbers, booleans as booleans,
// null as null, everything else as a string.
func (m *Metric) JSONValue() []byte {
	if m.Kind != KindString {
		return []byte(m.jsonText)
	}
	b, _ := json.Marshal(m.Value)
	return b
}

// maxExponent bounds the decimal exponent of a number so that exact decimal
// arithmetic on it (baseline comparison) stays small.
const maxExponent = 400

// numberText reports whether s is a decimal number ([+-]digits[.digits][e[+-]digits],
// or .5 and 5.) and returns it as a JSON number and a float. A number out
// of float64 range is an error.
func numberText(s string) (text string, f float64, ok bool, err error) {
	if !looksNumeric(s) {
		return "", 0, false, nil
	}
	f, perr := strconv.ParseFloat(s, 64)
	if perr != nil || math.IsInf(f, 0) || math.IsNaN(f) || exponentTooLarge(s) {
		return "", 0, false, fmt.Errorf("number %s is out of range", s)
	}
	if isJSONNumber(s) {
		return s, f, true, nil
	}
	return strconv.FormatFloat(f, 'g', -1, 64), f, true, nil
}

func looksNumeric(s string) bool {
	i, n := 0, len(s)
	if i < n && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < n && isDigit(s[i]) {
		i++
		digits++
	}
	if i < n && s[i] == '.' {
		i++
		for i < n && isDigit(s[i]) {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < n && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < n && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < n && isDigit(s[i]) {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == n
}

func exponentTooLarge(s string) bool {
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return false
	}
	e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
	return err != nil || e > maxExponent || e < -maxExponent
}

// isJSONNumber reports whether s is a number as JSON writes it.
func isJSONNumber(s string) bool {
	i, n := 0, len(s)
	if i < n && s[i] == '-' {
		i++
	}
	switch {
	case i < n && s[i] == '0':
		i++
	case i < n && s[i] >= '1' && s[i] <= '9':
		for i < n && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < n && s[i] == '.' {
		i++
		start := i
		for i < n && isDigit(s[i]) {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < n && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < n && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < n && isDigit(s[i]) {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == n
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// fixedOutputs are the outputs every run writes; no metric may take their
// names.
var fixedOutputs = []string{"metrics", "metrics-file", "report-urls", "report-url", "deltas", "regressed", "regressions", "metrics-omitted"}

// OutputName turns a metric name into a step output name. Output names hold
// letters, digits, "_", "-" and "."; every other character becomes "_", and
// a name that does not start with a letter or "_" gets a "_" in front
// ("eval/f1@5" -> "eval_f1_5", "1st" -> "_1st").
func OutputName(name string) string {
	if validOutputName(name) {
		return name
	}
	var b strings.Builder
	for i, r := range name {
		ok := r < 0x80 && (r == '_' || r == '-' || r == '.' || isDigit(byte(r)) || isLetter(byte(r)))
		if i == 0 && !(r < 0x80 && (r == '_' || isLetter(byte(r)))) {
			b.WriteByte('_')
			if !ok {
				continue
			}
		}
		if ok {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func validOutputName(s string) bool {
	if s == "" || !(s[0] == '_' || isLetter(s[0])) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c == '_' || c == '-' || c == '.' || isDigit(c) || isLetter(c)) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// metricsJSON encodes metrics as one JSON object in their order.
func metricsJSON(ms []Metric, indent bool) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		if indent {
			b.WriteString("\n  ")
		}
		k, _ := json.Marshal(m.Name)
		b.Write(k)
		b.WriteByte(':')
		if indent {
			b.WriteByte(' ')
		}
		b.Write(m.JSONValue())
	}
	if indent && len(ms) > 0 {
		b.WriteByte('\n')
	}
	b.WriteByte('}')
	return b.Bytes()
}

// matchName reports whether name matches pattern, where "*" matches any
// run of characters (dots and slashes too) and "?" any one character.
func matchName(patternText, nameText string) bool {
	pattern, name := []rune(patternText), []rune(nameText)
	// Iterative wildcard match with backtracking to the last "*".
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == name[n]):
			p++
			n++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
