package release.scan_test

this is not valid rego and must be skipped as a test file
