# The two set-up commands of the README.
#   make audit   builds probity, fetches SmolLM2 if it is not cached, runs the default audit
#   make test    builds, fetches the model the real-model tests need, runs the test suite
SHELL := /bin/bash
PROBITY := ./target/release/probity

.PHONY: audit test build model

build:
	cargo build --release

model: build
	$(PROBITY) model pull smollm2-135m-instruct

# A breached threshold (exit 1) is a result, not a failure of the command: the
# verdict and the report's path are printed either way.
audit: model
	@$(PROBITY) audit audits/quickstart.toml --threads $$(nproc); status=$$?; \
	if [ $$status -gt 1 ]; then exit $$status; fi

# The last line sums every test binary's result ("N passed, N failed").
test: model
	@set -o pipefail; cargo test --release 2>&1 | tee target/test.log; status=$$?; \
	awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($$i ~ /^passed/) p += $$(i-1); if ($$i ~ /^failed/) f += $$(i-1) } } \
	     END { printf "tests: %d passed, %d failed\n", p, f }' target/test.log; exit $$status
