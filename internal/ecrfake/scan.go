package ecrfake

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// Scan scripts what DescribeImageScanFindings reports for one image, call
// by call, so that a test walks a tool through the states ECR goes through
// without waiting: each call reports the next of Statuses and the last one
// repeats. Findings are reported only in the COMPLETE and ACTIVE states,
// and only after Unfilled calls in those states have answered with no
// findings yet (ECR fills them in shortly after the status changes).
//
// Basic scanning (scan-on-push) goes IN_PROGRESS -> COMPLETE or FAILED or
// UNSUPPORTED_IMAGE. Enhanced scanning (Amazon Inspector) goes PENDING ->
// ACTIVE (findings, continuously updated) or SCAN_ELIGIBILITY_EXPIRED,
// FINDINGS_UNAVAILABLE, UNSUPPORTED_IMAGE, LIMIT_EXCEEDED.
type Scan struct {
	// Type is BASIC (the default) or ENHANCED; it decides which findings
	// list is reported.
	Type types.ScanType
	// Statuses reported by successive calls; empty means IN_PROGRESS then
	// COMPLETE for basic scans, PENDING then ACTIVE for enhanced ones.
	Statuses []types.ScanStatus
	// Description is reported with every status that is not COMPLETE or
	// ACTIVE; empty gives ECR's wording for the status.
	Description string
	// Unfilled is how many calls in COMPLETE or ACTIVE report no findings
	// (ImageScanFindings absent) before the findings appear.
	Unfilled int
	// Findings (basic) and EnhancedFindings (enhanced) once complete.
	Findings         []types.ImageScanFinding
	EnhancedFindings []types.EnhancedImageScanFinding

	calls    int
	unfilled int
}

// ScanOnPushStatuses are the states a scan started by scan-on-push goes
// through; it finds nothing unless SetScan says otherwise.
var ScanOnPushStatuses = []types.ScanStatus{types.ScanStatusInProgress, types.ScanStatusComplete}

const scanExt = "scan"

func init() {
	extensions = append(extensions, func(f *Fake) {
		f.OnPush(func(r *Repository, img *Image) {
			if !r.ScanOnPush {
				return
			}
			setScan(img, &Scan{Statuses: slices.Clone(ScanOnPushStatuses)})
		})
	})
}

func setScan(img *Image, s *Scan) {
	if img.Ext == nil {
		img.Ext = map[string]any{}
	}
	if s.Type == "" {
		s.Type = types.ScanTypeBasic
	}
	if len(s.Statuses) == 0 {
		s.Statuses = []types.ScanStatus{types.ScanStatusInProgress, types.ScanStatusComplete}
		if s.Type == types.ScanTypeEnhanced {
			s.Statuses = []types.ScanStatus{types.ScanStatusPending, types.ScanStatusActive}
		}
	}
	s.unfilled = s.Unfilled
	img.Ext[scanExt] = s
	img.ScanStatus = &types.ImageScanStatus{Status: s.Statuses[0], Description: aws.String(s.description(s.Statuses[0]))}
	img.ScanFindingsSummary = nil
}

// SetScan scripts the scan of the image ref (a tag or a digest) in repo,
// replacing any scan it has. The script starts again from its first status.
func (f *Fake) SetScan(repo, ref string, s Scan) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.repo(aws.String(repo))
	if err != nil {
		return err
	}
	img, err := f.image(r, imageID(ref))
	if err != nil {
		return err
	}
	setScan(img, &s)
	return nil
}

// RemoveScan deletes the scan of an image, as if it had never been
// scanned: DescribeImageScanFindings answers ScanNotFoundException.
func (f *Fake) RemoveScan(repo, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.repo(aws.String(repo))
	if err != nil {
		return err
	}
	img, err := f.image(r, imageID(ref))
	if err != nil {
		return err
	}
	delete(img.Ext, scanExt)
	img.ScanStatus, img.ScanFindingsSummary = nil, nil
	return nil
}

// imageID is the image id of ref, a digest (sha256:...) or a tag.
func imageID(ref string) types.ImageIdentifier {
	if strings.HasPrefix(ref, "sha256:") {
		return types.ImageIdentifier{ImageDigest: aws.String(ref)}
	}
	return types.ImageIdentifier{ImageTag: aws.String(ref)}
}

func (s *Scan) description(st types.ScanStatus) string {
	if s.Description != "" {
		return s.Description
	}
	switch st {
	case types.ScanStatusComplete:
		return "The scan was completed successfully."
	case types.ScanStatusActive:
		return "Continuous scan is selected for image."
	case types.ScanStatusInProgress:
		return "The image scan is in progress."
	case types.ScanStatusPending:
		return "Pending initial scan."
	case types.ScanStatusFailed:
		return "The image scan failed."
	case types.ScanStatusUnsupportedImage:
		return "UnsupportedImageError: The operating system and/or package manager are not supported."
	case types.ScanStatusScanEligibilityExpired:
		return "The image is no longer eligible for continuous scanning: its scan duration has expired."
	case types.ScanStatusFindingsUnavailable:
		return "Findings are not available: the image was last scanned outside the retention period."
	case types.ScanStatusLimitExceeded:
		return "The number of scans for this image exceeded the limit."
	}
	return string(st)
}

func (s *Scan) severityCounts() map[string]int32 {
	counts := map[string]int32{}
	if s.Type == types.ScanTypeEnhanced {
		for _, e := range s.EnhancedFindings {
			counts[aws.ToString(e.Severity)]++
		}
	} else {
		for _, b := range s.Findings {
			counts[string(b.Severity)]++
		}
	}
	return counts
}

// DescribeImageScanFindings reports the scan of an image as scripted by
// SetScan (or started by scan-on-push): the next status, and the findings
// once the scan is complete, in pages of MaxResults (100 by default, at
// most 1000, as in ECR). An image without a scan gives
// ScanNotFoundException, a missing repository or image their own errors.
func (f *Fake) DescribeImageScanFindings(_ context.Context, in *ecr.DescribeImageScanFindingsInput, _ ...func(*ecr.Options)) (*ecr.DescribeImageScanFindingsOutput, error) {
	if err := f.begin("DescribeImageScanFindings"); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	defer f.mu.Unlock()
	if err := f.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	if in.ImageId == nil || (in.ImageId.ImageDigest == nil && in.ImageId.ImageTag == nil) {
		return nil, &types.InvalidParameterException{Message: aws.String("Invalid parameter at 'imageId' failed to satisfy constraint: 'Member must not be null'")}
	}
	pageSize := int32(100)
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 1000 {
			return nil, &types.InvalidParameterException{Message: aws.String("Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value between 1 and 1000'")}
		}
		pageSize = *in.MaxResults
	}
	r, err := f.repo(in.RepositoryName)
	if err != nil {
		return nil, err
	}
	img, err := f.image(r, *in.ImageId)
	if err != nil {
		return nil, err
	}
	s, _ := img.Ext[scanExt].(*Scan)
	if s == nil {
		return nil, &types.ScanNotFoundException{Message: aws.String(fmt.Sprintf(
			"Image scan does not exist for the image with '{imageDigest:'%s', imageTag:'%s'}' in the repository with name '%s' in the registry with id '%s'",
			img.Digest, nullable(in.ImageId.ImageTag), r.Name, f.Account))}
	}

	out := &ecr.DescribeImageScanFindingsOutput{
		ImageId:        &types.ImageIdentifier{ImageDigest: aws.String(img.Digest), ImageTag: in.ImageId.ImageTag},
		RegistryId:     aws.String(f.Account),
		RepositoryName: aws.String(r.Name),
	}
	// A page request (NextToken) reads the finished scan; it does not
	// advance the script.
	if in.NextToken == nil {
		s.calls++
	}
	st := s.Statuses[min(max(s.calls-1, 0), len(s.Statuses)-1)]
	out.ImageScanStatus = &types.ImageScanStatus{Status: st, Description: aws.String(s.description(st))}
	img.ScanStatus = out.ImageScanStatus
	if st != types.ScanStatusComplete && st != types.ScanStatusActive {
		return out, nil
	}
	if s.unfilled > 0 && in.NextToken == nil {
		s.unfilled--
		return out, nil
	}

	completed := img.PushedAt.Add(30 * time.Second)
	findings := &types.ImageScanFindings{
		FindingSeverityCounts:        s.severityCounts(),
		ImageScanCompletedAt:         aws.Time(completed),
		VulnerabilitySourceUpdatedAt: aws.Time(completed.Add(-time.Hour)),
	}
	img.ScanFindingsSummary = &types.ImageScanFindingsSummary{
		FindingSeverityCounts:        findings.FindingSeverityCounts,
		ImageScanCompletedAt:         findings.ImageScanCompletedAt,
		VulnerabilitySourceUpdatedAt: findings.VulnerabilitySourceUpdatedAt,
	}
	if s.Type == types.ScanTypeEnhanced {
		findings.EnhancedFindings, out.NextToken, err = paginate(s.EnhancedFindings, &pageSize, in.NextToken)
	} else {
		findings.Findings, out.NextToken, err = paginate(s.Findings, &pageSize, in.NextToken)
	}
	if err != nil {
		return nil, err
	}
	out.ImageScanFindings = findings
	return out, nil
}
