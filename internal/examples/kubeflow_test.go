package examples

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
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
// placeholders of the executors' command lines, the fields a
// parameterExpressionSelector takes from a tool's result), every mlship
// step's command line through the tool's own flags, and the promotions
// gated on the checks (kfpGates).

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
			IsOptional    bool   `json:"isOptional"`
			ParameterType string `json:"parameterType"`
		} `json:"parameters"`
	} `json:"inputDefinitions"`
	OutputDefinitions struct {
		Parameters map[string]struct {
			ParameterType string `json:"parameterType"`
		} `json:"parameters"`
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
			ParameterExpressionSelector string `json:"parameterExpressionSelector"`
		} `json:"parameters"`
	} `json:"inputs"`
	CachingOptions struct {
		EnableCache bool `json:"enableCache"`
	} `json:"cachingOptions"`
	TriggerPolicy json.RawMessage `json:"triggerPolicy"`
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
				out, ok := p.Components[producer.ComponentRef.Name].OutputDefinitions.Parameters[v.TaskOutputParameter.OutputParameterKey]
				if !ok {
					add("task %s: reads output %s of %s, which its component does not have", name, v.TaskOutputParameter.OutputParameterKey, from)
					continue
				}
				if sel := v.ParameterExpressionSelector; sel != "" {
					problems = append(problems, kfpSelector(&p, name, in, from, out.ParameterType, sel)...)
				}
			}
		}
		for _, d := range tk.DependentTasks {
			if _, ok := tasks[d]; !ok {
				add("task %s: depends on %s, not a task", name, d)
			}
		}
	}
	problems = append(problems, kfpGates(&p)...)
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
	const example = "docs/examples/kubeflow/gourmetgram-gate-and-promote.yaml"
	b, ok := kfpExamples(t)[example]
	if !ok {
		t.Fatalf("no %s", example)
	}
	src := string(b)
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
		// The canary on KServe.
		{"        dependentTasks:\n        - check-canary\n", "        dependentTasks:\n        - deploy-canary\n", "task promote-canary promotes the canary of isvc/{{pipeline.inference_service}} in namespace {{pipeline.namespace}} of cluster {{pipeline.cluster}} without a health-rollback check of it before it"},
		{"        - --deployment=isvc/{{$.inputs.parameters['inference_service']}}\n        - --result-file={{$.outputs.parameters['health'].output_file}}\n", "        - --deployment=isvc/gourmetgram\n        - --result-file={{$.outputs.parameters['health'].output_file}}\n", "task promote-canary promotes the canary of isvc/{{pipeline.inference_service}} in namespace {{pipeline.namespace}} of cluster {{pipeline.cluster}} without a health-rollback check"},
		{"        - --cluster={{$.inputs.parameters['cluster']}}\n        - --namespace={{$.inputs.parameters['namespace']}}\n        - --deployment=isvc/{{$.inputs.parameters['inference_service']}}\n        - --result-file={{$.outputs.parameters['health']", "        - --cluster={{$.inputs.parameters['cluster']}}\n        - --namespace=gourmetgram-staging\n        - --deployment=isvc/{{$.inputs.parameters['inference_service']}}\n        - --result-file={{$.outputs.parameters['health']", "without a health-rollback check"},
		{"        dependentTasks:\n        - deploy-canary\n", "        dependentTasks:\n        - promote-image\n", "but its check check-canary does not run after a canary rollout of it"},
		{"        - --canary-traffic-percent=10\n", "        - --canary-traffic-percent=100\n", "but its check check-canary does not run after a canary rollout of it"},
		{"        taskInfo:\n          name: promote-canary\n", "        taskInfo:\n          name: promote-canary\n        triggerPolicy:\n          strategy: ALL_UPSTREAM_TASKS_COMPLETED\n", "task promote-canary has a triggerPolicy: promote-canary could promote the canary after a check before it failed"},
		{"        taskInfo:\n          name: check-canary\n", "        taskInfo:\n          name: check-canary\n        triggerPolicy:\n          condition: inputs.parameter_values['namespace'] != 'gourmetgram'\n", "task check-canary has a triggerPolicy"},
		{"        cachingOptions: {}\n        componentRef:\n          name: comp-check-canary\n", "        cachingOptions:\n          enableCache: true\n        componentRef:\n          name: comp-check-canary\n", "task check-canary: caching on for an mlship step"},
		{"        - --canary-traffic-percent=10\n", "        - --canary-traffic-percent=10%\n", `--canary-traffic-percent "10%": want a whole number from 0 to 100`},
		{"        - --canary-traffic-percent=10\n", "        - --canary-trafic-percent=10\n", "--canary-trafic-percent: no such option"},
		{"        - --rollback-on-failure\n", "", "task deploy-canary: a canary rollout without --rollback-on-failure"},
		{"        - --alarm={{$.inputs.parameters['performance_alarm']}}\n", "        - --alarm={{$.inputs.parameters['performance_alarm']}}\n        - --dry-run\n", "task check-canary: --dry-run does not roll the canary"},
		{`parseJson(string_value)["imageRef"]`, `parseJson(string_value)["imageUri"]`, "task deploy-canary: --container kserve-container={{promote-image.promoted.imageUri}}: not an image by digest"},
		{`parseJson(string_value)["imageRef"]`, `parseJson(string_value)["image_ref"]`, "task deploy-canary: input image selects image_ref, not a field of ecr-push's result"},
		{`parseJson(string_value)["imageRef"]`, `string_value.imageRef`, "is not parseJson(string_value)"},
		{"              parameterExpressionSelector: parseJson", "              parameterExpressionSelecter: parseJson", `unknown field "parameterExpressionSelecter"`},
		{"                outputParameterKey: promoted\n                producerTask: promote-image\n", "                outputParameterKey: promoted\n                producerTask: scan-image\n", "reads an output of scan-image, which is not one of its dependentTasks"},
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

// kfpField is the selector of one field of a STRUCT parameter, in the form
// the KFP SDK compiles (and the driver evaluates with CEL).
var kfpField = regexp.MustCompile(`^parseJson\(string_value\)\["([^"]+)"\]$`)

// kfpSelector checks the parameterExpressionSelector of input in of task:
// a field of a STRUCT output of from, and, when from runs an mlship tool, a
// field of that tool's result.
func kfpSelector(p *kfpPipeline, task, in, from, outType, sel string) []string {
	m := kfpField.FindStringSubmatch(sel)
	if m == nil {
		return []string{fmt.Sprintf("task %s: input %s: selector %s is not parseJson(string_value)[\"FIELD\"]", task, in, sel)}
	}
	if outType != "STRUCT" {
		return []string{fmt.Sprintf("task %s: input %s selects field %s of output of %s of type %s, not STRUCT", task, in, m[1], from, outType)}
	}
	if tool := kfpTool(p, from); tool != "" && !slices.Contains(resultFields(tool), m[1]) {
		return []string{fmt.Sprintf("task %s: input %s selects %s, not a field of %s's result (%s)", task, in, m[1], tool, strings.Join(resultFields(tool), ", "))}
	}
	return nil
}

// resultFields are the top-level JSON fields of tool's result.
func resultFields(tool string) []string {
	i := slices.IndexFunc(toolset.All, func(t toolset.Tool) bool { return t.Name == tool })
	var fields []string
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case name == "-" || !f.IsExported() && !f.Anonymous:
			case name == "" && f.Anonymous:
				walk(f.Type)
			case name == "":
				fields = append(fields, f.Name)
			default:
				fields = append(fields, name)
			}
		}
	}
	walk(reflect.TypeOf(toolset.All[i].Result))
	return fields
}

// kfpContainer is the container task runs, or nil.
func kfpContainer(p *kfpPipeline, task string) *container {
	tk, ok := p.Root.DAG.Tasks[task]
	if !ok {
		return nil
	}
	return p.Deployment.Executors[p.Components[tk.ComponentRef.Name].ExecutorLabel].Container
}

// kfpTool is the mlship tool task runs, or "".
func kfpTool(p *kfpPipeline, task string) string {
	cn := kfpContainer(p, task)
	if cn == nil || !strings.HasPrefix(cn.Image, mlshipImage) || len(cn.Command) != 1 {
		return ""
	}
	return cn.Command[0]
}

// kfpArgs are the arguments of task with each input placeholder replaced by
// where the task takes it from: {{pipeline.NAME}} for a pipeline parameter,
// {{TASK.OUTPUT}} or {{TASK.OUTPUT.FIELD}} for another task's output. Two
// tasks given the same value from the same place read the same.
func kfpArgs(p *kfpPipeline, task string) []string {
	cn := kfpContainer(p, task)
	if cn == nil {
		return nil
	}
	tk := p.Root.DAG.Tasks[task]
	var out []string
	for _, a := range cn.Args {
		out = append(out, kfpPlaceholder.ReplaceAllStringFunc(a, func(ph string) string {
			m := kfpPlaceholder.FindStringSubmatch(ph)
			v, ok := tk.Inputs.Parameters[m[2]]
			switch {
			case m[1] != "inputs" || !ok:
				return ph
			case v.ComponentInputParameter != "":
				return "{{pipeline." + v.ComponentInputParameter + "}}"
			case v.TaskOutputParameter != nil:
				s := v.TaskOutputParameter.ProducerTask + "." + v.TaskOutputParameter.OutputParameterKey
				if f := kfpField.FindStringSubmatch(v.ParameterExpressionSelector); f != nil {
					s += "." + f[1]
				}
				return "{{" + s + "}}"
			}
			return ph
		}))
	}
	return out
}

// flagValues are the values of --name=VALUE in args, and "true" for each
// --name alone.
func flagValues(args []string, name string) []string {
	var vs []string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			vs = append(vs, v)
		} else if a == "--"+name {
			vs = append(vs, "true")
		}
	}
	return vs
}

// flagSet says whether the boolean flag name is on in args.
func flagSet(args []string, name string) bool {
	return slices.ContainsFunc(flagValues(args, name), func(v string) bool { return v != "false" })
}

// kfpISVC names the InferenceService task's --deployment is, with the
// cluster and namespace it is in (as kfpArgs writes them), or "".
func kfpISVC(p *kfpPipeline, task string) string {
	args := kfpArgs(p, task)
	var dep string
	if d := flagValues(args, "deployment"); len(d) == 1 {
		dep = d[0]
	}
	if rest, ok := strings.CutPrefix(dep, "inferenceservice/"); ok {
		dep = "isvc/" + rest
	}
	if !strings.HasPrefix(dep, "isvc/") {
		return ""
	}
	return fmt.Sprintf("%s in namespace %s of cluster %s", dep, strings.Join(flagValues(args, "namespace"), ","), strings.Join(flagValues(args, "cluster"), ","))
}

// canaryPercent is task's --canary-traffic-percent, -1 when it has none or
// it is not a literal.
func canaryPercent(p *kfpPipeline, task string) int {
	v := flagValues(kfpArgs(p, task), "canary-traffic-percent")
	if len(v) != 1 {
		return -1
	}
	n, err := strconv.Atoi(v[0])
	if err != nil {
		return -1
	}
	return n
}

func kfpAncestors(p *kfpPipeline, task string) []string {
	tasks := p.Root.DAG.Tasks
	seen := map[string]bool{}
	queue := slices.Clone(tasks[task].DependentTasks)
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if _, ok := tasks[n]; ok && !seen[n] {
			seen[n] = true
			queue = append(queue, tasks[n].DependentTasks...)
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// kfpGates checks what a run must not do without its checks passing: a
// promotion by digest (ecr-push --source-tag) waits for a policy-gate and
// an image-scan task; an InferenceService's canary promoted to all traffic
// (eks-rollout --canary-traffic-percent=100) waits for a health-rollback
// check of that InferenceService that ran after its canary rollout; and no
// task on the way runs when one before it failed or was skipped (a
// triggerPolicy), or takes an earlier run's result for its own (caching).
func kfpGates(p *kfpPipeline) []string {
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	tasks := p.Root.DAG.Tasks
	for _, name := range slices.Sorted(maps.Keys(tasks)) {
		tool := kfpTool(p, name)
		if tool != "" && tasks[name].CachingOptions.EnableCache {
			add("task %s: caching on for an mlship step: a run with the same inputs would take the earlier result without running %s", name, tool)
		}
		if tool == "eks-rollout" {
			for _, v := range flagValues(kfpArgs(p, name), "canary-traffic-percent") {
				if n, err := strconv.Atoi(v); (err != nil || n < 0 || n > 100) && !strings.Contains(v, "{{") {
					add("task %s: --canary-traffic-percent %q: want a whole number from 0 to 100", name, v)
				}
			}
		}
		if canary := canaryPercent(p, name); tool == "eks-rollout" && kfpISVC(p, name) != "" && canary > 0 && canary < 100 {
			args := kfpArgs(p, name)
			if !flagSet(args, "rollback-on-failure") {
				add("task %s: a canary rollout without --rollback-on-failure leaves the predictor KServe could not make ready in place", name)
			}
			for _, c := range flagValues(args, "container") {
				img := c[strings.Index(c, "=")+1:]
				if !strings.Contains(img, "@sha256:") && !regexp.MustCompile(`^\{\{[^.}]+\.[^.}]+\.imageRef\}\}$`).MatchString(img) {
					add("task %s: --container %s: not an image by digest (ecr-push's imageRef, or NAME@sha256:...)", name, c)
				}
			}
		}
		promotes := ""
		switch {
		case tool == "ecr-push" && len(flagValues(kfpArgs(p, name), "source-tag")) > 0:
			ancestors := kfpAncestors(p, name)
			for _, gate := range []string{"policy-gate", "image-scan"} {
				if !slices.ContainsFunc(ancestors, func(a string) bool { return kfpTool(p, a) == gate }) {
					add("task %s promotes without a %s task before it", name, gate)
				}
			}
			promotes = "the image"
		case tool == "eks-rollout" && kfpISVC(p, name) != "" && canaryPercent(p, name) == 100:
			problems = append(problems, kfpCanaryGate(p, name)...)
			promotes = "the canary"
		}
		if promotes == "" {
			continue
		}
		for _, a := range append([]string{name}, kfpAncestors(p, name)...) {
			if len(tasks[a].TriggerPolicy) > 0 {
				add("task %s has a triggerPolicy: %s could promote %s after a check before it failed or was skipped", a, name, promotes)
			}
		}
	}
	return problems
}

// kfpCanaryGate checks that promote, which gives an InferenceService's
// canary all the traffic, runs only after a health-rollback task judged
// that InferenceService (and rolls it back when unhealthy), after a canary
// rollout of it.
func kfpCanaryGate(p *kfpPipeline, promote string) []string {
	isvc := kfpISVC(p, promote)
	var checks []string
	for _, a := range kfpAncestors(p, promote) {
		if kfpTool(p, a) == "health-rollback" && kfpISVC(p, a) == isvc {
			checks = append(checks, a)
		}
	}
	if len(checks) == 0 {
		return []string{fmt.Sprintf("task %s promotes the canary of %s without a health-rollback check of it before it", promote, isvc)}
	}
	var problems []string
	for _, c := range checks {
		args := kfpArgs(p, c)
		if flagSet(args, "dry-run") {
			problems = append(problems, fmt.Sprintf("task %s: --dry-run does not roll the canary of %s back", c, isvc))
		}
		if len(flagValues(args, "url"))+len(flagValues(args, "service")) == 0 {
			problems = append(problems, fmt.Sprintf("task %s: checks %s without probing it (--url or --service)", c, isvc))
		}
		if !slices.ContainsFunc(kfpAncestors(p, c), func(a string) bool {
			n := canaryPercent(p, a)
			return kfpTool(p, a) == "eks-rollout" && kfpISVC(p, a) == isvc && n > 0 && n < 100
		}) {
			problems = append(problems, fmt.Sprintf("task %s promotes the canary of %s, but its check %s does not run after a canary rollout of it (eks-rollout --canary-traffic-percent from 1 to 99)", promote, isvc, c))
		}
	}
	return problems
}
