// Command demo runs pipeline 1 of the design (the credit-card approval
// model on Lambda) end to end on this machine, with the tool binaries that
// `make build` puts in bin/ and local stand-ins for ECR, S3 and Lambda:
//
//	make demo
//	go run ./internal/demo -bin bin -dir bin/demo
//
// It prints each step as it runs and a report at the end, and exits 1 when
// a step did not do what it should.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	opt := options{out: os.Stdout}
	flag.StringVar(&opt.bin, "bin", "bin", "directory of the tool binaries (make build)")
	flag.StringVar(&opt.repo, "repo", ".", "the checkout: testdata/demo and the git history")
	flag.StringVar(&opt.dir, "dir", "bin/demo", "directory for the demo's files, emptied first")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := opt.abs(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	if report, err := run(ctx, opt); err != nil {
		if report == nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
		}
		os.Exit(1)
	}
}
