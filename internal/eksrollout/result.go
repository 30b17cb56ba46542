package eksrollout

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/kube"
)

// WorkloadResult is where one workload stands after the rollout.
type WorkloadResult struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Revision is the workload's revision at the end: the one rolled out,
	// or after a rollback the one that restored the previous template.
	Revision         int64             `json:"revision"`
	PreviousRevision int64             `json:"previousRevision"`
	PreviousImages   map[string]string `json:"previousImages"`
	Images           map[string]string `json:"images"`
	ReadyReplicas    int32             `json:"readyReplicas"`
	Changed          bool              `json:"changed"`
	RolledBack       bool              `json:"rolledBack"`
	// For an InferenceService, from KServe's status at the end:
	// status.components.predictor's latestReadyRevision (and the one ready
	// before the rollout) and previousRolledoutRevision, the percent of
	// traffic the latest ready revision gets, status.url; and the model's
	// storageUri before and after.
	LatestReadyRevision       string `json:"latestReadyRevision,omitempty"`
	PreviousReadyRevision     string `json:"previousReadyRevision,omitempty"`
	PreviousRolledoutRevision string `json:"previousRolledoutRevision,omitempty"`
	TrafficPercent            *int64 `json:"trafficPercent,omitempty"`
	URL                       string `json:"url,omitempty"`
	StorageURI                string `json:"storageUri,omitempty"`
	PreviousStorageURI        string `json:"previousStorageUri,omitempty"`
}

// Result is what a rollout did (or, in a dry run, would do). Its
// top-level workload fields are those of --deployment, or of the first
// workload of the manifests.
type Result struct {
	WorkloadResult
	Cluster     string            `json:"cluster,omitempty"`
	Context     string            `json:"context,omitempty"`
	Workloads   []WorkloadResult  `json:"workloads"`
	Applied     []string          `json:"applied,omitempty"`
	StateFile   string            `json:"stateFile,omitempty"`
	DryRun      bool              `json:"dryRun"`
	Took        time.Duration     `json:"-"`
	TookSeconds float64           `json:"tookSeconds"`
	Plan        []string          `json:"plan"`
	Events      []string          `json:"events"`
	Failure     string            `json:"failure,omitempty"`
	FailedPods  []kube.PodProblem `json:"failedPods,omitempty"`
}

// outputSpecs are the outputs eks-rollout always writes.
var outputSpecs = []struct{ name, desc string }{
	{"revision", "The workload's revision after the rollout (after a rollback, the revision that restored the previous template)."},
	{"previous-revision", "The revision before the rollout."},
	{"previous-images", `The images before the rollout, as JSON by container ({"api":"...:build-41"}).`},
	{"images", "The images the workload runs after the rollout, as JSON by container."},
	{"ready-replicas", "Ready replicas after the rollout."},
	{"state-file", "Path of the JSON record of the state before the rollout and of the change, which health-rollback reads (empty in a dry run)."},
	{"changed", "true when the rollout made a new revision; false when the workload already ran these images."},
	{"rolled-back", "true when a failed rollout was rolled back (--rollback-on-failure)."},
	{"latest-ready-revision", "For an InferenceService: the predictor's latest ready revision after the rollout (KServe's status.components.predictor.latestReadyRevision)."},
	{"previous-rolledout-revision", "For an InferenceService: the predictor's previousRolledoutRevision after the rollout."},
	{"traffic-percent", "For an InferenceService: the percent of traffic the latest ready revision gets after the rollout."},
	{"url", "For an InferenceService: its URL (status.url)."},
}

// Outputs implements command.Result.
func (r *Result) Outputs() []action.Output {
	vals := map[string]string{
		"revision":                    revision(r.Revision),
		"previous-revision":           revision(r.PreviousRevision),
		"previous-images":             imagesJSON(r.PreviousImages),
		"images":                      imagesJSON(r.Images),
		"ready-replicas":              strconv.Itoa(int(r.ReadyReplicas)),
		"state-file":                  r.StateFile,
		"changed":                     strconv.FormatBool(r.Changed),
		"rolled-back":                 strconv.FormatBool(r.RolledBack),
		"latest-ready-revision":       r.LatestReadyRevision,
		"previous-rolledout-revision": r.PreviousRolledoutRevision,
		"url":                         r.URL,
	}
	if r.TrafficPercent != nil {
		vals["traffic-percent"] = strconv.FormatInt(*r.TrafficPercent, 10)
	}
	outs := make([]action.Output, 0, len(outputSpecs))
	for _, s := range outputSpecs {
		outs = append(outs, action.Output{Name: s.name, Value: vals[s.name]})
	}
	return outs
}

func revision(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

func imagesJSON(m map[string]string) string {
	if m == nil {
		m = map[string]string{}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// Text is the terminal form: a dry run's plan, then the outputs.
func (r *Result) Text() string {
	var b strings.Builder
	if r.DryRun {
		b.WriteString("dry run, nothing changed; the plan:\n")
		for _, l := range r.Plan {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	for _, o := range r.Outputs() {
		if o.Value != "" {
			fmt.Fprintf(&b, "%s: %s\n", o.Name, o.Value)
		}
	}
	return b.String()
}

// Summary is the job summary: the outcome, what changed, how long the
// rollout took.
func (r *Result) Summary() string {
	var b strings.Builder
	title := "rolled out"
	switch {
	case r.DryRun:
		title = "dry run (nothing changed)"
	case r.Failure != "" && r.RolledBack:
		title = "failed, rolled back"
	case r.Failure != "":
		title = "failed"
	case !r.Changed:
		title = "already rolled out"
	}
	name := strings.ToLower(r.Kind) + "/" + r.Name
	fmt.Fprintf(&b, "### eks-rollout: %s %s in %s\n\n", mdCode(name), title, mdCode(r.Namespace))
	if r.Failure != "" {
		fmt.Fprintf(&b, "%s\n\n", mdEscape(r.Failure))
	}
	b.WriteString("| workload | container | before | after |\n|---|---|---|---|\n")
	for _, w := range r.Workloads {
		names := slices.Sorted(maps.Keys(merge(w.PreviousImages, w.Images)))
		for _, c := range names {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdCode(strings.ToLower(w.Kind)+"/"+w.Name), mdCode(c), mdCode(w.PreviousImages[c]), mdCode(w.Images[c]))
		}
	}
	if r.Kind == string(kube.InferenceService) {
		if r.StorageURI != "" || r.PreviousStorageURI != "" {
			fmt.Fprintf(&b, "| %s | storageUri | %s | %s |\n", mdCode(name), mdCode(r.PreviousStorageURI), mdCode(r.StorageURI))
		}
		pct := "-"
		if r.TrafficPercent != nil {
			pct = strconv.FormatInt(*r.TrafficPercent, 10) + "%"
		}
		fmt.Fprintf(&b, "\nRevision %s → %s (%s of traffic; previous rolled out %s), %s, in %s.\n", mdCode(orDash(r.PreviousReadyRevision)), mdCode(orDash(r.LatestReadyRevision)),
			pct, mdCode(orDash(r.PreviousRolledoutRevision)), mdCode(orDash(r.URL)), r.Took.Round(time.Second))
	} else {
		fmt.Fprintf(&b, "\nRevision %s → %s, %d ready, in %s.\n", orDash(revision(r.PreviousRevision)), orDash(revision(r.Revision)), r.ReadyReplicas, r.Took.Round(time.Second))
	}
	lines, head := r.Events, "Steps"
	if r.DryRun {
		lines, head = r.Plan, "Plan"
	}
	if len(lines) > 0 {
		fmt.Fprintf(&b, "\n%s:\n\n", head)
		for _, l := range lines {
			fmt.Fprintf(&b, "- %s\n", mdEscape(l))
		}
	}
	return b.String()
}

func merge(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, b)
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func mdCode(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ReplaceAll(s, "|", "\\|")
	s = strings.ReplaceAll(s, "\n", " ")
	return "`" + strings.ReplaceAll(s, "`", "'") + "`"
}

func mdEscape(s string) string {
	r := strings.NewReplacer("|", "\\|", "<", "&lt;", ">", "&gt;", "\n", " ")
	return r.Replace(s)
}
