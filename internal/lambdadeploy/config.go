package lambdadeploy

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mlship/mlship/internal/exitcode"
)

// Strategies for moving the alias to the new version.
const (
	AllAtOnce = "all-at-once"
	Canary    = "canary"
	Linear    = "linear"
)

// Defaults for a canary or linear shift when no percent or interval is
// given.
const (
	DefaultPercent        = 10.0
	DefaultCanaryInterval = 5 * time.Minute
	DefaultLinearInterval = time.Minute
	DefaultTimeout        = 10 * time.Minute
)

// maxPayload is Lambda's limit for a synchronous invocation's request.
const maxPayload = 6 << 20

// Config is one deploy, as given on the command line or as action inputs.
// Validate checks it and fills in the parsed fields; Run needs a validated
// Config.
type Config struct {
	Function string // name, or ARN of the function (unqualified)
	Alias    string // alias to move; empty updates $LATEST and publishes only

	// The image: ImageURI, or Repository with Tag, or Repository with the
	// tag read from the SSM parameter TagParameter (whose value may also be
	// a whole image URI when Repository is empty).
	ImageURI     string
	Repository   string
	Tag          string
	TagParameter string

	EnvArgs       []string // KEY=VALUE
	SecretEnvArgs []string // KEY=VALUE whose values are never shown
	Unset         []string // keys to remove

	Strategy string
	Percent  float64       // traffic share of a canary, or of each linear step
	Interval time.Duration // how long each share is held and watched
	BakeTime time.Duration // how long to watch alarms after promotion

	PayloadArg   string   // JSON, or @file
	ExpectStatus int      // statusCode the response must carry (0: not checked)
	ExpectArgs   []string // FIELD=VALUE the response must carry

	Alarms          []string // CloudWatch alarm names watched between steps
	RequireAlarmsOK bool     // an alarm firing before the deploy blocks it

	NoRollback bool
	DryRun     bool
	Timeout    time.Duration // for each wait on Lambda

	ResponseFile string // where the smoke response is written
	StateFile    string // where the previous state is recorded

	// Filled in by Validate.
	Env       []EnvVar
	Payload   []byte // nil: no smoke invocation
	Expect    []Expectation
	Steps     []Step
	Image     *ImageRef // parsed ImageURI, nil when it comes from ECR or SSM
	repoRef   *ImageRef // parsed Repository when it is a full URI
	funcParts funcName
}

// EnvVar is one variable to set.
type EnvVar struct {
	Key    string
	Value  string
	Secret bool
}

// Expectation is one FIELD=VALUE check of the smoke response.
type Expectation struct {
	Path  string
	Value any // decoded JSON, or the raw string
	Raw   string
}

// Step is one traffic shift: the new version gets Weight (1 promotes it)
// and is then watched for Hold.
type Step struct {
	Weight float64
	Hold   time.Duration
}

// ImageRef is a parsed ECR image URI.
type ImageRef struct {
	URI        string
	Registry   string // account id
	Region     string
	Host       string // <account>.dkr.ecr.<region>.amazonaws.com
	Repository string
	Tag        string
	Digest     string // sha256:..., from the URI or from ECR
}

type funcName struct {
	name   string
	region string // from an ARN
}

var (
	imageURIRe = regexp.MustCompile(`^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?/(` + repoPattern + `)(?::(` + tagPattern + `)|@(sha256:[a-f0-9]{64}))$`)
	repoURIRe  = regexp.MustCompile(`^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?/(` + repoPattern + `)$`)
	repoNameRe = regexp.MustCompile(`^` + repoPattern + `$`)
	tagRe      = regexp.MustCompile(`^` + tagPattern + `$`)
	funcNameRe = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	funcARNRe  = regexp.MustCompile(`^arn:aws[a-z-]*:lambda:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):function:([a-zA-Z0-9_-]{1,64})(?::(.+))?$`)
	aliasRe    = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)
	envKeyRe   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]+$`)
	paramRe    = regexp.MustCompile(`^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter)?/?[a-zA-Z0-9_.\-/]+$`)
)

const (
	repoPattern = `(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*`
	tagPattern  = `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`
)

// reservedEnv are the variables Lambda sets itself and refuses to take.
var reservedEnv = []string{
	"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
	"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
	"AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
}

// ParseImageURI parses an ECR image URI, which Lambda requires:
// <account>.dkr.ecr.<region>.amazonaws.com/<repository>(:<tag>|@sha256:<digest>).
func ParseImageURI(uri string) (*ImageRef, error) {
	m := imageURIRe.FindStringSubmatch(uri)
	if m == nil {
		return nil, fmt.Errorf("%q is not an ECR image URI (<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> or @sha256:<digest>)", uri)
	}
	host, _, _ := strings.Cut(uri, "/")
	return &ImageRef{URI: uri, Registry: m[1], Region: m[2], Host: host, Repository: m[3], Tag: m[4], Digest: m[5]}, nil
}

// Validate checks every input and parses them. It makes no call: bad input
// is found before anything is read or changed (exit 2).
func (c *Config) Validate() error {
	bad := exitcode.BadInputf
	c.Function = strings.TrimSpace(c.Function)
	switch {
	case c.Function == "":
		return bad("function: required")
	case funcNameRe.MatchString(c.Function):
		c.funcParts = funcName{name: c.Function}
	default:
		m := funcARNRe.FindStringSubmatch(c.Function)
		if m == nil {
			return bad("function: %q is neither a function name (letters, digits, - and _, at most 64) nor a function ARN", c.Function)
		}
		if m[4] != "" {
			return bad("function: %q has a qualifier (%s); give the unqualified function and --alias", c.Function, m[4])
		}
		c.funcParts = funcName{name: m[3], region: m[1]}
	}
	if c.Alias != "" {
		switch {
		case c.Alias == "$LATEST":
			return bad("alias: $LATEST is not an alias")
		case !aliasRe.MatchString(c.Alias) || isDigits(c.Alias):
			return bad("alias: %q is not a valid alias name (letters, digits, - and _, not only digits, at most 128)", c.Alias)
		}
	}

	if err := c.validateImage(); err != nil {
		return err
	}
	if err := c.validateEnv(); err != nil {
		return err
	}
	if err := c.validateStrategy(); err != nil {
		return err
	}
	if err := c.validateChecks(); err != nil {
		return err
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Timeout < 0 {
		return bad("timeout: must be positive, got %s", c.Timeout)
	}
	return nil
}

func (c *Config) validateImage() error {
	bad := exitcode.BadInputf
	n := 0
	for _, s := range []string{c.ImageURI, c.Tag, c.TagParameter} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return bad("image: give exactly one of --image-uri, --tag (with --repository) or --tag-parameter")
	}
	if c.ImageURI != "" {
		if c.Repository != "" {
			return bad("repository: not used with --image-uri (the URI names the repository)")
		}
		ref, err := ParseImageURI(c.ImageURI)
		if err != nil {
			return bad("image-uri: %v", err)
		}
		c.Image = ref
		return c.checkRegion(ref.Region, "image-uri")
	}
	if c.Repository == "" && c.Tag != "" {
		return bad("repository: required with --tag")
	}
	if c.Repository != "" {
		if m := repoURIRe.FindStringSubmatch(c.Repository); m != nil {
			host, _, _ := strings.Cut(c.Repository, "/")
			c.repoRef = &ImageRef{Registry: m[1], Region: m[2], Host: host, Repository: m[3]}
			if err := c.checkRegion(m[2], "repository"); err != nil {
				return err
			}
		} else if !repoNameRe.MatchString(c.Repository) || len(c.Repository) > 256 {
			return bad("repository: %q is neither an ECR repository name nor a repository URI", c.Repository)
		}
	}
	if c.Tag != "" && !tagRe.MatchString(c.Tag) {
		return bad("tag: %q is not a valid image tag", c.Tag)
	}
	if c.TagParameter != "" && (!paramRe.MatchString(c.TagParameter) || len(c.TagParameter) > 2048) {
		return bad("tag-parameter: %q is not an SSM parameter name", c.TagParameter)
	}
	return nil
}

// checkRegion refuses an image from another region than a function named
// by ARN: Lambda only runs images from its own region.
func (c *Config) checkRegion(region, input string) error {
	if c.funcParts.region != "" && region != c.funcParts.region {
		return exitcode.BadInputf("%s: the image is in %s but the function is in %s; Lambda only takes images from its own region", input, region, c.funcParts.region)
	}
	return nil
}

// CheckRegion refuses an image or function named in another region than
// the one the AWS clients use.
func (c *Config) CheckRegion(region string) error {
	if c.funcParts.region != "" && c.funcParts.region != region {
		return exitcode.BadInputf("function: %s is in %s but the AWS region is %s; set --region %s", c.Function, c.funcParts.region, region, c.funcParts.region)
	}
	for _, r := range []*ImageRef{c.Image, c.repoRef} {
		if r != nil && r.Region != region {
			return exitcode.BadInputf("image: %s is in %s but the function's region is %s; Lambda only takes images from its own region", r.Host, r.Region, region)
		}
	}
	return nil
}

func (c *Config) validateEnv() error {
	bad := exitcode.BadInputf
	seen := map[string]string{}
	add := func(input, arg string, secret bool) error {
		k, v, ok := strings.Cut(arg, "=")
		if !ok {
			return bad("%s: %q is not KEY=VALUE", input, redactArg(arg, secret))
		}
		if err := checkEnvKey(k); err != nil {
			return bad("%s: %v", input, err)
		}
		if prev, dup := seen[k]; dup {
			return bad("%s: %s is given twice (also in %s)", input, k, prev)
		}
		seen[k] = input
		c.Env = append(c.Env, EnvVar{Key: k, Value: v, Secret: secret})
		return nil
	}
	c.Env = nil
	for _, a := range c.EnvArgs {
		if err := add("env", a, false); err != nil {
			return err
		}
	}
	for _, a := range c.SecretEnvArgs {
		if err := add("secret-env", a, true); err != nil {
			return err
		}
	}
	for _, k := range c.Unset {
		if err := checkEnvKey(k); err != nil {
			return bad("unset: %v", err)
		}
		if in, dup := seen[k]; dup {
			return bad("unset: %s is also set by --%s", k, in)
		}
	}
	size := 0
	for _, e := range c.Env {
		size += len(e.Key) + len(e.Value)
	}
	if size > 4096 {
		return bad("env: the variables given take %d bytes; Lambda allows 4 KB for all of a function's variables", size)
	}
	return nil
}

func checkEnvKey(k string) error {
	if !envKeyRe.MatchString(k) {
		return fmt.Errorf("%q is not a valid variable name (a letter, then letters, digits or _; at least 2 characters)", k)
	}
	if slices.Contains(reservedEnv, k) {
		return fmt.Errorf("%s is reserved by Lambda and cannot be set", k)
	}
	return nil
}

func redactArg(arg string, secret bool) string {
	if secret {
		return "***"
	}
	return arg
}

func (c *Config) validateStrategy() error {
	bad := exitcode.BadInputf
	if c.Strategy == "" {
		c.Strategy = AllAtOnce
	}
	if c.BakeTime < 0 {
		return bad("bake-time: must not be negative, got %s", c.BakeTime)
	}
	switch c.Strategy {
	case AllAtOnce:
		if c.Percent != 0 || c.Interval != 0 {
			return bad("percent, interval: only used with --strategy canary or linear")
		}
		c.Steps = []Step{{Weight: 1, Hold: c.BakeTime}}
		return nil
	case Canary, Linear:
	default:
		return bad("strategy: %q is not one of all-at-once, canary, linear", c.Strategy)
	}
	if c.Alias == "" {
		return bad("alias: required with --strategy %s (traffic is shifted through an alias)", c.Strategy)
	}
	if c.Percent == 0 {
		c.Percent = DefaultPercent
	}
	if math.IsNaN(c.Percent) || c.Percent <= 0 || c.Percent >= 100 {
		return bad("percent: must be more than 0 and less than 100, got %v", c.Percent)
	}
	if c.Interval == 0 {
		c.Interval = DefaultCanaryInterval
		if c.Strategy == Linear {
			c.Interval = DefaultLinearInterval
		}
	}
	if c.Interval < 0 {
		return bad("interval: must be positive, got %s", c.Interval)
	}
	c.Steps = nil
	if c.Strategy == Canary {
		c.Steps = append(c.Steps, Step{Weight: round(c.Percent / 100), Hold: c.Interval})
	} else {
		for i := 1; float64(i)*c.Percent < 100-1e-9; i++ {
			c.Steps = append(c.Steps, Step{Weight: round(float64(i) * c.Percent / 100), Hold: c.Interval})
		}
	}
	c.Steps = append(c.Steps, Step{Weight: 1, Hold: c.BakeTime})
	return CheckSteps(c.Steps)
}

// CheckSteps refuses a plan Lambda would refuse: each weight of the
// additional version must be more than 0 and less than 1 (a weight of 1 is
// the promotion, which leaves no routing).
func CheckSteps(steps []Step) error {
	if len(steps) == 0 || steps[len(steps)-1].Weight != 1 {
		return exitcode.BadInputf("strategy: the plan does not end with the new version taking all traffic")
	}
	for _, s := range steps[:len(steps)-1] {
		if math.IsNaN(s.Weight) || s.Weight <= 0 || s.Weight >= 1 {
			return exitcode.BadInputf("percent: a routing weight of %v is outside 0 to 1", s.Weight)
		}
	}
	return nil
}

func round(w float64) float64 { return math.Round(w*1e6) / 1e6 }

func (c *Config) validateChecks() error {
	bad := exitcode.BadInputf
	c.Payload = nil
	if c.PayloadArg != "" {
		p := []byte(c.PayloadArg)
		if name, ok := strings.CutPrefix(c.PayloadArg, "@"); ok {
			b, err := os.ReadFile(name)
			if err != nil {
				return bad("payload: reading %s: %v", name, err)
			}
			p = b
		}
		if !json.Valid(p) {
			return bad("payload: not valid JSON")
		}
		if len(p) > maxPayload {
			return bad("payload: %d bytes; Lambda takes at most 6 MB", len(p))
		}
		c.Payload = p
	}
	if c.ExpectStatus < 0 || c.ExpectStatus > 599 {
		return bad("expect-status: %d is not an HTTP status", c.ExpectStatus)
	}
	c.Expect = nil
	for _, a := range c.ExpectArgs {
		path, raw, ok := strings.Cut(a, "=")
		if !ok || path == "" {
			return bad("expect: %q is not FIELD=VALUE (e.g. body.prediction=approved)", a)
		}
		var v any = raw
		var decoded any
		if err := json.Unmarshal([]byte(raw), &decoded); err == nil {
			v = decoded
		}
		c.Expect = append(c.Expect, Expectation{Path: path, Value: v, Raw: raw})
	}
	if c.Payload == nil && (c.ExpectStatus != 0 || len(c.Expect) > 0) {
		return bad("payload: required with --expect-status or --expect (the smoke invocation's request)")
	}
	seen := map[string]bool{}
	for _, a := range c.Alarms {
		if a == "" || len(a) > 255 {
			return bad("alarm: %q is not an alarm name", a)
		}
		if seen[a] {
			return bad("alarm: %s is given twice", a)
		}
		seen[a] = true
	}
	if c.RequireAlarmsOK && len(c.Alarms) == 0 {
		return bad("require-alarms-ok: needs at least one --alarm")
	}
	return nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
