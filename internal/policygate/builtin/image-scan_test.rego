package mlship.image_scan_test

import rego.v1

import data.mlship.image_scan

not_counts := ["NaN", "N/A", "", true, false, [1], "Inf", null, {"n": 0}, -1, 1.5, "2.5", "1 "]

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

test_summary_without_a_checked_severity_denies if {
	image_scan.deny == {"issuesBySeverityCount.HIGH is missing from the input (a maximum is set for it)"} with input as {"issuesBySeverityCount": {"CRITICAL": 0, "LOW": 12}}
		with data.params as {"max_critical": 0, "max_high": 0}
	image_scan.checked == {{"name": "critical", "value": 0, "limit": 0, "kind": "max"}} with input as {"issuesBySeverityCount": {"CRITICAL": 0, "LOW": 12}}
		with data.params as {"max_critical": 0, "max_high": 0}
}

test_unchecked_severities_may_be_missing if {
	count(image_scan.deny) == 0 with input as {"issuesBySeverityCount": {"CRITICAL": 0}}
		with data.params as {"max_critical": 0}
}

test_flat_count_missing_for_a_maximum_denies if {
	image_scan.deny == {"high is missing from the input (a maximum is set for it)"} with input as {"critical": 0}
		with data.params as {"max_critical": 0, "max_high": 5}
}

test_no_counts_fails_closed if {
	image_scan.deny == {"no vulnerability counts in the input (expected issuesBySeverityCount or critical/high/... keys)"} with input as {"image": "x"}
		with data.params as {"max_critical": 0}
}

test_incomplete_scan_denies if {
	image_scan.deny == {
		"the scan did not complete: its counts are not known",
		"issuesBySeverityCount is null, not an object of counts",
	} with input as {"complete": false, "passed": false, "issuesBySeverityCount": null}
		with data.params as {"max_critical": 0}
}

test_flat_count_denies_every_non_count if {
	every v in not_counts {
		image_scan.deny == {sprintf("critical is %s, not a count", [json.marshal(v)])} with input as {"critical": v, "high": 0}
			with data.params as {"max_critical": 0}
	}
}

test_summary_count_denies_every_non_count if {
	every v in not_counts {
		image_scan.deny == {sprintf("issuesBySeverityCount.HIGH is %s, not a count", [json.marshal(v)])} with input as {"issuesBySeverityCount": {"CRITICAL": 0, "HIGH": v}}
			with data.params as {"max_critical": 0, "max_high": 5}
	}
}

test_missing_count_denies_for_every_severity if {
	every sev in image_scan.severities {
		others := {s: 0 | some s in image_scan.severities; s != sev}
		image_scan.deny == {sprintf("%s is missing from the input (a maximum is set for it)", [sev])} with input as others
			with data.params as {concat("_", ["max", sev]): 1}
	}
}

test_named_input_scan if {
	image_scan.deny == {"1 critical vulnerabilities, at most 0 allowed"} with input as {"metrics": {"accuracy": 0.9}, "scan": {"complete": true, "issuesBySeverityCount": {"CRITICAL": 1}}}
		with data.params as {"max_critical": 0}
}

test_maximum_that_is_not_a_number_denies if {
	image_scan.deny == {`parameter max_high is "five", not a number`} with input as {"critical": 0, "high": 1}
		with data.params as {"max_critical": 0, "max_high": "five"}
}
