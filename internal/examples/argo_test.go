package examples

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/mlship/mlship/internal/lint"
)

const repoRoot = "../.."

// argoVersions are the Argo Workflows releases whose published JSON schema
// (api/jsonschema/schema.json) the examples are checked against; the CRD
// applied to the control plane is the newest's.
var argoVersions = []string{"v3.7.18", "v4.1.2"}

// argoDoc is one Argo manifest of the examples: a file of
// docs/examples/argo, or a ```yaml block of a docs page.
type argoDoc struct {
	where string
	raw   []byte // YAML
	obj   map[string]any
	wt    *workflowTemplate // for a WorkflowTemplate
}

func gunzip(r io.Reader) ([]byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// argoDocs reads every Argo manifest of the examples and of the docs
// pages: the files of docs/examples/argo, and the ```yaml blocks of
// docs/*.md that are Argo manifests (apiVersion argoproj.io/...).
func argoDocs(t *testing.T) []argoDoc {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "docs", "examples", "argo", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in docs/examples/argo: %v", err)
	}
	var docs []argoDoc
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, part := range splitYAML(b) {
			docs = append(docs, argoDoc{where: fmt.Sprintf("%s#%d", rel(f), i+1), raw: part})
		}
	}
	pages, _ := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, blk := range lint.CodeBlocks(b) {
			if (blk.Lang == "yaml" || blk.Lang == "yml") && strings.Contains(blk.Text, "apiVersion: argoproj.io/") {
				docs = append(docs, argoDoc{where: fmt.Sprintf("%s:%d", rel(page), blk.Line), raw: []byte(blk.Text)})
			}
		}
	}
	for i := range docs {
		d := &docs[i]
		if err := yaml.Unmarshal(d.raw, &d.obj); err != nil {
			t.Fatalf("%s: %v", d.where, err)
		}
		if d.obj["kind"] == "WorkflowTemplate" {
			// The fields the reference checks read; the schema and the
			// API server check all of them.
			d.wt = &workflowTemplate{}
			if err := yaml.Unmarshal(d.raw, d.wt); err != nil {
				t.Fatalf("%s: %v", d.where, err)
			}
		}
	}
	return docs
}

func rel(path string) string {
	r, err := filepath.Rel(repoRoot, path)
	if err != nil {
		return path
	}
	return filepath.ToSlash(r)
}

func splitYAML(b []byte) [][]byte {
	var out [][]byte
	for _, part := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(stripComments(part)) != "" {
			out = append(out, []byte(part))
		}
	}
	return out
}

func stripComments(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// argoSchemas compiles each release's schema of the kinds the examples
// use, strict: every object of the schema that lists its properties is
// closed (additionalProperties false, as kubeconform -strict does), so a
// misspelled field fails as it would with the API server's strict field
// validation, not only a value of the wrong type.
var argoSchemas = sync.OnceValues(func() (map[string]map[string]*jsonschema.Schema, error) {
	out := map[string]map[string]*jsonschema.Schema{}
	for _, v := range argoVersions {
		f, err := os.Open(filepath.Join("testdata", "argo", "schema-"+v+".json.gz"))
		if err != nil {
			return nil, err
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		var doc map[string]any
		err = json.NewDecoder(zr).Decode(&doc)
		f.Close()
		if err != nil {
			return nil, err
		}
		for _, def := range doc["definitions"].(map[string]any) {
			closeObjects(def)
		}
		b, _ := json.Marshal(doc)
		sdoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		c := jsonschema.NewCompiler()
		url := "argo-" + v + ".json"
		if err := c.AddResource(url, sdoc); err != nil {
			return nil, err
		}
		out[v] = map[string]*jsonschema.Schema{}
		for _, kind := range []string{"WorkflowTemplate", "Workflow"} {
			s, err := c.Compile(url + "#/definitions/io.argoproj.workflow.v1alpha1." + kind)
			if err != nil {
				return nil, fmt.Errorf("Argo %s schema of %s: %w", v, kind, err)
			}
			out[v][kind] = s
		}
	}
	return out, nil
})

func closeObjects(v any) {
	switch s := v.(type) {
	case map[string]any:
		if _, ok := s["properties"]; ok && s["additionalProperties"] == nil && s["x-kubernetes-preserve-unknown-fields"] == nil {
			s["additionalProperties"] = false
		}
		for k, sub := range s {
			if k != "enum" && k != "const" && k != "default" {
				closeObjects(sub)
			}
		}
	case []any:
		for _, sub := range s {
			closeObjects(sub)
		}
	}
}

// validateArgo checks a manifest against each release's schema and
// returns the problems.
func validateArgo(t *testing.T, obj map[string]any) []string {
	t.Helper()
	schemas, err := argoSchemas()
	if err != nil {
		t.Fatal(err)
	}
	kind, _ := obj["kind"].(string)
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	for _, v := range argoVersions {
		s, ok := schemas[v][kind]
		if !ok {
			return []string{fmt.Sprintf("kind %q is not one the examples use (WorkflowTemplate, Workflow)", kind)}
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(inst); err != nil {
			problems = append(problems, fmt.Sprintf("Argo Workflows %s schema: %v", v, err))
		}
	}
	return problems
}

// Every Argo manifest of the examples and the docs is valid under Argo's
// own published schema, of v3.7 and of v4.1, with unknown fields refused;
// and so are the Workflows the resource steps create.
func TestArgoExamplesMatchArgosSchema(t *testing.T) {
	t.Parallel()
	docs := argoDocs(t)
	wts := 0
	for _, d := range docs {
		t.Logf("checking %s", d.where)
		for _, p := range validateArgo(t, d.obj) {
			t.Errorf("%s: %s", d.where, p)
		}
		if d.wt == nil {
			continue
		}
		wts++
		for _, tmpl := range d.wt.Spec.Templates {
			if tmpl.Resource == nil {
				continue
			}
			var wf map[string]any
			if err := yaml.Unmarshal([]byte(tmpl.Resource.Manifest), &wf); err != nil {
				t.Errorf("%s: template %s: manifest: %v", d.where, tmpl.Name, err)
				continue
			}
			for _, p := range validateArgo(t, wf) {
				t.Errorf("%s: template %s: the Workflow it creates: %s", d.where, tmpl.Name, p)
			}
		}
	}
	if wts < 4 {
		t.Errorf("found %d WorkflowTemplates, want the library and the three GourmetGram stages", wts)
	}
}

// The strict schema refuses what Argo would: a misspelled field, a value
// of the wrong type, a required field left out.
func TestArgoSchemaCheckFindsMistakes(t *testing.T) {
	t.Parallel()
	good := `apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: t
spec:
  entrypoint: main
  templates:
    - name: main
      container:
        image: ghcr.io/mlship/mlship:v1
        command: [policy-gate]
`
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(good), &obj); err != nil {
		t.Fatal(err)
	}
	if p := validateArgo(t, obj); len(p) != 0 {
		t.Fatalf("a good template: %v", p)
	}
	for _, tt := range []struct{ old, new string }{
		{"      container:", "      contianer:"},
		{"        command: [policy-gate]", "        command: policy-gate"},
		{"    - name: main\n", "    - nme: main\n"},
		{"  name: t\n", "  name: t\n  lables: {a: b}\n"},
		{"  entrypoint: main\n", "  entrypoint: main\n  parallelism: many\n"},
	} {
		bad := strings.Replace(good, tt.old, tt.new, 1)
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(bad), &obj); err != nil {
			t.Fatal(err)
		}
		if p := validateArgo(t, obj); len(p) != len(argoVersions) {
			t.Errorf("%q -> %q: %d problems %v, want one per schema", tt.old, tt.new, len(p), p)
		}
	}
}

// workflowTemplate is the part of a WorkflowTemplate the reference checks
// read.
type workflowTemplate struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Entrypoint string `json:"entrypoint"`
		Arguments  struct {
			Parameters []parameter `json:"parameters"`
		} `json:"arguments"`
		Volumes              []struct{ Name string } `json:"volumes"`
		VolumeClaimTemplates []struct {
			Metadata struct{ Name string } `json:"metadata"`
		} `json:"volumeClaimTemplates"`
		Templates []template `json:"templates"`
	} `json:"spec"`
}

type parameter struct {
	Name      string  `json:"name"`
	Value     *string `json:"value"`
	Default   *string `json:"default"`
	ValueFrom *struct {
		Path string `json:"path"`
	} `json:"valueFrom"`
}

type template struct {
	Name   string `json:"name"`
	Inputs struct {
		Parameters []parameter `json:"parameters"`
	} `json:"inputs"`
	Outputs struct {
		Parameters []parameter `json:"parameters"`
	} `json:"outputs"`
	Container *container `json:"container"`
	Script    *struct {
		container
		Source string `json:"source"`
	} `json:"script"`
	Resource *struct {
		Manifest string `json:"manifest"`
	} `json:"resource"`
	DAG *struct {
		Tasks []task `json:"tasks"`
	} `json:"dag"`
}

type container struct {
	Image        string   `json:"image"`
	Command      []string `json:"command"`
	Args         []string `json:"args"`
	WorkingDir   string   `json:"workingDir"`
	Env          []struct{ Name, Value string }
	VolumeMounts []struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
	} `json:"volumeMounts"`
}

type task struct {
	Name        string `json:"name"`
	Template    string `json:"template"`
	TemplateRef *struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	} `json:"templateRef"`
	Depends   string `json:"depends"`
	When      string `json:"when"`
	Arguments struct {
		Parameters []parameter `json:"parameters"`
	} `json:"arguments"`
}

func (tm *template) container() *container {
	switch {
	case tm.Container != nil:
		return tm.Container
	case tm.Script != nil:
		return &tm.Script.container
	}
	return nil
}

// texts are the strings of a template Argo substitutes variables in.
func (tm *template) texts() []string {
	var out []string
	if c := tm.container(); c != nil {
		out = append(out, c.Image, c.WorkingDir)
		out = append(out, c.Command...)
		out = append(out, c.Args...)
		for _, e := range c.Env {
			out = append(out, e.Value)
		}
	}
	if tm.Script != nil {
		out = append(out, tm.Script.Source)
	}
	if tm.Resource != nil {
		out = append(out, tm.Resource.Manifest)
	}
	return out
}
