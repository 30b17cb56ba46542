# make build   build every tool into bin/
# make test    vet and test everything (what .ci/run runs)
# make integration   the tools against moto_server (docs/emulators.md); skips without it unless MLSHIP_REQUIRE_MOTO=1
# make demo    pipeline 1 (the credit-card model on Lambda) end to end on this machine:
#              the tools from bin/ against local stand-ins of ECR, S3 and Lambda
# make bench   Go benchmarks and the comparisons with other tools (each figure with its target, PASS or FAIL)
# make release-check   goreleaser check, and a snapshot archive installed by the actions' installer
# make image   the container image with every tool, without Docker, into the OCI layout bin/image/oci
#              (this machine's architecture; IMAGE_PLATFORMS=linux/amd64,linux/arm64 for both, as releases)

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/mlship/mlship/internal/version.Version=$(VERSION)
# internal/toolset.BuildTags: every build of a tool has them.
TAGS    := urfave_cli_no_docs
TOOLS   := $(notdir $(wildcard cmd/*))

IMAGE           ?= ghcr.io/mlship/mlship
IMAGE_TAGS      ?= $(VERSION) v1
IMAGE_PLATFORMS ?= linux/$(shell $(GO) env GOARCH)
IMAGE_DIR       ?= bin/image
REVISION        ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
CREATED         ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
comma := ,
empty :=
space := $(empty) $(empty)
platforms = $(subst $(comma),$(space),$(IMAGE_PLATFORMS))

.PHONY: build test integration lint demo bench release-check image $(TOOLS)

build: $(TOOLS)

$(TOOLS):
	CGO_ENABLED=0 $(GO) build -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS)' -o bin/$@ ./cmd/$@

# image-scan runs without the race detector: Trivy's package-level loggers
# share a buffer that is not safe for concurrent use (trivy/pkg/log
# DeferredHandler), which the detector reports in Trivy's code, not ours.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -shuffle=on -race $$($(GO) list ./... | grep -v /internal/imagescan)
	$(GO) test -count=1 -shuffle=on ./internal/imagescan/...

# Without the race detector, for image-scan's sake (see test).
integration:
	$(GO) vet -tags integration ./internal/integration/
	$(GO) test -tags integration -count=1 -shuffle=on ./internal/integration/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff

# Every step runs a tool from bin/ as a workflow step (INPUT_* variables,
# GITHUB_OUTPUT); the files are left in bin/demo. internal/demo/demo_test.go
# runs the same demo and checks its report.
demo: build
	rm -rf bin/demo
	$(GO) run ./internal/demo -bin bin -dir bin/demo

# Each comparison prints its figures with their targets and PASS or FAIL;
# a script that fails does not stop the others (the leading -), so every
# ratio is printed.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 20x ./...
	-bash internal/policygate/bench/compare.sh
	-bash internal/ecrpush/bench/compare.sh
	-bash internal/lambdadeploy/bench/compare.sh
	-bash internal/imagescan/bench/compare.sh
	-APK=3000 PIP=1000 bash internal/imagescan/bench/compare.sh
	-bash internal/modelstaleness/bench/compare.sh

release-check:
	bash .ci/goreleaser-check

# Every tool built for linux on each platform (as the release builds them),
# then the image around them: internal/image, checked by its tests
# (MLSHIP_IMAGE_LAYOUT=$(IMAGE_DIR)/oci go test ./internal/image runs the
# tools from the layout's filesystem).
image:
	@set -e; for p in $(platforms); do \
		arch=$${p#linux/}; \
		for t in $(TOOLS); do \
			echo "building $$t for $$p"; \
			CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS)' -o $(IMAGE_DIR)/linux-$$arch/$$t ./cmd/$$t; \
		done; \
	done
	$(GO) run ./internal/image/mkimage -out $(IMAGE_DIR)/oci -name $(IMAGE) \
		-version $(VERSION) -revision $(REVISION) -created $(CREATED) \
		-tools $(subst $(space),$(comma),$(TOOLS)) \
		$(foreach p,$(platforms),-platform $(p)=$(IMAGE_DIR)/linux-$(notdir $(p))) \
		$(foreach t,$(IMAGE_TAGS),-tag $(t)) -sbom $(IMAGE_DIR)/sbom.spdx.json
