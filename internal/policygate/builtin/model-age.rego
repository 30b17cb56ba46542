# Model age gate: how long since the model last changed.
#
# Reads the age from, in this order, `age_days`, `ageSeconds` (as
# model-staleness reports it), `last_modified` or `lastUpdated` (RFC 3339
# times, the second model-staleness's), in input.age when the input is
# several named documents (--input age=staleness.json), else in the input
# itself. `now` (RFC 3339) in the same document replaces the clock.
# Limits are data: --param max_age_days=30 denies an older model,
# --param warn_age_days=7 warns first. Defaults (model-age.json): warn after
# 7 days, deny after 30.
#
# It fails closed: no age, or an age that is not a number or an RFC 3339
# time ("N/A", "", true, null, [1], "NaN"), denies.
package mlship.model_age

import rego.v1

default params := {}

params := data.params

has_key(obj, key) if _ = obj[key]

# num(x) is x as a number when it is a JSON number or a string that holds
# one in JSON's syntax; it is undefined for anything else.
num(x) := x if is_number(x)

num(x) := to_number(x) if {
	is_string(x)
	regex.match(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`, x)
}

rfc3339(x) if {
	is_string(x)
	regex.match(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$`, x)
}

doc := input.age if is_object(input.age)

doc := input if {
	is_object(input)
	not has_key(input, "age")
}

deny contains "the input is not an object" if not is_object(input)

deny contains sprintf("input.age is %s, not an object", [json.marshal(input.age)]) if {
	is_object(input)
	has_key(input, "age")
	not is_object(input.age)
}

keys := ["age_days", "ageSeconds", "last_modified", "lastUpdated"]

# key is the first of keys the document has: the one the age is read from.
key := [k | some k in keys; has_key(doc, k)][0]

now_ns := time.parse_rfc3339_ns(doc.now) if has_key(doc, "now")

now_ns := time.now_ns() if not has_key(doc, "now")

day_ns := ((24 * 60) * 60) * 1e9

age_days := num(doc.age_days) if key == "age_days"

age_days := num(doc.ageSeconds) / 86400 if key == "ageSeconds"

age_days := (now_ns - time.parse_rfc3339_ns(doc[key])) / day_ns if {
	key in {"last_modified", "lastUpdated"}
	rfc3339(doc[key])
}

deny contains sprintf("no model age in the input (expected one of %v)", [keys]) if {
	is_object(doc)
	not key
}

deny contains sprintf("%s is %s, not a number", [key, json.marshal(doc[key])]) if {
	key in {"age_days", "ageSeconds"}
	not num(doc[key])
}

deny contains sprintf("%s is %s, not an RFC 3339 time", [key, json.marshal(doc[key])]) if {
	key in {"last_modified", "lastUpdated"}
	not rfc3339(doc[key])
}

deny contains sprintf("parameter %s is %s, not a number", [p, json.marshal(params[p])]) if {
	some p in ["max_age_days", "warn_age_days"]
	has_key(params, p)
	not num(params[p])
}

max_days := num(params.max_age_days)

warning_days := num(params.warn_age_days)

# shown is the age for messages: rounded up to a tenth of a day, so that it
# never reads as within a limit it is past. The decision file has it exact
# (checked).
shown := ceil(age_days * 10) / 10

deny contains msg if {
	age_days > max_days
	msg := sprintf("model is %v days old, at most %v allowed", [shown, max_days])
}

warn contains msg if {
	age_days > warning_days
	not age_days > max_days
	msg := sprintf("model is %v days old, older than %v days", [shown, warning_days])
}

checked contains {"name": "age_days", "value": age_days, "limit": max_days, "kind": "max"} if max_days
