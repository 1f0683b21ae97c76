# Shortcuts; each target is one documented command.
.PHONY: dist test

# Static musl binaries in dist/ and dist/SHA256SUMS (see dist/build.sh).
dist:
	dist/build.sh

# The whole test suite, as CI runs it.
test:
	scripts/test
