package modelstaleness

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// mlflowServer is an MLflow tracking server's model registry REST API as
// MLflow documents it (mlflow/protos/model_registry.proto, served by
// mlflow/server/handlers.py): the registered-models get, get-latest-versions
// (POST with a JSON body, or GET with repeated stages) and alias endpoints,
// answers written the way MLflow writes them (int64 timestamps in
// milliseconds as JSON numbers, versions as strings), and its errors: JSON
// {"error_code", "message"} with 404 RESOURCE_DOES_NOT_EXIST for a missing
// model, 400 INVALID_PARAMETER_VALUE for a missing alias, a bad stage or a
// request it does not understand; 401 as text, the way mlflow-server's basic
// auth app answers; 405 and 404 as Flask's HTML for a wrong method or path.
type mlflowServer struct {
	*httptest.Server

	mu     sync.Mutex
	models map[string]*fakeRegisteredModel
	// Credentials the server wants: a bearer token, or a basic user and
	// password; none when empty.
	token, user, pass string
	// failures are answered, in order, before the real answers.
	failures []fakeFailure
	// pad is added to each successful answer (to test the size limit).
	pad      int
	requests []mlflowRequest
}

type fakeFailure struct {
	status     int
	retryAfter string
}

type mlflowRequest struct {
	Method, Path, Query, Body, Authorization string
}

type fakeRegisteredModel struct {
	name     string
	versions []fakeVersion
	aliases  map[string]string // alias -> version
}

// fakeVersion is a model version; its timestamps are the JSON the server
// writes, so that tests can give malformed ones.
type fakeVersion struct {
	Version     string
	Created     json.RawMessage
	LastUpdated json.RawMessage
	Stage       string // "" is None
	Status      string // "" is READY
}

func ms(t time.Time) json.RawMessage {
	return json.RawMessage(strconv.FormatInt(t.UnixMilli(), 10))
}

func newMLflowServer(t testing.TB) *mlflowServer {
	t.Helper()
	s := &mlflowServer{models: map[string]*fakeRegisteredModel{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *mlflowServer) addModel(name string, versions ...fakeVersion) *fakeRegisteredModel {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &fakeRegisteredModel{name: name, versions: versions, aliases: map[string]string{}}
	s.models[name] = m
	return m
}

func (s *mlflowServer) setAlias(name, alias, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.models[name].aliases[alias] = version
}

func (s *mlflowServer) fail(status int, retryAfter string, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range times {
		s.failures = append(s.failures, fakeFailure{status, retryAfter})
	}
}

func (s *mlflowServer) Requests() []mlflowRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func mlflowJSONError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error_code": code, "message": message})
}

var canonicalStages = map[string]string{"none": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}

func (s *mlflowServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, mlflowRequest{r.Method, r.URL.Path, r.URL.RawQuery, string(body), r.Header.Get("Authorization")})

	if s.token != "" || s.user != "" {
		ok := false
		if s.token != "" {
			ok = r.Header.Get("Authorization") == "Bearer "+s.token
		} else {
			u, p, basic := r.BasicAuth()
			ok = basic && u == s.user && p == s.pass
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="mlflow"`)
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, "You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate.")
			return
		}
	}
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		code := "INTERNAL_ERROR"
		if f.status == http.StatusTooManyRequests {
			code = "REQUEST_LIMIT_EXCEEDED"
		}
		mlflowJSONError(w, f.status, code, "try again")
		return
	}

	// The request's parameters: the query of a GET, the JSON body of a
	// POST (which must say it is JSON, as MLflow's handlers require).
	params := map[string][]string{}
	switch r.Method {
	case http.MethodGet:
		for k, v := range r.URL.Query() {
			params[k] = v
		}
	case http.MethodPost:
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			mlflowJSONError(w, 400, "INVALID_PARAMETER_VALUE", "Bad Request. Content-Type must be application/json")
			return
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			mlflowJSONError(w, 400, "MALFORMED_REQUEST", "Malformed request body: "+err.Error())
			return
		}
		for k, v := range raw {
			var one string
			var many []string
			switch {
			case json.Unmarshal(v, &one) == nil:
				params[k] = []string{one}
			case json.Unmarshal(v, &many) == nil:
				params[k] = many
			default:
				mlflowJSONError(w, 400, "INVALID_PARAMETER_VALUE", fmt.Sprintf("Invalid value %s for parameter '%s' supplied", v, k))
				return
			}
		}
	}

	type endpoint struct {
		methods []string
		params  []string
	}
	endpoints := map[string]endpoint{
		"/api/2.0/mlflow/registered-models/get":                 {[]string{"GET"}, []string{"name"}},
		"/api/2.0/mlflow/registered-models/get-latest-versions": {[]string{"GET", "POST"}, []string{"name", "stages"}},
		"/api/2.0/mlflow/registered-models/alias":               {[]string{"GET"}, []string{"name", "alias"}},
	}
	ep, ok := endpoints[r.URL.Path]
	if !ok {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<!doctype html>\n<title>404 Not Found</title>\n<h1>Not Found</h1>")
		return
	}
	if !slices.Contains(ep.methods, r.Method) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusMethodNotAllowed)
		fmt.Fprint(w, "<!doctype html>\n<title>405 Method Not Allowed</title>")
		return
	}
	for k := range params {
		if !slices.Contains(ep.params, k) {
			mlflowJSONError(w, 400, "INVALID_PARAMETER_VALUE", fmt.Sprintf("Invalid parameter '%s' supplied", k))
			return
		}
	}
	one := func(k string) string {
		if v := params[k]; len(v) == 1 {
			return v[0]
		}
		return ""
	}
	for _, k := range ep.params {
		if k != "stages" && one(k) == "" {
			mlflowJSONError(w, 400, "INVALID_PARAMETER_VALUE", fmt.Sprintf("Missing value for required parameter '%s'. See the API docs for more information about request parameters.", k))
			return
		}
	}
	name := one("name")
	m := s.models[name]
	if m == nil {
		mlflowJSONError(w, 404, "RESOURCE_DOES_NOT_EXIST", fmt.Sprintf("Registered Model with name=%s not found", name))
		return
	}

	var out any
	switch r.URL.Path {
	case "/api/2.0/mlflow/registered-models/get":
		out = map[string]any{"registered_model": m.toJSON(m.latest(nil))}
	case "/api/2.0/mlflow/registered-models/get-latest-versions":
		var stages []string
		for _, st := range params["stages"] {
			c, ok := canonicalStages[strings.ToLower(st)]
			if !ok {
				mlflowJSONError(w, 400, "INVALID_PARAMETER_VALUE", fmt.Sprintf("Invalid Model Version stage: %s. Value must be one of None, Staging, Production, Archived.", st))
				return
			}
			stages = append(stages, c)
		}
		vs := []any{}
		for _, v := range m.latest(stages) {
			vs = append(vs, m.versionJSON(v))
		}
		out = map[string]any{"model_versions": vs}
	case "/api/2.0/mlflow/registered-models/alias":
		alias := one("alias")
		ver, ok := m.aliases[alias]
		if !ok {
			mlflowJSONError(w, 400, "INVALID_PARAMETER_VALUE", fmt.Sprintf("Registered model alias %s not found.", alias))
			return
		}
		for _, v := range m.versions {
			if v.Version == ver {
				out = map[string]any{"model_version": m.versionJSON(v)}
			}
		}
	}
	b, _ := json.Marshal(out)
	if s.pad > 0 {
		b = append(b[:len(b)-1], []byte(`,"padding":"`+strings.Repeat("x", s.pad)+`"}`)...)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// latest is the highest version in each stage (of stages; every stage
// when nil) among versions that are READY, as MLflow's latest_versions.
func (m *fakeRegisteredModel) latest(stages []string) []fakeVersion {
	best := map[string]fakeVersion{}
	for _, v := range m.versions {
		st := cmpOr(v.Stage, "None")
		if v.Status != "" && v.Status != "READY" || stages != nil && !slices.Contains(stages, st) {
			continue
		}
		n, _ := strconv.Atoi(v.Version)
		if b, ok := best[st]; !ok || n > atoi(b.Version) {
			best[st] = v
		}
	}
	var out []fakeVersion
	for _, st := range []string{"None", "Staging", "Production", "Archived"} {
		if v, ok := best[st]; ok {
			out = append(out, v)
		}
	}
	return out
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func (m *fakeRegisteredModel) versionJSON(v fakeVersion) map[string]any {
	j := map[string]any{
		"name":          m.name,
		"version":       v.Version,
		"current_stage": cmpOr(v.Stage, "None"),
		"status":        cmpOr(v.Status, "READY"),
		"source":        "mlflow-artifacts:/1/abc/artifacts/model",
		"run_id":        "abc",
	}
	if v.Created != nil {
		j["creation_timestamp"] = v.Created
	}
	if v.LastUpdated != nil {
		j["last_updated_timestamp"] = v.LastUpdated
	}
	var aliases []string
	for a, ver := range m.aliases {
		if ver == v.Version {
			aliases = append(aliases, a)
		}
	}
	if len(aliases) > 0 {
		slices.Sort(aliases)
		j["aliases"] = aliases
	}
	return j
}

func (m *fakeRegisteredModel) toJSON(latest []fakeVersion) map[string]any {
	vs := []any{}
	for _, v := range latest {
		vs = append(vs, m.versionJSON(v))
	}
	j := map[string]any{"name": m.name, "creation_timestamp": ms(daysAgo(100)), "last_updated_timestamp": ms(daysAgo(1))}
	if len(vs) > 0 {
		j["latest_versions"] = vs
	}
	var aliases []any
	for a, ver := range m.aliases {
		aliases = append(aliases, map[string]string{"alias": a, "version": ver})
	}
	if len(aliases) > 0 {
		j["aliases"] = aliases
	}
	return j
}

// query decodes a recorded request's query.
func (r mlflowRequest) query() url.Values {
	v, _ := url.ParseQuery(r.Query)
	return v
}
