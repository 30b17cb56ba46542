# Image scan gate: vulnerability counts per severity against maxima.
#
# Reads the counts from image-scan's summary JSON (issuesBySeverityCount,
# the same shape for Trivy and ECR findings) or from flat keys such as
# `critical` and `high` (e.g. --set critical=0 from step outputs), in
# input.scan when the input is several named documents
# (--input scan=image-scan-summary.json), else in the input itself.
# Maxima are data: --param max_critical=0 --param max_high=5. Without any
# maximum set, max_critical defaults to 0 (image-scan.json).
#
# It fails closed: a scan that did not complete, no counts at all, a count
# that is not a whole number of 0 or more ("N/A", "", true, null, [1],
# "NaN"), or no count for a severity that has a maximum all deny
# (image-scan's summary lists every severity, 0 included).
package mlship.image_scan

import rego.v1

default params := {}

params := data.params

severities := ["critical", "high", "medium", "low", "unknown"]

has_key(obj, key) if _ = obj[key]

# num(x) is x as a number when it is a JSON number or a string that holds
# one in JSON's syntax; it is undefined for anything else.
num(x) := x if is_number(x)

num(x) := to_number(x) if {
	is_string(x)
	regex.match(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`, x)
}

scan := input.scan if is_object(input.scan)

scan := input if {
	is_object(input)
	not has_key(input, "scan")
}

deny contains "the input is not an object of scan counts" if not is_object(input)

deny contains sprintf("input.scan is %s, not an object of scan counts", [json.marshal(input.scan)]) if {
	is_object(input)
	has_key(input, "scan")
	not is_object(input.scan)
}

deny contains "the scan did not complete: its counts are not known" if {
	has_key(scan, "complete")
	scan.complete != true
}

summary if has_key(scan, "issuesBySeverityCount")

deny contains sprintf("issuesBySeverityCount is %s, not an object of counts", [json.marshal(scan.issuesBySeverityCount)]) if {
	summary
	not is_object(scan.issuesBySeverityCount)
}

# raw(sev) is the count as given, under which key it was found.
raw(sev) := [concat("", ["issuesBySeverityCount.", upper(sev)]), scan.issuesBySeverityCount[upper(sev)]] if summary

raw(sev) := [sev, scan[sev]] if {
	not summary
	has_key(scan, sev)
}

raw(sev) := [upper(sev), scan[upper(sev)]] if {
	not summary
	not has_key(scan, sev)
	has_key(scan, upper(sev))
}

# count_of(sev) is the count of a severity; undefined when it is missing or
# not a count.
count_of(sev) := n if {
	n := num(raw(sev)[1])
	n >= 0
	n == floor(n)
}

known(sev) if _ = count_of(sev)

has_raw(sev) if _ = raw(sev)

has_counts if summary

has_counts if {
	some sev in severities
	has_raw(sev)
}

set(sev) if has_key(params, concat("_", ["max", sev]))

max_of(sev) := num(params[concat("_", ["max", sev])])

deny contains "no vulnerability counts in the input (expected issuesBySeverityCount or critical/high/... keys)" if {
	is_object(scan)
	not has_counts
}

deny contains sprintf("parameter max_%s is %s, not a number", [sev, json.marshal(params[concat("_", ["max", sev])])]) if {
	some sev in severities
	set(sev)
	not max_of(sev)
}

deny contains sprintf("%s is %s, not a count", [r[0], json.marshal(r[1])]) if {
	some sev in severities
	r := raw(sev)
	not known(sev)
}

deny contains sprintf("%s is missing from the input (a maximum is set for it)", [name]) if {
	some sev in severities
	set(sev)
	has_counts
	is_object(object.get(scan, "issuesBySeverityCount", {}))
	not has_raw(sev)
	name := missing_name(sev)
}

missing_name(sev) := concat("", ["issuesBySeverityCount.", upper(sev)]) if summary

missing_name(sev) := sev if not summary

deny contains msg if {
	some sev in severities
	n := count_of(sev)
	n > max_of(sev)
	msg := sprintf("%v %s vulnerabilities, at most %v allowed", [n, sev, max_of(sev)])
}

# checked lists every severity that was compared, for the job summary.
checked contains {"name": sev, "value": count_of(sev), "limit": max_of(sev), "kind": "max"} if {
	some sev in severities
	max_of(sev)
	count_of(sev)
}
