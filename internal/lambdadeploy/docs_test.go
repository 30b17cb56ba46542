package lambdadeploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestDocsMatchCommand checks the Inputs and Outputs tables of
// docs/lambda-deploy.md against the command's flags and outputs.
func TestDocsMatchCommand(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../docs/lambda-deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	table := func(heading string) []string {
		_, rest, ok := strings.Cut(doc, "\n## "+heading+"\n")
		if !ok {
			t.Fatalf("no %q section", heading)
		}
		rest, _, _ = strings.Cut(rest, "\n## ")
		var names []string
		for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\|").FindAllStringSubmatch(rest, -1) {
			names = append(names, m[1])
		}
		slices.Sort(names)
		return names
	}
	cmd := Command()
	var flags, outs []string
	for _, f := range cmd.Flags {
		flags = append(flags, f.Names()[0])
	}
	for _, o := range cmd.Outputs {
		outs = append(outs, o.Name)
	}
	slices.Sort(flags)
	slices.Sort(outs)
	if got := table("Inputs"); !slices.Equal(got, flags) {
		t.Errorf("docs inputs %v\nflags       %v", got, flags)
	}
	if got := table("Outputs"); !slices.Equal(got, outs) {
		t.Errorf("docs outputs %v\noutputs      %v", got, outs)
	}
}

// TestLambdaModelOutputs checks that the reusable Lambda pipeline hands
// its callers the image by digest and the version to roll back to, each
// wired to a job output that a step of the job sets.
func TestLambdaModelOutputs(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../.github/workflows/lambda-model.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		On struct {
			WorkflowCall struct {
				Outputs map[string]struct{ Value string } `yaml:"outputs"`
			} `yaml:"workflow_call"`
		} `yaml:"on"`
		Jobs map[string]struct {
			Outputs map[string]string `yaml:"outputs"`
			Steps   []struct {
				ID   string `yaml:"id"`
				Uses string `yaml:"uses"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatal(err)
	}
	ref := regexp.MustCompile(`^\$\{\{ jobs\.([a-z-]+)\.outputs\.([a-z-]+) \}\}$`)
	stepRef := regexp.MustCompile(`^\$\{\{ steps\.([a-z-]+)\.outputs\.([a-z-]+) \}\}$`)
	for _, name := range []string{"image-ref", "previous-version", "version"} { // rolled-back joins the health step's: internal/lint checks it
		out, ok := wf.On.WorkflowCall.Outputs[name]
		m := ref.FindStringSubmatch(out.Value)
		if !ok || m == nil {
			t.Errorf("workflow output %s: %q", name, out.Value)
			continue
		}
		job := wf.Jobs[m[1]]
		sm := stepRef.FindStringSubmatch(job.Outputs[m[2]])
		if sm == nil || sm[2] != m[2] {
			t.Errorf("workflow output %s: job %s has output %s = %q", name, m[1], m[2], job.Outputs[m[2]])
			continue
		}
		found := false
		for _, s := range job.Steps {
			found = found || s.ID == sm[1]
			if s.ID == sm[1] && strings.HasSuffix(strings.Split(s.Uses, "@")[0], "/lambda-deploy") && !slices.ContainsFunc(outputSpecs, func(o struct{ name, desc string }) bool { return o.name == sm[2] }) {
				t.Errorf("lambda-deploy has no output %s", sm[2])
			}
		}
		if !found {
			t.Errorf("job %s has no step %s", m[1], sm[1])
		}
	}
}

// TestActionPassesSignalsToTheTool runs the action's run step as the
// runner does (a bash script) with a stand-in for the tool, and sends it
// the SIGINT a cancelled job gets: it must reach the tool, which then rolls
// back, not a shell that waits for the tool and is killed 10 s later.
func TestActionPassesSignalsToTheTool(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../actions/lambda-deploy/action.yml")
	if err != nil {
		t.Fatal(err)
	}
	var act struct {
		Runs struct {
			Steps []struct {
				ID  string `yaml:"id"`
				Run string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"runs"`
	}
	if err := yaml.Unmarshal(b, &act); err != nil {
		t.Fatal(err)
	}
	var script string
	for _, s := range act.Runs.Steps {
		if s.ID == "run" {
			script = s.Run
		}
	}
	if script == "" {
		t.Fatal("no run step")
	}
	dir := t.TempDir()
	ready, got := filepath.Join(dir, "ready"), filepath.Join(dir, "got")
	tool := filepath.Join(dir, "tool.sh")
	stub := "#!/bin/bash\ntrap 'echo INT > " + got + "; exit 3' INT TERM\necho > " + ready + "\nfor i in $(seq 600); do sleep 0.05; done\n"
	if err := os.WriteFile(tool, []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	step := filepath.Join(dir, "step.sh")
	if err := os.WriteFile(step, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", step)
	cmd.Env = append(os.Environ(), "MLSHIP_BIN="+tool)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // to end all it started
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the tool did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The runner signals the step's process, not its process group.
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
	}
	if b, _ := os.ReadFile(got); strings.TrimSpace(string(b)) != "INT" {
		t.Errorf("the tool never got the SIGINT sent to the step (run: %q)", script)
	}
}
