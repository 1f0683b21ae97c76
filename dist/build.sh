#!/usr/bin/env bash
# The dist command (`make dist`): builds the static musl binaries this machine can build with the
# `dist` profile (fat LTO, one codegen unit, stripped), copies them to dist/cimon-<target> and
# writes dist/SHA256SUMS for every binary present. The release workflow
# (.github/workflows/release.yml) builds the other targets on their own runners.
#
#   make dist                                   # x86_64 musl (+ aarch64 musl when a linker exists)
#   TARGETS="x86_64-unknown-linux-musl" make dist
#
# Needs: rustup targets (`rustup target add x86_64-unknown-linux-musl`), `musl-tools` (ring's C
# code needs x86_64-linux-musl-gcc); for aarch64: `gcc-aarch64-linux-gnu` or `aarch64-linux-musl-gcc`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

targets=${TARGETS:-}
if [[ -z $targets ]]; then
    targets=x86_64-unknown-linux-musl
    if command -v aarch64-linux-musl-gcc >/dev/null || command -v aarch64-linux-gnu-gcc >/dev/null; then
        targets+=" aarch64-unknown-linux-musl"
    else
        echo "dist: no aarch64 cross compiler here; aarch64 is built by the release workflow" >&2
    fi
fi

for target in $targets; do
    if [[ $target == aarch64-unknown-linux-musl ]] && ! command -v aarch64-linux-musl-gcc >/dev/null; then
        export CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc
        export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc
    fi
    echo "dist: cargo build --locked --profile dist --target $target --bin cimon" >&2
    cargo build --locked --profile dist --target "$target" --bin cimon
    cp "$TARGET_DIR/$target/dist/cimon" "dist/cimon-$target.tmp"
    mv -f "dist/cimon-$target.tmp" "dist/cimon-$target"
    if [[ $target == *linux* ]] && command -v file >/dev/null; then
        file "dist/cimon-$target" | grep -Eq 'static(-pie)? linked' \
            || { echo "dist: dist/cimon-$target is not statically linked: $(file -b "dist/cimon-$target")" >&2; exit 1; }
    fi
done

(
    cd dist
    shopt -s nullglob
    bins=(cimon-*)
    ((${#bins[@]})) || { echo "dist: no binaries in dist/" >&2; exit 1; }
    sha256sum "${bins[@]}" > SHA256SUMS.tmp
    mv -f SHA256SUMS.tmp SHA256SUMS
    cat SHA256SUMS >&2
    ls -l "${bins[@]}" >&2
)
