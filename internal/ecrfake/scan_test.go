package ecrfake

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

var _ interface {
	DescribeImageScanFindings(context.Context, *ecr.DescribeImageScanFindingsInput, ...func(*ecr.Options)) (*ecr.DescribeImageScanFindingsOutput, error)
} = New()

func describeScan(t *testing.T, f *Fake, repo, tag string, token *string) *ecr.DescribeImageScanFindingsOutput {
	t.Helper()
	out, err := f.DescribeImageScanFindings(context.Background(), &ecr.DescribeImageScanFindingsInput{
		RepositoryName: aws.String(repo), ImageId: &types.ImageIdentifier{ImageTag: aws.String(tag)},
		MaxResults: aws.Int32(2), NextToken: token,
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestScanOnPushGoesInProgressThenComplete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := New()
	if _, err := f.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName:             aws.String("app"),
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: true},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("app"), ImageManifest: aws.String(string(testManifest(1))), ImageTag: aws.String("v1")}); err != nil {
		t.Fatal(err)
	}
	first := describeScan(t, f, "app", "v1", nil)
	if first.ImageScanStatus.Status != types.ScanStatusInProgress || first.ImageScanFindings != nil {
		t.Fatalf("first call: status %s, findings %v; want IN_PROGRESS and none", first.ImageScanStatus.Status, first.ImageScanFindings)
	}
	second := describeScan(t, f, "app", "v1", nil)
	if second.ImageScanStatus.Status != types.ScanStatusComplete || second.ImageScanFindings == nil {
		t.Fatalf("second call: status %s, findings %v; want COMPLETE with (empty) findings", second.ImageScanStatus.Status, second.ImageScanFindings)
	}
	if len(second.ImageScanFindings.FindingSeverityCounts) != 0 || second.ImageScanFindings.ImageScanCompletedAt == nil {
		t.Errorf("clean scan: counts %v, completed %v", second.ImageScanFindings.FindingSeverityCounts, second.ImageScanFindings.ImageScanCompletedAt)
	}
	d, err := f.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	if st := d.ImageDetails[0].ImageScanStatus; st == nil || st.Status != types.ScanStatusComplete {
		t.Errorf("DescribeImages scan status = %v, want COMPLETE", st)
	}
}

func TestScanNotFoundWithoutScanOnPush(t *testing.T) {
	t.Parallel()
	f := New()
	if _, err := f.AddImage("app", testManifest(1), "v1"); err != nil {
		t.Fatal(err)
	}
	_, err := f.DescribeImageScanFindings(context.Background(), &ecr.DescribeImageScanFindingsInput{
		RepositoryName: aws.String("app"), ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1")},
	})
	var nf *types.ScanNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("got %v, want ScanNotFoundException", err)
	}
	_, err = f.DescribeImageScanFindings(context.Background(), &ecr.DescribeImageScanFindingsInput{
		RepositoryName: aws.String("app"), ImageId: &types.ImageIdentifier{ImageTag: aws.String("v2")},
	})
	var inf *types.ImageNotFoundException
	if !errors.As(err, &inf) {
		t.Fatalf("missing tag: got %v, want ImageNotFoundException", err)
	}
	_, err = f.DescribeImageScanFindings(context.Background(), &ecr.DescribeImageScanFindingsInput{
		RepositoryName: aws.String("other"), ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1")},
	})
	var rnf *types.RepositoryNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("missing repository: got %v, want RepositoryNotFoundException", err)
	}
}

func TestScriptedEnhancedScanWithUnfilledFindingsAndPages(t *testing.T) {
	t.Parallel()
	f := New()
	if _, err := f.AddImage("app", testManifest(1), "v1"); err != nil {
		t.Fatal(err)
	}
	enhanced := func(id, sev string) types.EnhancedImageScanFinding {
		return types.EnhancedImageScanFinding{Severity: aws.String(sev), PackageVulnerabilityDetails: &types.PackageVulnerabilityDetails{VulnerabilityId: aws.String(id)}}
	}
	err := f.SetScan("app", "v1", Scan{
		Type:             types.ScanTypeEnhanced,
		Unfilled:         1,
		EnhancedFindings: []types.EnhancedImageScanFinding{enhanced("CVE-1", "HIGH"), enhanced("CVE-2", "HIGH"), enhanced("CVE-3", "LOW")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []types.ScanStatus
	var out *ecr.DescribeImageScanFindingsOutput
	for range 3 {
		out = describeScan(t, f, "app", "v1", nil)
		got = append(got, out.ImageScanStatus.Status)
		if len(got) < 3 && out.ImageScanFindings != nil {
			t.Fatalf("call %d: findings before they are filled in", len(got))
		}
	}
	if want := []types.ScanStatus{"PENDING", "ACTIVE", "ACTIVE"}; !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	if out.ImageScanFindings == nil || len(out.ImageScanFindings.EnhancedFindings) != 2 || out.NextToken == nil {
		t.Fatalf("first page: %+v next %v; want 2 findings and a next token", out.ImageScanFindings, out.NextToken)
	}
	if c := out.ImageScanFindings.FindingSeverityCounts; c["HIGH"] != 2 || c["LOW"] != 1 {
		t.Errorf("counts %v", c)
	}
	page2 := describeScan(t, f, "app", "v1", out.NextToken)
	if len(page2.ImageScanFindings.EnhancedFindings) != 1 || page2.NextToken != nil || page2.ImageScanStatus.Status != types.ScanStatusActive {
		t.Errorf("second page: %d findings, next %v, status %s", len(page2.ImageScanFindings.EnhancedFindings), page2.NextToken, page2.ImageScanStatus.Status)
	}
}

func TestScanTerminalStatuses(t *testing.T) {
	t.Parallel()
	for _, st := range []types.ScanStatus{types.ScanStatusFailed, types.ScanStatusUnsupportedImage, types.ScanStatusScanEligibilityExpired, types.ScanStatusFindingsUnavailable} {
		f := New()
		if _, err := f.AddImage("app", testManifest(1), "v1"); err != nil {
			t.Fatal(err)
		}
		if err := f.SetScan("app", "v1", Scan{Statuses: []types.ScanStatus{types.ScanStatusInProgress, st}}); err != nil {
			t.Fatal(err)
		}
		describeScan(t, f, "app", "v1", nil)
		out := describeScan(t, f, "app", "v1", nil)
		if out.ImageScanStatus.Status != st || out.ImageScanFindings != nil || aws.ToString(out.ImageScanStatus.Description) == "" {
			t.Errorf("%s: got %s findings %v description %q", st, out.ImageScanStatus.Status, out.ImageScanFindings, aws.ToString(out.ImageScanStatus.Description))
		}
	}
}
