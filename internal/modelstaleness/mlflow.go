package modelstaleness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/version"
)

// MLflow's legacy model version stages, by their lower-case names: MLflow
// takes a stage in any case and answers with these.
var mlflowStages = map[string]string{"none": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}

// mlflowAliasRe is MLflow's rule for alias names (letters, digits, _ and
// -, at most 256); "latest" and version-like names (v1) it reserves.
var (
	mlflowAliasRe    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
	mlflowReservedRe = regexp.MustCompile(`^(?i:latest|v\d+)$`)
)

// Limits and retries of the MLflow source.
const (
	// MaxMLflowBytes bounds one answer of the tracking server.
	MaxMLflowBytes = 4 << 20
	// mlflowRetries is how often a 429, a 5xx or a failed connection is
	// tried again, waiting 1s, 2s, 4s, ... (or the server's Retry-After).
	mlflowRetries      = 4
	mlflowFirstBackoff = time.Second
)

// checkMLflow checks the mlflow source's options of m.
func (c *Config) checkMLflow(m *Model, bad func(name, value, format string, args ...any)) {
	s := m.Spec
	m.Spec.MLflowURI = cmpOr(s.MLflowURI, c.MLflowTrackingURI)
	if u, err := parseMLflowURI(m.Spec.MLflowURI); err != nil {
		bad("mlflow-uri", m.Spec.MLflowURI, "%v", err)
	} else {
		m.mlflowURL = u
	}
	switch {
	case s.RegisteredModel == "":
		bad("registered-model", "", "the mlflow source needs the registered model's name")
	case len(s.RegisteredModel) > 256 || strings.ContainsAny(s.RegisteredModel, "\r\n\x00\t"):
		bad("registered-model", s.RegisteredModel, "a registered model name is one line of at most 256 characters")
	}
	if s.Stage != "" && s.Alias != "" {
		bad("alias", s.Alias, "give --stage or --alias, not both")
	}
	if s.Stage != "" {
		if st, ok := mlflowStages[strings.ToLower(s.Stage)]; ok {
			m.stage = st
		} else {
			bad("stage", s.Stage, "want None, Staging, Production or Archived")
		}
	}
	if s.Alias != "" && (!mlflowAliasRe.MatchString(s.Alias) || mlflowReservedRe.MatchString(s.Alias)) {
		bad("alias", s.Alias, "not an MLflow alias name (letters, digits, _ and -; not latest or v<number>)")
	}
}

func parseMLflowURI(s string) (string, error) {
	if s == "" {
		return "", errors.New("the mlflow source needs the tracking server's URL (default MLFLOW_TRACKING_URI)")
	}
	if s == "databricks" || strings.HasPrefix(s, "databricks://") {
		return "", errors.New("a Databricks profile is not read; give the workspace's https:// URL and MLFLOW_TRACKING_TOKEN")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", errors.New("want the tracking server's http(s):// URL (a file store or database URI is not served over REST)")
	}
	if u.User != nil {
		return "", errors.New("holds credentials; give them in MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("a query or fragment is not part of a tracking server's URL")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// mlflowAPI talks to MLflow tracking servers' REST API.
type mlflowAPI struct {
	client             *http.Client
	token, user, pass  string
	sleep              func(context.Context, time.Duration) error
	log                action.Logger
	timeout            time.Duration
	noCredentialsGiven bool
}

// mlflowError is an answer of MLflow that is not a success: its HTTP
// status, and the error_code and message of its JSON body when it has one.
type mlflowError struct {
	status  int
	code    string
	message string
}

func (e *mlflowError) Error() string {
	switch {
	case e.code != "" && e.message != "":
		return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message)
	case e.code != "":
		return fmt.Sprintf("%d %s", e.status, e.code)
	case e.message != "":
		return fmt.Sprintf("%d %s", e.status, e.message)
	}
	return fmt.Sprintf("%d %s", e.status, http.StatusText(e.status))
}

// oneLine keeps text from a server to one short line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// call sends one request to the REST API (path after /api/2.0/mlflow/) and
// decodes the answer into out. A 429, a 5xx or a failed connection is tried
// again with backoff, never past --timeout; other answers come back as
// *mlflowError.
func (a *mlflowAPI) call(ctx context.Context, what, base, method, path string, query url.Values, body, out any) error {
	endpoint := base + "/api/2.0/mlflow/" + path
	if len(query) > 0 {
		endpoint += "?" + query.Encode()
	}
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("internal error: %v", err)
		}
	}
	for attempt := 0; ; attempt++ {
		retryable, wait, err := a.once(ctx, method, endpoint, payload, out)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return exitcode.Incompletef("%s: %v", what, ctx.Err())
		}
		if !retryable {
			var me *mlflowError
			if errors.As(err, &me) {
				return err
			}
			return exitcode.Wrap(exitcode.Of(err), fmt.Errorf("%s: %w", what, err))
		}
		if attempt >= mlflowRetries {
			return exitcode.Incompletef("%s: %v (after %d retries)", what, err, mlflowRetries)
		}
		if wait <= 0 {
			wait = mlflowFirstBackoff << attempt
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return exitcode.Incompletef("%s: %v; the next retry, in %s, would be past --timeout %s", what, err, wait.Round(time.Second), a.timeout)
		}
		said := "MLflow answered"
		if !errors.As(err, new(*mlflowError)) {
			said = "could not reach MLflow"
		}
		a.log.Logf("%s: %s %v: waiting %s before retry %d of %d", what, said, err, wait.Round(time.Second), attempt+1, mlflowRetries)
		if err := a.sleep(ctx, wait); err != nil {
			return exitcode.Incompletef("%s: waiting to retry: %v", what, err)
		}
	}
}

// once sends the request once. It tells whether a failure may be retried,
// and how long the server asked to wait (0 when it did not say).
func (a *mlflowAPI) once(ctx context.Context, method, endpoint string, payload []byte, out any) (bool, time.Duration, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint, rd)
	if err != nil {
		return false, 0, fmt.Errorf("internal error: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mlship-model-staleness/"+version.String())
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case a.token != "":
		req.Header.Set("Authorization", "Bearer "+a.token)
	case a.user != "" || a.pass != "":
		req.SetBasicAuth(a.user, a.pass)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return true, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxMLflowBytes+1))
	if err != nil {
		return true, 0, fmt.Errorf("reading the answer: %v", err)
	}
	if len(b) > MaxMLflowBytes {
		return false, 0, exitcode.Incompletef("the answer of %s is larger than %d bytes", redactURL(endpoint), MaxMLflowBytes)
	}
	if resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			return false, 0, exitcode.Incompletef("the answer of %s is not MLflow's JSON: %v", redactURL(endpoint), err)
		}
		return false, 0, nil
	}
	me := &mlflowError{status: resp.StatusCode}
	var body struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(b, &body) == nil && (body.ErrorCode != "" || body.Message != "") {
		me.code, me.message = oneLine(body.ErrorCode), oneLine(body.Message)
	} else {
		me.message = oneLine(string(b))
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return true, retryAfter(resp.Header.Get("Retry-After")), me
	}
	return false, 0, me
}

func redactURL(s string) string {
	base, _, _ := strings.Cut(s, "?")
	return base
}

// retryAfter reads a Retry-After header in seconds (an HTTP date is taken
// as not said).
func retryAfter(h string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// mlflowVersion is a ModelVersion as MLflow's REST API writes it: the
// version number as a string, the timestamps as int64 in milliseconds
// (as JSON numbers, or as strings from servers that follow proto3's JSON
// mapping).
type mlflowVersion struct {
	Name                 string          `json:"name"`
	Version              string          `json:"version"`
	CreationTimestamp    json.RawMessage `json:"creation_timestamp"`
	LastUpdatedTimestamp json.RawMessage `json:"last_updated_timestamp"`
	CurrentStage         string          `json:"current_stage"`
	Status               string          `json:"status"`
	Aliases              []string        `json:"aliases"`
}

// millis reads an int64 timestamp in milliseconds since the epoch; a
// missing, zero, negative or non-numeric one is not a time.
func millis(raw json.RawMessage) (time.Time, bool) {
	s := strings.TrimSpace(string(raw))
	if unq, err := strconv.Unquote(s); err == nil {
		s = unq
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > 253402300799999 { // after 9999-12-31
		return time.Time{}, false
	}
	return time.UnixMilli(n).UTC(), true
}

// mlflowLastChange is the creation time of the registered model's newest
// version, of the newest version in --stage, or of the version --alias
// points at.
func (a *mlflowAPI) lastChange(ctx context.Context, m *Model) (*change, error) {
	s := m.Spec
	name := s.RegisteredModel
	var mv *mlflowVersion
	switch {
	case s.Alias != "":
		var out struct {
			ModelVersion *mlflowVersion `json:"model_version"`
		}
		err := a.call(ctx, fmt.Sprintf("reading alias %s of registered model %s", s.Alias, name), m.mlflowURL,
			http.MethodGet, "registered-models/alias", url.Values{"name": {name}, "alias": {s.Alias}}, nil, &out)
		var me *mlflowError
		if errors.As(err, &me) && (me.code == "INVALID_PARAMETER_VALUE" || me.code == "RESOURCE_DOES_NOT_EXIST") {
			// MLflow answers a missing alias with 400 INVALID_PARAMETER_VALUE
			// (some stores 404) and a missing model with 404: ask for the
			// model to tell which.
			if err := a.registeredModel(ctx, m, nil); err != nil {
				return nil, err
			}
			return nil, exitcode.BadInputf("%s %q: registered model %s has no such alias (MLflow: %v)", m.opt("alias"), s.Alias, name, me)
		}
		if err != nil {
			return nil, a.mlflowErr(m, fmt.Sprintf("reading alias %s of registered model %s", s.Alias, name), err)
		}
		if out.ModelVersion == nil {
			return nil, exitcode.Incompletef("reading alias %s of registered model %s: MLflow's answer has no model_version", s.Alias, name)
		}
		mv = out.ModelVersion
	case m.stage != "":
		var out struct {
			ModelVersions []mlflowVersion `json:"model_versions"`
		}
		what := fmt.Sprintf("reading the latest version of registered model %s in stage %s", name, m.stage)
		err := a.call(ctx, what, m.mlflowURL, http.MethodPost, "registered-models/get-latest-versions", nil,
			map[string]any{"name": name, "stages": []string{m.stage}}, &out)
		if err != nil {
			return nil, a.mlflowErr(m, what, err)
		}
		if mv = newestVersion(out.ModelVersions); mv == nil {
			return nil, exitcode.BadInputf("%s %q: registered model %s has no version in stage %s", m.opt("stage"), s.Stage, name, m.stage)
		}
	default:
		var rm mlflowRegisteredModel
		if err := a.registeredModel(ctx, m, &rm); err != nil {
			return nil, err
		}
		if mv = newestVersion(rm.LatestVersions); mv == nil {
			return nil, exitcode.BadInputf("%s %q: the registered model has no version", m.opt("registered-model"), name)
		}
	}
	if _, err := strconv.ParseUint(mv.Version, 10, 63); err != nil {
		return nil, exitcode.Incompletef("registered model %s: MLflow gave a version %q that is not a number", name, oneLine(mv.Version))
	}
	at, ok := millis(mv.CreationTimestamp)
	if !ok {
		return nil, exitcode.Incompletef("registered model %s version %s: MLflow gave no usable creation_timestamp (%s); the model cannot be judged", name, mv.Version, oneLine(string(mv.CreationTimestamp)))
	}
	item := "version " + mv.Version
	if mv.CurrentStage != "" && mv.CurrentStage != "None" {
		item += " (" + oneLine(mv.CurrentStage) + ")"
	}
	return &change{at: at, item: item, version: mv.Version}, nil
}

type mlflowRegisteredModel struct {
	Name           string          `json:"name"`
	LatestVersions []mlflowVersion `json:"latest_versions"`
}

// registeredModel reads the registered model (into rm when not nil); a
// model that is not there is bad input.
func (a *mlflowAPI) registeredModel(ctx context.Context, m *Model, rm *mlflowRegisteredModel) error {
	name := m.Spec.RegisteredModel
	var out struct {
		RegisteredModel *mlflowRegisteredModel `json:"registered_model"`
	}
	what := "reading registered model " + name
	if err := a.call(ctx, what, m.mlflowURL, http.MethodGet, "registered-models/get", url.Values{"name": {name}}, nil, &out); err != nil {
		return a.mlflowErr(m, what, err)
	}
	if out.RegisteredModel == nil {
		return exitcode.Incompletef("%s: MLflow's answer has no registered_model", what)
	}
	if rm != nil {
		*rm = *out.RegisteredModel
	}
	return nil
}

// newestVersion is the highest-numbered version; versions whose number is
// not a number are left for the caller to refuse only when nothing else is
// there.
func newestVersion(vs []mlflowVersion) *mlflowVersion {
	var best *mlflowVersion
	var bestN uint64
	for i := range vs {
		n, err := strconv.ParseUint(vs[i].Version, 10, 63)
		if err != nil {
			if best == nil {
				best = &vs[i]
			}
			continue
		}
		if best == nil || n > bestN {
			best, bestN = &vs[i], n
		}
	}
	return best
}

// mlflowErr turns an MLflow answer into one line with its exit code.
func (a *mlflowAPI) mlflowErr(m *Model, what string, err error) error {
	var me *mlflowError
	if !errors.As(err, &me) {
		return err
	}
	switch {
	case me.code == "RESOURCE_DOES_NOT_EXIST":
		return exitcode.BadInputf("%s %q: no such registered model at %s (MLflow: %v)", m.opt("registered-model"), m.Spec.RegisteredModel, m.mlflowURL, me)
	case me.status == http.StatusNotFound || me.status == http.StatusMethodNotAllowed:
		return exitcode.BadInputf("%s: %s answered %d without MLflow's error JSON: is %s an MLflow tracking server's base URL?", what, m.mlflowURL, me.status, m.opt("mlflow-uri"))
	case me.status == http.StatusUnauthorized:
		hint := "check MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
		if a.noCredentialsGiven {
			hint = "the server wants credentials: set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
		}
		return exitcode.BadInputf("%s: MLflow refused the credentials (%v): %s", what, me, hint)
	case me.status == http.StatusForbidden:
		return exitcode.BadInputf("%s: MLflow forbids it (%v): the user needs READ permission on the registered model", what, me)
	case me.status == http.StatusBadRequest:
		return exitcode.BadInputf("%s: MLflow refused the request (%v)", what, me)
	}
	return exitcode.Incompletef("%s: MLflow answered %v", what, me)
}
