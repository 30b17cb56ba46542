package mlship.model_age_test

import rego.v1

import data.mlship.model_age

limits := {"max_age_days": 30, "warn_age_days": 7}

not_numbers := ["NaN", "93%", "N/A", "", true, false, [1], "Inf", null, {"days": 1}]

not_times := ["N/A", "", "yesterday", "2026-11-20", "2026/11/20T00:00:00Z", true, 1732060800, null, ["2026-11-20T00:00:00Z"]]

test_fresh_model_allowed if {
	count(model_age.deny) == 0 with input as {"last_modified": "2026-11-20T00:00:00Z", "now": "2026-11-23T00:00:00Z"}
		with data.params as limits
	count(model_age.warn) == 0 with input as {"last_modified": "2026-11-20T00:00:00Z", "now": "2026-11-23T00:00:00Z"}
		with data.params as limits
}

test_week_old_model_warns if {
	model_age.warn == {"model is 10 days old, older than 7 days"} with input as {"last_modified": "2026-11-13T00:00:00Z", "now": "2026-11-23T00:00:00Z"}
		with data.params as limits
	count(model_age.deny) == 0 with input as {"last_modified": "2026-11-13T00:00:00Z", "now": "2026-11-23T00:00:00Z"}
		with data.params as limits
}

test_stale_model_denied if {
	model_age.deny == {"model is 45 days old, at most 30 allowed"} with input as {"age_days": 45}
		with data.params as limits
}

test_shown_age_is_never_within_a_limit_it_is_past if {
	model_age.deny == {"model is 30.1 days old, at most 30 allowed"} with input as {"age_days": 30.0001}
		with data.params as limits
	model_age.checked == {{"name": "age_days", "value": 30.0001, "limit": 30, "kind": "max"}} with input as {"age_days": 30.0001}
		with data.params as limits
}

test_uses_the_clock_without_now if {
	count(model_age.deny) == 1 with input as {"last_modified": "2000-01-01T00:00:00Z"}
		with data.params as limits
}

test_missing_age_fails_closed if {
	model_age.deny == {`no model age in the input (expected one of ["age_days", "ageSeconds", "last_modified", "lastUpdated"])`} with input as {}
		with data.params as limits
}

# model-staleness's JSON result, read as the named input age.
test_model_staleness_result if {
	staleness := {
		"stale": true, "state": "warn", "model": "credit",
		"lastUpdated": "2026-11-13T00:00:00Z", "ageSeconds": 864000,
		"source": "git", "checkedAt": "2026-11-23T00:00:00Z",
	}
	model_age.warn == {"model is 10 days old, older than 7 days"} with input as {"age": staleness}
		with data.params as limits
	model_age.checked == {{"name": "age_days", "value": 10, "limit": 30, "kind": "max"}} with input as {"age": staleness}
		with data.params as limits
}

test_last_updated_without_age_seconds if {
	model_age.deny == {"model is 40 days old, at most 30 allowed"} with input as {"lastUpdated": "2026-10-14T00:00:00Z", "now": "2026-11-23T00:00:00Z"}
		with data.params as limits
}

# model-staleness leaves both out when it could not judge the model.
test_model_staleness_unknown_denies if {
	some msg in model_age.deny with input as {"age": {"state": "unknown", "stale": true, "error": "no commits"}}
		with data.params as limits
	startswith(msg, "no model age in the input")
}

test_age_days_denies_every_non_number if {
	every v in not_numbers {
		model_age.deny == {sprintf("age_days is %s, not a number", [json.marshal(v)])} with input as {"age_days": v}
			with data.params as limits
	}
}

test_age_seconds_denies_every_non_number if {
	every v in not_numbers {
		model_age.deny == {sprintf("ageSeconds is %s, not a number", [json.marshal(v)])} with input as {"ageSeconds": v, "lastUpdated": "2026-11-22T00:00:00Z"}
			with data.params as limits
	}
}

test_times_that_are_not_rfc3339_deny if {
	every v in not_times {
		model_age.deny == {sprintf("last_modified is %s, not an RFC 3339 time", [json.marshal(v)])} with input as {"last_modified": v}
			with data.params as limits
		model_age.deny == {sprintf("lastUpdated is %s, not an RFC 3339 time", [json.marshal(v)])} with input as {"age": {"lastUpdated": v}}
			with data.params as limits
	}
}

test_limit_that_is_not_a_number_denies if {
	model_age.deny == {`parameter max_age_days is "a month", not a number`} with input as {"age_days": 3}
		with data.params as {"max_age_days": "a month", "warn_age_days": 7}
}
