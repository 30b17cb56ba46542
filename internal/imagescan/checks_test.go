package imagescan

import (
	"context"
	"net"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/ecrfake"
	"github.com/mlship/mlship/internal/exitcode"
)

// TestRunNeedsAPlan: Run takes only what Validate returns.
func TestRunNeedsAPlan(t *testing.T) {
	t.Parallel()
	for _, p := range []*Plan{nil, {}} {
		res, err := Run(context.Background(), p, testDeps(t, nil))
		if exitcode.Of(err) != exitcode.Incomplete || !strings.Contains(err.Error(), "Config.Validate") || res != nil {
			t.Errorf("Run(%v) = %v, %v; want exit 3 and no result", p, res, err)
		}
	}
}

// TestECRFindingWithoutPackageDetails: an enhanced finding ECR reports
// without packageVulnerabilityDetails counts by its severity and is
// listed, with a warning; it never drops out, and never lets the image
// pass. Both through the fake and over ECR's wire protocol.
func TestECRFindingWithoutPackageDetails(t *testing.T) {
	t.Parallel()
	bare := ecrtypes.EnhancedImageScanFinding{
		FindingArn: aws.String("arn:aws:inspector2:us-east-1:123456789012:finding/0123456789abcdef0123456789abcdef"),
		Severity:   aws.String("CRITICAL"), Title: aws.String("Remote code execution in the model server"),
		Type:      aws.String("CODE_VULNERABILITY"),
		Resources: []ecrtypes.Resource{{Id: aws.String("arn:aws:ecr:us-east-1:123456789012:repository/credit-model/sha256:abc"), Type: aws.String("AWS_ECR_CONTAINER_IMAGE")}},
	}
	untitled := ecrtypes.EnhancedImageScanFinding{Severity: aws.String("HIGH"), Type: aws.String("NETWORK_REACHABILITY")}
	for _, overWire := range []bool{false, true} {
		f := ecrfake.New()
		cfg := ecrImage(t, f, ecrfake.Scan{Type: ecrtypes.ScanTypeEnhanced, EnhancedFindings: []ecrtypes.EnhancedImageScanFinding{
			enhanced("CVE-2099-0005", "LOW", "zlib", "1.3.1", "r2", "1.3.1-r3", "YES"), bare, untitled,
		}})
		var api ECRAPI = f
		if overWire {
			api = realClient(t, f)
		}
		deps := testDeps(t, api)
		log := &testLog{t: t}
		deps.Log = log
		res, err := runConfig(context.Background(), cfg, deps)
		if exitcode.Of(err) != exitcode.Failed || !strings.Contains(err.Error(), "ECR-FINDING-0123456789abcdef0123456789abcdef") {
			t.Fatalf("over the wire %t: exit %d (%v), want 1 naming the CRITICAL finding", overWire, exitcode.Of(err), err)
		}
		want := map[string]int{"CRITICAL": 1, "HIGH": 1, "MEDIUM": 0, "LOW": 1, "UNKNOWN": 0}
		if !reflect.DeepEqual(res.IssuesBySeverityCount, want) || res.Total != 3 || res.Passed || res.ECR.Unread != 2 {
			t.Errorf("over the wire %t: counts %v total %d passed %t unread %d", overWire, res.IssuesBySeverityCount, res.Total, res.Passed, res.ECR.Unread)
		}
		i := slices.IndexFunc(res.Findings, func(f Finding) bool { return f.Severity == "CRITICAL" })
		if i < 0 || res.Findings[i].Title != "Remote code execution in the model server" || !res.Findings[i].Fails || !strings.Contains(res.Findings[i].Package, "credit-model") {
			t.Errorf("over the wire %t: findings %+v", overWire, res.Findings)
		}
		if len(log.warnings) != 1 || !strings.Contains(log.warnings[0], "2 of ECR's findings") {
			t.Errorf("over the wire %t: warnings %q", overWire, log.warnings)
		}
	}
}

// TestRefusedConnection: a registry that cannot be reached is one error
// line, exit 3, and no result text; passed is false.
func TestRefusedConnection(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	out := t.TempDir()
	step := actiontest.NewStep(t, map[string]string{
		"image": host + "/models/credit:1.0", "cache-dir": getFixture(t).cacheDir, "skip-db-update": "true",
		"sarif-file": filepath.Join(out, "s.sarif"), "json-file": filepath.Join(out, "s.json"), "summary-file": filepath.Join(out, "sum.json"),
	})
	code := step.Run(newCommand(func(rt *command.Runtime) Deps {
		d := testDeps(t, nil)
		d.Log, d.Mask = rt.Action, rt.Mask
		return d
	}))
	if code != exitcode.Incomplete {
		t.Fatalf("exit %d, want 3\n%s", code, step.Stdout.String())
	}
	cmds := actiontest.Commands(step.Stdout.String())
	if len(cmds) != 1 || !strings.HasPrefix(cmds[0], "::error::image-scan: ") || !strings.Contains(cmds[0], "connection refused") {
		t.Errorf("workflow commands %q, want the one error line", cmds)
	}
	if strings.Contains(step.Stdout.String(), "image-scan: incomplete") {
		t.Errorf("the result was printed for a scan that could not start:\n%s", step.Stdout.String())
	}
	if outs := step.Outputs(t); outs["passed"] != "false" || outs["critical"] != "" || outs["sarif-file"] != "" {
		t.Errorf("outputs %v", outs)
	}
}

// TestOutsideTextIsNotACommand: ECR's finding texts and a registry's error
// message are text from outside; none of it may act as a workflow command.
func TestOutsideTextIsNotACommand(t *testing.T) {
	t.Parallel()
	const hostile = "::add-mask::x\n::error title=injected::pwned\n::stop-commands::abc\n##[set-output name=passed;]true"
	t.Run("ECR findings", func(t *testing.T) {
		t.Parallel()
		f := ecrfake.New()
		bad := basic("CVE-2099-0001", "CRITICAL", "openssl", "3.3.2-r4")
		bad.Description, bad.Name = aws.String(hostile), aws.String("CVE-2099-0001\n::error::x")
		cfg := ecrImage(t, f, ecrfake.Scan{Findings: []ecrtypes.ImageScanFinding{bad}})
		step := actiontest.NewStep(t, map[string]string{
			"scanner": "ecr", "image": cfg.Image, "sarif-file": cfg.SARIFFile, "json-file": cfg.JSONFile, "summary-file": cfg.SummaryFile,
		})
		code := step.Run(newCommand(func(rt *command.Runtime) Deps {
			d := testDeps(t, f)
			d.Log, d.Mask = rt.Action, rt.Mask
			return d
		}))
		if code != exitcode.Failed {
			t.Fatalf("exit %d, want 1\n%s", code, step.Stdout.String())
		}
		if cmds := actiontest.Commands(step.Stdout.String()); len(cmds) != 1 || !strings.HasPrefix(cmds[0], "::error::image-scan: 1 finding at or above HIGH") {
			t.Errorf("workflow commands %q, want only the one error line\n%s", cmds, step.Stdout.String())
		}
	})
	t.Run("registry error", func(t *testing.T) {
		t.Parallel()
		fake := ecrfake.New()
		reg, tr := ecrRegistry(t, fake)
		if _, err := fake.CreateRepository(context.Background(), createRepo("credit-model", false)); err != nil {
			t.Fatal(err)
		}
		ref := fake.Host() + "/credit-model:build-42"
		pushImage(t, ref, getFixture(t).img, remote.WithTransport(tr))
		reg.Fail(ecrfake.RegistryFault{Method: "GET", PathContains: "/manifests/", N: -1, Status: 403, Code: "DENIED", Message: hostile})
		out := t.TempDir()
		step := actiontest.NewStep(t, map[string]string{
			"image": ref, "cache-dir": getFixture(t).cacheDir, "skip-db-update": "true",
			"sarif-file": filepath.Join(out, "s.sarif"), "json-file": filepath.Join(out, "s.json"), "summary-file": filepath.Join(out, "sum.json"),
		})
		code := step.Run(newCommand(func(rt *command.Runtime) Deps {
			d := testDeps(t, fake)
			d.Log, d.Mask, d.Transport = rt.Action, rt.Mask, tr
			return d
		}))
		if code != exitcode.Incomplete {
			t.Fatalf("exit %d, want 3\n%s", code, step.Stdout.String())
		}
		var cmds []string
		for _, c := range actiontest.Commands(step.Stdout.String()) {
			if !strings.HasPrefix(c, "::add-mask::") || c == "::add-mask::x" {
				cmds = append(cmds, c)
			}
		}
		if len(cmds) != 1 || !strings.HasPrefix(cmds[0], "::error::image-scan: ") || !strings.Contains(cmds[0], "DENIED") {
			t.Errorf("workflow commands %q, want only the one error line\n%s", cmds, step.Stdout.String())
		}
	})
}
