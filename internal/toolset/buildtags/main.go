// Command buildtags prints internal/toolset.BuildTags, for scripts that
// build the tools (the bench scripts): go build -tags "$(go run
// ./internal/toolset/buildtags)".
package main

import (
	"fmt"

	"github.com/mlship/mlship/internal/toolset"
)

func main() { fmt.Println(toolset.BuildTags) }
