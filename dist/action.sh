#!/usr/bin/env bash
# The steps of the composite action (action.yml), kept out of YAML so they can be read, linted and
# tested: `action.sh install | report | gate`. Inputs arrive as environment variables (INPUT_*,
# CIMON_*, GITHUB_TOKEN) — never interpolated into the script text.
set -euo pipefail

ACTION_DIR=${GITHUB_ACTION_PATH:-$(cd "$(dirname "$0")/.." && pwd)}
TEMP=${RUNNER_TEMP:-${TMPDIR:-/tmp}}

out() { [[ -n ${GITHUB_OUTPUT:-} ]] && printf '%s=%s\n' "$1" "$2" >> "$GITHUB_OUTPUT"; true; }
truthy() { [[ ${1:-} == true || ${1:-} == 1 || ${1:-} == yes ]]; }

# The Rust target of this runner (RUNNER_OS / RUNNER_ARCH as GitHub documents them).
runner_target() {
    local arch
    case ${RUNNER_ARCH:-$(uname -m)} in
        X64|x86_64|amd64) arch=x86_64 ;;
        ARM64|aarch64|arm64) arch=aarch64 ;;
        *) return 1 ;;
    esac
    case ${RUNNER_OS:-$(uname -s)} in
        Linux) echo "$arch-unknown-linux-musl" ;;
        macOS|Darwin) echo "$arch-apple-darwin" ;;
        Windows|MINGW*|MSYS*) echo "$arch-pc-windows-msvc" ;;
        *) return 1 ;;
    esac
}

install() {
    local bindir=$TEMP/cimon-bin target rc=0
    target=$(runner_target) || target=unknown
    if [[ -n ${CIMON_VERSION:-} ]]; then
        sh "$ACTION_DIR/dist/install.sh" --version "$CIMON_VERSION" --target "$target" --to "$bindir" || rc=$?
    else
        sh "$ACTION_DIR/dist/install.sh" --from "$ACTION_DIR/dist" --target "$target" --to "$bindir" || rc=$?
    fi
    local bin=$bindir/cimon
    [[ $target == *windows* ]] && bin=$bin.exe
    if ((rc == 3)); then
        # No prebuilt binary for this runner: build this checkout of the action from source.
        echo "::notice title=cimon::no prebuilt cimon for ${target} in ${ACTION_DIR}/dist; building from source with cargo (a few minutes)"
        command -v cargo >/dev/null || { echo "::error title=cimon::cargo is needed to build cimon from source (add dtolnay/rust-toolchain before this step)"; exit 1; }
        CARGO_TARGET_DIR=$TEMP/cimon-target cargo build --release --locked --quiet \
            --manifest-path "$ACTION_DIR/Cargo.toml" --bin cimon
        mkdir -p "$bindir"
        cp "$TEMP/cimon-target/release/cimon$([[ $target == *windows* ]] && echo .exe)" "$bin"
    elif ((rc != 0)); then
        echo "::error title=cimon::installing cimon failed (install.sh exit $rc)"
        exit 1
    fi
    "$bin" --version
    out bin "$bin"
}

report() {
    local report_path=$TEMP/cimon-report.json glob extra
    args=(report --output "$report_path")
    [[ -n ${INPUT_STATUS:-} ]] && args+=(--status "$INPUT_STATUS")
    while IFS= read -r glob; do
        glob=${glob#"${glob%%[![:space:]]*}"}
        glob=${glob%"${glob##*[![:space:]]}"}
        [[ -n $glob ]] && args+=(--junit "$glob")
    done <<< "${INPUT_JUNIT:-}"
    [[ -n ${INPUT_POLICY:-} ]] && args+=(--config "$INPUT_POLICY")
    [[ -n ${INPUT_HISTORY:-} ]] && args+=(--history "$INPUT_HISTORY")
    truthy "${INPUT_STRICT:-}" && args+=(--strict)
    truthy "${INPUT_NOTIFY:-}" && args+=(--notify)
    read -r -a extra <<< "${INPUT_ARGS:-}"
    args+=("${extra[@]}")
    "${CIMON_BIN:?the install step did not run}" "${args[@]}"
    # report-path is written by `cimon report` itself in GitHub Actions; say it again for runs
    # where GITHUB_OUTPUT belongs to this step only.
    out report-path "$report_path"
}

gate() {
    args=(gate --report "${CIMON_REPORT:?the report step did not run}")
    [[ -n ${INPUT_POLICY:-} ]] && args+=(--policy "$INPUT_POLICY")
    [[ -n ${INPUT_HISTORY:-} ]] && args+=(--history "$INPUT_HISTORY")
    [[ -n ${CIMON_ENDPOINT:-} && -z ${INPUT_HISTORY:-} ]] && args+=(--endpoint "$CIMON_ENDPOINT")
    truthy "${INPUT_STRICT:-}" && args+=(--strict)
    "${CIMON_BIN:?the install step did not run}" "${args[@]}"
}

case ${1:-} in
    install) install ;;
    report) report ;;
    gate) gate ;;
    *) echo "usage: action.sh install|report|gate" >&2; exit 2 ;;
esac
