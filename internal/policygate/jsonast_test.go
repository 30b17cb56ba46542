package policygate

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// reference decodes as encoding/json (numbers as json.Number) and
// ast.InterfaceToValue do.
func reference(b []byte) (ast.Value, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil || dec.More() {
		return nil, false
	}
	if _, err := dec.Token(); err == nil {
		return nil, false
	}
	v, err := ast.InterfaceToValue(doc)
	return v, err == nil
}

var jsonSeeds = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1.5e-3`, `12E+2`, `"x"`, `""`,
	`{"a": 1, "b": [1, 2.50, {"c": null}], "d": "é\u00e9 \"q\" \\ \/ \n\t"}`,
	`{"a": 1, "a": 2}`, `{"n": 123456789012345678901234567890}`, `{"big": 1e999}`,
	"{\"bad utf-8\": \"\xff\xfe\"}", `"\ud83d\ude00"`, `"\ud83d"`,
	` {"spaced" : [ 1 , 2 ] } `, "{\"a\":1}\n",
	`{`, `[1,]`, `{"a":1,}`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `NaN`, `Infinity`, `[1] [2]`, `{"a" 1}`, "\"tab\there\"",
	`{"a":1} x`, `tru`, `nul`, `"\x"`, `"\u12"`, `[`, `"unterminated`,
}

// The fast decoder reads every document as encoding/json and
// ast.InterfaceToValue together do, and takes nothing they refuse (it may
// leave a document to them: the caller then decodes it their way).
func FuzzJSONToValue(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, ok := reference(b)
		got, err := jsonToValue(b)
		switch {
		case !ok && err == nil:
			t.Fatalf("%q: took %v, which encoding/json refuses", b, got)
		case ok && err == nil && ast.Compare(got, want) != 0:
			t.Fatalf("%q: got %v, want %v", b, got, want)
		}
	})
}

func TestJSONToValueTakesPlainJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{`{"a": [1, 2.50, {"c": null}], "d": "x"}`, `{"a": 1, "a": 2}`, `"\u00e9"`, `-0.0e+0`} {
		got, err := jsonToValue([]byte(s))
		want, _ := reference([]byte(s))
		if err != nil || ast.Compare(got, want) != 0 {
			t.Errorf("%s: %v, %v; want %v", s, got, err, want)
		}
	}
	// Numbers keep their text.
	if v, _ := jsonToValue([]byte(`{"a": 0.930}`)); v.(ast.Object).Get(ast.StringTerm("a")).String() != "0.930" {
		t.Errorf("0.930 became %v", v)
	}
}
