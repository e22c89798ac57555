# The two set-up commands of the README.
#   make audit   builds probity, fetches SmolLM2 if it is not cached, runs the default audit
#   make test    builds, fetches the model the real-model tests need, runs the test suite
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

test: model
	cargo test --release
