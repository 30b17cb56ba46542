# Model quality gate: accuracy, fairness gap and F1 against thresholds.
#
# Thresholds are data, not code: give them with --param (they land in
# data.params), e.g.
#
#   policy-gate --policy builtin:model-quality \
#     --param min_accuracy=0.9 --param max_fairness_gap=21 \
#     --set accuracy=0.93 --set fairness_gap=12.5
#
# The metrics are read from input.metrics when the input is several named
# documents (--input metrics=metrics.json --input scan=scan.json), else from
# the input itself. Each metric may arrive under any of the names in `names`
# (so metrics-export output works unchanged).
#
# A metric is checked only when its threshold is set. It fails closed: a
# threshold whose metric is missing denies, and so does a value that is not
# a finite number (a JSON number, or a string holding one): "NaN", "Inf",
# "93%", "N/A", "", true, null or [0.1] never pass.
package mlship.model_quality

import rego.v1

default params := {}

params := data.params

names := {
	"accuracy": ["accuracy", "ACCURACY", "acc"],
	"fairness_gap": [
		"fairness_gap", "fairnessGap", "fairnessScoreEqualOpportunity",
		"EQUAL_OPPORTUNITY_FAIRNESS_PERCENT", "equal_opportunity_fairness_percent",
	],
	"f1": ["f1", "F1", "f1_score", "F1_SCORE", "f1Score"],
}

# checks: metric -> [threshold parameter, "min" or "max"]
checks := {
	"accuracy": ["min_accuracy", "min"],
	"fairness_gap": ["max_fairness_gap", "max"],
	"f1": ["min_f1", "min"],
}

has_key(obj, key) if _ = obj[key]

# num(x) is x as a number when it is a JSON number or a string that holds
# one in JSON's syntax; it is undefined for anything else.
num(x) := x if is_number(x)

num(x) := to_number(x) if {
	is_string(x)
	regex.match(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`, x)
}

metrics := input.metrics if is_object(input.metrics)

metrics := input if {
	is_object(input)
	not has_key(input, "metrics")
}

deny contains "the input is not an object of metrics" if not is_object(input)

deny contains sprintf("input.metrics is %s, not an object of metrics", [json.marshal(input.metrics)]) if {
	is_object(input)
	has_key(input, "metrics")
	not is_object(input.metrics)
}

# value(m) is the value under the first of m's names present in the metrics.
value(m) := metrics[present[0]] if {
	present := [n | some n in names[m]; has_key(metrics, n)]
	count(present) > 0
}

set(m) if has_key(params, checks[m][0])

threshold(m) := num(params[checks[m][0]])

deny contains sprintf("parameter %s is %s, not a number", [p, json.marshal(params[p])]) if {
	some m, c in checks
	p := c[0]
	set(m)
	not threshold(m)
}

deny contains msg if {
	some m in object.keys(checks)
	set(m)
	is_object(metrics)
	not has_value(m)
	msg := sprintf("%s is missing from the input (one of %v)", [m, names[m]])
}

has_value(m) if _ = value(m)

deny contains msg if {
	some m in object.keys(checks)
	set(m)
	v := value(m)
	not num(v)
	msg := sprintf("%s is %s, not a number", [m, json.marshal(v)])
}

deny contains msg if {
	some m, c in checks
	c[1] == "min"
	v := num(value(m))
	v < threshold(m)
	msg := sprintf("%s %v is below the minimum %v", [m, v, threshold(m)])
}

deny contains msg if {
	some m, c in checks
	c[1] == "max"
	v := num(value(m))
	v > threshold(m)
	msg := sprintf("%s %v is above the maximum %v", [m, v, threshold(m)])
}

# checked lists every metric that was compared, for the job summary. A
# built-in that compared nothing (no threshold set) and denied nothing has
# checked nothing: policy-gate exits 2 unless --allow-empty is given.
checked contains {"name": m, "value": num(value(m)), "limit": threshold(m), "kind": c[1]} if {
	some m, c in checks
	threshold(m)
	num(value(m))
}
