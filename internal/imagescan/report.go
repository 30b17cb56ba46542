package imagescan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/types"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/report"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/scan"
)

// trivyFindings turns Trivy's report into findings.
func trivyFindings(r types.Report) []Finding {
	var out []Finding
	for _, res := range r.Results {
		for _, v := range res.Vulnerabilities {
			out = append(out, findingOf("trivy", res.Target, v, trivyFix(v)))
		}
	}
	return out
}

func trivyFix(v types.DetectedVulnerability) fixState {
	if v.FixedVersion != "" {
		return fixAvailable
	}
	return fixNone
}

func findingOf(scanner, target string, v types.DetectedVulnerability, fix fixState) Finding {
	sev := v.Severity
	if sev == "" {
		sev = "UNKNOWN"
	}
	f := Finding{
		Scanner:          scanner,
		ID:               v.VulnerabilityID,
		Package:          v.PkgName,
		InstalledVersion: v.InstalledVersion,
		FixedVersion:     v.FixedVersion,
		Severity:         sev,
		Title:            v.Title,
		URL:              v.PrimaryURL,
		Target:           target,
		Path:             v.PkgPath,
		Fix:              "unknown",
	}
	switch fix {
	case fixAvailable:
		f.Fix = "available"
	case fixNone:
		f.Fix = "none"
	}
	return f
}

// ecrTarget names ECR's findings in the reports, the way Trivy names an
// image's OS packages ("IMAGE (alpine 3.21.3)"), which its SARIF writer
// turns into a location.
func ecrTarget(image string, s *ecrScan) string {
	typ := strings.ToLower(s.Type)
	if typ == "" {
		typ = "basic"
	}
	return fmt.Sprintf("%s (ECR %s scan)", image, typ)
}

func ecrFindingsOf(image string, s *ecrScan) []Finding {
	target := ecrTarget(image, s)
	out := make([]Finding, 0, len(s.vulns))
	for i, v := range s.vulns {
		out = append(out, findingOf("ecr", target, v, s.fix[i]))
	}
	return out
}

// ecrResult is ECR's findings as a result of Trivy's report format, so one
// JSON report and one SARIF file hold both scanners.
func ecrResult(image string, s *ecrScan) types.Result {
	return types.Result{Target: ecrTarget(image, s), Class: types.ClassOSPkg, Vulnerabilities: s.vulns}
}

// withIgnored moves the findings the ignore file matched to
// ExperimentalModifiedFindings (status ignored, the entry's reason), as
// Trivy does with its own ignore file. findings must be in report order
// (trivyFindings, then ECR's).
func withIgnored(r types.Report, findings []Finding, source string) types.Report {
	out := r
	out.Results = make(types.Results, len(r.Results))
	i := 0
	for ri, res := range r.Results {
		res.Vulnerabilities = nil
		res.ModifiedFindings = append([]types.ModifiedFinding(nil), r.Results[ri].ModifiedFindings...)
		for _, v := range r.Results[ri].Vulnerabilities {
			f := findings[i]
			i++
			if f.Status == StatusIgnored {
				res.ModifiedFindings = append(res.ModifiedFindings, types.NewModifiedFinding(v, types.FindingStatusIgnored, f.IgnoreReason, source))
				continue
			}
			res.Vulnerabilities = append(res.Vulnerabilities, v)
		}
		out.Results[ri] = res
	}
	return out
}

// writeJSON writes the report in Trivy's JSON format, ignored findings
// included as modified findings.
func writeJSON(ctx context.Context, path string, r types.Report) error {
	var buf bytes.Buffer
	if err := (report.JSONWriter{Output: &buf, ShowSuppressed: true}).Write(ctx, r); err != nil {
		return err
	}
	return writeFile(path, buf.Bytes())
}

// writeSARIF writes one SARIF run per scanner: Trivy's as Trivy writes it,
// ECR's with ECR named as the tool. Ignored findings are left out: code
// scanning would raise them as alerts.
func writeSARIF(ctx context.Context, path string, trivy, ecr *types.Report) error {
	var trivyDoc, ecrDoc []byte
	var err error
	if trivy != nil {
		if trivyDoc, err = sarifOf(ctx, *trivy); err != nil {
			return err
		}
	}
	if ecr != nil {
		if ecrDoc, err = sarifOf(ctx, *ecr); err != nil {
			return err
		}
		if ecrDoc, err = renameTool(ecrDoc); err != nil {
			return err
		}
	}
	switch {
	case trivyDoc == nil && ecrDoc == nil:
		return nil
	case ecrDoc == nil:
		return writeFile(path, trivyDoc)
	case trivyDoc == nil:
		return writeFile(path, ecrDoc)
	}
	// Both: Trivy's document with ECR's runs appended.
	var doc, other struct {
		Schema  string            `json:"$schema"`
		Version string            `json:"version"`
		Runs    []json.RawMessage `json:"runs"`
	}
	if err := json.Unmarshal(trivyDoc, &doc); err != nil {
		return err
	}
	if err := json.Unmarshal(ecrDoc, &other); err != nil {
		return err
	}
	doc.Runs = append(doc.Runs, other.Runs...)
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return writeFile(path, append(b, '\n'))
}

func sarifOf(ctx context.Context, r types.Report) ([]byte, error) {
	// The writer looks up each finding's package for its source locations,
	// scanning every package per finding; only packages with locations can
	// add any.
	r.Results = slices.Clone(r.Results)
	for i := range r.Results {
		var located []ftypes.Package
		for _, p := range r.Results[i].Packages {
			if len(p.Locations) > 0 {
				located = append(located, p)
			}
		}
		r.Results[i].Packages = located
	}
	var buf bytes.Buffer
	w := &report.SarifWriter{Output: &buf, Version: trivyVersion()}
	if err := w.Write(ctx, r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// renameTool names Amazon ECR as the tool of every run of a SARIF document.
func renameTool(doc []byte) ([]byte, error) {
	var d map[string]any
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	runs, _ := d["runs"].([]any)
	for _, r := range runs {
		run, _ := r.(map[string]any)
		tool, _ := run["tool"].(map[string]any)
		driver, _ := tool["driver"].(map[string]any)
		if driver == nil {
			return nil, fmt.Errorf("SARIF run without tool.driver")
		}
		driver["name"] = "Amazon ECR image scanning"
		driver["fullName"] = "Amazon ECR image scanning"
		driver["informationUri"] = "https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning.html"
		delete(driver, "version")
	}
	return json.Marshal(d)
}

func writeFile(path string, b []byte) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(path, b, 0o644)
}

// subReport is r with only the results whose target satisfies keep.
func subReport(r types.Report, keep func(types.Result) bool) *types.Report {
	out := r
	out.Results = nil
	for _, res := range r.Results {
		if keep(res) {
			out.Results = append(out.Results, res)
		}
	}
	return &out
}

// emptyImageReport is the report frame when Trivy did not scan.
func emptyImageReport(name string) types.Report {
	return types.Report{SchemaVersion: scan.SchemaVersion, ArtifactName: name, ArtifactType: ftypes.TypeContainerImage}
}
