// Command mkimage builds mlship's container image into an OCI image layout
// from tool binaries already built (make image runs it):
//
//	mkimage -out bin/image/oci -name ghcr.io/mlship/mlship -version v1.2.3 \
//	  -revision $(git rev-parse HEAD) -created $(git log -1 --format=%ct) \
//	  -source https://github.com/mlship/mlship -tag v1.2.3 -tag v1 \
//	  -tools ecr-push,policy-gate -platform linux/amd64=bin/image/linux-amd64 \
//	  -sbom bin/image/sbom.spdx.json
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mlship/mlship/internal/image"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	var platforms, tags list
	out := fs.String("out", "", "OCI layout `DIR` to write (emptied first)")
	name := fs.String("name", "ghcr.io/mlship/mlship", "image `NAME`, for the SBOM")
	tools := fs.String("tools", "", "comma-separated `TOOLS`, each a binary in every platform's folder")
	version := fs.String("version", "", "`VERSION` label")
	revision := fs.String("revision", "", "git `COMMIT` label")
	source := fs.String("source", "https://github.com/mlship/mlship", "repository `URL` label")
	created := fs.String("created", "", "`UNIX-SECONDS` of every file and of the image (the commit's time)")
	sbom := fs.String("sbom", "", "write the SPDX SBOM to `FILE`")
	fs.Var(&platforms, "platform", "`OS/ARCH=DIR`: a platform and the folder of its binaries (repeat)")
	fs.Var(&tags, "tag", "`TAG` for the layout's index.json (repeat)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *tools == "" || len(platforms) == 0 {
		return fmt.Errorf("-out, -tools and -platform are needed")
	}
	secs, err := strconv.ParseInt(*created, 10, 64)
	if err != nil {
		return fmt.Errorf("-created %q: want the seconds since 1970", *created)
	}
	cfg := image.Config{
		Tools:    strings.Split(*tools, ","),
		Version:  *version,
		Revision: *revision,
		Source:   *source,
		Created:  time.Unix(secs, 0),
	}
	for _, p := range platforms {
		spec, dir, ok := strings.Cut(p, "=")
		if !ok || dir == "" {
			return fmt.Errorf("-platform %q: want OS/ARCH=DIR", p)
		}
		plat, err := image.ParsePlatform(spec)
		if err != nil {
			return err
		}
		cfg.Platforms = append(cfg.Platforms, image.Platform{Platform: plat, BinDir: dir})
	}
	tmp, err := os.MkdirTemp("", "mkimage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	img, err := image.Build(cfg, tmp)
	if err != nil {
		return err
	}
	if err := img.WriteLayout(*out, tags); err != nil {
		return err
	}
	if *sbom != "" {
		b, err := img.SBOM(*name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*sbom, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	digest, err := img.Index.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s@%s (%s) in %s\n", *name, digest, platforms.String(), *out)
	return nil
}
