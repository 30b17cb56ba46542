package imagescan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	dbtypes "github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy/pkg/types"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/ecrref"
	"github.com/mlship/mlship/internal/exitcode"
)

// ECRAPI is the part of the ECR API image-scan calls.
type ECRAPI interface {
	ecrref.AuthAPI
	DescribeImageScanFindings(context.Context, *ecr.DescribeImageScanFindingsInput, ...func(*ecr.Options)) (*ecr.DescribeImageScanFindingsOutput, error)
}

// waitOptions tune the wait for ECR's scan.
type waitOptions struct {
	MinDelay, MaxDelay time.Duration
	Log                action.Logger
}

// short names an ECR image in messages: repository:tag, or
// repository@digest when it is given by digest.
func short(img ecrref.Image) string {
	if img.Digest != "" {
		return img.Repository + "@" + img.Digest
	}
	return img.Repository + ":" + img.Tag
}

// ecrScan is what ECR reported for one image.
type ecrScan struct {
	Type                         string    `json:"type"` // BASIC or ENHANCED
	Status                       string    `json:"status"`
	Description                  string    `json:"description,omitempty"`
	ImageDigest                  string    `json:"imageDigest,omitempty"`
	CompletedAt                  time.Time `json:"completedAt,omitzero"`
	VulnerabilitySourceUpdatedAt time.Time `json:"vulnerabilitySourceUpdatedAt,omitzero"`
	// SeverityCounts are ECR's own counts, in ECR's severity names.
	SeverityCounts map[string]int32 `json:"findingSeverityCounts,omitempty"`

	// Unread counts the findings that had no package details: counted by
	// their severity all the same.
	Unread int `json:"unreadFindings,omitempty"`

	vulns []types.DetectedVulnerability
	fix   map[int]fixState // index in vulns -> fix availability
}

// scanStateError is a scan state that gives no findings to trust.
type scanStateError struct {
	Status      ecrtypes.ScanStatus
	Description string
}

func (e *scanStateError) Error() string {
	msg := fmt.Sprintf("ECR scan status %s", e.Status)
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// ecrFindings waits until ECR has finished scanning ref and returns every
// finding. ECR's own ImageScanComplete waiter knows only COMPLETE and
// FAILED; its Retryable is replaced so that the wait follows every state:
//
//   - PENDING and IN_PROGRESS: keep waiting;
//   - COMPLETE (basic) and ACTIVE (enhanced, continuously updated): done,
//     once the findings are filled in (keep waiting while they are not);
//   - FAILED, UNSUPPORTED_IMAGE, SCAN_ELIGIBILITY_EXPIRED,
//     FINDINGS_UNAVAILABLE, LIMIT_EXCEEDED, IMAGE_ARCHIVED, any state this
//     version does not know, and ScanNotFoundException: no findings to
//     trust, an error (fail closed: never a clean scan).
func ecrFindings(ctx context.Context, api ECRAPI, img ecrref.Image, o waitOptions) (*ecrScan, error) {
	ref := short(img)
	in := &ecr.DescribeImageScanFindingsInput{
		RegistryId:     aws.String(img.Host.Account),
		RepositoryName: aws.String(img.Repository),
		ImageId:        imageID(img),
		MaxResults:     aws.Int32(1000),
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Hour)
	}
	var last ecrtypes.ScanStatus
	var polls int
	retryable := func(_ context.Context, _ *ecr.DescribeImageScanFindingsInput, out *ecr.DescribeImageScanFindingsOutput, err error) (bool, error) {
		polls++
		if err != nil {
			var nf *ecrtypes.ScanNotFoundException
			if errors.As(err, &nf) {
				return false, exitcode.Incompletef("ECR has no scan of %s (ScanNotFoundException): turn on scan on push or enhanced scanning for the repository, or start a scan", ref)
			}
			return false, exitcode.Incompletef("reading ECR scan findings of %s: %w", ref, err)
		}
		var st ecrtypes.ScanStatus
		var desc string
		if out.ImageScanStatus != nil {
			st, desc = out.ImageScanStatus.Status, aws.ToString(out.ImageScanStatus.Description)
		}
		if st != last {
			o.Log.Logf("ECR scan of %s: %s", ref, orPending(st))
			last = st
		}
		switch st {
		case "", ecrtypes.ScanStatusPending, ecrtypes.ScanStatusInProgress:
			return true, nil
		case ecrtypes.ScanStatusComplete, ecrtypes.ScanStatusActive:
			if !filled(out) {
				o.Log.Logf("ECR scan of %s: %s, findings not yet available", ref, st)
				return true, nil
			}
			return false, nil
		}
		return false, &scanStateError{Status: st, Description: desc}
	}
	w := ecr.NewImageScanCompleteWaiter(api, func(wo *ecr.ImageScanCompleteWaiterOptions) {
		wo.MinDelay, wo.MaxDelay = o.MinDelay, max(o.MaxDelay, o.MinDelay)
		wo.Retryable = retryable
	})
	maxWait := time.Until(deadline)
	if maxWait <= 0 {
		return nil, exitcode.Incompletef("waiting for the ECR scan of %s: no time left", ref)
	}
	out, err := w.WaitForOutput(ctx, in, maxWait)
	if err != nil {
		var se *scanStateError
		var ee *exitcode.Error
		switch {
		case errors.As(err, &se):
			return &ecrScan{Status: string(se.Status), Description: se.Description}, exitcode.Incompletef("ECR scan of %s gave no findings to trust: %w", ref, se)
		case errors.As(err, &ee):
			return nil, err
		}
		return &ecrScan{Status: string(last)}, exitcode.Incompletef("waiting for the ECR scan of %s: not finished after %d checks (last status %s): %w",
			ref, polls, orPending(last), err)
	}

	scan := &ecrScan{
		Status:      string(out.ImageScanStatus.Status),
		Description: aws.ToString(out.ImageScanStatus.Description),
		Type:        string(ecrtypes.ScanTypeBasic),
		fix:         map[int]fixState{},
	}
	if out.ImageId != nil {
		scan.ImageDigest = aws.ToString(out.ImageId.ImageDigest)
	}
	f := out.ImageScanFindings
	scan.CompletedAt = aws.ToTime(f.ImageScanCompletedAt)
	scan.VulnerabilitySourceUpdatedAt = aws.ToTime(f.VulnerabilitySourceUpdatedAt)
	scan.SeverityCounts = f.FindingSeverityCounts
	for {
		if len(f.EnhancedFindings) > 0 {
			scan.Type = string(ecrtypes.ScanTypeEnhanced)
		}
		scan.add(f)
		if out.NextToken == nil {
			break
		}
		page := *in
		page.NextToken = out.NextToken
		out, err = api.DescribeImageScanFindings(ctx, &page)
		if err != nil {
			return nil, exitcode.Incompletef("reading ECR scan findings of %s: %w", ref, err)
		}
		if out.ImageScanFindings == nil {
			return nil, exitcode.Incompletef("reading ECR scan findings of %s: a page came back without findings", ref)
		}
		f = out.ImageScanFindings
	}
	if out.ImageScanStatus != nil && out.ImageScanStatus.Status == ecrtypes.ScanStatusActive {
		scan.Type = string(ecrtypes.ScanTypeEnhanced)
	}
	return scan, nil
}

func orPending(st ecrtypes.ScanStatus) string {
	if st == "" {
		return "no status yet"
	}
	return string(st)
}

func imageID(img ecrref.Image) *ecrtypes.ImageIdentifier {
	if img.Digest != "" {
		return &ecrtypes.ImageIdentifier{ImageDigest: aws.String(img.Digest)}
	}
	return &ecrtypes.ImageIdentifier{ImageTag: aws.String(img.Tag)}
}

// filled reports whether a finished scan's findings are there: ECR
// reports COMPLETE a little before it fills them in.
func filled(out *ecr.DescribeImageScanFindingsOutput) bool {
	f := out.ImageScanFindings
	if f == nil || f.ImageScanCompletedAt == nil {
		return false
	}
	var counted int32
	for _, n := range f.FindingSeverityCounts {
		counted += n
	}
	// Counts without any finding listed: the list is not there yet.
	return counted == 0 || len(f.Findings) > 0 || len(f.EnhancedFindings) > 0 || out.NextToken != nil
}

// fixState says whether a fix is known to exist.
type fixState int

const (
	fixUnknown fixState = iota
	fixAvailable
	fixNone
)

func (s *ecrScan) add(f *ecrtypes.ImageScanFindings) {
	for _, b := range f.Findings {
		attr := map[string]string{}
		for _, a := range b.Attributes {
			attr[aws.ToString(a.Key)] = aws.ToString(a.Value)
		}
		id := aws.ToString(b.Name)
		s.vulns = append(s.vulns, types.DetectedVulnerability{
			VulnerabilityID:  id,
			PkgName:          attr["package_name"],
			InstalledVersion: attr["package_version"],
			PrimaryURL:       aws.ToString(b.Uri),
			Vulnerability: dbtypes.Vulnerability{
				Title:       id,
				Description: aws.ToString(b.Description),
				Severity:    severityOf(string(b.Severity)),
			},
		})
		// Basic scanning does not say whether a fix exists.
		s.fix[len(s.vulns)-1] = fixUnknown
	}
	for _, e := range f.EnhancedFindings {
		d := e.PackageVulnerabilityDetails
		if d == nil {
			// A finding without package details (a code or network
			// reachability finding, or one this version cannot read) still
			// counts by its severity: dropping it would pass an image
			// ECR found a CRITICAL in.
			s.vulns = append(s.vulns, unreadFinding(e))
			s.fix[len(s.vulns)-1] = fixOf(e, "")
			s.Unread++
			continue
		}
		pkgs := d.VulnerablePackages
		if len(pkgs) == 0 {
			pkgs = []ecrtypes.VulnerablePackage{{}}
		}
		for _, p := range pkgs {
			v := types.DetectedVulnerability{
				VulnerabilityID:  aws.ToString(d.VulnerabilityId),
				PkgName:          aws.ToString(p.Name),
				PkgPath:          aws.ToString(p.FilePath),
				InstalledVersion: joinVersion(aws.ToString(p.Version), aws.ToString(p.Release)),
				PrimaryURL:       aws.ToString(d.SourceUrl),
				Vulnerability: dbtypes.Vulnerability{
					Title:       aws.ToString(e.Title),
					Description: aws.ToString(e.Description),
					Severity:    severityOf(aws.ToString(e.Severity)),
					References:  d.ReferenceUrls,
				},
			}
			if fv := aws.ToString(p.FixedInVersion); fv != "" && fv != "NotAvailable" {
				v.FixedVersion = fv
			}
			s.vulns = append(s.vulns, v)
			s.fix[len(s.vulns)-1] = fixOf(e, v.FixedVersion)
		}
	}
}

// fixOf says whether a fix exists for an enhanced finding.
func fixOf(e ecrtypes.EnhancedImageScanFinding, fixedVersion string) fixState {
	switch strings.ToUpper(aws.ToString(e.FixAvailable)) {
	case "YES", "PARTIAL":
		return fixAvailable
	case "NO":
		return fixNone
	}
	if fixedVersion != "" {
		return fixAvailable
	}
	return fixUnknown
}

// unreadFinding is an enhanced finding without package details, as a
// finding: its severity, its title, and an id from what it has (the
// finding's ARN, else its title), with the resource it is about as the
// package.
func unreadFinding(e ecrtypes.EnhancedImageScanFinding) types.DetectedVulnerability {
	id := aws.ToString(e.FindingArn)
	if i := strings.LastIndex(id, "/"); i >= 0 && i+1 < len(id) {
		id = "ECR-FINDING-" + id[i+1:]
	}
	if id == "" {
		id = aws.ToString(e.Title)
	}
	if id == "" {
		id = "ECR-FINDING-" + strings.ToUpper(aws.ToString(e.Type))
	}
	pkg := ""
	for _, r := range e.Resources {
		if pkg = aws.ToString(r.Id); pkg != "" {
			break
		}
	}
	title := aws.ToString(e.Title)
	if title == "" {
		title = aws.ToString(e.Type) + " finding without package details"
	}
	return types.DetectedVulnerability{
		VulnerabilityID: id,
		PkgName:         pkg,
		Vulnerability: dbtypes.Vulnerability{
			Title:       title,
			Description: aws.ToString(e.Description),
			Severity:    severityOf(aws.ToString(e.Severity)),
		},
	}
}

func joinVersion(version, release string) string {
	if release == "" {
		return version
	}
	return version + "-" + release
}

// severityOf maps ECR's severities (basic: INFORMATIONAL, LOW, MEDIUM,
// HIGH, CRITICAL, UNDEFINED; enhanced also UNTRIAGED) to Trivy's.
// INFORMATIONAL is LOW, as Trivy maps the distributions' negligible
// severities; UNDEFINED, UNTRIAGED and anything else are UNKNOWN.
func severityOf(s string) string {
	switch strings.ToUpper(s) {
	case "CRITICAL", "HIGH", "MEDIUM", "LOW":
		return strings.ToUpper(s)
	case "INFORMATIONAL":
		return "LOW"
	}
	return "UNKNOWN"
}
