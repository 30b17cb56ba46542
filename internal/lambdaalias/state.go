package lambdaalias

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mlship/mlship/internal/statefile"
)

// StateSchema names the format of the previous-state record. v2 records
// the environment's values, where v1 had only their names.
const StateSchema = "mlship.lambda-deploy.previous-state/v2"

// MaxStateSize bounds a previous-state file ReadState accepts: a record
// is a few kilobytes (Lambda's variables take at most 4 KB).
const MaxStateSize = 1 << 20

// PreviousState is what a function and its alias were before a deploy
// changed them: everything needed to put them back. lambda-deploy writes it
// before its first change; health-rollback (or a later job) reads it.
type PreviousState struct {
	Schema       string    `json:"schema"`
	RecordedAt   time.Time `json:"recordedAt"`
	FunctionName string    `json:"functionName"`
	FunctionARN  string    `json:"functionArn"`
	// Alias is the alias's state; nil when the deploy used no alias.
	Alias *AliasState `json:"alias,omitempty"`
	// KeptVersion is set when the alias pointed at $LATEST: the version
	// the deploy published of the old $LATEST, to restore instead.
	KeptVersion string      `json:"keptVersion,omitempty"`
	Latest      LatestState `json:"latest"`
	Deploy      DeployState `json:"deploy"`
}

// AliasState is an alias as it was.
type AliasState struct {
	Name   string `json:"name"`
	Exists bool   `json:"exists"`
	// FunctionVersion and AdditionalVersionWeights are its routing then.
	FunctionVersion          string             `json:"functionVersion,omitempty"`
	AdditionalVersionWeights map[string]float64 `json:"additionalVersionWeights,omitempty"`
	RevisionID               string             `json:"revisionId,omitempty"`
}

// LatestState is $LATEST as it was.
type LatestState struct {
	ImageURI         string `json:"imageUri"`
	ResolvedImageURI string `json:"resolvedImageUri,omitempty"`
	CodeSha256       string `json:"codeSha256"`
	RevisionID       string `json:"revisionId"`
	// Environment holds the variables' values: the file is written 0600,
	// and the values are masked whenever the record is printed.
	Environment Environment `json:"environment"`
	// EnvironmentError is Lambda's reason when it could not return the
	// variables (a KMS key it cannot use): Environment is then unknown,
	// not empty, and a rollback cannot restore it.
	EnvironmentError string `json:"environmentError,omitempty"`
}

// DeployState is what the deploy set out to do.
type DeployState struct {
	ImageURI    string `json:"imageUri"` // by digest: what Lambda was given
	ImageTag    string `json:"imageTag,omitempty"`
	ImageDigest string `json:"imageDigest"`
	Strategy    string `json:"strategy"`
	// ReplaceEnvironment is set when the deploy replaced the whole
	// environment rather than merging into it.
	ReplaceEnvironment bool `json:"replaceEnvironment,omitempty"`
}

// Environment is a function's variables. It prints with every value
// masked (KEY=***), whatever the verb: values may be secret.
type Environment map[string]string

// String lists the variables with their values masked.
func (e Environment) String() string {
	parts := make([]string, 0, len(e))
	for _, k := range slices.Sorted(maps.Keys(e)) {
		parts = append(parts, k+"=***")
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Format prints e as String does, for every verb (%v, %+v, %#v, %s, %q).
func (e Environment) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, e.String()) }

// Image is the image to put back: by digest when Lambda reported one, so
// that a tag moved since does not matter.
func (l LatestState) Image() string {
	if l.ResolvedImageURI != "" {
		return l.ResolvedImageURI
	}
	return l.ImageURI
}

// RollbackVersion is the version the alias goes back to: the kept copy of
// $LATEST when there is one, else the version it pointed at. A record
// without an alias, or of an alias the deploy created, has none.
func (s *PreviousState) RollbackVersion() (string, error) {
	switch {
	case s.Alias == nil:
		return "", fmt.Errorf("the previous state of %s has no alias (the deploy used none)", s.FunctionName)
	case !s.Alias.Exists:
		return "", fmt.Errorf("alias %s of %s did not exist before the deploy: there is no version to go back to", s.Alias.Name, s.FunctionName)
	case s.KeptVersion != "":
		return s.KeptVersion, nil
	case s.Alias.FunctionVersion == "":
		return "", fmt.Errorf("the previous state of alias %s of %s names no version", s.Alias.Name, s.FunctionName)
	}
	return s.Alias.FunctionVersion, nil
}

// CheckStatePath refuses a path the record cannot be written to: a
// directory, or a file in a directory that does not exist. It writes
// nothing.
func CheckStatePath(path string) error { return statefile.CheckPath(path) }

// WriteState writes st to path as indented JSON, readable by its owner
// only (0600). It writes a temporary file beside path and renames it into
// place, so that a reader never sees half a record.
func WriteState(path string, st *PreviousState) error {
	if st.Schema == "" {
		st.Schema = StateSchema
	}
	if err := statefile.Write(path, st); err != nil {
		return fmt.Errorf("writing the previous state to %s: %w", path, err)
	}
	return nil
}

// ReadState reads a record WriteState wrote. A file larger than
// MaxStateSize, of another schema, or without a function is refused.
func ReadState(path string) (*PreviousState, error) {
	var st PreviousState
	if err := statefile.Read(path, MaxStateSize, &st); err != nil {
		return nil, fmt.Errorf("reading the previous state %s: %w", path, err)
	}
	switch {
	case st.Schema != StateSchema:
		return nil, fmt.Errorf("reading the previous state %s: schema %q, want %q", path, st.Schema, StateSchema)
	case st.FunctionName == "" && st.FunctionARN == "":
		return nil, fmt.Errorf("reading the previous state %s: no function named", path)
	case st.Alias != nil && st.Alias.Name == "":
		return nil, fmt.Errorf("reading the previous state %s: an alias without a name", path)
	}
	return &st, nil
}
