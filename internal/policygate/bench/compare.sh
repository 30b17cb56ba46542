#!/usr/bin/env bash
# Whole-process time of policy-gate against `opa eval` (the OPA CLI, built
# from the same OPA module version) on the same small policy and input.
# policy-gate must be no slower. Run from the repository root: make bench.
set -euo pipefail

runs=${RUNS:-40}
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

opa_version=$(go list -m -f '{{.Version}}' github.com/open-policy-agent/opa)
go build -trimpath -o "$work/policy-gate" ./cmd/policy-gate
(
	cd "$work"
	go mod init opabench >/dev/null 2>&1
	go get "github.com/open-policy-agent/opa@$opa_version" >/dev/null 2>&1
	go build -trimpath -o "$work/opa" github.com/open-policy-agent/opa
)

"$work/policy-gate" --policy builtin:model-quality --print >"$work/policy.rego"
echo '{"params": {"min_accuracy": 0.9, "max_fairness_gap": 21, "min_f1": 0.7}}' >"$work/params.json"
echo '{"accuracy": 0.93, "fairness_gap": 12.5, "f1": 0.8}' >"$work/input.json"

pg=("$work/policy-gate" --policy "$work/policy.rego" --data "$work/params.json" --input "$work/input.json" --decision-file "$work/decision.json")
opa=("$work/opa" eval --data "$work/policy.rego" --data "$work/params.json" --input "$work/input.json" --format json 'data.mlship.model_quality')
"${pg[@]}" >/dev/null
"${opa[@]}" >/dev/null

# mean wall time in milliseconds over $runs runs, after one warm-up run
mean_ms() {
	local start end
	"$@" >/dev/null
	start=$(date +%s%N)
	for ((i = 0; i < runs; i++)); do "$@" >/dev/null; done
	end=$(date +%s%N)
	echo $(((end - start) / runs / 1000000))
}

pg_ms=$(mean_ms "${pg[@]}")
opa_ms=$(mean_ms "${opa[@]}")
echo "policy-gate: ${pg_ms} ms per run; opa eval ($opa_version): ${opa_ms} ms per run ($runs runs each)"
if ((pg_ms > opa_ms + opa_ms / 20)); then
	echo "FAIL: policy-gate is slower than opa eval"
	exit 1
fi
echo "ok: policy-gate is no slower than opa eval"
