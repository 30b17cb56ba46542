# Image scan gate: vulnerability counts per severity against maxima.
#
# Reads the counts from image-scan's summary JSON (issuesBySeverityCount,
# the same shape for Trivy and ECR findings) or from flat keys such as
# `critical` and `high` (e.g. --set critical=0 from step outputs).
# Maxima are data: --param max_critical=0 --param max_high=5. Without any
# maximum set, max_critical defaults to 0 (data.params defaults shipped with
# the policy in image-scan.json).
package mlship.image_scan

import rego.v1

params := data.params

severities := ["critical", "high", "medium", "low", "unknown"]

count_of(sev) := to_number(input.issuesBySeverityCount[upper(sev)])

count_of(sev) := to_number(input[sev]) if not input.issuesBySeverityCount

count_of(sev) := to_number(input[upper(sev)]) if {
	not input.issuesBySeverityCount
	not input[sev]
}

max_of(sev) := to_number(params[concat("_", ["max", sev])])

has_counts if input.issuesBySeverityCount

has_counts if {
	some sev in severities
	count_of(sev)
}

deny contains "no vulnerability counts in the input (expected issuesBySeverityCount or critical/high/... keys)" if {
	not has_counts
}

deny contains msg if {
	some sev in severities
	n := object.get({s: c | some s in severities; c := count_of(s)}, sev, 0)
	n > max_of(sev)
	msg := sprintf("%d %s vulnerabilities, at most %d allowed", [n, sev, max_of(sev)])
}

checked contains {"name": sev, "value": object.get({s: c | some s in severities; c := count_of(s)}, sev, 0), "limit": max_of(sev), "kind": "max"} if {
	has_counts
	some sev in severities
	max_of(sev)
}
