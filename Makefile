# The two set-up commands of the README: `make demo` and `make test`. Both install what they need.
SWIFT ?= swift

.PHONY: deps build release test fuzz demo bench clean

deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Debug and release-optimised test runs, the stress test, bounded fuzz runs: scripts/test.sh.
test: deps
	@SWIFT=$(SWIFT) bash scripts/test.sh  # debug and release-optimised builds, fuzz, stress

# libFuzzer targets in .build-fuzz, FUZZ_SECONDS each (default 30): `FUZZ_SECONDS=600 make fuzz`.
fuzz: deps
	@SWIFT=$(SWIFT) bash scripts/fuzz.sh

demo: release
	@bash scripts/demo.sh

bench: release
	@bash Benchmarks/run.sh

clean:
	rm -rf .build .build-release .build-fuzz
