package policygate

import (
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// errSyntax is any JSON the fast decoder does not take; the caller then
// decodes with encoding/json, which says what is wrong (or takes it).
var errSyntax = errors.New("not plain JSON")

// jsonToValue decodes one JSON document straight into OPA's values, without
// the map[string]any tree that encoding/json and ast.InterfaceToValue
// would build and convert in turn: a large input is read in one pass.
// Numbers keep their text, as json.Number does.
func jsonToValue(b []byte) (ast.Value, error) {
	d := jsonDecoder{b: b}
	d.space()
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.space(); d.i != len(d.b) {
		return nil, errSyntax // more than one document
	}
	return v, nil
}

type jsonDecoder struct {
	b []byte
	i int
}

// maxDepth bounds nesting as encoding/json does (10000).
const maxDepth = 10000

func (d *jsonDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *jsonDecoder) value(depth int) (ast.Value, error) {
	if d.i >= len(d.b) || depth > maxDepth {
		return nil, errSyntax
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '"':
		s, err := d.string()
		if err != nil {
			return nil, err
		}
		return ast.String(s), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case d.literal("true"):
		return ast.Boolean(true), nil
	case d.literal("false"):
		return ast.Boolean(false), nil
	case d.literal("null"):
		return ast.Null{}, nil
	}
	return nil, errSyntax
}

func (d *jsonDecoder) literal(word string) bool {
	if len(d.b)-d.i < len(word) || string(d.b[d.i:d.i+len(word)]) != word {
		return false
	}
	d.i += len(word)
	return true
}

func (d *jsonDecoder) object(depth int) (ast.Value, error) {
	d.i++ // {
	var keys []string
	var vals []ast.Value
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return ast.NewObject(), nil
	}
	for {
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, errSyntax
		}
		k, err := d.string()
		if err != nil {
			return nil, err
		}
		if d.space(); d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, errSyntax
		}
		d.i++
		d.space()
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		keys, vals = append(keys, k), append(vals, v)
		if d.space(); d.i >= len(d.b) {
			return nil, errSyntax
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			terms := make([]ast.Term, 2*len(keys)) // one allocation for all
			obj := ast.NewObjectWithCapacity(len(keys))
			for n := range keys {
				terms[2*n].Value, terms[2*n+1].Value = ast.String(keys[n]), vals[n]
				obj.Insert(&terms[2*n], &terms[2*n+1]) // a repeated key: the last wins, as in encoding/json
			}
			return obj, nil
		default:
			return nil, errSyntax
		}
	}
}

func (d *jsonDecoder) array(depth int) (ast.Value, error) {
	d.i++ // [
	var vals []ast.Value
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return ast.NewArray(), nil
	}
	for {
		d.space()
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
		if d.space(); d.i >= len(d.b) {
			return nil, errSyntax
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			terms := make([]ast.Term, len(vals))
			ptrs := make([]*ast.Term, len(vals))
			for n, v := range vals {
				terms[n].Value = v
				ptrs[n] = &terms[n]
			}
			return ast.NewArray(ptrs...), nil
		default:
			return nil, errSyntax
		}
	}
}

// string reads a JSON string. One with escapes or bytes that are not
// UTF-8 is left to encoding/json, which decodes them as it always does.
func (d *jsonDecoder) string() (string, error) {
	start := d.i
	d.i++ // "
	plain := true
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			raw := d.b[start+1 : d.i-1]
			if plain && utf8.Valid(raw) {
				return string(raw), nil
			}
			var s string
			if err := json.Unmarshal(d.b[start:d.i], &s); err != nil {
				return "", errSyntax
			}
			return s, nil
		case c == '\\':
			plain = false
			d.i += 2
		case c < 0x20:
			return "", errSyntax
		default:
			d.i++
		}
	}
	return "", errSyntax
}

// number reads a number in JSON's grammar, keeping its text.
func (d *jsonDecoder) number() (ast.Value, error) {
	start := d.i
	if d.b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.b) && d.b[d.i] == '0':
		d.i++
	case d.i < len(d.b) && d.b[d.i] >= '1' && d.b[d.i] <= '9':
		d.digits()
	default:
		return nil, errSyntax
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if !d.digits() {
			return nil, errSyntax
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if !d.digits() {
			return nil, errSyntax
		}
	}
	text := string(d.b[start:d.i])
	if t := ast.InternedIntNumberTermFromString(text); t != nil {
		return t.Value, nil
	}
	n, err := ast.NumberChecked(text)
	if err != nil {
		return nil, errSyntax
	}
	return n, nil
}

func (d *jsonDecoder) digits() bool {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}
