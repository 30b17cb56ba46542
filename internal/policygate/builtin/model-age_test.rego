package mlship.model_age_test

import rego.v1

import data.mlship.model_age

limits := {"max_age_days": 30, "warn_age_days": 7}

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

test_uses_the_clock_without_now if {
	count(model_age.deny) == 1 with input as {"last_modified": "2000-01-01T00:00:00Z"}
		with data.params as limits
}

test_missing_age_fails_closed if {
	model_age.deny == {"no model age in the input (expected last_modified or age_days)"} with input as {}
		with data.params as limits
}
