package lambdadeploy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mlship/mlship/internal/awsconfig"
	"github.com/mlship/mlship/internal/ecrref"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/lambdaalias"
)

// Strategies for moving the alias to the new version.
const (
	AllAtOnce = "all-at-once"
	Canary    = "canary"
	Linear    = "linear"
)

// Defaults for a canary or linear shift when no percent or interval is
// given, and for each wait on Lambda.
const (
	DefaultPercent        = 10.0
	DefaultCanaryInterval = 5 * time.Minute
	DefaultLinearInterval = time.Minute
	DefaultTimeout        = lambdaalias.DefaultTimeout
)

// MaxLinearSteps bounds how many shares a linear shift takes (--percent 1
// is 99 steps and the promotion).
const MaxLinearSteps = 100

// maxPayload is Lambda's limit for a synchronous invocation's request.
const maxPayload = 6 << 20

// maxEnv is Lambda's limit for all of a function's variables.
const maxEnv = 4096

// Config is one deploy as given on the command line or as action inputs:
// text, not yet checked. Validate checks it and returns the Plan that Run
// takes.
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
	// ReplaceEnv makes EnvArgs and SecretEnvArgs the function's whole
	// environment: every other variable is removed, and the current ones
	// need not be readable.
	ReplaceEnv bool

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
	Timeout    time.Duration // for each wait on Lambda; must be set

	ResponseFile string // where the smoke response is written
	StateFile    string // where the previous state is recorded
	// TempDir is where a response or state file not named goes (a new file
	// of its own); empty leaves them unwritten.
	TempDir string
	// Region is the AWS region asked for (--region); empty lets the
	// environment decide.
	Region string
}

// Plan is a checked Config: what Run does. Only Validate makes one.
type Plan struct {
	function   string // as given: name or ARN
	funcName   string
	funcRegion string // from an ARN
	alias      string

	image        *ecrref.Image // from --image-uri
	repoHost     *ecrref.Host  // from a --repository URI
	repository   string
	tag          string
	tagParameter string

	env        []EnvVar
	unset      []string
	replaceEnv bool

	strategy string
	interval time.Duration
	steps    []Step

	payload      []byte // nil: no smoke invocation
	expectStatus int
	expect       []Expectation

	alarms          []string
	requireAlarmsOK bool

	noRollback   bool
	dryRun       bool
	timeout      time.Duration
	responseFile string
	stateFile    string
	region       string
}

// Region is the AWS region asked for; empty lets the environment decide.
func (p *Plan) Region() string { return p.region }

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

var (
	funcNameRe = lazyRegexp(`^[a-zA-Z0-9_-]{1,64}$`)
	funcARNRe  = lazyRegexp(`^arn:aws[a-z-]*:lambda:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):function:([a-zA-Z0-9_-]{1,64})(?::(.+))?$`)
	aliasRe    = lazyRegexp(`^[a-zA-Z0-9_-]{1,128}$`)
	envKeyRe   = lazyRegexp(`^[a-zA-Z][a-zA-Z0-9_]+$`)
	paramRe    = lazyRegexp(`^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter)?/?[a-zA-Z0-9_.\-/]+$`)
)

// reservedEnv are the variables Lambda sets itself and refuses to take.
var reservedEnv = []string{
	"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
	"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
	"AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
}

// bad is a bad-input error in the one form every tool uses: the option,
// the value as given, then what is wrong.
func bad(flag, value, format string, args ...any) error {
	return exitcode.BadInputf("--%s %s: %s", flag, quote(value), fmt.Sprintf(format, args...))
}

// quote shows a value in an error: quoted, and cut short when long.
func quote(s string) string {
	const limit = 80
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "…"
	}
	return strconv.Quote(s)
}

// Validate checks every input and returns the plan Run carries out. It
// makes no AWS call and writes nothing: bad input is found before anything
// is read or changed (exit 2).
func (c *Config) Validate() (*Plan, error) {
	p := &Plan{
		alias: c.Alias, noRollback: c.NoRollback, dryRun: c.DryRun,
		requireAlarmsOK: c.RequireAlarmsOK, replaceEnv: c.ReplaceEnv,
	}
	if err := awsconfig.CheckRegion(c.Region); err != nil {
		return nil, err
	}
	p.region = c.Region
	for _, check := range []func(*Plan) error{c.checkFunction, c.checkImage, c.checkEnv, c.checkStrategy, c.checkSmoke, c.checkAlarms, c.checkFiles} {
		if err := check(p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (c *Config) checkFunction(p *Plan) error {
	fn := strings.TrimSpace(c.Function)
	switch {
	case fn == "":
		return exitcode.BadInputf("--function: required")
	case funcNameRe().MatchString(fn):
		p.function, p.funcName = fn, fn
	default:
		m := funcARNRe().FindStringSubmatch(fn)
		if m == nil {
			return bad("function", c.Function, "neither a function name (letters, digits, - and _, at most 64) nor a function ARN")
		}
		if m[4] != "" {
			return bad("function", c.Function, "has a qualifier (%s); give the unqualified function and --alias", m[4])
		}
		p.function, p.funcName, p.funcRegion = fn, m[3], m[1]
	}
	if c.Alias != "" {
		switch {
		case c.Alias == "$LATEST":
			return bad("alias", c.Alias, "$LATEST is not an alias")
		case !aliasRe().MatchString(c.Alias) || isDigits(c.Alias):
			return bad("alias", c.Alias, "not a valid alias name (letters, digits, - and _, not only digits, at most 128)")
		}
	}
	return nil
}

func (c *Config) checkImage(p *Plan) error {
	var given []string
	for _, g := range []struct{ flag, value string }{{"image-uri", c.ImageURI}, {"tag", c.Tag}, {"tag-parameter", c.TagParameter}} {
		if g.value != "" {
			given = append(given, g.flag)
		}
	}
	switch len(given) {
	case 0:
		return exitcode.BadInputf("--image-uri: required, or --repository with --tag or --tag-parameter (give exactly one of --image-uri, --tag or --tag-parameter)")
	case 1:
	default:
		return exitcode.BadInputf("--%s and --%s: give exactly one of --image-uri, --tag (with --repository) or --tag-parameter", given[0], given[1])
	}
	if c.ImageURI != "" {
		if c.Repository != "" {
			return bad("repository", c.Repository, "not used with --image-uri (the URI names the repository)")
		}
		img, err := ecrref.ParseImage(c.ImageURI)
		if err != nil {
			return bad("image-uri", c.ImageURI, "%s", problem(err, c.ImageURI))
		}
		if p.funcRegion != "" && img.Host.Region != p.funcRegion {
			return bad("image-uri", c.ImageURI, "the image is in %s but the function is in %s; Lambda only takes images from its own region", img.Host.Region, p.funcRegion)
		}
		p.image = &img
		return nil
	}
	if c.Repository == "" && c.Tag != "" {
		return bad("tag", c.Tag, "needs --repository")
	}
	if c.Repository != "" {
		if host, _, _ := strings.Cut(c.Repository, "/"); ecrref.IsHost(host) {
			h, repo, err := ecrref.ParseRepository(c.Repository)
			if err != nil {
				return bad("repository", c.Repository, "%s", problem(err, c.Repository))
			}
			if p.funcRegion != "" && h.Region != p.funcRegion {
				return bad("repository", c.Repository, "the repository is in %s but the function is in %s; Lambda only takes images from its own region", h.Region, p.funcRegion)
			}
			p.repoHost, p.repository = &h, repo
		} else if ecrref.ValidRepository(c.Repository) {
			p.repository = c.Repository
		} else {
			return bad("repository", c.Repository, "neither an ECR repository name (lower case, digits, . _ - and /) nor a repository URI")
		}
	}
	if c.Tag != "" {
		if !ecrref.ValidTag(c.Tag) {
			return bad("tag", c.Tag, "not a valid image tag (letters, digits, _ . -, at most 128, not starting with . or -)")
		}
		p.tag = c.Tag
	}
	if c.TagParameter != "" {
		if !paramRe().MatchString(c.TagParameter) || len(c.TagParameter) > 2048 {
			return bad("tag-parameter", c.TagParameter, "not an SSM parameter name")
		}
		p.tagParameter = c.TagParameter
	}
	return nil
}

// problem is ecrref's description of what is wrong with value, for the
// message only (nothing is decided on it): the quoted value it starts with
// is left out, as the error line names the value already.
func problem(err error, value string) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, strconv.Quote(value)); ok {
		return strings.TrimLeft(rest, ": ")
	}
	return msg
}

func (c *Config) checkEnv(p *Plan) error {
	seen := map[string]string{}
	add := func(flag, arg string, secret bool) error {
		shown := arg
		k, v, ok := strings.Cut(arg, "=")
		if secret {
			shown = "***"
			if ok {
				shown = k + "=***"
			}
		}
		if !ok {
			return bad(flag, shown, "not KEY=VALUE")
		}
		if err := checkEnvKey(k); err != nil {
			return bad(flag, shown, "%v", err)
		}
		if prev, dup := seen[k]; dup {
			return bad(flag, shown, "%s is given twice (also in --%s)", k, prev)
		}
		seen[k] = flag
		p.env = append(p.env, EnvVar{Key: k, Value: v, Secret: secret})
		return nil
	}
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
		if c.ReplaceEnv {
			return bad("unset", k, "not used with --replace-env (the variables given are the whole environment)")
		}
		if err := checkEnvKey(k); err != nil {
			return bad("unset", k, "%v", err)
		}
		if in, dup := seen[k]; dup {
			return bad("unset", k, "also set by --%s", in)
		}
	}
	p.unset = slices.Clone(c.Unset)
	size := 0
	for _, e := range p.env {
		size += len(e.Key) + len(e.Value)
	}
	if size > maxEnv {
		return exitcode.BadInputf("--env: the variables given take %d bytes; Lambda allows 4 KB for all of a function's variables", size)
	}
	return nil
}

func checkEnvKey(k string) error {
	if !envKeyRe().MatchString(k) {
		return fmt.Errorf("%q is not a valid variable name (a letter, then letters, digits or _; at least 2 characters)", k)
	}
	if slices.Contains(reservedEnv, k) {
		return fmt.Errorf("%s is reserved by Lambda and cannot be set", k)
	}
	return nil
}

func (c *Config) checkStrategy(p *Plan) error {
	p.strategy = c.Strategy
	if p.strategy == "" {
		p.strategy = AllAtOnce
	}
	if c.BakeTime < 0 {
		return bad("bake-time", c.BakeTime.String(), "must not be negative")
	}
	pct := strconv.FormatFloat(c.Percent, 'f', -1, 64)
	switch p.strategy {
	case AllAtOnce:
		if c.Percent != 0 {
			return bad("percent", pct, "only used with --strategy canary or linear")
		}
		if c.Interval != 0 {
			return bad("interval", c.Interval.String(), "only used with --strategy canary or linear")
		}
		p.steps = []Step{{Weight: 1, Hold: c.BakeTime}}
		return nil
	case Canary, Linear:
	default:
		return bad("strategy", c.Strategy, "not one of all-at-once, canary, linear")
	}
	if c.Alias == "" {
		return bad("strategy", p.strategy, "needs --alias (traffic is shifted through an alias)")
	}
	percent := c.Percent
	if percent == 0 {
		percent = DefaultPercent
	}
	if math.IsNaN(percent) || percent <= 0 || percent >= 100 {
		return bad("percent", pct, "must be more than 0 and less than 100")
	}
	p.interval = c.Interval
	if p.interval == 0 {
		p.interval = DefaultCanaryInterval
		if p.strategy == Linear {
			p.interval = DefaultLinearInterval
		}
	}
	if p.interval < 0 {
		return bad("interval", c.Interval.String(), "must be positive")
	}
	if p.strategy == Canary {
		p.steps = []Step{{Weight: round(percent / 100), Hold: p.interval}}
	} else {
		// Counted before anything is built: a tiny percent is billions
		// of steps.
		n := math.Ceil(100/percent-1e-9) - 1
		if n > MaxLinearSteps {
			return bad("percent", pct, "--strategy linear at %s%% takes %.0f steps; at most %d are allowed (--percent 1 or more)", pct, n, MaxLinearSteps)
		}
		for i := 1; float64(i) <= n; i++ {
			p.steps = append(p.steps, Step{Weight: round(float64(i) * percent / 100), Hold: p.interval})
		}
	}
	if p.steps[0].Weight <= 0 {
		return bad("percent", pct, "less than Lambda's smallest weight (it takes millionths: --percent 0.0001 or more)")
	}
	p.steps = append(p.steps, Step{Weight: 1, Hold: c.BakeTime})
	return CheckSteps(p.steps)
}

// CheckSteps refuses a plan Lambda would refuse: each weight of the
// additional version must be more than 0 and less than 1 (a weight of 1 is
// the promotion, which leaves no routing).
func CheckSteps(steps []Step) error {
	if len(steps) == 0 || steps[len(steps)-1].Weight != 1 {
		return exitcode.BadInputf("--strategy: the plan does not end with the new version taking all traffic")
	}
	for _, s := range steps[:len(steps)-1] {
		if math.IsNaN(s.Weight) || s.Weight <= 0 || s.Weight >= 1 {
			return exitcode.BadInputf("--percent: a routing weight of %v is outside what Lambda takes (more than 0, less than 1, in millionths)", s.Weight)
		}
	}
	return nil
}

func round(w float64) float64 { return math.Round(w*1e6) / 1e6 }

func (c *Config) checkSmoke(p *Plan) error {
	if c.PayloadArg != "" {
		b := []byte(c.PayloadArg)
		if name, ok := strings.CutPrefix(c.PayloadArg, "@"); ok {
			var err error
			if b, err = readLimited(name, maxPayload); err != nil {
				return bad("payload", c.PayloadArg, "%v", err)
			}
		}
		if len(b) > maxPayload {
			return bad("payload", c.PayloadArg, "%d bytes; Lambda takes at most 6 MB", len(b))
		}
		if !json.Valid(b) {
			return bad("payload", c.PayloadArg, "not valid JSON")
		}
		p.payload = b
	}
	if c.ExpectStatus < 0 || c.ExpectStatus > 599 {
		return bad("expect-status", strconv.Itoa(c.ExpectStatus), "not an HTTP status")
	}
	p.expectStatus = c.ExpectStatus
	for _, a := range c.ExpectArgs {
		path, raw, ok := strings.Cut(a, "=")
		if !ok || path == "" {
			return bad("expect", a, "not FIELD=VALUE (e.g. body.prediction=approved)")
		}
		var v any = raw
		var decoded any
		if err := json.Unmarshal([]byte(raw), &decoded); err == nil {
			v = decoded
		}
		p.expect = append(p.expect, Expectation{Path: path, Value: v, Raw: raw})
	}
	if p.payload == nil {
		switch {
		case c.ExpectStatus != 0:
			return bad("expect-status", strconv.Itoa(c.ExpectStatus), "needs --payload (the smoke invocation's request)")
		case len(c.ExpectArgs) > 0:
			return bad("expect", c.ExpectArgs[0], "needs --payload (the smoke invocation's request)")
		}
	}
	return nil
}

// readLimited reads at most limit bytes of a file; a longer one is an
// error naming the limit, found without reading it all (/dev/zero).
func readLimited(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, errors.Unwrap(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("more than %d bytes; Lambda takes at most 6 MB", limit)
	}
	return b, nil
}

func (c *Config) checkAlarms(p *Plan) error {
	seen := map[string]bool{}
	for _, a := range c.Alarms {
		if a == "" || len(a) > 255 || strings.ContainsAny(a, "\r\n") {
			return bad("alarm", a, "not an alarm name (1 to 255 characters on one line)")
		}
		if seen[a] {
			return bad("alarm", a, "given twice")
		}
		seen[a] = true
	}
	if c.RequireAlarmsOK && len(c.Alarms) == 0 {
		return exitcode.BadInputf("--require-alarms-ok: needs at least one --alarm")
	}
	p.alarms = slices.Clone(c.Alarms)
	return nil
}

// checkFiles checks the timeout and the files written, so that none is
// found wrong after something has changed. It writes nothing.
func (c *Config) checkFiles(p *Plan) error {
	if c.Timeout <= 0 {
		return bad("timeout", c.Timeout.String(), "must be more than 0 (there is no unlimited wait)")
	}
	p.timeout = c.Timeout
	if p.dryRun {
		return nil // a dry run writes no file
	}
	// Files of their own when not named, so that two deploys in one job
	// do not overwrite each other's records.
	run := randomSuffix()
	base := "lambda-deploy-" + fileSafe(p.funcName)
	p.responseFile, p.stateFile = c.ResponseFile, c.StateFile
	if c.TempDir != "" {
		if p.responseFile == "" && p.payload != nil {
			p.responseFile = filepath.Join(c.TempDir, base+"-response-"+run+".json")
		}
		if p.stateFile == "" {
			p.stateFile = filepath.Join(c.TempDir, base+"-previous-"+run+".json")
		}
	}
	for _, f := range []struct{ flag, given, path string }{{"response-file", c.ResponseFile, p.responseFile}, {"state-file", c.StateFile, p.stateFile}} {
		if f.path == "" {
			continue
		}
		if err := lambdaalias.CheckStatePath(f.path); err != nil {
			if f.given == "" {
				return exitcode.BadInputf("--%s: the default %s: %v (RUNNER_TEMP or the temporary directory)", f.flag, f.path, err)
			}
			return bad(f.flag, f.given, "%v", err)
		}
	}
	if p.responseFile != "" && p.responseFile == p.stateFile {
		return bad("response-file", c.ResponseFile, "the same file as --state-file")
	}
	return nil
}

var unsafeChars = lazyRegexp(`[^A-Za-z0-9_.-]`)

// lazyRegexp compiles expr when it is first used, not at start-up, which
// every run (--version included) would pay for.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

func fileSafe(s string) string { return unsafeChars().ReplaceAllString(s, "_") }

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// checkRegion refuses a function or image named in another region than
// the one the AWS clients use.
func (p *Plan) checkRegion(region string) error {
	if region == "" {
		return nil
	}
	if p.funcRegion != "" && p.funcRegion != region {
		return bad("function", p.function, "is in %s but the AWS region is %s; set --region %s", p.funcRegion, region, p.funcRegion)
	}
	if p.image != nil && p.image.Host.Region != region {
		return bad("image-uri", p.image.String(), "the image is in %s but the function's region is %s; Lambda only takes images from its own region", p.image.Host.Region, region)
	}
	if p.repoHost != nil && p.repoHost.Region != region {
		return bad("repository", p.repoHost.Name+"/"+p.repository, "the repository is in %s but the function's region is %s; Lambda only takes images from its own region", p.repoHost.Region, region)
	}
	return nil
}

func (p *Plan) hasAlias() bool { return p.alias != "" }

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
