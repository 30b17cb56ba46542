# The retail API's retraining gate (accuracy >= 0.8 and F1 >= 0.7), written
# in the older Rego v0 syntax that policy-gate still reads. CI runs it
# through the policy-gate action (.github/workflows/ci.yml).
package ci.quality

default allow = false

allow {
	input.accuracy >= data.thresholds.min_accuracy
	input.f1 >= data.thresholds.min_f1
}

warn[msg] {
	input.f1 < data.thresholds.min_f1 + 0.05
	msg := sprintf("f1 %v is within 0.05 of the minimum %v", [input.f1, data.thresholds.min_f1])
}
