package release.quality

import rego.v1

default allow := false

allow if {
	input.accuracy >= 0.9
	input.fairnessScoreEqualOpportunity <= 21
}

warn contains msg if {
	input.accuracy < 0.92
	msg := sprintf("accuracy %v is close to the minimum", [input.accuracy])
}
