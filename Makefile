# The two set-up commands of the README: `make demo` and `make test`. Both install what they need.
SWIFT ?= swift

.PHONY: deps build release test demo bench clean

deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

demo: release
	@bash scripts/demo.sh

bench: release
	@bash Benchmarks/run.sh

clean:
	rm -rf .build
