package policygate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"

	"github.com/mlship/mlship/internal/exitcode"
)

// policyFile is one Rego module as read from disk or from the built-ins.
type policyFile struct {
	Name   string // a path or builtin:NAME
	Source string
	from   origin // the --policy that brought it
}

// loadPolicies expands files, directories and builtin: names into Rego
// sources. Directories give their *.rego files, tests excluded. Built-ins
// also bring their default data.
func loadPolicies(ctx context.Context, specs []string) ([]policyFile, map[string]any, error) {
	var files []policyFile
	defaults := map[string]any{}
	for _, spec := range specs {
		if name, ok := strings.CutPrefix(spec, "builtin:"); ok {
			b, err := builtinPolicy(name)
			if err != nil {
				return nil, nil, err
			}
			files = append(files, policyFile{Name: spec, Source: b.Source, from: origin{flag: "policy", value: spec}})
			if b.Defaults != nil {
				merge(defaults, map[string]any{"params": b.Defaults})
			}
			continue
		}
		from := origin{flag: "policy", value: spec}
		info, err := os.Stat(spec)
		if err != nil {
			return nil, nil, from.errorf("%w", unwrapPathError(err))
		}
		if !info.IsDir() {
			src, err := readFile(ctx, from, spec)
			if err != nil {
				return nil, nil, err
			}
			files = append(files, policyFile{Name: spec, Source: string(src), from: from})
			continue
		}
		before := len(files)
		err = filepath.WalkDir(spec, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return from.errorf("%w", unwrapPathError(err))
			}
			if ctx.Err() != nil {
				return interrupted(ctx, from)
			}
			if d.IsDir() || filepath.Ext(path) != ".rego" || strings.HasSuffix(path, "_test.rego") {
				return nil
			}
			in := origin{from.flag, from.value, path}
			src, err := readFile(ctx, in, path)
			if err != nil {
				return err
			}
			files = append(files, policyFile{Name: path, Source: string(src), from: in})
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		if len(files) == before {
			return nil, nil, from.errorf("the directory holds no .rego files")
		}
	}
	return files, defaults, nil
}

// parsePolicy parses one module in the Rego version asked for, or, for
// "auto", in v1 and else in v0 (the syntax before `if` and `contains`
// became keywords). The v1 error is the one reported when neither parses:
// v1 is what new policies are written in.
func parsePolicy(p policyFile, version string) (*ast.Module, error) {
	parse := func(v ast.RegoVersion) (*ast.Module, error) {
		return ast.ParseModuleWithOpts(p.Name, p.Source, ast.ParserOptions{RegoVersion: v, ProcessAnnotation: true})
	}
	var (
		m   *ast.Module
		err error
	)
	switch version {
	case "v0":
		m, err = parse(ast.RegoV0)
	case "v1":
		m, err = parse(ast.RegoV1)
	default:
		m, err = parse(ast.RegoV1)
		if err != nil {
			if m0, err0 := parse(ast.RegoV0); err0 == nil {
				m, err = m0, nil
			}
		}
	}
	if err != nil {
		return nil, policyError([]policyFile{p}, err)
	}
	if m == nil {
		return nil, p.from.errorf("empty policy (no package)")
	}
	return m, nil
}

// policyError is OPA's first error about the policies, as bad input of the
// --policy that brought the file it names:
// `--policy "q.rego": line 7: rego_unsafe_var_error: var acc is unsafe`.
func policyError(files []policyFile, err error) error {
	var errs ast.Errors
	var one *ast.Error
	switch {
	case errors.As(err, &errs) && len(errs) > 0:
	case errors.As(err, &one):
		errs = ast.Errors{one}
	default:
		return exitcode.BadInputf("%w", err)
	}
	e := errs[0]
	msg := fmt.Sprintf("%s: %s", e.Code, e.Message)
	if len(errs) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(errs)-1)
	}
	if e.Location == nil {
		return exitcode.BadInputf("%s", msg)
	}
	if e.Location.Row > 0 {
		msg = fmt.Sprintf("line %d: %s", e.Location.Row, msg)
	}
	for _, f := range files {
		if f.Name == e.Location.File {
			return f.from.errorf("%s", msg)
		}
	}
	return exitcode.BadInputf("%s: %s", e.Location.File, msg)
}

// maxFileSize bounds every file policy-gate reads (policies, data files
// and inputs), and what a YAML document's aliases may expand to: a larger
// one is refused before it is parsed.
const maxFileSize = 32 << 20

var errTooLarge = fmt.Errorf("larger than the %d MiB limit", maxFileSize>>20)

// origin is the option a file came from, for messages: --input "m.json".
type origin struct {
	flag, value string
	file        string // a file in the directory value names
}

func (o origin) String() string { return fmt.Sprintf("--%s %q", o.flag, o.value) }

// errorf is a bad-input error about the option's value.
func (o origin) errorf(format string, a ...any) error {
	err := fmt.Errorf(format, a...)
	if o.file != "" {
		return exitcode.BadInputf("%s: %s: %w", o, o.file, err)
	}
	return exitcode.BadInputf("%s: %w", o, err)
}

// interrupted is the error of a run whose context ended while it worked
// on from.
func interrupted(ctx context.Context, from origin) error {
	return exitcode.Incompletef("interrupted while reading %s: %w", from, context.Cause(ctx))
}

// readFile reads the file path named by from, refusing one larger than
// maxFileSize.
func readFile(ctx context.Context, from origin, path string) ([]byte, error) {
	fail := func(err error) error { return from.errorf("%w", err) }
	f, err := os.Open(path)
	if err != nil {
		return nil, fail(unwrapPathError(err))
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Mode().IsRegular() && info.Size() > maxFileSize {
		return nil, fail(errTooLarge)
	}
	b, err := readAll(ctx, f, maxFileSize)
	switch {
	case ctx.Err() != nil:
		return nil, interrupted(ctx, from)
	case err != nil:
		return nil, fail(unwrapPathError(err))
	}
	return b, nil
}

// readAll reads r to its end, up to limit bytes, and gives up when ctx is
// done: a read that blocks (a pipe nobody writes to) is left to its
// goroutine, which ends with the process.
func readAll(ctx context.Context, r io.Reader, limit int64) ([]byte, error) {
	type read struct {
		b   []byte
		err error
	}
	done := make(chan read, 1)
	go func() {
		var buf bytes.Buffer
		chunk := make([]byte, 256<<10)
		for ctx.Err() == nil {
			n, err := r.Read(chunk)
			buf.Write(chunk[:n])
			switch {
			case int64(buf.Len()) > limit:
				done <- read{err: errTooLarge}
				return
			case err == io.EOF:
				done <- read{b: buf.Bytes()}
				return
			case err != nil:
				done <- read{err: err}
				return
			}
		}
		done <- read{err: ctx.Err()}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// readDocument reads a JSON or YAML document of from. Numbers stay
// json.Number so that values reach the policy exactly as written. The
// format is taken from the file's extension, else JSON is tried first.
func readDocument(ctx context.Context, from origin, path string, stdin io.Reader) (any, error) {
	b, err := readBytes(ctx, from, path, stdin)
	if err != nil {
		return nil, err
	}
	return decodeDocument(from, path, b)
}

// readInput reads one --input document, as OPA's value, and what the
// decision file records of it.
func readInput(ctx context.Context, in inputSpec, stdin io.Reader) (ast.Value, InputFile, error) {
	b, err := readBytes(ctx, in.origin(), in.path, stdin)
	if err != nil {
		return nil, InputFile{}, err
	}
	sum := sha256.Sum256(b)
	file := InputFile{Name: in.name, Path: in.path, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(b))}
	v, err := decodeInput(in.origin(), in.path, b)
	return v, file, err
}

// decodeInput is decodeDocument for an input: JSON goes straight into
// OPA's value, YAML by way of JSON.
func decodeInput(from origin, path string, b []byte) (ast.Value, error) {
	ext := strings.ToLower(filepath.Ext(path))
	if ext == ".yaml" || ext == ".yml" {
		j, err := yamlToJSON(from, b)
		if err != nil {
			return nil, err
		}
		return jsonValue(from, j)
	}
	v, err := jsonValue(from, b)
	if err == nil || ext == ".json" {
		return v, err
	}
	if j, yerr := yamlToJSON(from, b); yerr == nil {
		if v, yerr := jsonValue(from, j); yerr == nil {
			return v, nil
		}
	}
	return nil, err
}

func jsonValue(from origin, b []byte) (ast.Value, error) {
	if v, err := jsonToValue(b); err == nil {
		return v, nil
	}
	// encoding/json says what is wrong, or takes what the fast path did not.
	doc, err := decodeJSON(from, b)
	if err != nil {
		return nil, err
	}
	v, err := ast.InterfaceToValue(doc)
	if err != nil {
		return nil, from.errorf("%w", err)
	}
	return v, nil
}

// readBytes reads path, or standard input for "-".
func readBytes(ctx context.Context, from origin, path string, stdin io.Reader) ([]byte, error) {
	if path != "-" {
		return readFile(ctx, from, path)
	}
	b, err := readAll(ctx, stdin, maxFileSize)
	switch {
	case ctx.Err() != nil:
		return nil, interrupted(ctx, from)
	case err != nil:
		return nil, from.errorf("reading standard input: %w", err)
	}
	return b, nil
}

func decodeDocument(from origin, path string, b []byte) (any, error) {
	ext := strings.ToLower(filepath.Ext(path))
	if ext == ".yaml" || ext == ".yml" {
		return decodeYAML(from, b)
	}
	doc, jerr := decodeJSON(from, b)
	if jerr == nil || ext == ".json" {
		return doc, jerr
	}
	if doc, yerr := decodeYAML(from, b); yerr == nil {
		return doc, nil
	}
	return nil, jerr
}

func decodeJSON(from origin, b []byte) (any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, from.errorf("empty document")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		line := 1
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line += bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
		} else if err == io.ErrUnexpectedEOF {
			line += bytes.Count(b, []byte("\n"))
		}
		return nil, from.errorf("line %d: malformed JSON: %v", line, err)
	}
	if dec.More() {
		return nil, from.errorf("more than one JSON document")
	}
	return doc, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func decodeYAML(from origin, b []byte) (any, error) {
	j, err := yamlToJSON(from, b)
	if err != nil {
		return nil, err
	}
	return decodeJSON(from, j)
}

// yamlToJSON converts a YAML document to JSON, refusing one whose aliases
// expand past maxFileSize.
func yamlToJSON(from origin, b []byte) ([]byte, error) {
	if err := checkAliases(b, maxFileSize); err != nil {
		return nil, from.errorf("%w", err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
		msg = strings.TrimPrefix(msg, "yaml: ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			return nil, from.errorf("line %s: malformed YAML: %s", m[1], msg)
		}
		return nil, from.errorf("malformed YAML: %s", msg)
	}
	if string(bytes.TrimSpace(j)) == "null" {
		return nil, from.errorf("empty document")
	}
	return j, nil
}

// checkAliases refuses a YAML document whose aliases expand it past limit
// bytes (a "billion laughs" document is a few hundred bytes that expand
// to gigabytes), before it is expanded.
func checkAliases(b []byte, limit int64) error {
	var root yamlv3.Node
	if err := yamlv3.Unmarshal(b, &root); err != nil {
		return nil // malformed: the decoder says how
	}
	const inProgress = -1
	sizes := map[*yamlv3.Node]int64{}
	var size func(n *yamlv3.Node) int64
	size = func(n *yamlv3.Node) int64 {
		switch s, ok := sizes[n]; {
		case ok && s == inProgress:
			return limit + 1 // an alias inside its own anchor never ends
		case ok:
			return s
		}
		sizes[n] = inProgress
		s := int64(len(n.Value)) + 4
		if n.Kind == yamlv3.AliasNode && n.Alias != nil {
			s = size(n.Alias)
		}
		for _, c := range n.Content {
			if s += size(c); s > limit {
				break
			}
		}
		sizes[n] = s
		return s
	}
	if size(&root) > limit {
		return fmt.Errorf("its YAML aliases expand it past the %d MiB limit", limit>>20)
	}
	return nil
}

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// parseSet reads --set key=value pairs into a document. Numbers, booleans
// and null are typed as such (numbers kept exactly as written), a value in
// double quotes is always a string, anything else is a string. Dotted keys
// make nested objects.
func parseSet(pairs []string, flag string) (map[string]any, error) {
	doc := map[string]any{}
	for _, p := range pairs {
		key, val, err := parsePair(p, flag)
		if err != nil {
			return nil, err
		}
		if err := setPath(doc, strings.Split(key, "."), val); err != nil {
			return nil, exitcode.BadInputf("--%s %q: %v", flag, p, err)
		}
	}
	return doc, nil
}

// parsePair reads one key=value pair, typing the value as parseSet does.
func parsePair(p, flag string) (string, any, error) {
	key, raw, ok := strings.Cut(p, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return "", nil, exitcode.BadInputf("--%s %q: want key=value", flag, p)
	}
	var val any = raw
	switch {
	case jsonNumber.MatchString(raw):
		val = json.Number(raw)
	case raw == "true" || raw == "false":
		val = raw == "true"
	case raw == "null":
		val = nil
	case len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"':
		s, err := strconv.Unquote(raw)
		if err != nil {
			return "", nil, exitcode.BadInputf("--%s %q: bad quoted string: %v", flag, p, err)
		}
		val = s
	}
	return key, val, nil
}

// isNumber reports whether v is a number as the built-in policies read
// one: a JSON number, or a string that holds one in JSON's syntax.
func isNumber(v any) bool {
	switch t := v.(type) {
	case json.Number:
		return true
	case float64:
		return !math.IsNaN(t) && !math.IsInf(t, 0)
	case string:
		return jsonNumber.MatchString(t)
	}
	return false
}

func setPath(doc map[string]any, path []string, val any) error {
	for i, k := range path {
		if k == "" {
			return fmt.Errorf("empty key segment")
		}
		if i == len(path)-1 {
			if _, isObj := doc[k].(map[string]any); isObj {
				return fmt.Errorf("%s is already an object", strings.Join(path[:i+1], "."))
			}
			doc[k] = val
			return nil
		}
		next, ok := doc[k].(map[string]any)
		if !ok {
			if _, exists := doc[k]; exists {
				return fmt.Errorf("%s is already a value", strings.Join(path[:i+1], "."))
			}
			next = map[string]any{}
			doc[k] = next
		}
		doc = next
	}
	return nil
}

// merge deep-merges src into dst; src wins for values, objects merge.
func merge(dst, src map[string]any) {
	for k, v := range src {
		sv, srcObj := v.(map[string]any)
		dv, dstObj := dst[k].(map[string]any)
		if srcObj && dstObj {
			merge(dv, sv)
			continue
		}
		dst[k] = v
	}
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
