# Model age gate: how long since the model last changed.
#
# Reads `last_modified` (RFC 3339 time) or `age_days` from the input, as
# model-staleness reports them. Limits are data: --param max_age_days=30
# denies an older model, --param warn_age_days=7 warns first. Defaults
# (model-age.json): warn after 7 days, deny after 30.
package mlship.model_age

import rego.v1

params := data.params

now_ns := time.parse_rfc3339_ns(input.now) if input.now

now_ns := time.now_ns() if not input.now

age_days := to_number(input.age_days)

age_days := (now_ns - time.parse_rfc3339_ns(input.last_modified)) / ((24 * 60) * 60e9) if {
	not input.age_days
	input.last_modified
}

deny contains "no model age in the input (expected last_modified or age_days)" if {
	not age_days
}

# shown is the age rounded to a tenth of a day, for messages.
shown := round(age_days * 10) / 10

deny contains msg if {
	age_days > to_number(params.max_age_days)
	msg := sprintf("model is %v days old, at most %v allowed", [shown, params.max_age_days])
}

warn contains msg if {
	age_days > to_number(params.warn_age_days)
	age_days <= to_number(params.max_age_days)
	msg := sprintf("model is %v days old, older than %v days", [shown, params.warn_age_days])
}

checked contains {"name": "age_days", "value": age_days, "limit": to_number(params.max_age_days), "kind": "max"}
