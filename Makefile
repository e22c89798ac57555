# The two set-up commands of the README.
#   make audit   builds probity, fetches SmolLM2 if it is not cached, runs the default audit
#   make test    builds, fetches the models the real-model tests need (SmolLM2 and
#                all-MiniLM-L6-v2), runs the test suite
SHELL := /bin/bash
PROBITY := ./target/release/probity

.PHONY: audit test build model model-smollm2 test-deps

build:
	cargo build --release

model-smollm2: build
	$(PROBITY) model pull smollm2-135m-instruct

model: model-smollm2
	$(PROBITY) model pull all-minilm-l6-v2

# A breached threshold (exit 1) is a result, not a failure of the command: the
# verdict and the report's path are printed either way.
audit: model-smollm2
	@$(PROBITY) audit audits/quickstart.toml --threads $$(nproc); status=$$?; \
	if [ $$status -gt 1 ]; then exit $$status; fi

# What the report tests need beyond Rust: Python's lxml and jsonschema (to check the
# JUnit and CycloneDX outputs against their published schemas) and a headless
# Chromium (to load the HTML report in a real browser). Installed when missing;
# Chromium only where apt-get runs as root (Debian's `chromium` package).
test-deps:
	@python3 -c 'import lxml, jsonschema' 2>/dev/null || python3 -m pip install --quiet lxml jsonschema \
	  || python3 -m pip install --quiet --break-system-packages lxml jsonschema
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null \
	  || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	         apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	       else echo "note: no Chromium on PATH; the browser test is skipped (install chromium)"; fi; }

# The last line sums every test binary's result ("N passed, N failed").
test: model test-deps
	@set -o pipefail; cargo test --release 2>&1 | tee target/test.log; status=$$?; \
	awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($$i ~ /^passed/) p += $$(i-1); if ($$i ~ /^failed/) f += $$(i-1) } } \
	     END { printf "tests: %d passed, %d failed\n", p, f }' target/test.log; exit $$status
