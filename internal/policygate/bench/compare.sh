#!/usr/bin/env bash
# policy-gate against `opa eval` (the OPA CLI, built from the same OPA
# module version), as whole processes on the same policies and inputs:
#
#   small   the built-in model-quality policy, three metrics
#   large   200 rules over a 1 MB input of 6,000 metrics and 9,000 scan
#           findings (both generated here), each rule looking up a metric
#   mixed   the same input; 100 of the rules look up a metric, 100 scan the
#           whole list of findings. Most of its time is OPA's evaluator, the
#           same code in both: it shows where policy-gate's lead ends, and
#           has no target
#
# Runs alternate (policy-gate, opa, policy-gate, ...) so that a machine
# whose speed drifts slows both alike. For each case it prints the median
# CPU time (user + sys) and peak memory (RSS) of each, the median of the
# per-pair CPU ratios, and the targets of the small and large cases: CPU
# <= 0.8x opa eval's, peak memory <= opa eval's, each with PASS or FAIL.
# Exits 0 either way (1 only when it could not measure).
#
# Run from the repository root: make bench. RUNS=N sets the pairs per case
# (default 11).
set -euo pipefail

runs=${RUNS:-11}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# rusage runs a command and prints its CPU seconds (user + sys) and peak
# RSS in KiB from the kernel's accounting of the finished process, to the
# microsecond (GNU time's -f rounds to 10 ms, too coarse for the small case).
mkdir "$work/rusage"
cat >"$work/rusage/main.go" <<'EOF'
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	_ = cmd.Run() // a denial exits 1: measured all the same
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "rusage: could not run", os.Args[1])
		os.Exit(2)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	fmt.Printf("%.6f %d\n", cpu, ru.Maxrss)
}
EOF
go build -o "$work/rusage/rusage" "$work/rusage/main.go"

opa_version=$(go list -m -f '{{.Version}}' github.com/open-policy-agent/opa)
go build -trimpath -o "$work/policy-gate" ./cmd/policy-gate
(
	cd "$work"
	go mod init opabench >/dev/null 2>&1
	go get "github.com/open-policy-agent/opa@$opa_version" >/dev/null 2>&1
	go build -trimpath -o "$work/opa" github.com/open-policy-agent/opa
)

# The small case.
"$work/policy-gate" --policy builtin:model-quality --print >"$work/small.rego"
echo '{"params": {"min_accuracy": 0.9, "max_fairness_gap": 21, "min_f1": 0.7}}' >"$work/params.json"
echo '{"accuracy": 0.93, "fairness_gap": 12.5, "f1": 0.8}' >"$work/small.json"

# The large case: the input and the policy, the same on every run.
awk 'BEGIN {
	srand(1)
	printf "{\"metrics\": {"
	for (i = 0; i < 6000; i++) printf "%s\"m%d\": %.4f", (i ? ", " : ""), i, rand()
	printf "}, \"findings\": ["
	split("LOW MEDIUM HIGH CRITICAL", sev, " ")
	for (i = 0; i < 9000; i++)
		printf "%s{\"id\": \"CVE-2026-%05d\", \"package\": \"pkg%d\", \"severity\": \"%s\", \"score\": %.2f, \"fixed\": %s}",
			(i ? ", " : ""), i, i % 400, sev[i % 4 + 1], rand() * 10, (i % 3 == 0 ? "true" : "false")
	print "]}"
}' >"$work/large.json"
# policy N: 200 deny rules, every Nth of them scanning the findings (none
# when N is 0), the others looking up one metric each.
policy() {
	awk -v every="$1" 'BEGIN {
		print "package bench\n\nimport rego.v1"
		for (i = 0; i < 200; i++) {
			if (every && i % every == 0) {
				printf "\ndeny contains msg if {\n\tsome f in input.findings\n\tf.package == \"pkg%d\"\n", i * 2
				printf "\tf.severity == \"CRITICAL\"\n\tnot f.fixed\n\tmsg := sprintf(\"%%s in %%s is critical\", [f.id, f.package])\n}\n"
			} else {
				printf "\ndeny contains msg if {\n\tv := input.metrics[\"m%d\"]\n\tv < 0.01\n", i
				printf "\tmsg := sprintf(\"m%d %%v is below 0.01\", [v])\n}\n", i
			}
		}
	}'
}
policy 0 >"$work/large.rego"
policy 2 >"$work/mixed.rego"

# measure FILE CMD...: appends "cpu-seconds peak-KiB" of one run to FILE.
measure() {
	local out=$1
	shift
	"$work/rusage/rusage" "$@" 2>/dev/null >>"$out"
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }

missed=0
# compare NAME [notarget]: runs the case's two commands (arrays pg and opa)
# in turn.
compare() {
	local name=$1 target=${2:-} a="$work/$1.pg" b="$work/$1.opa"
	: >"$a"
	: >"$b"
	"${pg[@]}" >/dev/null 2>&1 || true # warm the page cache
	"${opa[@]}" >/dev/null 2>&1
	for ((i = 0; i < runs; i++)); do
		measure "$a" "${pg[@]}"
		measure "$b" "${opa[@]}"
	done
	local cpu_ratio pg_cpu opa_cpu pg_mem opa_mem mem_ratio
	cpu_ratio=$(paste -d' ' "$a" "$b" | awk '{print $1 / $3}' | median)
	pg_cpu=$(cut -d' ' -f1 "$a" | median)
	opa_cpu=$(cut -d' ' -f1 "$b" | median)
	pg_mem=$(cut -d' ' -f2 "$a" | median)
	opa_mem=$(cut -d' ' -f2 "$b" | median)
	mem_ratio=$(awk -v a="$pg_mem" -v b="$opa_mem" 'BEGIN {print a / b}')
	awk -v n="$name" -v t="$target" -v c="$cpu_ratio" -v pc="$pg_cpu" -v oc="$opa_cpu" -v pm="$pg_mem" -v om="$opa_mem" -v m="$mem_ratio" '
	function verdict(ok) { return t == "notarget" ? "(no target)" : (ok ? "PASS" : "FAIL") }
	BEGIN {
		printf "%-6s CPU    policy-gate %7.3f s     opa eval %7.3f s     ratio %.2f (target <= 0.80)  %s\n", n, pc, oc, c, verdict(c <= 0.8)
		printf "%-6s memory policy-gate %7.1f MiB   opa eval %7.1f MiB   ratio %.2f (target <= 1.00)  %s\n", n, pm / 1024, om / 1024, m, verdict(m <= 1)
	}'
	if [ "$target" != notarget ] && awk -v c="$cpu_ratio" -v m="$mem_ratio" 'BEGIN {exit !(c > 0.8 || m > 1)}'; then
		missed=1
	fi
}

echo "policy-gate against opa eval ($opa_version): median of $runs interleaved runs each, CPU = user + sys"
pg=("$work/policy-gate" --policy "$work/small.rego" --data "$work/params.json" --input "$work/small.json" --decision-file "$work/decision.json")
opa=("$work/opa" eval --data "$work/small.rego" --data "$work/params.json" --input "$work/small.json" --format json 'data.mlship.model_quality')
compare small
for c in large mixed; do
	pg=("$work/policy-gate" --policy "$work/$c.rego" --input "$work/large.json" --decision-file "$work/decision.json")
	opa=("$work/opa" eval --data "$work/$c.rego" --input "$work/large.json" --format json 'data.bench')
	if [ "$c" = mixed ]; then compare "$c" notarget; else compare "$c"; fi
done
if ((missed)); then echo "policy-gate: FAIL (a target above is missed)"; else echo "policy-gate: PASS (every target above is met)"; fi
