# make build   build every tool into bin/
# make test    vet and test everything (what .ci/run runs)
# make integration   the tools against moto_server (docs/emulators.md); skips without it unless MLSHIP_REQUIRE_MOTO=1
# make demo    policy-gate on an allowed and a denied model
# make bench   Go benchmarks and the comparisons with other tools
# make release-check   goreleaser check, and a snapshot archive installed by the actions' installer
# make image   the container image with every tool, without Docker, into the OCI layout bin/image/oci
#              (this machine's architecture; IMAGE_PLATFORMS=linux/amd64,linux/arm64 for both, as releases)

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/mlship/mlship/internal/version.Version=$(VERSION)
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
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/$@ ./cmd/$@

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

demo: policy-gate metrics-export
	@mkdir -p bin/demo
	@echo '== An allowed model: the model tests wrote ACCURACY=0.934, EQUAL_OPPORTUNITY_FAIRNESS_PERCENT=12.5'
	@echo '   (policy: accuracy >= 0.9 and fairness gap <= 21, thresholds in testdata/demo/thresholds.yaml)'
	bin/metrics-export --file testdata/demo/model-good.env --output-file bin/demo/good-metrics.json
	bin/policy-gate --policy builtin:model-quality --data testdata/demo/thresholds.yaml \
		--input bin/demo/good-metrics.json --decision-file bin/demo/good-decision.json
	@echo
	@echo '== A denied model: ACCURACY=0.871, EQUAL_OPPORTUNITY_FAIRNESS_PERCENT=23.4'
	bin/metrics-export --file testdata/demo/model-bad.env --output-file bin/demo/bad-metrics.json
	bin/policy-gate --policy builtin:model-quality --data testdata/demo/thresholds.yaml \
		--input bin/demo/bad-metrics.json --decision-file bin/demo/bad-decision.json; \
		code=$$?; echo "(exit code $$code: the gate denied)"; test $$code -eq 1
	@echo
	@echo '== The same model in warn mode, as a workflow step: warnings, outputs, job summary'
	GITHUB_ACTIONS=true GITHUB_OUTPUT=bin/demo/output GITHUB_STEP_SUMMARY=bin/demo/summary.md \
		INPUT_POLICY=builtin:model-quality INPUT_DATA=testdata/demo/thresholds.yaml \
		INPUT_INPUT=bin/demo/bad-metrics.json INPUT_MODE=warn INPUT_DECISION_FILE=bin/demo/warn-decision.json \
		bin/policy-gate
	@echo '-- step outputs (GITHUB_OUTPUT):'; cat bin/demo/output; rm -f bin/demo/output
	@echo '-- job summary (GITHUB_STEP_SUMMARY):'; cat bin/demo/summary.md; rm -f bin/demo/summary.md

bench:
	$(GO) test -run '^$$' -bench . -benchtime 20x ./...
	bash internal/policygate/bench/compare.sh
	bash internal/ecrpush/bench/compare.sh
	bash internal/imagescan/bench/compare.sh

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
			CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(IMAGE_DIR)/linux-$$arch/$$t ./cmd/$$t; \
		done; \
	done
	$(GO) run ./internal/image/mkimage -out $(IMAGE_DIR)/oci -name $(IMAGE) \
		-version $(VERSION) -revision $(REVISION) -created $(CREATED) \
		-tools $(subst $(space),$(comma),$(TOOLS)) \
		$(foreach p,$(platforms),-platform $(p)=$(IMAGE_DIR)/linux-$(notdir $(p))) \
		$(foreach t,$(IMAGE_TAGS),-tag $(t)) -sbom $(IMAGE_DIR)/sbom.spdx.json
