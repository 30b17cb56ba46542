#!/usr/bin/env bash
# install.sh installs one mlship tool for the composite action that runs it.
#
# Every actions/<tool>/action.yml runs it as its first step:
#
#   - id: install
#     shell: bash
#     env:
#       MLSHIP_TOOL: policy-gate
#     run: bash "$GITHUB_ACTION_PATH/../install/install.sh"
#
# and the next step runs the binary whose path it writes to the step output
# "path". It works on Linux, macOS and Windows runners (Git bash), with the
# bash 3.2 that macOS ships.
#
# Which build it installs depends on the action's ref, read from the path the
# runner checked the action out to (.../_actions/<owner>/<repo>/<ref>/actions/<tool>;
# GITHUB_ACTION_REF is not reliable inside composite actions):
#
#   vX.Y.Z       the release: download <tool>_<X.Y.Z>_<os>_<arch>.tar.gz (.zip on
#                Windows) and checksums.txt, verify the archive's SHA-256 against
#                checksums.txt, unpack into the runner tool cache.
#   vX, vX.Y     the release whose tag points at the same commit (git ls-remote),
#                installed as above.
#   other refs   a branch, a commit, or a local `uses: ./actions/<tool>`: build the
#                tool from the action's own checkout with `go build`.
#
# Environment (all optional but MLSHIP_TOOL, which defaults to the action
# directory's name):
#
#   MLSHIP_TOOL               tool to install, e.g. policy-gate
#   MLSHIP_ACTION_REF         install for this ref instead of the action's own
#   MLSHIP_DOWNLOAD_BASE_URL  where releases are downloaded from; files are read
#                             from <base>/<tag>/<file>. Default:
#                             $GITHUB_SERVER_URL/mlship/mlship/releases/download
#   MLSHIP_REPOSITORY_URL     git URL used to resolve vX and vX.Y tags. Default:
#                             $GITHUB_SERVER_URL/mlship/mlship
#
# Installs are cached in $RUNNER_TOOL_CACHE/mlship-<tool>/<version>/<arch>, with
# a <arch>.complete marker beside the folder as actions/tool-cache does: a later
# job on the same runner finds it and downloads nothing. Source builds are
# cached by commit when the commit is known and the checkout is clean.
#
# Failures print one ::error:: line and exit 1, with nothing installed.

set -euo pipefail

prog="mlship install"

# escape_command escapes a workflow command's message (%, CR and LF).
escape_command() {
	local s=$1
	s=${s//%/%25}
	s=${s//$'\r'/%0D}
	s=${s//$'\n'/%0A}
	printf '%s' "$s"
}

die() {
	printf '::error title=%s::%s\n' "$prog" "$(escape_command "$*")"
	exit 1
}

log() {
	printf '%s: %s\n' "$prog" "$*"
}

# unix_path turns a Windows path (C:\a\b) into the form Git bash uses (/c/a/b).
unix_path() {
	if [ -n "$1" ] && command -v cygpath >/dev/null 2>&1; then
		cygpath -u "$1"
	else
		printf '%s' "$1"
	fi
}

# native_path turns a path into the form native Windows programs (go,
# powershell) take; elsewhere it returns the path unchanged.
native_path() {
	if command -v cygpath >/dev/null 2>&1; then
		cygpath -w "$1"
	else
		printf '%s' "$1"
	fi
}

sha256_of() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | awk '{print $1}'
	elif command -v shasum >/dev/null 2>&1; then
		shasum -a 256 "$1" | awk '{print $1}'
	else
		die "found neither sha256sum nor shasum to verify the download"
	fi
}

lower() {
	printf '%s' "$1" | tr '[:upper:]' '[:lower:]'
}

# platform sets goos, goarch (release archive names) and arch (tool cache).
platform() {
	local os=${RUNNER_OS:-} a=${RUNNER_ARCH:-}
	if [ -z "$os" ]; then
		case "$(uname -s)" in
		Linux) os=Linux ;;
		Darwin) os=macOS ;;
		MINGW* | MSYS* | CYGWIN*) os=Windows ;;
		*) os=$(uname -s) ;;
		esac
	fi
	if [ -z "$a" ]; then
		case "$(uname -m)" in
		x86_64 | amd64) a=X64 ;;
		aarch64 | arm64) a=ARM64 ;;
		*) a=$(uname -m) ;;
		esac
	fi
	case "$os" in
	Linux) goos=linux ;;
	macOS) goos=darwin ;;
	Windows) goos=windows ;;
	*) die "runner OS '$os' is not supported (mlship is built for Linux, macOS and Windows)" ;;
	esac
	case "$a" in
	X64) goarch=amd64 ;;
	ARM64) goarch=arm64 ;;
	*) die "runner architecture '$a' is not supported (mlship is built for X64 and ARM64)" ;;
	esac
	arch=$(lower "$a")
}

# ref_from_path prints the ref in an action path of the form
# .../_actions/<owner>/<repo>/<ref>/actions/<tool>; nothing for other paths.
ref_from_path() {
	local p=${1//\\//} rest
	case "$p" in
	*/_actions/*/*/*/actions/*) ;;
	*) return 0 ;;
	esac
	rest=${p##*/_actions/} # <owner>/<repo>/<ref...>/actions/<tool>
	rest=${rest#*/}        # <repo>/<ref...>/actions/<tool>
	rest=${rest#*/}        # <ref...>/actions/<tool>
	rest=${rest%/}
	printf '%s' "${rest%/actions/*}"
}

# resolve_moving_tag prints the vX.Y.Z tag on the same commit as tag $1
# (v1 or v1.2), or nothing.
resolve_moving_tag() {
	local url=$1 tag=$2 refs
	command -v git >/dev/null 2>&1 || return 0
	refs=$(GIT_TERMINAL_PROMPT=0 git ls-remote --tags "$url" "refs/tags/$tag" "refs/tags/$tag.*" 2>/dev/null) || return 0
	printf '%s\n' "$refs" | awk -v want="refs/tags/$tag" '
		function newer(a, b,   x, y, i) {
			split(substr(a, 2), x, "."); split(substr(b, 2), y, ".")
			for (i = 1; i <= 3; i++) {
				if (x[i] + 0 > y[i] + 0) return 1
				if (x[i] + 0 < y[i] + 0) return 0
			}
			return 0
		}
		NF == 2 {
			name = $2
			peeled = sub(/\^\{\}$/, "", name)
			if (peeled || !(name in commit)) commit[name] = $1
		}
		END {
			if (!(want in commit)) exit
			best = ""
			for (name in commit) {
				t = name; sub(/^refs\/tags\//, "", t)
				if (t ~ /^v[0-9]+\.[0-9]+\.[0-9]+$/ && commit[name] == commit[want] && (best == "" || newer(t, best))) best = t
			}
			if (best != "") print best
		}'
}

# finish records the installed binary for the run step.
finish() {
	local bin_path=$1
	log "$tool ($2): $bin_path"
	if [ -n "${GITHUB_OUTPUT:-}" ]; then
		printf 'path=%s\n' "$bin_path" >>"$GITHUB_OUTPUT"
	fi
	exit 0
}

# cached prints the binary in a complete tool cache entry, or fails.
cached() {
	local dir=$1
	[ -f "$dir.complete" ] && [ -f "$dir/$bin" ] && printf '%s' "$dir/$bin"
}

# commit_into_cache moves a staged folder into the tool cache at $1 and marks
# it complete.
commit_into_cache() {
	local dir=$1 stage=$2
	rm -rf "$dir" "$dir.complete"
	mkdir -p "$(dirname "$dir")"
	mv "$stage" "$dir"
	chmod +x "$dir/$bin" 2>/dev/null || true
	: >"$dir.complete"
}

extract() {
	local archive=$1 into=$2
	case "$archive" in
	*.tar.gz)
		(cd "$into" && tar -xzf "$archive") || return 1
		;;
	*.zip)
		if command -v unzip >/dev/null 2>&1; then
			unzip -q -o "$archive" -d "$into" || return 1
		else
			local ps=powershell
			command -v pwsh >/dev/null 2>&1 && ps=pwsh
			local a d
			a=$(native_path "$archive")
			d=$(native_path "$into")
			"$ps" -NoProfile -NonInteractive -Command \
				"\$ErrorActionPreference = 'Stop'; Expand-Archive -LiteralPath '${a//\'/\'\'}' -DestinationPath '${d//\'/\'\'}' -Force" || return 1
		fi
		;;
	esac
}

install_release() {
	local tag=$1 version=${1#v}
	local dir="$cache_root/$version/$arch" found
	if found=$(cached "$dir"); then
		log "found $tool $tag in the tool cache"
		finish "$found" "$tag"
	fi

	local ext=tar.gz
	[ "$goos" = windows ] && ext=zip
	local archive="${tool}_${version}_${goos}_${goarch}.$ext"
	local base="${MLSHIP_DOWNLOAD_BASE_URL:-${GITHUB_SERVER_URL:-https://github.com}/mlship/mlship/releases/download}"
	base=${base%/}
	local url="$base/$tag"

	mkdir -p "$cache_root"
	work=$(mktemp -d "$cache_root/.download.XXXXXX")
	trap 'rm -rf "$work"' EXIT

	log "downloading $url/$archive"
	curl -fsSL --retry 3 --retry-delay 2 -o "$work/$archive" "$url/$archive" ||
		die "downloading $url/$archive failed; is $tag released for $goos/$goarch?"
	curl -fsSL --retry 3 --retry-delay 2 -o "$work/checksums.txt" "$url/checksums.txt" ||
		die "downloading $url/checksums.txt failed"

	local want got
	want=$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1; exit }' "$work/checksums.txt")
	[ -n "$want" ] || die "checksums.txt of $tag has no entry for $archive; refusing to install it"
	got=$(sha256_of "$work/$archive")
	[ "$(lower "$want")" = "$(lower "$got")" ] ||
		die "SHA-256 of $archive is $got but checksums.txt of $tag says $want; refusing to install it"

	mkdir "$work/unpacked"
	extract "$work/$archive" "$work/unpacked" || die "unpacking $archive failed"
	[ -f "$work/unpacked/$bin" ] || die "$archive does not contain $bin"
	commit_into_cache "$dir" "$work/unpacked"
	finish "$dir/$bin" "$tag"
}

install_from_source() {
	local ref=$1 root
	root=$(cd "$action_path/../.." 2>/dev/null && pwd) ||
		die "cannot build $tool from source: action folder $action_path does not exist"
	if [ ! -f "$root/go.mod" ] || [ ! -d "$root/cmd/$tool" ]; then
		die "cannot build $tool from source: $root has no cmd/$tool"
	fi
	# A build is cached by commit: the ref itself when it is a commit, or the
	# checkout's HEAD when it is a clean git work tree.
	local commit=""
	local sha='^[0-9a-f]{40}$'
	if [[ $ref =~ $sha ]]; then
		commit=$ref
	elif command -v git >/dev/null 2>&1 &&
		[ "$(git -C "$root" rev-parse --show-prefix 2>/dev/null || echo x)" = "" ] &&
		[ -z "$(git -C "$root" status --porcelain 2>/dev/null || echo dirty)" ]; then
		commit=$(git -C "$root" rev-parse HEAD 2>/dev/null || true)
	fi

	local dir found
	if [ -n "$commit" ]; then
		dir="$cache_root/$commit/$arch"
		if found=$(cached "$dir"); then
			log "found $tool built from $commit in the tool cache"
			finish "$found" "$commit"
		fi
	fi
	command -v go >/dev/null 2>&1 ||
		die "building $tool from source (ref '${ref:-local}' is not a release) needs Go; add actions/setup-go before this step, or use a release tag such as @v1.2.3"
	if [ -n "$commit" ]; then
		mkdir -p "$cache_root"
		work=$(mktemp -d "$cache_root/.build.XXXXXX")
	else
		work=$(mktemp -d "$tmp_root/mlship-build.XXXXXX")
	fi
	trap 'rm -rf "$work"' EXIT

	log "building $tool from source in $root (ref '${ref:-local}')"
	mkdir "$work/bin"
	(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$(native_path "$work/bin/$bin")" "./cmd/$tool") ||
		die "building $tool from source in $root failed"

	if [ -n "$commit" ]; then
		commit_into_cache "$dir" "$work/bin"
		finish "$dir/$bin" "$commit"
	fi
	# Uncached: keep the build in the runner's temp folder for the run step.
	local keep
	keep=$(mktemp -d "$tmp_root/mlship-$tool.XXXXXX")
	mv "$work/bin/$bin" "$keep/$bin"
	finish "$keep/$bin" "${ref:-local checkout}"
}

main() {
	action_path=$(unix_path "${GITHUB_ACTION_PATH:-}")
	tool=${MLSHIP_TOOL:-}
	if [ -z "$action_path" ]; then
		[ -n "$tool" ] || die "MLSHIP_TOOL is not set"
		action_path="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/$tool"
	fi
	[ -n "$tool" ] || tool=$(basename "$action_path")
	local name='^[a-z0-9][a-z0-9-]*$'
	[[ $tool =~ $name ]] || die "MLSHIP_TOOL '$tool' is not a tool name"

	platform
	bin=$tool
	[ "$goos" = windows ] && bin="$tool.exe"

	local tool_cache
	tool_cache=$(unix_path "${RUNNER_TOOL_CACHE:-}")
	[ -n "$tool_cache" ] || tool_cache="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/mlship/tool-cache"
	cache_root="$tool_cache/mlship-$tool"
	tmp_root=$(unix_path "${RUNNER_TEMP:-}")
	[ -n "$tmp_root" ] || tmp_root=${TMPDIR:-/tmp}
	tmp_root=${tmp_root%/}

	local ref=${MLSHIP_ACTION_REF:-}
	[ -n "$ref" ] || ref=$(ref_from_path "$action_path")

	local release='^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$' moving='^v[0-9]+(\.[0-9]+)?$'
	if [[ $ref =~ $release ]]; then
		install_release "$ref"
	fi
	if [[ $ref =~ $moving ]]; then
		local repo="${MLSHIP_REPOSITORY_URL:-${GITHUB_SERVER_URL:-https://github.com}/mlship/mlship}" tag
		tag=$(resolve_moving_tag "$repo" "$ref")
		if [ -n "$tag" ]; then
			log "$ref is $tag"
			install_release "$tag"
		fi
		printf '::warning title=%s::%s\n' "$prog" \
			"$(escape_command "found no release tag on the commit of $ref in $repo; building $tool from source")"
	fi
	install_from_source "$ref"
}

# Run unless sourced (the tests source it to call its functions).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
