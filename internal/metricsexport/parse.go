package metricsexport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mlship/mlship/internal/exitcode"
)

// Formats of metrics files.
const (
	FormatAuto = "auto"
	FormatEnv  = "env"
	FormatJSON = "json"
	FormatYAML = "yaml"
)

// DetectFormat picks a file's format from its extension: .json is JSON,
// .yaml and .yml are YAML, anything else KEY=VALUE lines.
func DetectFormat(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return FormatJSON
	case ".yaml", ".yml":
		return FormatYAML
	}
	return FormatEnv
}

// Parse reads the metrics in data, the contents of file, in format (auto
// detects it from the name). The metrics come in the order they are written.
// Every error is bad input naming file and line. A file of more than
// MaxMetrics metrics, nested more than MaxDepth levels deep or with YAML
// aliases that stand for more than MaxAliasValues values is an error too,
// found without reading past the limit.
func Parse(file string, data []byte, format string) ([]Metric, error) {
	return parse(file, data, format, MaxMetrics)
}

// MaxDepth is how deep JSON and YAML metrics may be nested.
const MaxDepth = 100

// limitError says that a file is over a limit on what it holds.
type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

func parse(file string, data []byte, format string, max int) ([]Metric, error) {
	if format == "" || format == FormatAuto {
		format = DetectFormat(file)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	p := &parser{file: file, max: max}
	var err error
	switch format {
	case FormatEnv:
		err = p.env(data)
	case FormatJSON:
		err = p.json(data)
	case FormatYAML:
		err = p.yaml(data)
	default:
		return nil, exitcode.BadInputf("--format %q: want auto, env, json or yaml", format)
	}
	if err != nil {
		return nil, err
	}
	return p.out, nil
}

type parser struct {
	file  string
	max   int // the most metrics the file may hold
	out   []Metric
	lines []int // offsets of line starts, for JSON

	aliasValues int // YAML nodes reached through aliases
}

func (p *parser) errorf(line int, format string, args ...any) error {
	return exitcode.BadInputf("%s:%d: %s", p.file, line, fmt.Sprintf(format, args...))
}

func (p *parser) tooMany() error {
	if len(p.out) < p.max {
		return nil
	}
	return &limitError{fmt.Sprintf("more than %d metrics (the limit)", MaxMetrics)}
}

func (p *parser) add(name, value string, kind Kind, line int) error {
	if err := p.tooMany(); err != nil {
		return err
	}
	m := Metric{Name: name, Value: value, Kind: kind, File: p.file, Line: line}
	switch kind {
	case KindNumber:
		text, f, ok, err := numberText(value)
		if err != nil {
			return p.errorf(line, "%s: %v", name, err)
		}
		if !ok {
			return p.errorf(line, "%s: %q is not a number", name, value)
		}
		m.jsonText, m.float = text, f
	case KindBool:
		m.jsonText = value
	case KindNull:
		m.jsonText = "null"
	}
	p.out = append(p.out, m)
	return nil
}

// env reads KEY=VALUE lines: blank lines and # comments are skipped, an
// "export " prefix is allowed, values may be quoted with ' (literal) or "
// (with \" \\ \n \t \r \$ escapes), and an unquoted value ends at " #".
func (p *parser) env(data []byte) error {
	p.out = make([]Metric, 0, min(bytes.Count(data, []byte{'\n'})+1, p.max))
	line := 0
	for len(data) > 0 {
		line++
		var raw []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			raw, data = data, nil
		}
		s := strings.TrimSpace(string(raw))
		if s == "" || s[0] == '#' {
			continue
		}
		if rest, ok := strings.CutPrefix(s, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			s = strings.TrimSpace(rest)
		}
		key, value, ok := strings.Cut(s, "=")
		if !ok {
			return p.errorf(line, "expected KEY=VALUE, found %q", clip(s))
		}
		key = strings.TrimSpace(key)
		if key == "" {
			return p.errorf(line, "expected KEY=VALUE, found no key before \"=\"")
		}
		if !validEnvKey(key) {
			return p.errorf(line, "invalid key %q: a key holds no spaces, quotes or control characters", clip(key))
		}
		v, err := envValue(strings.TrimSpace(value))
		if err != nil {
			return p.errorf(line, "%s: %v", key, err)
		}
		kind := KindString
		if looksNumeric(v) {
			kind = KindNumber
		}
		if err := p.add(key, v, kind, line); err != nil {
			return err
		}
	}
	return nil
}

func validEnvKey(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c == '"' || c == '\'' || c == '`' || c == 0x7f {
			return false
		}
	}
	return true
}

func envValue(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	switch s[0] {
	case '\'':
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return "", errors.New("unterminated ' quote")
		}
		if err := afterQuote(s[end+2:]); err != nil {
			return "", err
		}
		return s[1 : end+1], nil
	case '"':
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\\' && i+1 < len(s):
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				case '"', '\\', '$', '`':
					b.WriteByte(s[i])
				default:
					b.WriteByte('\\')
					b.WriteByte(s[i])
				}
			case c == '"':
				if err := afterQuote(s[i+1:]); err != nil {
					return "", err
				}
				return b.String(), nil
			default:
				b.WriteByte(c)
			}
		}
		return "", errors.New("unterminated \" quote")
	}
	// Unquoted: an inline comment starts at a # after a space.
	for i := 1; i < len(s); i++ {
		if s[i] == '#' && (s[i-1] == ' ' || s[i-1] == '\t') {
			s = strings.TrimSpace(s[:i])
			break
		}
	}
	return s, nil
}

func afterQuote(rest string) error {
	rest = strings.TrimSpace(rest)
	if rest == "" || rest[0] == '#' {
		return nil
	}
	return fmt.Errorf("unexpected %q after the closing quote", clip(rest))
}

// json reads one JSON object; nested objects and arrays are flattened with
// dots ("eval": {"f1": 0.8} is eval.f1, "loss": [0.3, 0.2] is loss.0 and
// loss.1).
func (p *parser) json(data []byte) error {
	p.lines = lineStarts(data)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return p.jsonError(dec, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return p.errorf(p.lineAt(dec.InputOffset()), "expected a JSON object of metric names to values")
	}
	if err := p.jsonObject(dec, "", 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return p.errorf(p.lineAt(dec.InputOffset()), "unexpected data after the JSON object")
	}
	return nil
}

func (p *parser) jsonObject(dec *json.Decoder, prefix string, depth int) error {
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return p.jsonError(dec, err)
		}
		key, _ := tok.(string)
		line := p.lineAt(dec.InputOffset())
		if key == "" {
			return p.errorf(line, "empty metric name")
		}
		if err := p.jsonValue(dec, prefix+key, line, depth); err != nil {
			return err
		}
	}
	_, err := dec.Token() // }
	if err != nil {
		return p.jsonError(dec, err)
	}
	return nil
}

func (p *parser) jsonValue(dec *json.Decoder, name string, line, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return p.jsonError(dec, err)
	}
	switch v := tok.(type) {
	case json.Delim:
		if depth >= MaxDepth {
			return p.errorf(line, "%s: nested more than %d levels deep (the limit)", name, MaxDepth)
		}
		if v == '{' {
			return p.jsonObject(dec, name+".", depth+1)
		}
		for i := 0; dec.More(); i++ {
			if err := p.jsonValue(dec, name+"."+strconv.Itoa(i), p.lineAt(dec.InputOffset()), depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // ]
			return p.jsonError(dec, err)
		}
		return nil
	case json.Number:
		return p.add(name, v.String(), KindNumber, line)
	case string:
		return p.add(name, v, KindString, line)
	case bool:
		return p.add(name, strconv.FormatBool(v), KindBool, line)
	case nil:
		return p.add(name, "null", KindNull, line)
	}
	return p.errorf(line, "unexpected JSON token %v", tok)
}

func (p *parser) jsonError(dec *json.Decoder, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset is that of the byte that is wrong.
		return p.errorf(p.lineAt(se.Offset+1), "invalid JSON: %v", se)
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return p.errorf(len(p.lines), "invalid JSON: unexpected end of file")
	}
	return p.errorf(p.lineAt(dec.InputOffset()), "invalid JSON: %v", err)
}

func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// lineAt is the 1-based line holding byte offset off. A token's offset is
// just past it, so the line is that of the byte before.
func (p *parser) lineAt(off int64) int {
	if off > 0 {
		off--
	}
	return sort.Search(len(p.lines), func(i int) bool { return int64(p.lines[i]) > off })
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// yaml reads one YAML mapping, flattened like JSON.
func (p *parser) yaml(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil
		}
		return p.yamlError(err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err != io.EOF {
		if err != nil {
			return p.yamlError(err)
		}
		return p.errorf(next.Line, "a second YAML document: put all metrics in one mapping")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return p.errorf(root.Line, "expected a YAML mapping of metric names to values")
	}
	return p.yamlNode(root, "", 0, false)
}

func (p *parser) yamlError(err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return p.errorf(n, "invalid YAML: %s", msg[len(m[0]):])
	}
	return exitcode.BadInputf("%s: invalid YAML: %s", p.file, strings.TrimPrefix(msg, "yaml: "))
}

// MaxAliasValues is how many values a YAML file's aliases may stand for in
// all: enough to reuse blocks of metrics, far short of what an alias bomb
// (nine levels of nine aliases, 387 million values from under 1 KiB) would
// make.
const MaxAliasValues = 100_000

// yamlNode reads n as metric name; aliased says that n is reached through
// an alias.
func (p *parser) yamlNode(n *yaml.Node, name string, depth int, aliased bool) error {
	if depth >= MaxDepth {
		return p.errorf(n.Line, "%s: nested more than %d levels deep (the limit)", name, MaxDepth)
	}
	for n.Kind == yaml.AliasNode {
		n = n.Alias
		aliased = true
	}
	// Mappings and sequences count too: an alias bomb of empty ones makes
	// no metric but would take as long.
	if aliased {
		if p.aliasValues++; p.aliasValues > MaxAliasValues {
			return &limitError{fmt.Sprintf("its YAML aliases stand for more than %d values (the limit)", MaxAliasValues)}
		}
	}
	switch n.Kind {
	case yaml.MappingNode:
		prefix := ""
		if name != "" {
			prefix = name + "."
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return p.errorf(k.Line, "a metric name must be a plain string")
			}
			if k.ShortTag() == "!!merge" {
				return p.errorf(k.Line, "YAML merge keys (<<) are not supported")
			}
			if k.Value == "" {
				return p.errorf(k.Line, "empty metric name")
			}
			if err := p.yamlNode(v, prefix+k.Value, depth+1, aliased); err != nil {
				return err
			}
		}
		return nil
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := p.yamlNode(c, name+"."+strconv.Itoa(i), depth+1, aliased); err != nil {
				return err
			}
		}
		return nil
	case yaml.ScalarNode:
		return p.yamlScalar(n, name)
	}
	return p.errorf(n.Line, "%s: unexpected YAML node", name)
}

func (p *parser) yamlScalar(n *yaml.Node, name string) error {
	switch n.ShortTag() {
	case "!!int", "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return p.errorf(n.Line, "%s: %q is not a number", name, n.Value)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			// .nan and .inf are kept as text: no JSON number or
			// CloudWatch value can hold them.
			return p.add(name, n.Value, KindString, n.Line)
		}
		m := Metric{Name: name, Value: n.Value, Kind: KindNumber, File: p.file, Line: n.Line, float: f}
		text, _, ok, err := numberText(n.Value)
		switch {
		case err != nil:
			return p.errorf(n.Line, "%s: %v", name, err)
		case ok:
			m.jsonText = text
		default: // 0x1F, 0o17, 1_000
			var i int64
			if n.ShortTag() == "!!int" && n.Decode(&i) == nil {
				m.jsonText = strconv.FormatInt(i, 10)
			} else {
				m.jsonText = strconv.FormatFloat(f, 'g', -1, 64)
			}
		}
		if exponentTooLarge(m.jsonText) {
			return p.errorf(n.Line, "%s: number %s is out of range", name, n.Value)
		}
		if err := p.tooMany(); err != nil {
			return err
		}
		p.out = append(p.out, m)
		return nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return p.errorf(n.Line, "%s: %v", name, err)
		}
		if err := p.tooMany(); err != nil {
			return err
		}
		p.out = append(p.out, Metric{Name: name, Value: n.Value, Kind: KindBool, File: p.file, Line: n.Line, jsonText: strconv.FormatBool(b)})
		return nil
	case "!!null":
		return p.add(name, n.Value, KindNull, n.Line)
	}
	return p.add(name, n.Value, KindString, n.Line)
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}
