package result

import (
	"fmt"
	"slices"
	"sort"

	"github.com/samber/lo"

	dbTypes "github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy/pkg/types"
)

// FilterVulnerabilities is FilterResult of trivy's pkg/result for a
// vulnerability result, with no ignore file, no Rego policy and no ignored
// statuses: the vulnerabilities of the given severities, deduplicated and
// sorted as the CLI reports them.
func FilterVulnerabilities(result *types.Result, sevs []dbTypes.Severity) {
	// Convert dbTypes.Severity to string
	severities := lo.Map(sevs, func(s dbTypes.Severity, _ int) string {
		return s.String()
	})

	filterVulnerabilities(result, severities)
	sort.Sort(types.BySeverity(result.Vulnerabilities))
}

func filterVulnerabilities(result *types.Result, severities []string) {
	uniqVulns := make(map[string]types.DetectedVulnerability)
	for _, vuln := range result.Vulnerabilities {
		if vuln.Severity == "" {
			vuln.Severity = dbTypes.SeverityUnknown.String()
		}

		// Filter by severity
		if !slices.Contains(severities, vuln.Severity) {
			continue
		}

		// Check if there is a duplicate vulnerability
		key := fmt.Sprintf("%s/%s/%s/%s", vuln.VulnerabilityID, vuln.PkgName, vuln.InstalledVersion, vuln.PkgPath)
		if old, ok := uniqVulns[key]; ok && !shouldOverwrite(old, vuln) {
			continue
		}
		uniqVulns[key] = vuln
	}

	// Override the detected vulnerabilities
	result.Vulnerabilities = lo.Values(uniqVulns)
	if len(result.Vulnerabilities) == 0 {
		result.Vulnerabilities = nil
	}
}

func shouldOverwrite(oldVuln, newVuln types.DetectedVulnerability) bool {
	// The same vulnerability must be picked always.
	return oldVuln.FixedVersion < newVuln.FixedVersion
}
