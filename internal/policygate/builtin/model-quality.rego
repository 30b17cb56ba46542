# Model quality gate: accuracy, fairness gap and F1 against thresholds.
#
# Thresholds are data, not code: give them with --param (they land in
# data.params), e.g.
#
#   policy-gate --policy builtin:model-quality \
#     --param min_accuracy=0.9 --param max_fairness_gap=21 \
#     --set accuracy=0.93 --set fairness_gap=12.5
#
# A metric is checked only when its threshold is set; a threshold whose
# metric is missing from the input denies. Each metric may arrive under any
# of the names in `names` (so metrics-export output works unchanged).
package mlship.model_quality

import rego.v1

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

# value(m) is the first of m's names present in the input.
value(m) := input[names[m][i]] if {
	i := min({j | some j; names[m][j]; input[names[m][j]]})
}

threshold(m) := to_number(params[checks[m][0]])

deny contains msg if {
	some m, c in checks
	threshold(m)
	not value(m)
	msg := sprintf("%s is missing from the input (one of %v)", [m, names[m]])
}

deny contains msg if {
	some m, c in checks
	c[1] == "min"
	v := to_number(value(m))
	v < threshold(m)
	msg := sprintf("%s %v is below the minimum %v", [m, v, threshold(m)])
}

deny contains msg if {
	some m, c in checks
	c[1] == "max"
	v := to_number(value(m))
	v > threshold(m)
	msg := sprintf("%s %v is above the maximum %v", [m, v, threshold(m)])
}

warn contains "no thresholds set: give --param min_accuracy=..., max_fairness_gap=... or min_f1=..." if {
	count([m | some m, _ in checks; threshold(m)]) == 0
}

# checked lists every metric that was compared, for the job summary.
checked contains {"name": m, "value": value(m), "limit": threshold(m), "kind": checks[m][1]} if {
	some m, _ in checks
	threshold(m)
	value(m)
}
