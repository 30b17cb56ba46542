package kube

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/statefile"
)

// StateSchema names the format of eks-rollout's state record.
const StateSchema = "mlship.eks-rollout.state/v1"

// maxStateFile bounds what ReadState reads.
const maxStateFile = 1 << 20

// State is what eks-rollout records about the workloads it changes:
// written before the first change (what each workload was: its revision
// and images), and again once the change is made (the generation and
// revision that change is), so that health-rollback can put a workload
// back, and can tell a newer change by someone else from the one it
// judges.
type State struct {
	Schema     string    `json:"schema"`
	RecordedAt time.Time `json:"recordedAt"`
	// Cluster is the EKS cluster, or Context the kubeconfig context, the
	// workloads are in; Server is the API server's URL.
	Cluster   string          `json:"cluster,omitempty"`
	Context   string          `json:"context,omitempty"`
	Server    string          `json:"server,omitempty"`
	Workloads []WorkloadState `json:"workloads"`
}

// WorkloadState is one workload before and after the change.
type WorkloadState struct {
	Kind      Kind   `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
	// Existed is false for a workload the change created (from a manifest):
	// there is nothing to roll it back to.
	Existed bool `json:"existed"`
	// Revision, Generation and Images are the workload before the change.
	Revision   int64             `json:"revision"`
	Generation int64             `json:"generation"`
	Images     map[string]string `json:"images"`
	// For an InferenceService: its spec.predictor, storage URI and latest
	// ready revision before the change (Revision is 0: its revisions are
	// names).
	Predictor           json.RawMessage `json:"predictor,omitempty"`
	StorageURI          string          `json:"storageUri,omitempty"`
	LatestReadyRevision string          `json:"latestReadyRevision,omitempty"`
	// Deployed is the change, once made; nil before (or when nothing was
	// changed).
	Deployed *DeployedState `json:"deployed,omitempty"`
}

// DeployedState is the change eks-rollout made to a workload.
type DeployedState struct {
	Changed    bool              `json:"changed"` // false: it already ran these images
	Generation int64             `json:"generation"`
	Revision   int64             `json:"revision,omitempty"` // once the rollout assigned one
	Images     map[string]string `json:"images"`
	Succeeded  bool              `json:"succeeded"`
	RolledBack bool              `json:"rolledBack"`
	// For an InferenceService: the predictor the change set, and the
	// revision KServe made ready for it.
	Predictor            json.RawMessage `json:"predictor,omitempty"`
	StorageURI           string          `json:"storageUri,omitempty"`
	CanaryTrafficPercent *int64          `json:"canaryTrafficPercent,omitempty"`
	LatestReadyRevision  string          `json:"latestReadyRevision,omitempty"`
}

// Ref names the workload.
func (w *WorkloadState) Ref() Ref { return Ref{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name} }

// Find returns the record of ref, or nil.
func (s *State) Find(ref Ref) *WorkloadState {
	for i := range s.Workloads {
		if s.Workloads[i].Ref() == ref {
			return &s.Workloads[i]
		}
	}
	return nil
}

// CheckStatePath refuses a path a record cannot be written to (a
// directory, or a file in a directory that does not exist), writing
// nothing.
func CheckStatePath(path string) error { return statefile.CheckPath(path) }

// Write records s at path, replacing the file whole (a reader never sees
// half a record).
func (s *State) Write(path string) error {
	s.Schema = StateSchema
	return statefile.Write(path, s)
}

// ReadState reads a record eks-rollout wrote. Anything else (a missing
// file, another format, one cut short) is bad input: a record that could
// not be read is never taken as an empty one.
func ReadState(path string) (*State, error) {
	var s State
	if err := statefile.Read(path, maxStateFile, &s); err != nil {
		return nil, exitcode.BadInputf("--state-file %q: %v", path, err)
	}
	if s.Schema != StateSchema {
		return nil, exitcode.BadInputf("--state-file %q: schema %q, want %q (a record written by eks-rollout)", path, s.Schema, StateSchema)
	}
	for _, w := range s.Workloads {
		if _, ok := ParseKind(string(w.Kind)); !ok || w.Name == "" || w.Namespace == "" {
			return nil, exitcode.BadInputf("--state-file %q: a workload record without a valid kind, namespace and name", path)
		}
	}
	return &s, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// String is the record of one workload for messages.
func (w *WorkloadState) String() string {
	if w.Kind == InferenceService {
		return fmt.Sprintf("%s (revision %s, storageUri %s, %s)", w.Ref(), w.LatestReadyRevision, w.StorageURI, FormatImages(w.Images))
	}
	return fmt.Sprintf("%s (revision %d, %s)", w.Ref(), w.Revision, FormatImages(w.Images))
}
