#!/usr/bin/env bash
# The benchmark of BENCHMARKS.md: `cimon report --format json` on generated Surefire-style
# reports, side by side with raw quick-xml tokenising, junitparser+lxml and quick-junit.
#
#   benches/run.sh                 # 100M and 1G, both kinds, 3 runs each, dist build too
#   SIZES=100M RUNS=1 DIST=0 benches/run.sh   # a quick look
#
# Environment:
#   SIZES     sizes to generate (default "100M 1G")
#   KINDS     input kinds (default "cases output")
#   RUNS      runs per tool and file, in rounds where the tools take turns; the median
#             is reported (default 3)
#   PEER_RUNS_1G  runs of junitparser and quick-junit on the 1G inputs (default RUNS; each
#             takes minutes there)
#   DIST      1: also build the static musl binary (cargo --profile dist, ~10 min) and time
#             `cimon --version` with hyperfine (default 1)
#   PEERS     0: skip junitparser and quick-junit (default 1)
#   BENCH_DIR where inputs go (default: a new temporary directory, removed at the end)
#   UPDATE    0: do not rewrite BENCHMARKS.md (default 1)
#   SIZES=""  with DIST=1: only the static build and the start-up time
#
# Needs: cargo, python3 with `pip install junitparser lxml`, /usr/bin/time (apt `time`),
# and for DIST=1 `musl-tools`, `rustup target add x86_64-unknown-linux-musl`, `hyperfine`.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SIZES=${SIZES:-"100M 1G"}
KINDS=${KINDS:-"cases output"}
RUNS=${RUNS:-3}
PEER_RUNS_1G=${PEER_RUNS_1G:-$RUNS}
DIST=${DIST:-1}
PEERS=${PEERS:-1}
UPDATE=${UPDATE:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

if [[ -n "${BENCH_DIR:-}" ]]; then
    WORK=$BENCH_DIR
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/cimon-bench.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
fi
RESULTS=$WORK/results.tsv
: > "$RESULTS"

say() { printf '\n== %s\n' "$*" >&2; }

[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time (apt-get install -y time)" >&2; exit 2; }

say "machine"
CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
MACHINE="$(nproc) cores, ${CPU:-unknown CPU}, $(free -g | awk '/^Mem:/{print $2}') GiB RAM, $(rustc --version)"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "$MACHINE" >&2

say "build"
[[ -n $SIZES ]] && cargo build --release --bin cimon --example xml_tokenize >&2
CIMON=$TARGET_DIR/release/cimon
TOKENIZE=$TARGET_DIR/release/examples/xml_tokenize
if [[ $PEERS == 1 && -n $SIZES ]]; then
    cargo build --release --manifest-path benches/peers/Cargo.toml \
        --target-dir benches/peers/target >&2
    QJ=$ROOT/benches/peers/target/release/quick_junit_bench
    python3 -c 'import junitparser, lxml' 2>/dev/null || {
        echo "needs: pip install junitparser lxml" >&2
        exit 2
    }
fi

DIST_MD=""
if [[ $DIST == 1 ]]; then
    say "static musl build (cargo build --profile dist --target x86_64-unknown-linux-musl)"
    cargo build --profile dist --target x86_64-unknown-linux-musl --bin cimon >&2
    STATIC=$TARGET_DIR/x86_64-unknown-linux-musl/dist/cimon
    FILE_OUT=$(file -b "$STATIC")
    SIZE_B=$(stat -c %s "$STATIC")
    LS_OUT=$(ls -l "$STATIC" | sed "s#$ROOT/##")
    START=""
    if command -v hyperfine >/dev/null; then
        hyperfine -N --warmup 20 --export-json "$WORK/hf.json" "$STATIC --version" >&2
        START=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print(f"{r[\"mean\"]*1000:.2f} ms ± {r[\"stddev\"]*1000:.2f} ms (min {r[\"min\"]*1000:.2f} ms, {len(r[\"times\"])} runs)")' "$WORK/hf.json")
    fi
    SIZE_OK=$(python3 -c "print('met' if $SIZE_B <= 20_000_000 else 'MISSED')")
    DIST_MD=$(printf '```text\n$ file target/x86_64-unknown-linux-musl/dist/cimon\n%s\n$ ls -l target/x86_64-unknown-linux-musl/dist/cimon\n%s\n```\n\nSize: %s bytes (%s MB; target ≤ 20 MB: **%s**).\n' \
        "$FILE_OUT" "$LS_OUT" "$SIZE_B" "$(python3 -c "print(f'{$SIZE_B / 1e6:.1f}')")" "$SIZE_OK")
    if [[ -n $START ]]; then
        START_OK=$(python3 -c 'import json,sys; print("met" if json.load(open(sys.argv[1]))["results"][0]["mean"] < 0.010 else "MISSED")' "$WORK/hf.json")
        DIST_MD+=$(printf '\n\n`hyperfine -N --warmup 20 "target/x86_64-unknown-linux-musl/dist/cimon --version"`: %s (target < 10 ms: **%s**).\n' "$START" "$START_OK")
    fi
fi

# The tools take turns, one run each per round, so that a drift of this VM's speed during
# the benchmark falls on all of them alike instead of on whichever ran last.
#
# run_tool TOOL: one run of TOOL on $name; appends "tool, file, seconds, KiB, status" to
# $RUNLOG. Fails when the tool rejected the input.
run_tool() {
    local tool=$1 file=$name cmd
    case $tool in
        raw-quick-xml) cmd=("$TOKENIZE" "$WORK/$name") ;;
        cimon) cmd=(env -u GITHUB_ACTIONS -u GITLAB_CI -u JENKINS_URL
            "$CIMON" report --provider generic --format json --no-summary --junit "$WORK/$name") ;;
        quick-junit) cmd=("$QJ" "$WORK/$name") ;;
        "quick-junit (Z)") file=${name%.xml}-Z.xml cmd=("$QJ" "$WORK/${name%.xml}-Z.xml") ;;
        junitparser) cmd=(python3 benches/junitparser_bench.py "$WORK/$name") ;;
    esac
    local status=ok t m
    # Output goes to /dev/null, as BENCHMARKS.md states: cimon's is the whole JSON report.
    if ! /usr/bin/time -f '%e %M' -o "$WORK/time.txt" "${cmd[@]}" >/dev/null 2>"$WORK/stderr.txt"; then
        status="rejected: $(grep -v '^Command exited' "$WORK/stderr.txt" | tail -1 | sed "s#$WORK/##g" | cut -c1-160)"
    fi
    read -r t m <"$WORK/time.txt" || true
    [[ $t =~ ^[0-9.]+$ ]] || t=$(tail -1 "$WORK/time.txt" | cut -d' ' -f1)
    [[ $m =~ ^[0-9]+$ ]] || m=$(tail -1 "$WORK/time.txt" | cut -d' ' -f2)
    echo "  $tool $file: ${t}s ${m}KiB $status" >&2
    printf '%s\t%s\t%s\t%s\t%s\n' "$tool" "$file" "$t" "$m" "$status" >>"$RUNLOG"
    [[ $status == ok ]]
}

# measure_all CASES: RUNS rounds over the tools (PEER_RUNS_1G for the peers on 1G files),
# then one line per tool in $RESULTS with the median seconds and median peak RSS.
measure_all() {
    local cases=$1 tools=(raw-quick-xml cimon) round tool runs
    [[ $PEERS == 1 ]] && tools+=(quick-junit "quick-junit (Z)" junitparser)
    declare -A rejected=()
    RUNLOG=$WORK/runs.tsv
    : >"$RUNLOG"
    for ((round = 1; round <= RUNS; round++)); do
        for tool in "${tools[@]}"; do
            runs=$RUNS
            [[ $tool != raw-quick-xml && $tool != cimon && $name == *-1G* ]] && runs=$PEER_RUNS_1G
            ((round <= runs)) && [[ -z ${rejected[$tool]:-} ]] || continue
            run_tool "$tool" || rejected[$tool]=1
        done
    done
    python3 - "$RUNLOG" "$cases" "$WORK" >>"$RESULTS" <<'PY'
import os, sys
runs, cases, work = sys.argv[1], sys.argv[2], sys.argv[3]
by = {}
for line in open(runs):
    tool, file, t, m, status = line.rstrip("\n").split("\t")
    by.setdefault((tool, file), []).append((float(t), int(m), status))
median = lambda xs: sorted(xs)[(len(xs) - 1) // 2]
for (tool, file), rs in by.items():
    status = next((s for _, _, s in rs if s != "ok"), "ok")
    print("\t".join([tool, file, f"{median([t for t, _, _ in rs]):.2f}",
                     str(median([m for _, m, _ in rs])), cases,
                     str(os.path.getsize(os.path.join(work, file))), status, str(len(rs))]))
PY
}

for size in $SIZES; do
    for kind in $KINDS; do
        name=$kind-$size.xml
        say "generate $name"
        gen=$(python3 benches/gen_surefire.py --size "$size" --kind "$kind" "$WORK/$name" | tail -1)
        cases=$(sed -n 's/.*cases=\([0-9]*\).*/\1/p' <<<"$gen")
        echo "  $gen" >&2
        # quick-junit needs RFC 3339 timestamps: the same bytes with a zone added.
        [[ $PEERS == 1 ]] && sed 's/timestamp="\(2026-11-26T10:00:00\)"/timestamp="\1Z"/g' "$WORK/$name" >"$WORK/${name%.xml}-Z.xml"
        cat "$WORK/$name" >/dev/null # warm the page cache for every tool alike
        sync # write the generated files back now, not during the first measurements

        say "run $name"
        measure_all "$cases"
        rm -f "$WORK/${name%.xml}-Z.xml"
        rm -f "$WORK/$name"
    done
done

say "results"
TABLE=""
[[ -s $RESULTS ]] && TABLE=$(python3 - "$RESULTS" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
MiB = 1 << 20
by = {(r[0], r[1].replace("-Z.xml", ".xml")): r for r in rows}
out = ["| tool | file | seconds | MiB/s | peak RSS MiB | test cases | RSS budget MiB | runs | targets |",
       "|---|---|---:|---:|---:|---:|---:|---:|---|"]
verdicts = []
for tool, file, t, rss_kib, cases, size, status, runs in rows:
    t, rss, cases, size = float(t), int(rss_kib) / 1024, int(cases), int(size)
    mibs = size / MiB / t if t > 0 else float("inf")
    budget = 32 + 256 * cases / MiB
    notes = []
    if tool == "cimon":
        base = file
        def check(label, ok):
            notes.append(f"{'✅' if ok else '❌'} {label}")
            verdicts.append(ok)
        check("≥ 200 MiB/s", mibs >= 200)
        raw = by.get(("raw-quick-xml", base))
        if raw and float(raw[2]) > 0:  # a tiny file can take 0.00 s
            check(f"≤ 1.5× raw ({t / float(raw[2]):.2f}×)", t <= 1.5 * float(raw[2]))
        for peer in ("junitparser", "quick-junit (Z)"):
            p = by.get((peer, base))
            if p and p[6] == "ok" and t > 0:
                check(f"≥ 10× {peer.split()[0]} ({float(p[2]) / t:.1f}×)", float(p[2]) >= 10 * t)
        check(f"RSS ≤ budget", rss <= budget)
        if base.startswith("output-1G"):
            check("RSS ≤ 64 MiB", rss <= 64)
    if status != "ok":
        notes.append(status.replace("|", "\\|"))
    shown_t = f"{t:.2f}" if status == "ok" else f"({t:.2f})"
    shown_m = f"{mibs:.0f}" if status == "ok" else "—"
    out.append(f"| {tool} | {file} | {shown_t} | {shown_m} | {rss:.0f} | {cases} | {budget:.0f} | {runs} | {'; '.join(notes)} |")
print("\n".join(out))
print()
print(f"cimon targets met: {sum(verdicts)} of {len(verdicts)}")
PY
)
echo "$TABLE"

if [[ $UPDATE == 1 ]]; then
    MACHINE="$MACHINE; load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
    python3 - "$ROOT/BENCHMARKS.md" "$TABLE" "$MACHINE" "$DIST_MD" "SIZES=\"$SIZES\" KINDS=\"$KINDS\" RUNS=$RUNS PEER_RUNS_1G=$PEER_RUNS_1G DIST=$DIST PEERS=$PEERS benches/run.sh" <<'PY'
import datetime, re, sys
path, table, machine, dist, command = sys.argv[1:6]
try:
    doc = open(path).read()
except FileNotFoundError:
    doc = "# Benchmarks\n\n<!-- results:start -->\n<!-- results:end -->\n\n<!-- dist:start -->\n<!-- dist:end -->\n"
def put(doc, tag, body):
    pat = re.compile(rf"(<!-- {tag}:start -->\n).*?(<!-- {tag}:end -->)", re.S)
    return pat.sub(lambda m: m.group(1) + body.rstrip() + "\n" + m.group(2), doc)
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
if table:
    results = f"Command: `{command}`  \nMachine: {machine}  \nDate: {date}\n\n{table}\n"
    doc = put(doc, "results", results)
if dist:
    doc = put(doc, "dist", f"Date: {date}\n\n{dist}\n")
open(path, "w").write(doc)
print(f"updated {path}", file=sys.stderr)
PY
fi
