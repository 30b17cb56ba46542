package release.legacy

deny[msg] {
	input.accuracy < 0.9
	msg := sprintf("accuracy %v below 0.9", [input.accuracy])
}

warn[msg] {
	not input.model_version
	msg := "model_version is not set"
}
