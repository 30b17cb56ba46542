package mlship.image_scan_test

import rego.v1

import data.mlship.image_scan

test_clean_scan_allowed if {
	count(image_scan.deny) == 0 with input as {"issuesBySeverityCount": {"CRITICAL": 0, "HIGH": 3}}
		with data.params as {"max_critical": 0}
}

test_critical_denied if {
	image_scan.deny == {"2 critical vulnerabilities, at most 0 allowed"} with input as {"issuesBySeverityCount": {"CRITICAL": 2, "HIGH": 0}}
		with data.params as {"max_critical": 0}
}

test_flat_keys_from_step_outputs if {
	image_scan.deny == {"6 high vulnerabilities, at most 5 allowed"} with input as {"critical": "0", "high": "6"}
		with data.params as {"max_critical": 0, "max_high": "5"}
}

test_missing_severity_counts_as_zero if {
	count(image_scan.deny) == 0 with input as {"issuesBySeverityCount": {"LOW": 12}}
		with data.params as {"max_critical": 0, "max_high": 0}
}

test_no_counts_fails_closed if {
	image_scan.deny == {"no vulnerability counts in the input (expected issuesBySeverityCount or critical/high/... keys)"} with input as {"image": "x"}
}
