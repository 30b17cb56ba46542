package imagescan

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/mlship/mlship/internal/ecrfake"
)

// realClient is the SDK's ECR client talking to the fake over ECR's JSON
// protocol: the waiter, the paginated reads and the error types go through
// the SDK's own (de)serialisation and retryer.
func realClient(t *testing.T, f *ecrfake.Fake) *ecr.Client {
	t.Helper()
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	return ecr.New(ecr.Options{
		Region: ecrfake.DefaultRegion, BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{},
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		}),
	})
}

func TestECROverTheWire(t *testing.T) {
	t.Parallel()
	f := ecrfake.New()
	cfg := ecrImage(t, f, ecrfake.Scan{
		Statuses: []ecrtypes.ScanStatus{"IN_PROGRESS", "COMPLETE"},
		Findings: []ecrtypes.ImageScanFinding{basic("CVE-2099-0001", "CRITICAL", "openssl", "3.3.2-r4")},
	})
	// One throttled answer on the way: the SDK retries it.
	f.FailNext("DescribeImageScanFindings", 1, ecrfake.Throttling())
	var api ECRAPI = realClient(t, f)
	code, stdout, _, outs := runMain(t, testDeps(t, api), "--scanner", "ecr", "--image", cfg.Image,
		"--sarif-file", cfg.SARIFFile, "--json-file", cfg.JSONFile, "--summary-file", cfg.SummaryFile)
	if code != 1 || outs["critical"] != "1" || outs["total"] != "1" || outs["passed"] != "false" {
		t.Fatalf("exit %d, outputs %v\n%s", code, outs, stdout)
	}
	if n := f.Calls("DescribeImageScanFindings"); n != 3 {
		t.Errorf("DescribeImageScanFindings called %d times, want 3 (throttled, IN_PROGRESS, COMPLETE)", n)
	}

	if err := f.RemoveScan("credit-model", "build-42"); err != nil {
		t.Fatal(err)
	}
	code, stdout, _, outs = runMain(t, testDeps(t, api), "--scanner", "ecr", "--image", cfg.Image,
		"--sarif-file", cfg.SARIFFile, "--json-file", cfg.JSONFile, "--summary-file", cfg.SummaryFile)
	if code != 3 || outs["passed"] != "false" || outs["total"] != "" {
		t.Fatalf("no scan: exit %d, outputs %v", code, outs)
	}
	if errs := grep(stdout, "::error::"); len(errs) != 1 || !strings.Contains(errs[0], "ScanNotFoundException") {
		t.Errorf("error lines %q", errs)
	}
}
