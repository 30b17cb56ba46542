package actions

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/lint"
	"github.com/mlship/mlship/internal/toolset"
)

// The IAM policies of docs/pipelines.md are checked against the code: every
// AWS API a tool's packages declare they call (the methods of the small
// client interfaces each package declares, as the AWS SDK's unit-testing
// guide has them) must be allowed by the tool's policy there.

const module = "github.com/mlship/mlship/"

// sdkMethod is a method of a client interface: Name(ctx context.Context,
// params *svc.NameInput, ...). Presigners take the input of the operation
// they sign (PresignGetObject(..., *s3.GetObjectInput)).
var sdkMethod = regexp.MustCompile(`(?m)^\s+([A-Z][A-Za-z0-9]*)\((?:[a-z]+ )?context\.Context, (?:[a-z]+ )?\*([a-z0-9]+)\.([A-Z][A-Za-z0-9]*)Input\b`)

// rpcService and rpcCall find the calls of a client built on
// internal/awsrpc: the service's ID (its IAM prefix in lower case: SSM,
// CloudWatch) and each Call(ctx, "Action", ...).
var (
	rpcService = regexp.MustCompile(`(?m)^\s+ID:\s+"([A-Za-z]+)",`)
	rpcCall    = regexp.MustCompile(`\.Call\(ctx, "([A-Z][A-Za-z0-9]*)"`)
)

// iamAction is the IAM action an SDK call needs; "" for none.
func iamAction(service, method, input string) string {
	if strings.HasPrefix(method, "Presign") {
		method = input
	}
	switch service + ":" + method {
	case "lambda:Invoke":
		return "lambda:InvokeFunction"
	case "s3:HeadObject":
		return "s3:GetObject" // HEAD of an object is allowed by s3:GetObject
	case "s3:ListObjectsV2":
		return "s3:ListBucket"
	case "sts:GetCallerIdentity":
		return "" // needs no permission
	}
	if service == "sesv2" {
		service = "ses"
	}
	return service + ":" + method
}

// notCalledBy are interface methods a tool's dependencies declare that the
// tool itself never calls, each with the reason.
var notCalledBy = map[string]map[string]string{
	"lambda-deploy": {
		"ecr:GetAuthorizationToken": "lambda-deploy uses ecrref to parse image references, never to log in",
		"ssm:PutParameter":          "ssmclient's PutParameter is ecr-push's: lambda-deploy's SSMAPI only reads the tag",
	},
	"health-rollback": {
		"lambda:CreateAlias": "lambdaalias.Creator is lambda-deploy's: a rollback never creates an alias",
	},
	"model-staleness": {
		"ecr:GetAuthorizationToken": "model-staleness uses ecrref to check image references, never to log in (it reads push times with DescribeImages)",
	},
}

// toolAPIs returns the IAM actions the packages of a tool (internal/<pkg>
// and the repository packages it imports, but no fakes) declare they call.
func toolAPIs(t *testing.T, pkg string) map[string]string {
	t.Helper()
	found := map[string]string{} // action: where
	seen := map[string]bool{}
	var visit func(dir string)
	visit = func(dir string) {
		if seen[dir] || strings.Contains(dir, "fake") || strings.HasSuffix(dir, "test") {
			return
		}
		seen[dir] = true
		files, err := filepath.Glob(filepath.Join("..", filepath.FromSlash(dir), "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range sdkMethod.FindAllStringSubmatch(string(src), -1) {
				if a := iamAction(m[2], m[1], m[3]); a != "" {
					found[a] = rel(f)
				}
			}
			if svc := rpcService.FindStringSubmatch(string(src)); svc != nil {
				for _, m := range rpcCall.FindAllStringSubmatch(string(src), -1) {
					found[iamAction(strings.ToLower(svc[1]), m[1], m[1])] = rel(f)
				}
			}
			imports, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, im := range imports.Imports {
				p, _ := strconv.Unquote(im.Path.Value)
				if sub, ok := strings.CutPrefix(p, module); ok && strings.HasPrefix(sub, "internal/") {
					visit(sub)
				}
			}
		}
	}
	visit("internal/" + pkg)
	return found
}

// policy is an IAM policy document, as a user pastes it.
type policy struct {
	Version   string `json:"Version"`
	Statement []struct {
		Sid       string          `json:"Sid"`
		Effect    string          `json:"Effect"`
		Action    json.RawMessage `json:"Action"`
		Resource  json.RawMessage `json:"Resource"`
		Condition json.RawMessage `json:"Condition"`
	} `json:"Statement"`
}

func (p policy) actions() ([]string, error) {
	var out []string
	for _, s := range p.Statement {
		var one string
		if json.Unmarshal(s.Action, &one) == nil {
			out = append(out, one)
			continue
		}
		var many []string
		if err := json.Unmarshal(s.Action, &many); err != nil {
			return nil, err
		}
		out = append(out, many...)
	}
	return out, nil
}

// guidePolicies reads the IAM policies of docs/pipelines.md: the ```json
// block of each "### <tool>" section of "## IAM policies" (none for a tool
// that calls no AWS API).
func guidePolicies(t *testing.T) map[string]*policy {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "pipelines.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "\n## IAM policies\n")
	if i < 0 {
		t.Fatal("docs/pipelines.md has no \"## IAM policies\" section")
	}
	doc = doc[i:]
	if j := strings.Index(doc[1:], "\n## "); j >= 0 {
		doc = doc[:j+1]
	}
	out := map[string]*policy{}
	sections := strings.Split(doc, "\n### ")
	for _, sec := range sections[1:] {
		name, body, _ := strings.Cut(sec, "\n")
		out[name] = nil
		for _, block := range lint.CodeBlocks([]byte(body)) {
			if block.Lang != "json" {
				continue
			}
			var p policy
			dec := json.NewDecoder(strings.NewReader(block.Text))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&p); err != nil {
				t.Errorf("docs/pipelines.md, IAM policy of %s: not a policy document: %v", name, err)
				continue
			}
			out[name] = &p
			break
		}
	}
	return out
}

// TestPipelinesGuideIAM: docs/pipelines.md has a policy for every tool,
// each a whole document a user can paste, and each allows every AWS API the
// tool's code calls.
func TestPipelinesGuideIAM(t *testing.T) {
	t.Parallel()
	policies := guidePolicies(t)
	for _, tool := range toolset.All {
		t.Run(tool.Name, func(t *testing.T) {
			p, ok := policies[tool.Name]
			if !ok {
				t.Fatalf("docs/pipelines.md has no \"### %s\" IAM policy", tool.Name)
			}
			pkg := strings.ReplaceAll(tool.Name, "-", "")
			calls := toolAPIs(t, pkg)
			if len(calls) > 0 && p == nil {
				t.Fatalf("docs/pipelines.md shows no policy for %s, which calls %v", tool.Name, sortedKeys(calls))
			}
			var allowed []string
			if p != nil {
				if p.Version != "2012-10-17" || len(p.Statement) == 0 {
					t.Errorf("the policy of %s: want Version 2012-10-17 and statements", tool.Name)
				}
				for i, s := range p.Statement {
					if s.Effect != "Allow" || len(s.Resource) == 0 {
						t.Errorf("the policy of %s, statement %d: want Effect Allow and a Resource", tool.Name, i+1)
					}
				}
				var err error
				if allowed, err = p.actions(); err != nil {
					t.Fatalf("the policy of %s: %v", tool.Name, err)
				}
			}
			for _, a := range sortedKeys(calls) {
				if reason, ok := notCalledBy[tool.Name][a]; ok {
					t.Logf("%s: %s (declared in %s) is not called: %s", tool.Name, a, calls[a], reason)
					continue
				}
				if !slices.Contains(allowed, a) {
					t.Errorf("docs/pipelines.md: the policy of %s does not allow %s, which %s calls", tool.Name, a, calls[a])
				}
			}
			for a := range notCalledBy[tool.Name] {
				if _, ok := calls[a]; !ok {
					t.Errorf("notCalledBy[%q][%q]: the code declares no such call any more; drop the entry", tool.Name, a)
				}
			}
		})
	}
	for name := range policies {
		if !slices.Contains(toolset.Names(), name) && name != "The roles of the pipelines" {
			t.Errorf("docs/pipelines.md: IAM section %q names no tool", name)
		}
	}
}

// TestToolAPIsFindsCalls: the scan of the code finds what lambda-deploy
// calls, so that the test above cannot pass by finding nothing.
func TestToolAPIsFindsCalls(t *testing.T) {
	t.Parallel()
	calls := toolAPIs(t, "lambdadeploy")
	for _, want := range []string{"lambda:UpdateFunctionCode", "lambda:InvokeFunction", "ecr:DescribeImages", "cloudwatch:DescribeAlarms", "ssm:GetParameter", "lambda:UpdateAlias"} {
		if _, ok := calls[want]; !ok {
			t.Errorf("toolAPIs(lambdadeploy) = %v, want %s among them", sortedKeys(calls), want)
		}
	}
	if a := iamAction("s3", "PresignGetObject", "GetObject"); a != "s3:GetObject" {
		t.Errorf("a presigned GetObject needs %q, want s3:GetObject", a)
	}
}
