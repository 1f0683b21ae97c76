#!/bin/sh
# Installs the cimon binary for this machine (Linux or macOS; x86_64 or aarch64), verifying its
# SHA-256 against the SHA256SUMS published next to it. For Jenkins agents, GitLab runners and
# laptops; the GitHub Action uses it too.
#
#   # from a release (downloads cimon-<target> and SHA256SUMS from the release):
#   curl -fsSL https://github.com/cimon-dev/cimon/releases/latest/download/install.sh | sh
#   sh install.sh --version 0.1.0 --to /usr/local/bin
#   # from a directory holding the binaries and SHA256SUMS (a checkout after `make dist`):
#   sh dist/install.sh --from dist --to "$HOME/.local/bin"
#
# Options:
#   --to DIR        where the binary goes (default: $CIMON_INSTALL_DIR, else /usr/local/bin as
#                   root, else $HOME/.local/bin)
#   --from DIR      take cimon-<target> and SHA256SUMS from DIR instead of downloading
#   --version V     release to download (default: latest)
#   --target T      Rust target triple (default: detected from uname)
#   --base-url URL  where releases live (default: $CIMON_RELEASE_URL, else
#                   https://github.com/cimon-dev/cimon/releases)
#
# Exit codes: 0 installed · 1 download or checksum failure · 2 usage · 3 no binary for this
# target (the caller may build from source: cargo install --locked --git …).
set -eu

to=${CIMON_INSTALL_DIR:-}
from=
version=
target=
base_url=${CIMON_RELEASE_URL:-https://github.com/cimon-dev/cimon/releases}

die() { code=$1; shift; echo "install.sh: $*" >&2; exit "$code"; }

while [ $# -gt 0 ]; do
    case $1 in
        --to) [ $# -ge 2 ] || die 2 "--to needs a directory"; to=$2; shift 2 ;;
        --from) [ $# -ge 2 ] || die 2 "--from needs a directory"; from=$2; shift 2 ;;
        --version) [ $# -ge 2 ] || die 2 "--version needs a version"; version=${2#v}; shift 2 ;;
        --target) [ $# -ge 2 ] || die 2 "--target needs a target triple"; target=$2; shift 2 ;;
        --base-url) [ $# -ge 2 ] || die 2 "--base-url needs a URL"; base_url=$2; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die 2 "unknown option $1 (see --help)" ;;
    esac
done

if [ -z "$target" ]; then
    os=$(uname -s)
    arch=$(uname -m)
    case $arch in
        x86_64|amd64) arch=x86_64 ;;
        aarch64|arm64) arch=aarch64 ;;
        *) die 3 "no cimon binary for CPU $arch; build from source: cargo install --locked --git https://github.com/cimon-dev/cimon" ;;
    esac
    case $os in
        Linux) target=$arch-unknown-linux-musl ;;
        Darwin) target=$arch-apple-darwin ;;
        MINGW*|MSYS*|CYGWIN*|Windows_NT) target=$arch-pc-windows-msvc ;;
        *) die 3 "no cimon binary for $os; build from source: cargo install --locked --git https://github.com/cimon-dev/cimon" ;;
    esac
fi
name=cimon-$target
case $target in *windows*) name=$name.exe ;; esac

if [ -z "$to" ]; then
    if [ "$(id -u)" = 0 ]; then to=/usr/local/bin; else to=$HOME/.local/bin; fi
fi

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
    else die 1 "needs sha256sum or shasum to verify the download"
    fi
}

work=$(mktemp -d "${TMPDIR:-/tmp}/cimon-install.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

if [ -n "$from" ]; then
    [ -f "$from/SHA256SUMS" ] || die 3 "$from/SHA256SUMS not found (run \`make dist\` first)"
    [ -f "$from/$name" ] || die 3 "$from/$name not found: no binary for $target in $from"
    cp "$from/SHA256SUMS" "$work/SHA256SUMS"
    cp "$from/$name" "$work/$name"
    source="$from"
else
    command -v curl >/dev/null 2>&1 || die 1 "needs curl to download cimon"
    if [ -n "$version" ]; then url=$base_url/download/v$version; else url=$base_url/latest/download; fi
    curl -fsSL --retry 3 -o "$work/SHA256SUMS" "$url/SHA256SUMS" || die 1 "cannot download $url/SHA256SUMS"
    grep -q " \*\{0,1\}$name\$" "$work/SHA256SUMS" || die 3 "the release at $url has no binary for $target"
    curl -fsSL --retry 3 -o "$work/$name" "$url/$name" || die 1 "cannot download $url/$name"
    source=$url
fi

expected=$(awk -v n="$name" '{ f = $2; sub(/^\*/, "", f); if (f == n) print $1 }' "$work/SHA256SUMS")
[ -n "$expected" ] || die 3 "SHA256SUMS from $source lists no $name"
actual=$(sha256_of "$work/$name")
[ "$expected" = "$actual" ] || die 1 "checksum mismatch for $name from $source: expected $expected, got $actual"

mkdir -p "$to"
dest=$to/cimon
case $name in *.exe) dest=$dest.exe ;; esac
cp "$work/$name" "$dest.tmp.$$"
chmod 755 "$dest.tmp.$$"
mv -f "$dest.tmp.$$" "$dest"
echo "installed $dest ($target, sha256 $actual)" >&2
