package healthrollback

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
	"github.com/mlship/mlship/internal/lambdaalias"
)

// Defaults of the probes and the rollback.
const (
	DefaultExpectStatus   = "2xx"
	DefaultTimeout        = 10 * time.Second
	DefaultInterval       = 10 * time.Second
	DefaultAttempts       = 12
	DefaultSuccesses      = 3
	DefaultAddressTimeout = 5 * time.Minute
	DefaultRolloutTimeout = 5 * time.Minute
	// MaxBody is how much of a response is read; the rest is not.
	MaxBody = 1 << 20
)

// Config is one health check (and rollback), as given on the command line
// or as action inputs. Validate checks it and fills in the parsed fields;
// Run needs a validated Config.
type Config struct {
	URLs    []string
	Service string // NAMESPACE/NAME of a LoadBalancer Service, probed at Path
	Path    string
	Port    string // the Service's port, by name or number
	Headers []string

	ExpectStatus string
	ExpectBody   string // substring, or /regex/

	Timeout        time.Duration // per request
	Interval       time.Duration
	Attempts       int
	Successes      int
	AddressTimeout time.Duration // for the Service's load balancer to get an address

	Alarms         []string
	Watch          time.Duration
	IgnoreFiring   bool // alarms already firing at the start are ignored until they clear
	Region         string
	Target         kube.Target
	Namespace      string
	Deployment     string
	Kind           string
	StateFile      string
	RolloutTimeout time.Duration

	Function  string
	Alias     string
	ToVersion string

	Force  bool
	DryRun bool

	// Filled in by Validate.
	urls      []*url.URL
	service   *serviceRef
	header    http.Header
	status    statusSet
	body      *bodyMatch
	ref       *kube.Ref
	kubeState *kube.State
	lambda    *lambdaalias.PreviousState
	needsKube bool
}

type serviceRef struct{ Namespace, Name string }

func (s serviceRef) String() string { return s.Namespace + "/" + s.Name }

// Validate checks every input and parses them. It reads only local files
// (the state file): bad input is found before any call (exit 2).
func (c *Config) Validate() error {
	bad := exitcode.BadInputf
	for _, s := range c.URLs {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return bad("--url %q: not an http:// or https:// URL with a host (and no credentials in it)", s)
		}
		c.urls = append(c.urls, u)
	}
	if c.Service != "" {
		ns, name, ok := strings.Cut(c.Service, "/")
		if !ok {
			ns, name = "", c.Service
		}
		if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
			return bad("--service %q: want NAMESPACE/NAME of a Service (%s)", c.Service, errs[0])
		}
		if ns != "" {
			if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
				return bad("--service %q: %q is not a namespace name (%s)", c.Service, ns, errs[0])
			}
		}
		c.service = &serviceRef{Namespace: ns, Name: name}
		c.needsKube = true
	}
	c.Path = cmp.Or(c.Path, "/")
	if c.Service == "" && c.Path != "/" {
		return bad("--path %q: is for --service; give --url whole", c.Path)
	}
	if !strings.HasPrefix(c.Path, "/") {
		return bad("--path %q: must start with /", c.Path)
	}
	if _, err := url.Parse(c.Path); err != nil {
		return bad("--path %q: %v", c.Path, err)
	}
	if c.Port != "" && c.Service == "" {
		return bad("--port %q: is for --service", c.Port)
	}
	c.header = http.Header{}
	for _, h := range c.Headers {
		k, v, ok := strings.Cut(h, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || !validHeaderName(k) {
			return bad("--header %q: want NAME: VALUE", h)
		}
		c.header.Add(k, v)
	}
	var err error
	if c.status, err = parseStatus(cmp.Or(c.ExpectStatus, DefaultExpectStatus)); err != nil {
		return bad("--expect-status %q: %v", c.ExpectStatus, err)
	}
	if c.ExpectBody != "" {
		if c.body, err = parseBody(c.ExpectBody); err != nil {
			return bad("--expect-body %q: %v", c.ExpectBody, err)
		}
	}
	for _, d := range []struct {
		flag string
		v    *time.Duration
		def  time.Duration
	}{
		{"timeout", &c.Timeout, DefaultTimeout}, {"interval", &c.Interval, DefaultInterval},
		{"address-timeout", &c.AddressTimeout, DefaultAddressTimeout}, {"rollout-timeout", &c.RolloutTimeout, DefaultRolloutTimeout},
	} {
		switch {
		case *d.v < 0:
			return bad("--%s %s: must be more than zero", d.flag, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if c.Watch < 0 {
		return bad("--watch %s: must be zero or more", c.Watch)
	}
	switch {
	case c.Attempts < 0:
		return bad("--attempts %d: must be at least 1", c.Attempts)
	case c.Attempts == 0:
		c.Attempts = DefaultAttempts
	}
	switch {
	case c.Successes < 0:
		return bad("--successes %d: must be at least 1", c.Successes)
	case c.Successes == 0:
		c.Successes = min(DefaultSuccesses, c.Attempts)
	case c.Successes > c.Attempts:
		return bad("--successes %d: more than --attempts %d, so no check could pass", c.Successes, c.Attempts)
	}
	if len(c.urls) == 0 && c.service == nil && len(c.Alarms) == 0 {
		return bad("nothing to check: give --url, --service or --alarm")
	}
	for _, a := range c.Alarms {
		if strings.TrimSpace(a) == "" || len(a) > 255 {
			return bad("--alarm %q: not an alarm name (1 to 255 characters)", a)
		}
	}
	if err := c.Target.Validate(); err != nil {
		return err
	}
	if c.Namespace != "" {
		if errs := validation.IsDNS1123Label(c.Namespace); len(errs) > 0 {
			return bad("--namespace %q: not a namespace name (%s)", c.Namespace, errs[0])
		}
	}
	return c.validateTarget()
}

// validateTarget checks the rollback target and reads the state file.
func (c *Config) validateTarget() error {
	bad := exitcode.BadInputf
	if c.Deployment != "" && c.Function != "" {
		return bad("--deployment %q: give one rollback target, --deployment or --function, not both", c.Deployment)
	}
	kind := kube.Deployment
	if c.Kind != "" {
		k, ok := kube.ParseKind(c.Kind)
		if !ok {
			return bad("--kind %q: unknown kind (want %s)", c.Kind, kube.KindNames)
		}
		kind = k
	}
	switch {
	case c.Deployment != "":
		r, err := kube.ParseRef(c.Deployment, kind, "default")
		if err != nil {
			return err
		}
		r.Namespace = c.Namespace
		c.ref = &r
		c.needsKube = true
		if c.ToVersion != "" || c.Alias != "" {
			return bad("--to-version and --alias are for --function, not --deployment")
		}
		if c.StateFile != "" {
			st, err := kube.ReadState(c.StateFile)
			if err != nil {
				return err
			}
			c.kubeState = st
			if w := c.stateRecord(); w == nil {
				return bad("--state-file %q: no record of %s (it records %s)", c.StateFile, c.ref, recorded(st))
			}
		}
	case c.Function != "":
		if c.Alias == "" {
			return bad("--function %q: needs --alias, the alias to roll back", c.Function)
		}
		if c.ToVersion != "" {
			if n, err := strconv.Atoi(c.ToVersion); err != nil || n < 1 {
				return bad("--to-version %q: not a published version number", c.ToVersion)
			}
		}
		if c.StateFile != "" {
			st, err := lambdaalias.ReadState(c.StateFile)
			if err != nil {
				return bad("--state-file %q: %v", c.StateFile, err)
			}
			if !sameFunction(st, c.Function) {
				return bad("--state-file %q: records function %s, not %s", c.StateFile, cmp.Or(st.FunctionARN, st.FunctionName), c.Function)
			}
			if st.Alias == nil || st.Alias.Name != c.Alias {
				return bad("--state-file %q: records no alias %s of %s", c.StateFile, c.Alias, c.Function)
			}
			c.lambda = st
		}
		if c.StateFile == "" && c.ToVersion == "" {
			return bad("--function %q: needs --state-file (lambda-deploy's previous-state record) or --to-version", c.Function)
		}
	default:
		for flag, v := range map[string]string{"state-file": c.StateFile, "alias": c.Alias, "to-version": c.ToVersion} {
			if v != "" {
				return bad("--%s %q: needs a rollback target, --deployment or --function", flag, v)
			}
		}
		if c.Force {
			return bad("--force: needs a rollback target, --deployment or --function")
		}
	}
	if c.Target.Cluster != "" || c.Target.Kubeconfig != "" || c.Target.Context != "" {
		if !c.needsKube {
			return bad("--cluster, --kubeconfig and --context are for --service and --deployment")
		}
	}
	return nil
}

// stateRecord is the state file's record of --deployment: by namespace
// when --namespace is given, else by kind and name alone.
func (c *Config) stateRecord() *kube.WorkloadState {
	if c.kubeState == nil || c.ref == nil {
		return nil
	}
	for i := range c.kubeState.Workloads {
		w := &c.kubeState.Workloads[i]
		if w.Kind == c.ref.Kind && w.Name == c.ref.Name && (c.ref.Namespace == "" || w.Namespace == c.ref.Namespace) {
			return w
		}
	}
	return nil
}

func recorded(st *kube.State) string {
	var names []string
	for _, w := range st.Workloads {
		names = append(names, w.Ref().String()+" in "+w.Namespace)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func sameFunction(st *lambdaalias.PreviousState, fn string) bool {
	if fn == st.FunctionName || fn == st.FunctionARN {
		return true
	}
	// A name and an ARN name the same function when the ARN ends in it.
	return st.FunctionARN != "" && strings.HasSuffix(st.FunctionARN, ":function:"+fn) ||
		strings.HasSuffix(fn, ":function:"+st.FunctionName)
}

var headerNameRe = regexp.MustCompile(`^[!#$%&'*+\-.^_` + "`" + `|~0-9A-Za-z]+$`)

func validHeaderName(s string) bool { return headerNameRe.MatchString(s) }

// statusSet is the statuses a probe accepts.
type statusSet []struct{ lo, hi int }

func (s statusSet) has(code int) bool {
	for _, r := range s {
		if code >= r.lo && code <= r.hi {
			return true
		}
	}
	return false
}

func (s statusSet) String() string {
	var parts []string
	for _, r := range s {
		switch {
		case r.lo == r.hi:
			parts = append(parts, strconv.Itoa(r.lo))
		case r.lo%100 == 0 && r.hi == r.lo+99:
			parts = append(parts, fmt.Sprintf("%dxx", r.lo/100))
		default:
			parts = append(parts, fmt.Sprintf("%d-%d", r.lo, r.hi))
		}
	}
	return strings.Join(parts, ",")
}

// parseStatus reads 200, 2xx, 200-299 and lists of them (200,204,3xx).
func parseStatus(s string) (statusSet, error) {
	var out statusSet
	for _, p := range strings.Split(s, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		code := func(v string) (int, error) {
			v = strings.TrimSpace(v)
			n, err := strconv.Atoi(v)
			if err != nil || n < 100 || n > 599 {
				return 0, fmt.Errorf("%q is not an HTTP status (100 to 599, 2xx, or a range 200-299)", v)
			}
			return n, nil
		}
		switch {
		case len(p) == 3 && strings.HasSuffix(p, "xx"):
			n, err := code(p[:1] + "00")
			if err != nil {
				return nil, err
			}
			out = append(out, struct{ lo, hi int }{n, n + 99})
		case strings.Contains(p, "-"):
			a, b, _ := strings.Cut(p, "-")
			lo, err := code(a)
			if err != nil {
				return nil, err
			}
			hi, err := code(b)
			if err != nil {
				return nil, err
			}
			if hi < lo {
				return nil, fmt.Errorf("the range %s ends before it starts", p)
			}
			out = append(out, struct{ lo, hi int }{lo, hi})
		default:
			n, err := code(p)
			if err != nil {
				return nil, err
			}
			out = append(out, struct{ lo, hi int }{n, n})
		}
	}
	return out, nil
}

// bodyMatch is what a response body must hold: a substring, or a regular
// expression written between slashes.
type bodyMatch struct {
	text string
	re   *regexp.Regexp
}

func parseBody(s string) (*bodyMatch, error) {
	if len(s) >= 2 && strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/") {
		re, err := regexp.Compile(s[1 : len(s)-1])
		if err != nil {
			return nil, fmt.Errorf("not a regular expression: %v", err)
		}
		return &bodyMatch{text: s, re: re}, nil
	}
	return &bodyMatch{text: s}, nil
}

func (b *bodyMatch) matches(body []byte) bool {
	if b.re != nil {
		return b.re.Match(body)
	}
	return strings.Contains(string(body), b.text)
}

func (b *bodyMatch) String() string {
	if b.re != nil {
		return "matching " + b.text
	}
	return fmt.Sprintf("containing %q", b.text)
}
