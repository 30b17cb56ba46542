package release.syntax

deny contains msg if {
	input.accuracy < 
}
