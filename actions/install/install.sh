#!/usr/bin/env bash
# install.sh installs one mlship tool for the composite action that runs it.
#
# Every actions/<tool>/action.yml runs it as its first step:
#
#   - id: install
#     shell: bash
#     env:
#       MLSHIP_TOOL: policy-gate
#       MLSHIP_VERIFY: ${{ inputs.verify }}
#       GH_TOKEN: ${{ github.token }}
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
#                checksums.txt and, with gh, its build-provenance attestation,
#                unpack into the runner tool cache.
#   vX, vX.Y     the release whose tag points at the same commit (git ls-remote),
#                installed as above.
#   a commit SHA the release whose tag is on that commit (git ls-remote), installed
#                as above; a commit that is no release is built as below.
#   other refs   a branch, a commit that is no release, or a local
#                `uses: ./actions/<tool>`: build the tool from the action's own
#                checkout with `go build`.
#
# Environment (all optional but MLSHIP_TOOL, which defaults to the action
# directory's name):
#
#   MLSHIP_TOOL               tool to install, e.g. policy-gate
#   MLSHIP_ACTION_REF         install for this ref instead of the action's own
#   MLSHIP_DOWNLOAD_BASE_URL  where releases are downloaded from; files are read
#                             from <base>/<tag>/<file>. Default:
#                             $GITHUB_SERVER_URL/mlship/mlship/releases/download
#   MLSHIP_REPOSITORY_URL     git URL used to resolve vX and vX.Y tags and commits
#                             to releases. Default: $GITHUB_SERVER_URL/mlship/mlship
#   MLSHIP_VERIFY             the actions' `verify` input: auto (default) verifies
#                             the archive's checksum and, when gh is on PATH, its
#                             build-provenance attestation (refusing it when that
#                             fails, noting when it cannot check); attestation
#                             requires the attestation; checksum skips it
#   MLSHIP_ATTESTATION_REPO   the repository whose release workflow must have
#                             attested the archive. Default: mlship/mlship
#   GH_TOKEN                  the token gh uses (the actions pass github.token)
#
# Installs are cached in $RUNNER_TOOL_CACHE/mlship-<tool>/<version>/<arch>, with
# a <arch>.complete marker beside the folder as actions/tool-cache does: a later
# job on the same runner finds it and downloads nothing. The marker records the
# binary's SHA-256 and how it was verified; a cached binary is re-hashed before
# it is used, and one that changed is installed again. Source builds are cached
# by commit when the commit is known and the checkout is clean.
#
# Failures print one ::error:: line and exit 1, with nothing installed; a
# check that could not be made prints a ::notice:: line.

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

warn() {
	printf '::warning title=%s::%s\n' "$prog" "$(escape_command "$*")"
}

note() {
	printf '::notice title=%s::%s\n' "$prog" "$(escape_command "$*")"
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

# release_on prints the newest vX.Y.Z tag of the repository at $1 on the
# commit of tag $2 (v1 or v1.2), or, with $2 empty, on commit $3; nothing
# when there is none. It fails when the tags cannot be listed.
release_on() {
	local url=$1 tag=$2 commit=$3 refs
	command -v git >/dev/null 2>&1 || return 1
	if [ -n "$tag" ]; then
		refs=$(GIT_TERMINAL_PROMPT=0 git ls-remote --tags "$url" "refs/tags/$tag" "refs/tags/$tag.*" 2>/dev/null) || return 1
	else
		refs=$(GIT_TERMINAL_PROMPT=0 git ls-remote --tags "$url" 'refs/tags/v*' 2>/dev/null) || return 1
	fi
	printf '%s\n' "$refs" | awk -v want="refs/tags/$tag" -v target="$commit" '
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
			if (target == "") {
				if (!(want in commit)) exit
				target = commit[want]
			}
			best = ""
			for (name in commit) {
				t = name; sub(/^refs\/tags\//, "", t)
				if (t ~ /^v[0-9]+\.[0-9]+\.[0-9]+$/ && commit[name] == target && (best == "" || newer(t, best))) best = t
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

# cached sets found to the binary of a complete tool cache entry, after
# checking it against the SHA-256 recorded when it was installed, or fails. A
# binary that changed since (a self-hosted runner keeps its cache between
# jobs) is not used: the caller installs it again. With verify attestation, an
# entry installed without that check is not used either.
cached() {
	local dir=$1 marker="$1.complete" want got how
	found=""
	[ -f "$marker" ] && [ -f "$dir/$bin" ] || return 1
	want=$(sed -n 's/^sha256=//p' "$marker")
	how=$(sed -n 's/^verified=//p' "$marker")
	if [ -z "$want" ]; then
		log "the tool cache entry $dir records no checksum; installing it again"
		return 1
	fi
	got=$(sha256_of "$dir/$bin")
	if [ "$(lower "$got")" != "$(lower "$want")" ]; then
		warn "the cached $dir/$bin has SHA-256 $got, not the $want recorded when it was installed; not running it, installing it again"
		return 1
	fi
	if [ "$verify" = attestation ] && [ "$how" != attestation ]; then
		log "the cached $tool was installed without an attestation check ($how) and verify is attestation; installing it again"
		return 1
	fi
	found="$dir/$bin"
}

# commit_into_cache moves a staged folder into the tool cache at $1 and marks
# it complete, recording the binary's SHA-256 and how it was verified ($3).
commit_into_cache() {
	local dir=$1 stage=$2 how=$3 sum
	chmod +x "$stage/$bin" 2>/dev/null || true
	sum=$(sha256_of "$stage/$bin")
	rm -rf "$dir" "$dir.complete"
	mkdir -p "$(dirname "$dir")"
	mv "$stage" "$dir"
	printf 'sha256=%s\nverified=%s\n' "$sum" "$how" >"$dir.complete"
}

# gh_version_ok reports whether gh is at least 2.67.0: from 2.49.0 to 2.66.x,
# `gh attestation verify` can exit 0 when there is no attestation
# (CVE-2025-25204).
gh_version_ok() {
	local v major minor
	v=$(gh --version 2>/dev/null | awk 'NR == 1 { print $3 }')
	major=${v%%.*}
	minor=${v#*.}
	minor=${minor%%.*}
	case "$major$minor" in '' | *[!0-9]*) return 1 ;; esac
	[ "$major" -gt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -ge 67 ]; }
}

# verify_attestation checks the build-provenance attestation of archive $1
# with gh and sets verified to how the archive was verified. A failed check
# refuses the archive; one that cannot be made (no gh, an old gh, gh not
# signed in) is a note, or a refusal with verify attestation.
verify_attestation() {
	local file=$1 name why="" out code=0
	name=$(basename "$file")
	verified=checksum
	[ "$verify" = checksum ] && return 0
	if ! command -v gh >/dev/null 2>&1; then
		why="gh is not on PATH"
	elif ! gh_version_ok; then
		why="gh $(gh --version 2>/dev/null | awk 'NR == 1 { print $3 }') is older than 2.67.0, whose check can pass without an attestation"
	else
		out=$(gh attestation verify "$(native_path "$file")" --repo "$attest_repo" 2>&1) || code=$?
		case $code in
		0)
			log "verified the build-provenance attestation of $name: made by $attest_repo"
			verified=attestation
			return 0
			;;
		4) why="gh is not signed in (set GH_TOKEN)" ;;
		*)
			die "the build-provenance attestation of $name does not verify for $attest_repo: $(printf '%s\n' "$out" | awk 'NF { line = $0 } END { print line }'); refusing to install it"
			;;
		esac
	fi
	if [ "$verify" = attestation ]; then
		die "cannot verify the build-provenance attestation of $name ($why), and verify is attestation; refusing to install it"
	fi
	note "$name is verified by its checksum only: $why, so its build-provenance attestation was not checked (verify: attestation requires it)"
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
	local dir="$cache_root/$version/$arch"
	if cached "$dir"; then
		log "found $tool $tag in the tool cache (SHA-256 checked)"
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
	verify_attestation "$work/$archive"

	mkdir "$work/unpacked"
	extract "$work/$archive" "$work/unpacked" || die "unpacking $archive failed"
	[ -f "$work/unpacked/$bin" ] || die "$archive does not contain $bin"
	commit_into_cache "$dir" "$work/unpacked" "$verified"
	finish "$dir/$bin" "$tag"
}

install_from_source() {
	local ref=$1 root
	[ "$verify" != attestation ] ||
		die "verify is attestation, but ref '${ref:-local}' is not a release: a build from source has no attestation to check; use a release tag such as @v1.2.3, or verify: auto"
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

	local dir
	if [ -n "$commit" ]; then
		dir="$cache_root/$commit/$arch"
		if cached "$dir"; then
			log "found $tool built from $commit in the tool cache (SHA-256 checked)"
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
	(cd "$root" && CGO_ENABLED=0 go build -trimpath -tags urfave_cli_no_docs -o "$(native_path "$work/bin/$bin")" "./cmd/$tool") ||
		die "building $tool from source in $root failed"

	if [ -n "$commit" ]; then
		commit_into_cache "$dir" "$work/bin" source
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

	verify=${MLSHIP_VERIFY:-auto}
	case "$verify" in
	auto | attestation | checksum) ;;
	*) die "verify '$verify' is not auto, attestation or checksum" ;;
	esac
	attest_repo=${MLSHIP_ATTESTATION_REPO:-mlship/mlship}

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

	local release='^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$' moving='^v[0-9]+(\.[0-9]+)?$' sha='^[0-9a-fA-F]{40}$'
	local repo="${MLSHIP_REPOSITORY_URL:-${GITHUB_SERVER_URL:-https://github.com}/mlship/mlship}" tag
	if [[ $ref =~ $release ]]; then
		install_release "$ref"
	fi
	if [[ $ref =~ $moving ]]; then
		tag=$(release_on "$repo" "$ref" "") || tag=""
		if [ -n "$tag" ]; then
			log "$ref is $tag"
			install_release "$tag"
		fi
		warn "found no release tag on the commit of $ref in $repo; building $tool from source"
	fi
	if [[ $ref =~ $sha ]]; then
		ref=$(lower "$ref")
		if tag=$(release_on "$repo" "" "$ref"); then
			if [ -n "$tag" ]; then
				log "commit $ref is release $tag"
				install_release "$tag"
			fi
			log "commit $ref is no release of $repo; building $tool from source"
		else
			warn "could not list the release tags of $repo to find a release on commit $ref; building $tool from source"
		fi
	fi
	install_from_source "$ref"
}

# Run unless sourced (the tests source it to call its functions).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
