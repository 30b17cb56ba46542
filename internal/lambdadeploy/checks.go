package lambdadeploy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/mlship/mlship/internal/exitcode"
)

// shortResponse is how much of the smoke response the smoke-response output
// carries; the whole response is in the file.
const shortResponse = 256

// ---- smoke invocation ----

// smoke invokes qualifier (a version or the alias) with the payload and
// checks the response.
func (dp *deployer) smoke(ctx context.Context, qualifier, when string) error {
	cfg := dp.cfg
	if cfg.Payload == nil {
		return nil
	}
	target := "version " + qualifier
	if qualifier == cfg.Alias {
		target = "alias " + qualifier
	}
	out, err := dp.d.Lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(cfg.Function), Qualifier: aws.String(qualifier),
		Payload: cfg.Payload, LogType: types.LogTypeTail,
	})
	if err != nil {
		return exitcode.Incompletef("smoke test of %s %s: invoking: %w", target, when, err)
	}
	if err := dp.recordResponse(out.Payload); err != nil {
		return err
	}
	if problems := checkResponse(out, cfg); len(problems) > 0 {
		if out.LogResult != nil {
			if tail, err := base64.StdEncoding.DecodeString(*out.LogResult); err == nil && len(tail) > 0 {
				dp.log.Logf("log tail of the smoke invocation:\n%s", strings.TrimRight(string(tail), "\n"))
			}
		}
		return exitcode.Failedf("smoke test of %s %s failed: %s", target, when, strings.Join(problems, "; "))
	}
	dp.event(fmt.Sprintf("smoke test of %s %s passed: %s", target, when, dp.res.SmokeResponse))
	return nil
}

func (dp *deployer) recordResponse(payload []byte) error {
	dp.res.SmokeResponse = shorten(payload)
	if dp.cfg.ResponseFile == "" {
		return nil
	}
	if err := os.WriteFile(dp.cfg.ResponseFile, payload, 0o600); err != nil {
		return exitcode.Incompletef("writing the smoke response: %w", err)
	}
	dp.res.SmokeResponseFile = dp.cfg.ResponseFile
	return nil
}

// shorten makes a one-line, bounded form of a response.
func shorten(p []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, p) == nil {
		p = b.Bytes()
	}
	s := strings.Join(strings.Fields(string(p)), " ")
	if len(s) <= shortResponse {
		return s
	}
	cut := shortResponse
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// checkResponse lists what is wrong with a smoke response.
func checkResponse(out *lambda.InvokeOutput, cfg *Config) []string {
	var problems []string
	if out.StatusCode != 200 {
		problems = append(problems, fmt.Sprintf("invocation status %d", out.StatusCode))
	}
	if fe := aws.ToString(out.FunctionError); fe != "" {
		msg := ""
		var e struct {
			ErrorType    string `json:"errorType"`
			ErrorMessage string `json:"errorMessage"`
		}
		if json.Unmarshal(out.Payload, &e) == nil && (e.ErrorType != "" || e.ErrorMessage != "") {
			msg = ": " + strings.TrimPrefix(e.ErrorType+": "+e.ErrorMessage, ": ")
		}
		return append(problems, fmt.Sprintf("function error (%s)%s", fe, msg))
	}
	if cfg.ExpectStatus == 0 && len(cfg.Expect) == 0 {
		return problems
	}
	var doc any
	if err := json.Unmarshal(out.Payload, &doc); err != nil {
		return append(problems, "the response is not JSON")
	}
	if cfg.ExpectStatus != 0 {
		got, ok := lookup(doc, "statusCode")
		if !ok {
			problems = append(problems, fmt.Sprintf("no statusCode in the response (want %d)", cfg.ExpectStatus))
		} else if !jsonEqual(got, float64(cfg.ExpectStatus)) {
			problems = append(problems, fmt.Sprintf("statusCode is %s, want %d", show(got), cfg.ExpectStatus))
		}
	}
	for _, e := range cfg.Expect {
		got, ok := lookup(doc, e.Path)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("no %s in the response (want %s)", e.Path, e.Raw))
		case !jsonEqual(got, e.Value):
			problems = append(problems, fmt.Sprintf("%s is %s, want %s", e.Path, show(got), e.Raw))
		}
	}
	return problems
}

// lookup follows a dotted path (numbers index arrays). A string holding
// JSON is entered as a document, so body.field reaches into the JSON body
// of a proxy-integration response.
func lookup(doc any, path string) (any, bool) {
	cur := doc
	for _, seg := range strings.Split(path, ".") {
		if s, ok := cur.(string); ok {
			var inner any
			if json.Unmarshal([]byte(s), &inner) != nil {
				return nil, false
			}
			cur = inner
		}
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[seg]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// jsonEqual compares decoded JSON values: numbers as numbers, so 200 and
// 200.0 are equal, but the string "200" and the number 200 are not.
func jsonEqual(got, want any) bool { return reflect.DeepEqual(got, want) }

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return shorten(b)
}

// ---- alarms ----

type alarmWatch struct {
	names        []string
	firingBefore map[string]bool
	cleared      map[string]bool // firing before, seen OK since
}

type alarmState struct {
	state  cwtypes.StateValue
	reason string
}

func (dp *deployer) watchAlarms(ctx context.Context) error {
	cfg := dp.cfg
	if len(cfg.Alarms) == 0 {
		return nil
	}
	if dp.d.CloudWatch == nil {
		return exitcode.Incompletef("reading alarms: no CloudWatch client")
	}
	states, err := dp.describeAlarms(ctx, cfg.Alarms)
	if err != nil {
		return err
	}
	var missing, firing []string
	for _, n := range cfg.Alarms {
		s, ok := states[n]
		switch {
		case !ok:
			missing = append(missing, n)
		case s.state == cwtypes.StateValueAlarm:
			firing = append(firing, n)
			dp.log.Warningf("alarm %s is already firing before the deploy: %s", n, s.reason)
		}
	}
	if len(missing) > 0 {
		return exitcode.BadInputf("alarm: no metric or composite alarm named %s in this account and region", strings.Join(missing, ", "))
	}
	dp.res.AlarmsFiringBefore = firing
	if len(firing) > 0 && cfg.RequireAlarmsOK {
		return exitcode.Failedf("alarm %s already firing before the deploy and --require-alarms-ok is set; nothing was changed", strings.Join(firing, ", "))
	}
	w := &alarmWatch{names: cfg.Alarms, firingBefore: map[string]bool{}, cleared: map[string]bool{}}
	for _, n := range firing {
		w.firingBefore[n] = true
	}
	dp.alarms = w
	dp.alarmStates = states
	return nil
}

// checkAlarms fails when an alarm fires that was not firing before the
// deploy (or that cleared during it and fired again).
func (dp *deployer) checkAlarms(ctx context.Context, when string) error {
	w := dp.alarms
	if w == nil {
		return nil
	}
	states, err := dp.describeAlarms(ctx, w.names)
	if err != nil {
		return err
	}
	var fired []string
	for _, n := range w.names {
		s, ok := states[n]
		if !ok {
			continue
		}
		if s.state != cwtypes.StateValueAlarm {
			if w.firingBefore[n] {
				w.cleared[n] = true
			}
			continue
		}
		if !w.firingBefore[n] || w.cleared[n] {
			fired = append(fired, fmt.Sprintf("%s (%s)", n, s.reason))
		}
	}
	if len(fired) > 0 {
		return exitcode.Failedf("alarm fired %s: %s", when, strings.Join(fired, "; "))
	}
	return nil
}

func (dp *deployer) describeAlarms(ctx context.Context, names []string) (map[string]alarmState, error) {
	states := map[string]alarmState{}
	for chunk := range slices.Chunk(names, 100) {
		in := &cloudwatch.DescribeAlarmsInput{
			AlarmNames: chunk,
			AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm},
		}
		p := cloudwatch.NewDescribeAlarmsPaginator(dp.d.CloudWatch, in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return nil, exitcode.Incompletef("reading alarms: %w", err)
			}
			for _, a := range out.MetricAlarms {
				states[aws.ToString(a.AlarmName)] = alarmState{a.StateValue, aws.ToString(a.StateReason)}
			}
			for _, a := range out.CompositeAlarms {
				states[aws.ToString(a.AlarmName)] = alarmState{a.StateValue, aws.ToString(a.StateReason)}
			}
		}
	}
	return states, nil
}

// ---- environment ----

type envDiff struct {
	added, changed, removed []string
	notPresent              []string // --unset keys the function did not have
	kept                    int      // variables left as they were
	restored                bool     // the rollback puts the old set back
}

func (d envDiff) any() bool { return len(d.added)+len(d.changed)+len(d.removed) > 0 }

// mergeEnv applies set and unset to cur. Nothing else is removed.
func mergeEnv(cur map[string]string, set []EnvVar, unset []string) (map[string]string, envDiff) {
	next := maps.Clone(cur)
	if next == nil {
		next = map[string]string{}
	}
	var d envDiff
	touched := map[string]bool{}
	for _, e := range set {
		touched[e.Key] = true
		old, ok := next[e.Key]
		switch {
		case !ok:
			d.added = append(d.added, e.Key)
		case old != e.Value:
			d.changed = append(d.changed, e.Key)
		}
		next[e.Key] = e.Value
	}
	for _, k := range unset {
		touched[k] = true
		if _, ok := next[k]; ok {
			delete(next, k)
			d.removed = append(d.removed, k)
		} else {
			d.notPresent = append(d.notPresent, k)
		}
	}
	for k := range cur {
		if !touched[k] {
			d.kept++
		}
	}
	return next, d
}

func envSize(env map[string]string) int {
	n := 0
	for k, v := range env {
		n += len(k) + len(v)
	}
	return n
}

// describe says what changes, never showing a secret value or an old value.
func (d envDiff) describe(vars []EnvVar) string {
	if d.restored {
		return "the previous variables are set again"
	}
	if !d.any() {
		return "unchanged"
	}
	val := map[string]string{}
	for _, e := range vars {
		if e.Secret {
			val[e.Key] = "***"
		} else {
			val[e.Key] = e.Value
		}
	}
	var parts []string
	var set []string
	for _, k := range append(slices.Clone(d.added), d.changed...) {
		set = append(set, k+"="+val[k])
	}
	if len(set) > 0 {
		parts = append(parts, "set "+strings.Join(set, ", "))
	}
	if len(d.removed) > 0 {
		parts = append(parts, "unset "+strings.Join(d.removed, ", "))
	}
	parts = append(parts, fmt.Sprintf("%d other%s kept", d.kept, plural(d.kept)))
	return strings.Join(parts, "; ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
