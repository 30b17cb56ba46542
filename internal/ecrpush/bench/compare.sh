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
# re-push at most 1.2x crane's CPU time. Each figure is printed with its
# target and PASS or FAIL; the script exits 0 either way (1 only when it
# could not measure). Both tools are built as releases are (CGO_ENABLED=0,
# -trimpath, -s -w; ecr-push with internal/toolset.BuildTags). Start-up is
# measured first and needs nothing else; the pushes need docker-registry
# and skopeo (apt-get install docker-registry skopeo), and are reported
# SKIPPED without them. Run from the repository root: make bench.
set -euo pipefail

runs=${RUNS:-5}
cpu_runs=${CPU_RUNS:-41}
layer_mb=${LAYER_MB:-60}
port=${PORT:-5055}

work=$(mktemp -d)
registry_pid=
cleanup() {
	if declare -F stop_registry >/dev/null; then stop_registry; fi
	rm -rf "$work"
}
trap cleanup EXIT

ggcr_version=$(go list -m -f '{{.Version}}' github.com/google/go-containerregistry)
export CGO_ENABLED=0
go build -trimpath -tags "$(go run ./internal/toolset/buildtags)" -ldflags '-s -w' -o "$work/ecr-push" ./cmd/ecr-push
go build -trimpath -ldflags '-s -w' -o "$work/crane" github.com/google/go-containerregistry/cmd/crane
go build -o "$work/cputime" ./internal/ecrpush/bench/cputime

fail=0
# ratio NAME ECR_MS CRANE_MS: prints the line with the 1.2x target, PASS or FAIL.
ratio() {
	local r
	r=$(awk -v a="$2" -v b="$3" 'BEGIN {printf "%.2f", a / b}')
	printf '  %-34s ecr-push %6.2f ms  crane %6.2f ms  ratio %s (target <= 1.20)' "$1" "$2" "$3" "$r"
	if awk -v r="$r" 'BEGIN {exit !(r > 1.20)}'; then echo "  FAIL"; fail=1; else echo "  PASS"; fi
}
cpu() { "$work/cputime" -q -n "$cpu_runs" -- "$@"; }

echo "ecr-push start-up against crane ($ggcr_version), CPU time (user + system, median of $cpu_runs interleaved runs):"
read -r -d '' ecr_version crane_version < <(cpu "$work/ecr-push" --version -- "$work/crane" version && printf '\0') || true
ratio "start-up (--version)" "$ecr_version" "$crane_version"

if ! command -v docker-registry >/dev/null || ! command -v skopeo >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get update -qq && apt-get install -y -qq docker-registry skopeo >/dev/null || true
	fi
fi
for tool in docker-registry skopeo curl; do
	if ! command -v "$tool" >/dev/null; then
		echo "ecr-push push comparison SKIPPED (not run, not passed): $tool is not installed (apt-get install docker-registry skopeo)"
		exit 0
	fi
done

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
"$work/crane" push --insecure "$work/layout" "$host/bench/model:v1" >/dev/null 2>&1
read -r -d '' ecr_repush crane_repush < <(cpu "$work/ecr-push" --registry "$host" --repository bench/model --oci-layout "$work/layout" --tag v1 \
	-- "$work/crane" push --insecure "$work/layout" "$host/bench/model:v1" && printf '\0') || true
stop_registry

mib=$(du -sm "$work/layout/blobs" | cut -f1)
echo "push of a ${mib} MiB five-layer OCI layout to docker-registry (best of $runs):"
printf '  %-28s %6d ms\n' "ecr-push" "$ecr_ms" "crane push ($ggcr_version)" "$crane_ms" "skopeo copy ($(skopeo --version | cut -d' ' -f3))" "$skopeo_ms" "ecr-push, unchanged re-push" "$repush_ms"

echo "re-push CPU time against crane (user + system, median of $cpu_runs interleaved runs):"
ratio "re-push of an unchanged image" "$ecr_repush" "$crane_repush"

# verdict OK TEXT: prints TEXT with PASS or FAIL.
verdict() {
	if (($1)); then echo "  $2  PASS"; else echo "  $2  FAIL"; fail=1; fi
}
verdict "$((ecr_ms <= crane_ms + crane_ms / 20))" "push: ecr-push ${ecr_ms} ms, crane ${crane_ms} ms (target: at most crane's, 5% slack)"
verdict "$((ecr_ms < skopeo_ms))" "push: ecr-push ${ecr_ms} ms, skopeo ${skopeo_ms} ms (target: faster than skopeo copy)"
verdict "$((repush_ms < 1000))" "re-push: ${repush_ms} ms (target: under 1000 ms)"
if ((fail)); then
	echo "ecr-push: FAIL (a target above is missed)"
else
	echo "ecr-push: PASS (every target above is met)"
fi
