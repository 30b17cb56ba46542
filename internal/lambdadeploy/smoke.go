package lambdadeploy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/mlship/mlship/internal/exitcode"
)

// shortResponse is how much of the smoke response the smoke-response output
// carries; the whole response is in the file.
const shortResponse = 256

// smoke invokes qualifier (a version or the alias) with the payload and
// checks the response.
func (dp *deployer) smoke(ctx context.Context, qualifier, when string) error {
	p := dp.p
	if p.payload == nil {
		return nil
	}
	target := "version " + qualifier
	if qualifier == p.alias {
		target = "alias " + qualifier
	}
	out, err := dp.d.Lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(p.function), Qualifier: aws.String(qualifier),
		Payload: p.payload, LogType: types.LogTypeTail,
	})
	if err != nil {
		return exitcode.Incompletef("smoke test of %s %s: invoking: %w", target, when, err)
	}
	if err := dp.recordResponse(out.Payload); err != nil {
		return err
	}
	if problems := checkResponse(out, p); len(problems) > 0 {
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
	if dp.p.responseFile == "" {
		return nil
	}
	if err := os.WriteFile(dp.p.responseFile, payload, 0o600); err != nil {
		return exitcode.Incompletef("writing the smoke response: %w", err)
	}
	dp.res.SmokeResponseFile = dp.p.responseFile
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
func checkResponse(out *lambda.InvokeOutput, p *Plan) []string {
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
	if p.expectStatus == 0 && len(p.expect) == 0 {
		return problems
	}
	var doc any
	if err := json.Unmarshal(out.Payload, &doc); err != nil {
		return append(problems, "the response is not JSON")
	}
	if p.expectStatus != 0 {
		got, ok := lookup(doc, "statusCode")
		if !ok {
			problems = append(problems, fmt.Sprintf("no statusCode in the response (want %d)", p.expectStatus))
		} else if !jsonEqual(got, float64(p.expectStatus)) {
			problems = append(problems, fmt.Sprintf("statusCode is %s, want %d", show(got), p.expectStatus))
		}
	}
	for _, e := range p.expect {
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
