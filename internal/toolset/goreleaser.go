package toolset

import (
	"fmt"
	"strings"
)

const goreleaserHead = `# Release build of every mlship tool: one build and one archive per tool for
# linux, darwin and windows on amd64 and arm64, and checksums.txt. The
# actions' installer (actions/install/install.sh) downloads these archives by
# name and verifies them against checksums.txt.
#
# Generated from the list of tools in internal/toolset: add a tool there and
# run ` + "`go test ./internal/toolset -update`" + `. actions/release_test.go checks
# what the installer depends on and ` + "`.ci/goreleaser-check`" + ` validates the file.
version: 2

project_name: mlship

builds:
`

const goreleaserTail = `
checksum:
  name_template: checksums.txt
  algorithm: sha256

changelog:
  sort: asc

release:
  github:
    owner: mlship
    name: mlship
`

// BuildTags are the build tags of every build of a tool: releases, the
// Makefile, the image, the installer's build from source.
// urfave_cli_no_docs leaves out urfave/cli's man-page and Markdown
// generation (go-md2man, blackfriday), which no tool uses and whose
// package initialisation every start-up paid for.
const BuildTags = "urfave_cli_no_docs"

// Goreleaser renders goreleaser.yaml: a build and an archive for each tool,
// sharing one defaults block each.
func Goreleaser() string {
	var b strings.Builder
	b.WriteString(goreleaserHead)
	for i, t := range All {
		if i == 0 {
			b.WriteString(`  - <<: &build
      env:
        - CGO_ENABLED=0
      flags:
        - -trimpath
        - -tags=` + BuildTags + `
      ldflags:
        - -s -w -X github.com/mlship/mlship/internal/version.Version={{.Version}}
      mod_timestamp: "{{ .CommitTimestamp }}"
      goos: [linux, darwin, windows]
      goarch: [amd64, arm64]
`)
		} else {
			b.WriteString("  - <<: *build\n")
		}
		fmt.Fprintf(&b, "    id: %s\n    main: ./cmd/%s\n    binary: %s\n", t.Name, t.Name, t.Name)
	}
	b.WriteString("\narchives:\n")
	for i, t := range All {
		if i == 0 {
			b.WriteString(`  - <<: &archive
      name_template: "{{ .Binary }}_{{ .Version }}_{{ .Os }}_{{ .Arch }}"
      formats: [tar.gz]
      format_overrides:
        - goos: windows
          formats: [zip]
      files:
        - LICENSE*
        - README*
`)
		} else {
			b.WriteString("  - <<: *archive\n")
		}
		fmt.Fprintf(&b, "    id: %s\n    ids: [%s]\n", t.Name, t.Name)
	}
	b.WriteString(goreleaserTail)
	return b.String()
}
