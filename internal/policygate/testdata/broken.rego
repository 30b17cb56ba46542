package release.broken

import rego.v1

deny contains msg if {
	input.accuracy < 0.9
	msg := sprintf("accuracy %v", [acc])
}
