// Package lambdafake is an in-memory AWS Lambda control plane for tests. It
// implements the SDK client methods the tools call, with the behaviour the
// service documents rather than just the happy path:
//
//   - an update (code or configuration) is accepted with LastUpdateStatus
//     InProgress and ends Successful or Failed (with LastUpdateStatusReason
//     and a reason code) after UpdateDuration;
//   - a new function is State Pending, then Active; an Inactive function is
//     Pending again while an update brings it back;
//   - any update or publish while an update runs (or the function is
//     Pending) is a ResourceConflictException, and so is an invocation of
//     $LATEST while the function is not Active; while an update runs,
//     invocations of $LATEST get the previous code and configuration;
//   - a RevisionId that is not the current one is a PreconditionFailedException;
//   - PublishVersion returns the existing version when nothing changed since
//     it, and refuses a CodeSha256 that is not $LATEST's;
//   - alias routing is limited as Lambda limits it: one additional version,
//     a weight from 0 to 1, never $LATEST, never the primary version;
//   - an image that does not resolve is refused, and one deleted while an
//     update runs makes the update fail with ImageDeleted;
//   - variables Lambda cannot decrypt for the caller (a KMS key it may not
//     use) come back as Environment.Error with no Variables, until an
//     update sets new ones.
//
// Time is read from Now (time.Now unless set), so tests use short real
// durations or a clock of their own. The fake is safe for concurrent use and
// records every call, so tests can assert what was and was not changed.
package lambdafake

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// Handler answers an invocation of a function version. A non-empty
// FunctionError in the result is reported as the SDK reports a function
// error (status 200, FunctionError "Unhandled").
type Handler func(ctx context.Context, req InvokeRequest) InvokeResult

// InvokeRequest is what a Handler sees of an invocation.
type InvokeRequest struct {
	Function string
	Version  string // the version that runs: "$LATEST", "1", ...
	ImageURI string
	Env      map[string]string
	Payload  []byte
}

// InvokeResult is a Handler's answer.
type InvokeResult struct {
	Payload       []byte
	FunctionError string // e.g. "Unhandled"; empty when the function succeeded
	Log           string // returned base64-encoded in LogResult when LogType is Tail
}

// Call is one recorded API call.
type Call struct {
	Op        string // "GetFunction", "UpdateFunctionCode", ...
	Function  string
	Qualifier string // version or alias, where the call has one
	// RevisionID is the RevisionId the call carried, if any: Lambda
	// refuses a change whose RevisionId is not the current one.
	RevisionID string
	Err        string // error code returned, if any
}

// Mutating reports whether the call can change the function or its aliases
// (whether or not it succeeded).
func (c Call) Mutating() bool {
	switch c.Op {
	case "UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion", "CreateAlias", "UpdateAlias":
		return true
	}
	return false
}

// FunctionSpec describes a function created with AddFunction.
type FunctionSpec struct {
	Name     string
	ImageURI string
	Env      map[string]string
	// State is the starting state: Active unless set (Pending, Inactive or
	// Failed are the others Lambda reports).
	State       types.State
	StateReason string
	// StateReasonCode goes with a Failed or Inactive state (e.g. ImageDeleted).
	StateReasonCode types.StateReasonCode
	Handler         Handler
	// EnvironmentError, when set, is what GetFunction reports in place of
	// the variables (e.g. KMSAccessDeniedException).
	EnvironmentError *types.EnvironmentError
}

// Lambda is the fake Lambda control plane.
type Lambda struct {
	Region  string
	Account string
	// UpdateDuration is how long an accepted update stays InProgress, and a
	// new function Pending.
	UpdateDuration time.Duration
	// PublishDuration is how long a newly published version stays Pending.
	PublishDuration time.Duration
	// ResolveImage says whether an image URI exists and gives its digest
	// ("sha256:..."). Nil accepts every well-formed ECR image URI with a
	// digest derived from the URI.
	ResolveImage func(imageURI string) (digest string, ok bool)
	// Now is the fake's clock; nil means time.Now.
	Now func() time.Time
	// BeforeCall, when set, runs at the start of every call, outside the
	// fake's lock: tests use it to inject errors (a returned error is the
	// call's result, e.g. AccessDenied) or to hold a call back. The fake is
	// called without the SDK's middleware, so nothing retries an injected
	// throttling error.
	BeforeCall func(ctx context.Context, op, function string) error

	mu        sync.Mutex
	functions map[string]*function
	calls     []Call
	rnd       *mrand.Rand
}

type function struct {
	name     string
	arn      string
	latest   snapshot
	state    types.State
	stateMsg string
	stateRC  types.StateReasonCode
	status   types.LastUpdateStatus
	statusRC types.LastUpdateStatusReasonCode
	statusM  string
	revision string
	pending  *update
	failNext *failure

	versions    map[string]*version
	lastVersion int
	aliases     map[string]*alias
	handler     Handler
	modified    time.Time
}

// snapshot is the code and configuration a version freezes.
type snapshot struct {
	imageURI string
	digest   string // sha256:...
	env      map[string]string
	envErr   *types.EnvironmentError // the variables cannot be read back
	desc     string
}

type update struct {
	doneAt   time.Time
	before   snapshot
	reactive bool // the function was Inactive and is coming back
}

type failure struct {
	code   types.LastUpdateStatusReasonCode
	reason string
}

type version struct {
	number   string
	snap     snapshot
	revision string
	source   string // $LATEST revision it was published from
	activeAt time.Time
}

type alias struct {
	name     string
	version  string
	weights  map[string]float64
	desc     string
	revision string
}

// New returns an empty fake in us-east-1, account 123456789012.
func New() *Lambda {
	return &Lambda{Region: "us-east-1", Account: "123456789012", functions: map[string]*function{}}
}

func (l *Lambda) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// AddFunction creates a container-image function. It is Active (or the
// state given) with its last update Successful.
func (l *Lambda) AddFunction(spec FunctionSpec) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.functions == nil {
		l.functions = map[string]*function{}
	}
	digest, _ := l.resolve(spec.ImageURI)
	f := &function{
		name:     spec.Name,
		arn:      fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", l.Region, l.Account, spec.Name),
		latest:   snapshot{imageURI: spec.ImageURI, digest: digest, env: maps.Clone(spec.Env), envErr: spec.EnvironmentError},
		state:    types.StateActive,
		status:   types.LastUpdateStatusSuccessful,
		revision: newRevision(),
		versions: map[string]*version{},
		aliases:  map[string]*alias{},
		handler:  spec.Handler,
		modified: l.now(),
	}
	if spec.State != "" {
		f.state, f.stateMsg, f.stateRC = spec.State, spec.StateReason, spec.StateReasonCode
	}
	if f.state == types.StatePending {
		f.status = types.LastUpdateStatusInProgress
		f.pending = &update{doneAt: l.now().Add(l.UpdateDuration), before: f.latest, reactive: true}
	}
	l.functions[spec.Name] = f
}

// SetHandler sets the code that answers invocations of function.
func (l *Lambda) SetHandler(name string, h Handler) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.functions[name].handler = h
}

// FailNextUpdate makes the next accepted update of function end Failed with
// the reason code and reason given.
func (l *Lambda) FailNextUpdate(name string, code types.LastUpdateStatusReasonCode, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.functions[name].failNext = &failure{code: code, reason: reason}
}

// Calls returns every call made so far, in order.
func (l *Lambda) Calls() []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// Alias returns the alias as GetAlias would, without recording a call.
func (l *Lambda) Alias(fn, name string) (types.AliasConfiguration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.functions[fn]
	if f == nil || f.aliases[name] == nil {
		return types.AliasConfiguration{}, false
	}
	return f.aliasConfig(f.aliases[name]), true
}

// Latest returns $LATEST's configuration as GetFunction would, without
// recording a call.
func (l *Lambda) Latest(fn string) types.FunctionConfiguration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.functions[fn]
	f.settle(l, l.now())
	return f.latestConfig()
}

// Versions returns the published version numbers of fn, oldest first.
func (l *Lambda) Versions(fn string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.functions[fn]
	var out []string
	for i := 1; i <= f.lastVersion; i++ {
		if _, ok := f.versions[strconv.Itoa(i)]; ok {
			out = append(out, strconv.Itoa(i))
		}
	}
	return out
}

// ---- the API ----

// GetFunction returns a function's (or a version's) configuration and code
// location.
func (l *Lambda) GetFunction(ctx context.Context, in *lambda.GetFunctionInput, _ ...func(*lambda.Options)) (*lambda.GetFunctionOutput, error) {
	name, qual := splitName(aws.ToString(in.FunctionName), aws.ToString(in.Qualifier))
	f, unlock, err := l.begin(ctx, Call{Op: "GetFunction", Function: name, Qualifier: qual})
	defer unlock()
	if err != nil {
		return nil, err
	}
	cfg, snap, err := f.resolveQualifier(qual, l.now())
	if err != nil {
		return nil, l.fail(err)
	}
	return &lambda.GetFunctionOutput{
		Configuration: &cfg,
		Code: &types.FunctionCodeLocation{
			RepositoryType:   aws.String("ECR"),
			ImageUri:         aws.String(snap.imageURI),
			ResolvedImageUri: aws.String(resolvedURI(snap)),
		},
	}, nil
}

// UpdateFunctionCode points $LATEST at a new image. The update runs for
// UpdateDuration.
func (l *Lambda) UpdateFunctionCode(ctx context.Context, in *lambda.UpdateFunctionCodeInput, _ ...func(*lambda.Options)) (*lambda.UpdateFunctionCodeOutput, error) {
	name, _ := splitName(aws.ToString(in.FunctionName), "")
	f, unlock, err := l.begin(ctx, Call{Op: "UpdateFunctionCode", Function: name, RevisionID: aws.ToString(in.RevisionId)})
	defer unlock()
	if err != nil {
		return nil, err
	}
	if in.ImageUri == nil || in.ZipFile != nil || in.S3Bucket != nil {
		return nil, l.fail(&types.InvalidParameterValueException{Message: aws.String("Please provide ImageUri when updating a function with packageType Image.")})
	}
	if err := f.checkUpdatable(aws.ToString(in.RevisionId)); err != nil {
		return nil, l.fail(err)
	}
	digest, ok := l.resolve(*in.ImageUri)
	if !ok {
		return nil, l.fail(&types.InvalidParameterValueException{Message: aws.String(fmt.Sprintf("Source image %s does not exist. Provide a valid source image.", *in.ImageUri))})
	}
	if in.DryRun {
		cfg := f.latestConfig()
		return codeOutput(cfg), nil
	}
	next := f.latest
	next.imageURI, next.digest = *in.ImageUri, digest
	f.start(l, next)
	cfg := f.latestConfig()
	return codeOutput(cfg), nil
}

// UpdateFunctionConfiguration changes $LATEST's configuration. As in Lambda,
// Environment replaces every variable.
func (l *Lambda) UpdateFunctionConfiguration(ctx context.Context, in *lambda.UpdateFunctionConfigurationInput, _ ...func(*lambda.Options)) (*lambda.UpdateFunctionConfigurationOutput, error) {
	name, _ := splitName(aws.ToString(in.FunctionName), "")
	f, unlock, err := l.begin(ctx, Call{Op: "UpdateFunctionConfiguration", Function: name, RevisionID: aws.ToString(in.RevisionId)})
	defer unlock()
	if err != nil {
		return nil, err
	}
	if err := f.checkUpdatable(aws.ToString(in.RevisionId)); err != nil {
		return nil, l.fail(err)
	}
	next := f.latest
	if in.Environment != nil {
		next.env = maps.Clone(in.Environment.Variables)
		next.envErr = nil
		if err := checkEnv(next.env); err != nil {
			return nil, l.fail(err)
		}
	}
	if in.Description != nil {
		next.desc = *in.Description
	}
	f.start(l, next)
	cfg := f.latestConfig()
	return configOutput(cfg), nil
}

// PublishVersion freezes $LATEST as a new version, or returns the last
// version when nothing changed since it.
func (l *Lambda) PublishVersion(ctx context.Context, in *lambda.PublishVersionInput, _ ...func(*lambda.Options)) (*lambda.PublishVersionOutput, error) {
	name, _ := splitName(aws.ToString(in.FunctionName), "")
	f, unlock, err := l.begin(ctx, Call{Op: "PublishVersion", Function: name, RevisionID: aws.ToString(in.RevisionId)})
	defer unlock()
	if err != nil {
		return nil, err
	}
	if err := f.checkUpdatable(aws.ToString(in.RevisionId)); err != nil {
		return nil, l.fail(err)
	}
	if in.CodeSha256 != nil && *in.CodeSha256 != codeSha(f.latest) {
		return nil, l.fail(&types.InvalidParameterValueException{Message: aws.String(fmt.Sprintf("CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the CodeSHA256 in $LATEST.", *in.CodeSha256, codeSha(f.latest)))})
	}
	if last := f.versions[strconv.Itoa(f.lastVersion)]; last != nil && last.source == f.revision {
		return publishOutput(f.versionConfig(last, l.now())), nil
	}
	f.lastVersion++
	v := &version{
		number:   strconv.Itoa(f.lastVersion),
		snap:     cloneSnap(f.latest),
		revision: newRevision(),
		source:   f.revision,
		activeAt: l.now().Add(l.PublishDuration),
	}
	if in.Description != nil {
		v.snap.desc = *in.Description
	}
	f.versions[v.number] = v
	return publishOutput(f.versionConfig(v, l.now())), nil
}

// GetAlias returns an alias.
func (l *Lambda) GetAlias(ctx context.Context, in *lambda.GetAliasInput, _ ...func(*lambda.Options)) (*lambda.GetAliasOutput, error) {
	name, _ := splitName(aws.ToString(in.FunctionName), "")
	f, unlock, err := l.begin(ctx, Call{Op: "GetAlias", Function: name, Qualifier: aws.ToString(in.Name)})
	defer unlock()
	if err != nil {
		return nil, err
	}
	a := f.aliases[aws.ToString(in.Name)]
	if a == nil {
		return nil, l.fail(notFound(fmt.Sprintf("Alias not found: %s:%s", f.arn, aws.ToString(in.Name))))
	}
	c := f.aliasConfig(a)
	return &lambda.GetAliasOutput{AliasArn: c.AliasArn, Name: c.Name, FunctionVersion: c.FunctionVersion, RoutingConfig: c.RoutingConfig, RevisionId: c.RevisionId, Description: c.Description}, nil
}

// CreateAlias creates an alias.
func (l *Lambda) CreateAlias(ctx context.Context, in *lambda.CreateAliasInput, _ ...func(*lambda.Options)) (*lambda.CreateAliasOutput, error) {
	name, _ := splitName(aws.ToString(in.FunctionName), "")
	aname := aws.ToString(in.Name)
	f, unlock, err := l.begin(ctx, Call{Op: "CreateAlias", Function: name, Qualifier: aname})
	defer unlock()
	if err != nil {
		return nil, err
	}
	if f.aliases[aname] != nil {
		return nil, l.fail(&types.ResourceConflictException{Message: aws.String(fmt.Sprintf("Alias already exists: %s:%s", f.arn, aname))})
	}
	if aname == "" || aname == "$LATEST" || isNumber(aname) {
		return nil, l.fail(&types.InvalidParameterValueException{Message: aws.String(fmt.Sprintf("Invalid alias name: %q", aname))})
	}
	a := &alias{name: aname, version: aws.ToString(in.FunctionVersion), desc: aws.ToString(in.Description), revision: newRevision()}
	if in.RoutingConfig != nil {
		a.weights = maps.Clone(in.RoutingConfig.AdditionalVersionWeights)
	}
	if err := f.checkAlias(a); err != nil {
		return nil, l.fail(err)
	}
	f.aliases[aname] = a
	c := f.aliasConfig(a)
	return &lambda.CreateAliasOutput{AliasArn: c.AliasArn, Name: c.Name, FunctionVersion: c.FunctionVersion, RoutingConfig: c.RoutingConfig, RevisionId: c.RevisionId, Description: c.Description}, nil
}

// UpdateAlias changes an alias's version and routing. A nil RoutingConfig
// keeps the routing; an empty one removes it.
func (l *Lambda) UpdateAlias(ctx context.Context, in *lambda.UpdateAliasInput, _ ...func(*lambda.Options)) (*lambda.UpdateAliasOutput, error) {
	name, _ := splitName(aws.ToString(in.FunctionName), "")
	aname := aws.ToString(in.Name)
	f, unlock, err := l.begin(ctx, Call{Op: "UpdateAlias", Function: name, Qualifier: aname, RevisionID: aws.ToString(in.RevisionId)})
	defer unlock()
	if err != nil {
		return nil, err
	}
	cur := f.aliases[aname]
	if cur == nil {
		return nil, l.fail(notFound(fmt.Sprintf("Alias not found: %s:%s", f.arn, aname)))
	}
	if in.RevisionId != nil && *in.RevisionId != cur.revision {
		return nil, l.fail(preconditionFailed("GetAlias"))
	}
	next := *cur
	if in.FunctionVersion != nil {
		next.version = *in.FunctionVersion
	}
	if in.RoutingConfig != nil {
		next.weights = maps.Clone(in.RoutingConfig.AdditionalVersionWeights)
	}
	if in.Description != nil {
		next.desc = *in.Description
	}
	if err := f.checkAlias(&next); err != nil {
		return nil, l.fail(err)
	}
	next.revision = newRevision()
	f.aliases[aname] = &next
	c := f.aliasConfig(&next)
	return &lambda.UpdateAliasOutput{AliasArn: c.AliasArn, Name: c.Name, FunctionVersion: c.FunctionVersion, RoutingConfig: c.RoutingConfig, RevisionId: c.RevisionId, Description: c.Description}, nil
}

// Invoke runs the function's handler synchronously. An alias with routing
// picks a version at random by weight, as Lambda does.
func (l *Lambda) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	name, qual := splitName(aws.ToString(in.FunctionName), aws.ToString(in.Qualifier))
	f, unlock, err := l.begin(ctx, Call{Op: "Invoke", Function: name, Qualifier: qual})
	if err != nil {
		unlock()
		return nil, err
	}
	ver, snap, err := f.pickVersion(l, qual)
	if err != nil {
		err = l.fail(err)
		unlock()
		return nil, err
	}
	h := f.handler
	fname := f.name
	unlock()

	if in.InvocationType == types.InvocationTypeDryRun {
		return &lambda.InvokeOutput{StatusCode: 204, ExecutedVersion: aws.String(ver)}, nil
	}
	res := InvokeResult{Payload: []byte("null")}
	if h != nil {
		res = h(ctx, InvokeRequest{Function: fname, Version: ver, ImageURI: snap.imageURI, Env: maps.Clone(snap.env), Payload: in.Payload})
	}
	out := &lambda.InvokeOutput{StatusCode: 200, Payload: res.Payload, ExecutedVersion: aws.String(ver)}
	if res.FunctionError != "" {
		out.FunctionError = aws.String(res.FunctionError)
	}
	if in.LogType == types.LogTypeTail {
		log := res.Log
		if len(log) > 4096 {
			log = log[len(log)-4096:]
		}
		out.LogResult = aws.String(base64.StdEncoding.EncodeToString([]byte(log)))
	}
	return out, nil
}

// ---- internals ----

// begin runs BeforeCall, takes the lock, records the call and settles the
// function's state at the current time. unlock must always be called.
func (l *Lambda) begin(ctx context.Context, c Call) (*function, func(), error) {
	nop := func() {}
	if err := ctx.Err(); err != nil {
		return nil, nop, err
	}
	if l.BeforeCall != nil {
		if err := l.BeforeCall(ctx, c.Op, c.Function); err != nil {
			c.Err = errCode(err)
			l.record(c)
			return nil, nop, err
		}
	}
	l.mu.Lock()
	unlock := sync.OnceFunc(l.mu.Unlock)
	l.calls = append(l.calls, c)
	f := l.functions[c.Function]
	if f == nil {
		return nil, unlock, l.fail(notFound(fmt.Sprintf("Function not found: arn:aws:lambda:%s:%s:function:%s", l.Region, l.Account, c.Function)))
	}
	f.settle(l, l.now())
	return f, unlock, nil
}

func (l *Lambda) record(c Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
}

// fail notes err's code on the last recorded call (the lock is held) and
// returns err.
func (l *Lambda) fail(err error) error {
	if n := len(l.calls); n > 0 {
		l.calls[n-1].Err = errCode(err)
	}
	return err
}

func errCode(err error) string {
	type coded interface{ ErrorCode() string }
	if c, ok := err.(coded); ok {
		return c.ErrorCode()
	}
	return err.Error()
}

func (l *Lambda) resolve(uri string) (string, bool) {
	if l.ResolveImage != nil {
		return l.ResolveImage(uri)
	}
	if _, d, ok := strings.Cut(uri, "@"); ok {
		return d, true
	}
	sum := sha256.Sum256([]byte(uri))
	return "sha256:" + hex.EncodeToString(sum[:]), true
}

// settle finishes an update whose time has come, and activates versions.
func (f *function) settle(l *Lambda, now time.Time) {
	if p := f.pending; p != nil && !now.Before(p.doneAt) {
		f.pending = nil
		fail := f.failNext
		f.failNext = nil
		if fail == nil && f.latest.imageURI != p.before.imageURI {
			if _, ok := l.resolve(f.latest.imageURI); !ok {
				fail = &failure{code: types.LastUpdateStatusReasonCodeImageDeleted, reason: fmt.Sprintf("Lambda was unable to pull the image %s: the image does not exist.", f.latest.imageURI)}
			}
		}
		if fail != nil {
			f.status, f.statusRC, f.statusM = types.LastUpdateStatusFailed, fail.code, fail.reason
			f.latest = p.before
			if p.reactive {
				f.state, f.stateMsg, f.stateRC = types.StateFailed, fail.reason, types.StateReasonCode(fail.code)
			}
		} else {
			f.status, f.statusRC, f.statusM = types.LastUpdateStatusSuccessful, "", ""
			f.state, f.stateMsg, f.stateRC = types.StateActive, "", ""
		}
		f.revision = newRevision()
		f.modified = p.doneAt
	}
}

func (f *function) checkUpdatable(revision string) error {
	if f.pending != nil {
		if f.state == types.StatePending {
			return &types.ResourceConflictException{Message: aws.String("The operation cannot be performed at this time. The function is currently in the following state: Pending")}
		}
		return &types.ResourceConflictException{Message: aws.String("The operation cannot be performed at this time. An update is in progress for resource: " + f.arn)}
	}
	if revision != "" && revision != f.revision {
		return preconditionFailed("GetFunction")
	}
	return nil
}

// start begins an update to next.
func (f *function) start(l *Lambda, next snapshot) {
	reactive := f.state == types.StateInactive || f.state == types.StateFailed
	f.pending = &update{doneAt: l.now().Add(l.UpdateDuration), before: f.latest, reactive: reactive}
	f.latest = next
	f.status, f.statusRC, f.statusM = types.LastUpdateStatusInProgress, "", ""
	if reactive {
		f.state, f.stateMsg, f.stateRC = types.StatePending, "", ""
	}
	f.revision = newRevision()
	f.modified = l.now()
	f.settle(l, l.now()) // a zero UpdateDuration completes at once
}

func (f *function) resolveQualifier(qual string, now time.Time) (types.FunctionConfiguration, snapshot, error) {
	if qual == "" || qual == "$LATEST" {
		return f.latestConfig(), f.latest, nil
	}
	if v := f.versions[qual]; v != nil {
		return f.versionConfig(v, now), v.snap, nil
	}
	if a := f.aliases[qual]; a != nil {
		if a.version == "$LATEST" {
			return f.latestConfig(), f.latest, nil
		}
		v := f.versions[a.version]
		return f.versionConfig(v, now), v.snap, nil
	}
	return types.FunctionConfiguration{}, snapshot{}, notFound(fmt.Sprintf("Function not found: %s:%s", f.arn, qual))
}

func (f *function) pickVersion(l *Lambda, qual string) (string, snapshot, error) {
	now := l.now()
	if qual == "" || qual == "$LATEST" {
		if f.state != types.StateActive {
			return "", snapshot{}, &types.ResourceConflictException{Message: aws.String("The operation cannot be performed at this time. The function is currently in the following state: " + string(f.state))}
		}
		if f.pending != nil {
			return "$LATEST", f.pending.before, nil
		}
		return "$LATEST", f.latest, nil
	}
	num := qual
	if a := f.aliases[qual]; a != nil {
		num = a.version
		for v, w := range a.weights {
			if l.rand() < w {
				num = v
			}
		}
	}
	if num == "$LATEST" {
		return f.pickVersion(l, num)
	}
	v := f.versions[num]
	if v == nil {
		return "", snapshot{}, notFound(fmt.Sprintf("Function not found: %s:%s", f.arn, qual))
	}
	if now.Before(v.activeAt) {
		return "", snapshot{}, &types.ResourceConflictException{Message: aws.String("The operation cannot be performed at this time. The function is currently in the following state: Pending")}
	}
	return num, v.snap, nil
}

func (l *Lambda) rand() float64 {
	if l.rnd == nil {
		l.rnd = mrand.New(mrand.NewPCG(1, 2))
	}
	return l.rnd.Float64()
}

func (f *function) checkAlias(a *alias) error {
	if a.version == "" {
		return &types.InvalidParameterValueException{Message: aws.String("FunctionVersion is required")}
	}
	if a.version != "$LATEST" && f.versions[a.version] == nil {
		return notFound(fmt.Sprintf("Function not found: %s:%s", f.arn, a.version))
	}
	if len(a.weights) == 0 {
		return nil
	}
	if a.version == "$LATEST" {
		return &types.InvalidParameterValueException{Message: aws.String("$LATEST is not supported for an alias pointing to more than 1 version")}
	}
	if len(a.weights) > 1 {
		return &types.InvalidParameterValueException{Message: aws.String("Number of items in AdditionalVersionWeights must be less than or equal to 1")}
	}
	for v, w := range a.weights {
		switch {
		case v == "$LATEST":
			return &types.InvalidParameterValueException{Message: aws.String("$LATEST is not supported for an alias pointing to more than 1 version")}
		case v == a.version:
			return &types.InvalidParameterValueException{Message: aws.String("Primary and additional version must not be the same: " + v)}
		case math.IsNaN(w) || w < 0 || w > 1:
			return &types.InvalidParameterValueException{Message: aws.String(fmt.Sprintf("Invalid weight %v for version %s: must be between 0.0 and 1.0", w, v))}
		case f.versions[v] == nil:
			return notFound(fmt.Sprintf("Function not found: %s:%s", f.arn, v))
		}
	}
	return nil
}

func (f *function) latestConfig() types.FunctionConfiguration {
	c := types.FunctionConfiguration{
		FunctionName:               aws.String(f.name),
		FunctionArn:                aws.String(f.arn),
		Version:                    aws.String("$LATEST"),
		PackageType:                types.PackageTypeImage,
		CodeSha256:                 aws.String(codeSha(f.latest)),
		RevisionId:                 aws.String(f.revision),
		State:                      f.state,
		LastUpdateStatus:           f.status,
		LastUpdateStatusReasonCode: f.statusRC,
		StateReasonCode:            f.stateRC,
		LastModified:               aws.String(f.modified.UTC().Format("2006-01-02T15:04:05.000-0700")),
		Environment:                envResponse(f.latest),
		Description:                aws.String(f.latest.desc),
		MemorySize:                 aws.Int32(1024),
		Timeout:                    aws.Int32(30),
	}
	if f.statusM != "" {
		c.LastUpdateStatusReason = aws.String(f.statusM)
	}
	if f.stateMsg != "" {
		c.StateReason = aws.String(f.stateMsg)
	}
	return c
}

func (f *function) versionConfig(v *version, now time.Time) types.FunctionConfiguration {
	state := types.StateActive
	if !now.IsZero() && now.Before(v.activeAt) {
		state = types.StatePending
	}
	return types.FunctionConfiguration{
		FunctionName:     aws.String(f.name),
		FunctionArn:      aws.String(f.arn + ":" + v.number),
		Version:          aws.String(v.number),
		PackageType:      types.PackageTypeImage,
		CodeSha256:       aws.String(codeSha(v.snap)),
		RevisionId:       aws.String(v.revision),
		State:            state,
		LastUpdateStatus: types.LastUpdateStatusSuccessful,
		Environment:      envResponse(v.snap),
		Description:      aws.String(v.snap.desc),
		MemorySize:       aws.Int32(1024),
		Timeout:          aws.Int32(30),
	}
}

func (f *function) aliasConfig(a *alias) types.AliasConfiguration {
	c := types.AliasConfiguration{
		AliasArn:        aws.String(f.arn + ":" + a.name),
		Name:            aws.String(a.name),
		FunctionVersion: aws.String(a.version),
		RevisionId:      aws.String(a.revision),
		Description:     aws.String(a.desc),
	}
	if len(a.weights) > 0 {
		c.RoutingConfig = &types.AliasRoutingConfiguration{AdditionalVersionWeights: maps.Clone(a.weights)}
	}
	return c
}

func codeOutput(c types.FunctionConfiguration) *lambda.UpdateFunctionCodeOutput {
	return &lambda.UpdateFunctionCodeOutput{
		FunctionName: c.FunctionName, FunctionArn: c.FunctionArn, Version: c.Version, PackageType: c.PackageType,
		CodeSha256: c.CodeSha256, RevisionId: c.RevisionId, State: c.State, StateReason: c.StateReason, StateReasonCode: c.StateReasonCode,
		LastUpdateStatus: c.LastUpdateStatus, LastUpdateStatusReason: c.LastUpdateStatusReason, LastUpdateStatusReasonCode: c.LastUpdateStatusReasonCode,
		LastModified: c.LastModified, Environment: c.Environment, Description: c.Description, MemorySize: c.MemorySize, Timeout: c.Timeout,
	}
}

func configOutput(c types.FunctionConfiguration) *lambda.UpdateFunctionConfigurationOutput {
	return &lambda.UpdateFunctionConfigurationOutput{
		FunctionName: c.FunctionName, FunctionArn: c.FunctionArn, Version: c.Version, PackageType: c.PackageType,
		CodeSha256: c.CodeSha256, RevisionId: c.RevisionId, State: c.State, StateReason: c.StateReason, StateReasonCode: c.StateReasonCode,
		LastUpdateStatus: c.LastUpdateStatus, LastUpdateStatusReason: c.LastUpdateStatusReason, LastUpdateStatusReasonCode: c.LastUpdateStatusReasonCode,
		LastModified: c.LastModified, Environment: c.Environment, Description: c.Description, MemorySize: c.MemorySize, Timeout: c.Timeout,
	}
}

func publishOutput(c types.FunctionConfiguration) *lambda.PublishVersionOutput {
	return &lambda.PublishVersionOutput{
		FunctionName: c.FunctionName, FunctionArn: c.FunctionArn, Version: c.Version, PackageType: c.PackageType,
		CodeSha256: c.CodeSha256, RevisionId: c.RevisionId, State: c.State, StateReason: c.StateReason, StateReasonCode: c.StateReasonCode,
		LastUpdateStatus: c.LastUpdateStatus, LastUpdateStatusReason: c.LastUpdateStatusReason, LastUpdateStatusReasonCode: c.LastUpdateStatusReasonCode,
		LastModified: c.LastModified, Environment: c.Environment, Description: c.Description, MemorySize: c.MemorySize, Timeout: c.Timeout,
	}
}

// checkEnv applies Lambda's limit on environment variables: 4 KB in all.
func checkEnv(env map[string]string) error {
	size := 0
	for k, v := range env {
		size += len(k) + len(v)
	}
	if size > 4096 {
		return &types.InvalidParameterValueException{Message: aws.String(fmt.Sprintf("Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: %d", size))}
	}
	return nil
}

// codeSha is the CodeSha256 Lambda reports for an image: the hex digest of
// its manifest.
func codeSha(s snapshot) string { return strings.TrimPrefix(s.digest, "sha256:") }

func resolvedURI(s snapshot) string {
	repo := s.imageURI
	if i := strings.LastIndex(repo, "@"); i >= 0 {
		repo = repo[:i]
	} else if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo + "@" + s.digest
}

func envResponse(s snapshot) *types.EnvironmentResponse {
	if s.envErr != nil {
		e := *s.envErr
		return &types.EnvironmentResponse{Error: &e}
	}
	return &types.EnvironmentResponse{Variables: maps.Clone(s.env)}
}

func cloneSnap(s snapshot) snapshot {
	s.env = maps.Clone(s.env)
	return s
}

// splitName accepts a function name, a name:qualifier, a full ARN or a
// partial ARN (account:function:name), as Lambda does.
func splitName(name, qual string) (string, string) {
	parts := strings.Split(name, ":")
	switch {
	case strings.HasPrefix(name, "arn:") && len(parts) >= 7:
		name = parts[6]
		if len(parts) >= 8 && qual == "" {
			qual = parts[7]
		}
	case len(parts) >= 3 && parts[1] == "function":
		name = parts[2]
		if len(parts) >= 4 && qual == "" {
			qual = parts[3]
		}
	case len(parts) == 2:
		name = parts[0]
		if qual == "" {
			qual = parts[1]
		}
	}
	return name, qual
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

func notFound(msg string) error {
	return &types.ResourceNotFoundException{Message: aws.String(msg), Type: aws.String("User")}
}

func preconditionFailed(api string) error {
	return &types.PreconditionFailedException{Message: aws.String(fmt.Sprintf("The Revision Id provided does not match the latest Revision Id. Call the %s API to retrieve the latest Revision Id", api)), Type: aws.String("User")}
}

func newRevision() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// AccessDenied is the error an IAM policy without lambda:<op> causes; it is
// not retried. Return it from BeforeCall.
func AccessDenied(op string) error {
	return &smithy.GenericAPIError{
		Code:    "AccessDeniedException",
		Message: fmt.Sprintf("User: arn:aws:iam::123456789012:user/ci is not authorized to perform: lambda:%s because no identity-based policy allows the lambda:%s action", op, op),
		Fault:   smithy.FaultClient,
	}
}
