#!/usr/bin/env bash
# lambda-deploy's start-up (`--version`) against `crane version` (crane
# built from the go-containerregistry version in go.mod), the peer
# the start-up target names: CPU time (user + system, the median of
# $CPU_RUNS interleaved runs, internal/ecrpush/bench/cputime); wall times
# of runs this short say more about the machine's other load than about
# the tools. Both are built as releases are (CGO_ENABLED=0, -trimpath,
# -s -w; lambda-deploy with internal/toolset.BuildTags).
#
# Target: at most 1.2x crane's CPU time. The line ends PASS or FAIL; the
# script exits 0 either way (1 only when it could not measure). Run from
# the repository root: make bench.
set -euo pipefail

cpu_runs=${CPU_RUNS:-41}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ggcr_version=$(go list -m -f '{{.Version}}' github.com/google/go-containerregistry)
export CGO_ENABLED=0
go build -trimpath -tags "$(go run ./internal/toolset/buildtags)" -ldflags '-s -w' -o "$work/lambda-deploy" ./cmd/lambda-deploy
go build -trimpath -ldflags '-s -w' -o "$work/crane" github.com/google/go-containerregistry/cmd/crane
go build -o "$work/cputime" ./internal/ecrpush/bench/cputime

read -r -d '' tool_ms crane_ms < <("$work/cputime" -q -n "$cpu_runs" -- "$work/lambda-deploy" --version -- "$work/crane" version && printf '\0') || true
r=$(awk -v a="$tool_ms" -v b="$crane_ms" 'BEGIN {printf "%.2f", a / b}')
echo "lambda-deploy start-up against crane ($ggcr_version), CPU time (user + system, median of $cpu_runs interleaved runs):"
printf '  %-34s lambda-deploy %6.2f ms  crane %6.2f ms  ratio %s (target <= 1.20)' "start-up (--version)" "$tool_ms" "$crane_ms" "$r"
if awk -v r="$r" 'BEGIN {exit !(r > 1.20)}'; then echo "  FAIL"; else echo "  PASS"; fi
