package examples

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
	"sigs.k8s.io/yaml"

	"github.com/mlship/mlship/internal/toolset"

	// google/rpc/status.proto, which pipeline_spec.proto imports.
	_ "google.golang.org/genproto/googleapis/rpc/status"
)

// The Kubeflow Pipelines example is checked as the Kubeflow Pipelines API
// server takes a pipeline (backend/src/apiserver/template/v2_template.go
// at 2.17.0): the YAML document read as the ml_pipelines.PipelineSpec
// message of KFP's own pipeline_spec.proto with protojson (an unknown field
// or a value of the wrong type is an error), schema version 2.1.0, a
// pipeline name Kubernetes accepts, a root; and its deploymentSpec as the
// PipelineDeploymentConfig the driver reads it as. Then the references a
// run resolves (components, executors, parameters, producer tasks and the
// placeholders of the executors' command lines), every mlship step's
// command line through the tool's own flags, and the promotion gated on
// the checks.

var kfpSpec = sync.OnceValues(func() (protoreflect.FileDescriptor, error) {
	compiler := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(protocompile.CompositeResolver{
			&protocompile.SourceResolver{ImportPaths: []string{filepath.Join("testdata", "kubeflow")}},
			protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
				fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
				return protocompile.SearchResult{Desc: fd}, err
			}),
		}),
	}
	files, err := compiler.Compile(context.Background(), "pipeline_spec.proto")
	if err != nil {
		return nil, err
	}
	return files[0], nil
})

// kfpMessage reads doc (JSON) as the message name of pipeline_spec.proto,
// strictly, as the API server does.
func kfpMessage(t *testing.T, name string, doc []byte) (*dynamicpb.Message, error) {
	t.Helper()
	fd, err := kfpSpec()
	if err != nil {
		t.Fatalf("compiling Kubeflow Pipelines' pipeline_spec.proto: %v", err)
	}
	md := fd.Messages().ByName(protoreflect.Name(name))
	if md == nil {
		t.Fatalf("pipeline_spec.proto has no message %s", name)
	}
	msg := dynamicpb.NewMessage(md)
	return msg, protojson.Unmarshal(doc, msg)
}

// kfpPipeline is the part of a compiled pipeline the reference checks
// read.
type kfpPipeline struct {
	PipelineInfo struct {
		Name string `json:"name"`
	} `json:"pipelineInfo"`
	SchemaVersion string `json:"schemaVersion"`
	Components    map[string]kfpComponent
	Root          *kfpComponent `json:"root"`
	Deployment    struct {
		Executors map[string]struct {
			Container *container `json:"container"`
		} `json:"executors"`
	} `json:"deploymentSpec"`
}

type kfpComponent struct {
	ExecutorLabel    string `json:"executorLabel"`
	InputDefinitions struct {
		Parameters map[string]struct {
			IsOptional bool `json:"isOptional"`
		} `json:"parameters"`
	} `json:"inputDefinitions"`
	OutputDefinitions struct {
		Parameters map[string]any `json:"parameters"`
	} `json:"outputDefinitions"`
	DAG *struct {
		Tasks map[string]kfpTask `json:"tasks"`
	} `json:"dag"`
}

type kfpTask struct {
	ComponentRef struct {
		Name string `json:"name"`
	} `json:"componentRef"`
	DependentTasks []string `json:"dependentTasks"`
	Inputs         struct {
		Parameters map[string]struct {
			ComponentInputParameter string `json:"componentInputParameter"`
			TaskOutputParameter     *struct {
				OutputParameterKey string `json:"outputParameterKey"`
				ProducerTask       string `json:"producerTask"`
			} `json:"taskOutputParameter"`
		} `json:"parameters"`
	} `json:"inputs"`
}

var kfpPlaceholder = regexp.MustCompile(`\{\{\$\.(inputs|outputs)\.parameters\['([^']+)'\](\.output_file)?\}\}`)

// checkKFP checks a compiled pipeline (YAML) and returns its problems.
func checkKFP(t *testing.T, src []byte) []string {
	t.Helper()
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	js, err := yaml.YAMLToJSON(src)
	if err != nil {
		return []string{err.Error()}
	}
	if _, err := kfpMessage(t, "PipelineSpec", js); err != nil {
		add("invalid v2 pipeline spec: %v", err)
	}
	var p kfpPipeline
	if err := json.Unmarshal(js, &p); err != nil {
		return append(problems, err.Error())
	}
	var raw struct {
		DeploymentSpec json.RawMessage `json:"deploymentSpec"`
	}
	if err := json.Unmarshal(js, &raw); err == nil {
		if _, err := kfpMessage(t, "PipelineDeploymentConfig", raw.DeploymentSpec); err != nil {
			add("deploymentSpec is not a PipelineDeploymentConfig: %v", err)
		}
	}
	if p.SchemaVersion != "2.1.0" {
		add("KFP only supports schema version 2.1.0, but the pipeline spec has version %q", p.SchemaVersion)
	}
	if !regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`).MatchString(p.PipelineInfo.Name) {
		add("pipelineInfo.name %q: lower case alphanumeric characters, '-' or '.', starting and ending with an alphanumeric character", p.PipelineInfo.Name)
	}
	if p.Root == nil || p.Root.DAG == nil {
		return append(problems, "the root component has no DAG")
	}
	for name, comp := range p.Components {
		exec, ok := p.Deployment.Executors[comp.ExecutorLabel]
		if !ok || exec.Container == nil {
			add("component %s: executor %s is not a container of deploymentSpec", name, comp.ExecutorLabel)
			continue
		}
		cn := exec.Container
		for _, a := range append(slices.Clone(cn.Command), cn.Args...) {
			for _, m := range kfpPlaceholder.FindAllStringSubmatch(a, -1) {
				_, in := comp.InputDefinitions.Parameters[m[2]]
				_, out := comp.OutputDefinitions.Parameters[m[2]]
				switch {
				case m[1] == "inputs" && !in:
					add("component %s: %s reads input %s, which it does not define", name, m[0], m[2])
				case m[1] == "outputs" && (!out || m[3] == ""):
					add("component %s: %s is not the file of an output it defines", name, m[0])
				}
			}
		}
		if strings.HasPrefix(cn.Image, mlshipImage) {
			problems = append(problems, kfpMlshipStep(name, comp, cn)...)
		}
	}
	tasks := p.Root.DAG.Tasks
	for name, tk := range tasks {
		comp, ok := p.Components[tk.ComponentRef.Name]
		if !ok {
			add("task %s: component %s does not exist", name, tk.ComponentRef.Name)
			continue
		}
		for in, def := range comp.InputDefinitions.Parameters {
			if _, given := tk.Inputs.Parameters[in]; !given && !def.IsOptional {
				add("task %s: %s needs the parameter %s", name, tk.ComponentRef.Name, in)
			}
		}
		for in, v := range tk.Inputs.Parameters {
			if _, ok := comp.InputDefinitions.Parameters[in]; !ok {
				add("task %s: passes %s, not an input of %s", name, in, tk.ComponentRef.Name)
			}
			switch {
			case v.ComponentInputParameter != "":
				if _, ok := p.Root.InputDefinitions.Parameters[v.ComponentInputParameter]; !ok {
					add("task %s: reads pipeline parameter %s, which the pipeline does not define", name, v.ComponentInputParameter)
				}
			case v.TaskOutputParameter != nil:
				from := v.TaskOutputParameter.ProducerTask
				producer, ok := tasks[from]
				if !ok || !slices.Contains(tk.DependentTasks, from) {
					add("task %s: reads an output of %s, which is not one of its dependentTasks", name, from)
					continue
				}
				if _, ok := p.Components[producer.ComponentRef.Name].OutputDefinitions.Parameters[v.TaskOutputParameter.OutputParameterKey]; !ok {
					add("task %s: reads output %s of %s, which its component does not have", name, v.TaskOutputParameter.OutputParameterKey, from)
				}
			}
		}
		for _, d := range tk.DependentTasks {
			if _, ok := tasks[d]; !ok {
				add("task %s: depends on %s, not a task", name, d)
			}
		}
	}
	// A promotion waits for the metrics gate and the scan.
	runs := func(task, tool string) bool {
		comp := p.Components[tasks[task].ComponentRef.Name]
		cn := p.Deployment.Executors[comp.ExecutorLabel].Container
		return cn != nil && slices.Equal(cn.Command, []string{tool})
	}
	for name, tk := range tasks {
		comp := p.Components[tk.ComponentRef.Name]
		cn := p.Deployment.Executors[comp.ExecutorLabel].Container
		if cn == nil || !slices.Equal(cn.Command, []string{"ecr-push"}) || !slices.ContainsFunc(cn.Args, func(a string) bool { return strings.HasPrefix(a, "--source-tag=") }) {
			continue
		}
		ancestors := map[string]bool{}
		queue := slices.Clone(tk.DependentTasks)
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			if _, ok := tasks[n]; ok && !ancestors[n] {
				ancestors[n] = true
				queue = append(queue, tasks[n].DependentTasks...)
			}
		}
		for _, tool := range []string{"policy-gate", "image-scan"} {
			if !slices.ContainsFunc(slices.Collect(maps.Keys(ancestors)), func(a string) bool { return runs(a, tool) }) {
				add("task %s promotes without a %s task before it", name, tool)
			}
		}
	}
	return problems
}

// kfpMlshipStep parses an mlship executor's command line with the tool's
// flags (placeholders filled in) and checks that its result file is one of
// the component's output parameters.
func kfpMlshipStep(name string, comp kfpComponent, cn *container) []string {
	var problems []string
	if len(cn.Command) != 1 || !slices.Contains(toolset.Names(), cn.Command[0]) {
		return []string{fmt.Sprintf("component %s: the mlship image runs one tool: command %q", name, cn.Command)}
	}
	if !strings.HasSuffix(cn.Image, ":v1") {
		problems = append(problems, fmt.Sprintf("component %s: image %s, want %sv1", name, cn.Image, mlshipImage))
	}
	var args []string
	result := false
	for _, a := range cn.Args {
		if m := kfpPlaceholder.FindStringSubmatch(a); m != nil && strings.HasPrefix(a, "--result-file=") && m[1] == "outputs" && m[3] != "" {
			result = true
		}
		args = append(args, kfpPlaceholder.ReplaceAllString(a, "VALUE"))
	}
	if msg := parseWithTool(cn.Command[0], args); msg != "" {
		problems = append(problems, fmt.Sprintf("component %s: %s %s: %s", name, cn.Command[0], strings.Join(cn.Args, " "), msg))
	}
	if !result {
		problems = append(problems, fmt.Sprintf("component %s: no --result-file={{$.outputs.parameters['NAME'].output_file}}", name))
	}
	return problems
}

func kfpExamples(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "docs", "examples", "kubeflow", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in docs/examples/kubeflow: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[rel(f)] = b
	}
	return out
}

func TestKubeflowExample(t *testing.T) {
	t.Parallel()
	for where, src := range kfpExamples(t) {
		for _, p := range checkKFP(t, src) {
			t.Errorf("%s: %s", where, p)
		}
	}
}

// The checks catch each of these mistakes in the example.
func TestKubeflowChecksFindMistakes(t *testing.T) {
	t.Parallel()
	var src string
	for _, b := range kfpExamples(t) {
		src = string(b)
	}
	for _, tt := range []struct{ old, new, want string }{
		{"        - metrics-gate\n        - scan-image\n", "        - scan-image\n", "promote-image promotes without a policy-gate task"},
		{"        - metrics-gate\n        - scan-image\n", "        - metrics-gate\n", "promote-image promotes without a image-scan task"},
		{"schemaVersion: 2.1.0", "schemaVersion: 2.0.0", "supports schema version 2.1.0"},
		{"        componentRef:\n          name: comp-metrics-gate\n", "        componentRef:\n          name: comp-metrics-gate\n        retryPolicy: 3\n", "invalid v2 pipeline spec"},
		{"      promote-image:\n        cachingOptions: {}\n", "      promote-image:\n        cachingOptons: {}\n", `unknown field "cachingOptons"`},
		{"  name: gourmetgram-gate-and-promote\n", "  name: GourmetGram\n", "pipelineInfo.name"},
		{"        - --scanner=ecr\n", "        - --scaner=ecr\n", "--scaner: no such option"},
		{"outputParameterKey: f1\n", "outputParameterKey: f1_score\n", "reads output f1_score of train"},
		{"              componentInputParameter: min_f1\n", "              componentInputParameter: min_f2\n", "reads pipeline parameter min_f2"},
		{"{{$.inputs.parameters['min_f1']}}", "{{$.inputs.parameters['min_f']}}", "reads input min_f"},
		{"--result-file={{$.outputs.parameters['scan'].output_file}}", "--result-file=/tmp/scan.json", "component comp-scan-image: no --result-file"},
		{"    executorLabel: exec-train\n", "    executorLabel: exec-training\n", "executor exec-training is not a container"},
		{"        image: ghcr.io/mlship/mlship:v1\n    exec-promote-image:", "        image: ghcr.io/mlship/mlship:v1\n        privileged: true\n    exec-promote-image:", "deploymentSpec is not a PipelineDeploymentConfig"},
	} {
		if !strings.Contains(src, tt.old) {
			t.Fatalf("%q is not in the example", tt.old)
		}
		problems := checkKFP(t, []byte(strings.Replace(src, tt.old, tt.new, 1)))
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
			t.Errorf("%q -> %q: problems %q, want one containing %q", tt.old, tt.new, problems, tt.want)
		}
	}
}
