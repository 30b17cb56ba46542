# make build   build every tool into bin/
# make test    vet and test everything (what .ci/run runs)
# make demo    policy-gate on an allowed and a denied model
# make bench   Go benchmarks and the comparisons with other tools

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/mlship/mlship/internal/version.Version=$(VERSION)
TOOLS   := $(notdir $(wildcard cmd/*))

.PHONY: build test lint demo bench $(TOOLS)

build: $(TOOLS)

$(TOOLS):
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/$@ ./cmd/$@

test:
	$(GO) vet ./...
	$(GO) test -count=1 -shuffle=on ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

demo: policy-gate
	@echo '== An allowed model: accuracy 0.934, fairness gap 12.5 (policy: accuracy >= 0.9, gap <= 21)'
	bin/policy-gate --policy builtin:model-quality --data testdata/demo/thresholds.yaml \
		--input testdata/demo/model-good.json --decision-file bin/demo/good.json
	@echo
	@echo '== A denied model: accuracy 0.871, fairness gap 23.4'
	bin/policy-gate --policy builtin:model-quality --data testdata/demo/thresholds.yaml \
		--input testdata/demo/model-bad.json --decision-file bin/demo/bad.json; \
		code=$$?; echo "(exit code $$code: the gate denied)"; test $$code -eq 1
	@echo
	@echo '== The same denied model in warn mode: the pipeline warns and continues'
	bin/policy-gate --policy builtin:model-quality --data testdata/demo/thresholds.yaml \
		--input testdata/demo/model-bad.json --decision-file bin/demo/bad-warn.json --mode warn

bench:
	$(GO) test -run '^$$' -bench . -benchtime 20x ./...
	bash internal/policygate/bench/compare.sh
