#!/usr/bin/env bash
# ecr-push against `crane push` (built from the go-containerregistry version
# in go.mod) and `skopeo copy` on the same ~300 MB, five-layer OCI layout,
# pushed to Debian's docker-registry on 127.0.0.1. Each push goes to a new,
# empty registry, so every layer is uploaded; the best of $RUNS runs counts.
# Then an unchanged image is pushed again with ecr-push.
#
# Then CPU time (user + system, the median of $CPU_RUNS interleaved runs,
# cputime/main.go) of ecr-push against crane for start-up (`--version`)
# and for a re-push of an image the registry already has under the tag:
# wall times of runs this short say more about the machine's other load
# than about the tools.
#
# Targets: a push at least as fast as crane (5% slack for noise) and
# faster than skopeo, a re-push in under a second, and start-up and
# re-push at most 1.2x crane's CPU time. Both tools are built as releases
# are (CGO_ENABLED=0, -trimpath, -s -w). Run from the repository root:
# make bench. Needs: apt-get install docker-registry skopeo.
set -euo pipefail

runs=${RUNS:-5}
cpu_runs=${CPU_RUNS:-41}
layer_mb=${LAYER_MB:-60}
port=${PORT:-5055}

if ! command -v docker-registry >/dev/null || ! command -v skopeo >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get update -qq && apt-get install -y -qq docker-registry skopeo >/dev/null || true
	fi
fi
for tool in docker-registry skopeo curl; do
	if ! command -v "$tool" >/dev/null; then
		echo "ecr-push comparison SKIPPED (not run, not passed): $tool is not installed (apt-get install docker-registry skopeo)"
		exit 0
	fi
done

work=$(mktemp -d)
registry_pid=
cleanup() {
	stop_registry
	rm -rf "$work"
}
trap cleanup EXIT

ggcr_version=$(go list -m -f '{{.Version}}' github.com/google/go-containerregistry)
export CGO_ENABLED=0
go build -trimpath -ldflags '-s -w' -o "$work/ecr-push" ./cmd/ecr-push
go build -trimpath -ldflags '-s -w' -o "$work/crane" github.com/google/go-containerregistry/cmd/crane
go build -o "$work/cputime" ./internal/ecrpush/bench/cputime
go run ./internal/ecrpush/bench/genlayout -out "$work/layout" -layers 5 -mb "$layer_mb"

# start_registry: a new docker-registry with empty storage on a new port
# (skopeo remembers where it pushed blobs, per registry, and would mount
# them instead of uploading), at $host.
next_port=$port
start_registry() {
	stop_registry
	local dir=$work/registry$next_port
	mkdir -p "$dir"
	cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: 127.0.0.1:$next_port
YAML
	docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
	registry_pid=$!
	host=127.0.0.1:$next_port
	next_port=$((next_port + 1))
	for ((i = 0; i < 100; i++)); do
		curl -fsS "http://$host/v2/" >/dev/null 2>&1 && return
		sleep 0.1
	done
	echo "docker-registry did not start:"; cat "$dir/log"; exit 1
}
stop_registry() {
	if [[ -n $registry_pid ]]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
	registry_pid=
	rm -rf "$work"/registry*/storage
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# measure NAME CMD...: sets $best to the best wall time of $runs runs, each
# against a new, empty registry. (No command substitution: the registry
# must be started by this shell, to be stopped by it.)
best=
measure() {
	local name=$1 start ms
	shift
	best=
	for ((run = 0; run < runs; run++)); do
		start_registry
		start=$(now_ms)
		"$@" >"$work/$name.log" 2>&1 || { echo "$name failed:"; cat "$work/$name.log"; exit 1; }
		ms=$(($(now_ms) - start))
		if [[ -z $best ]] || ((ms < best)); then best=$ms; fi
	done
}

# measure_repush: push once, then the best of $runs unchanged re-pushes.
measure_repush() {
	local start ms
	best=
	start_registry
	ecrpush >"$work/repush.log" 2>&1 || { echo "first push failed:"; cat "$work/repush.log"; exit 1; }
	for ((run = 0; run < runs; run++)); do
		start=$(now_ms)
		ecrpush >"$work/repush.log" 2>&1 || { echo "re-push failed:"; cat "$work/repush.log"; exit 1; }
		ms=$(($(now_ms) - start))
		if [[ -z $best ]] || ((ms < best)); then best=$ms; fi
	done
}

ecrpush() { "$work/ecr-push" --registry "$host" --repository bench/model --oci-layout "$work/layout" --tag v1; }
crane() { "$work/crane" push --insecure "$work/layout" "$host/bench/model:v1"; }
skopeo_copy() { skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout" "docker://$host/bench/model:v1"; }

measure ecr-push ecrpush
ecr_ms=$best
measure crane crane
crane_ms=$best
measure skopeo skopeo_copy
skopeo_ms=$best
measure_repush
repush_ms=$best

# CPU time against crane, in the registry that has the image under v1.
cpu() { "$work/cputime" -q -n "$cpu_runs" -- "$@"; }
read -r -d '' ecr_version crane_version < <(cpu "$work/ecr-push" --version -- "$work/crane" version && printf '\0') || true
"$work/crane" push --insecure "$work/layout" "$host/bench/model:v1" >/dev/null 2>&1
read -r -d '' ecr_repush crane_repush < <(cpu "$work/ecr-push" --registry "$host" --repository bench/model --oci-layout "$work/layout" --tag v1 \
	-- "$work/crane" push --insecure "$work/layout" "$host/bench/model:v1" && printf '\0') || true
stop_registry

mib=$(du -sm "$work/layout/blobs" | cut -f1)
echo "push of a ${mib} MiB five-layer OCI layout to docker-registry (best of $runs):"
printf '  %-28s %6d ms\n' "ecr-push" "$ecr_ms" "crane push ($ggcr_version)" "$crane_ms" "skopeo copy ($(skopeo --version | cut -d' ' -f3))" "$skopeo_ms" "ecr-push, unchanged re-push" "$repush_ms"

echo "CPU time against crane (user + system, median of $cpu_runs interleaved runs):"
fail=0
ratio() { # ratio NAME ECR_MS CRANE_MS: prints the line and checks the 1.2x target
	local r
	r=$(awk -v a="$2" -v b="$3" 'BEGIN {printf "%.2f", a / b}')
	printf '  %-34s ecr-push %6.2f ms  crane %6.2f ms  ratio %s (target <= 1.20)' "$1" "$2" "$3" "$r"
	if awk -v r="$r" 'BEGIN {exit !(r > 1.20)}'; then echo "  FAIL"; fail=1; else echo "  ok"; fi
}
ratio "start-up (--version)" "$ecr_version" "$crane_version"
ratio "re-push of an unchanged image" "$ecr_repush" "$crane_repush"

if ((ecr_ms > crane_ms + crane_ms / 20)); then echo "FAIL: ecr-push is slower than crane push"; fail=1; fi
if ((ecr_ms >= skopeo_ms)); then echo "FAIL: ecr-push is not faster than skopeo copy"; fail=1; fi
if ((repush_ms >= 1000)); then echo "FAIL: re-pushing an unchanged image took ${repush_ms} ms"; fail=1; fi
if ((fail)); then exit 1; fi
echo "ok: ecr-push is as fast as crane push, faster than skopeo copy, re-pushes in under a second, and starts and re-pushes within 1.2x crane's CPU time"
