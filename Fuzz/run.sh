#!/usr/bin/env bash
# Fuzz/run.sh TARGET SECONDS [libFuzzer options…]   runs one libFuzzer target for SECONDS
# Fuzz/run.sh TARGET --runs N [options…]             runs it for N executions instead
# Fuzz/run.sh --seeds                                rewrites every target's seed corpus (Fuzz/Corpus/*/seed-*)
# Fuzz/run.sh --list                                 lists the targets
#
# TARGET: safetensors | jsonl | manifest | router | serve.
# Builds the target first if needed (release, -sanitize=fuzzer,address, in Fuzz/.build-fuzz), starts from
# the committed seeds in Fuzz/Corpus/TARGET and keeps what libFuzzer adds in Fuzz/.build-fuzz/corpus/TARGET
# (not committed). Prints executions, exec/s and findings; exits 1 on any crash, leak, timeout or
# sanitizer report (the input is saved as Fuzz/.build-fuzz/findings/TARGET/crash-* etc.).
# Set NICE=19 to run at lower priority (the build and the fuzzer).
set -euo pipefail
cd "$(dirname "$0")"
FUZZ_DIR=$(pwd)
SCRATCH="$FUZZ_DIR/.build-fuzz"
NICE_CMD=(nice -n "${NICE:-0}")

declare -A PRODUCTS=([safetensors]=FuzzSafeTensors [jsonl]=FuzzJSONL [manifest]=FuzzManifest [router]=FuzzRouter [serve]=FuzzServeRequest)
TARGETS="safetensors jsonl manifest router serve"

# build [PRODUCT]: one target's executable (only what it imports), or all of them.
build() {
    "${NICE_CMD[@]}" swift build -c release --scratch-path "$SCRATCH" ${1:+--product "$1"} \
        -Xswiftc -sanitize=fuzzer,address >&2
}

# One thread for OpenBLAS, so a fuzzer is one process on one core; Swift's own crash backtracer off, so
# that libFuzzer's handler reports a trap and saves the input.
export OPENBLAS_NUM_THREADS=1 SWIFT_BACKTRACE=enable=no
# Leaks and every ASan report are findings; an allocation of more than 1 GiB is one too.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=0}"

case "${1:-}" in
    --list) echo "$TARGETS"; exit 0 ;;
    --seeds)
        build
        for t in $TARGETS; do
            rm -f "Corpus/$t"/seed-*
            tmp=$(mktemp -d)
            FUZZ_WRITE_SEEDS="$tmp" "$SCRATCH/release/${PRODUCTS[$t]}"
            for f in "$tmp"/*; do mv "$f" "Corpus/$t/seed-$(basename "$f")"; done
            rmdir "$tmp"
        done
        exit 0 ;;
    ""|-h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

TARGET=$1; shift
PRODUCT=${PRODUCTS[$TARGET]:-}
[ -n "$PRODUCT" ] || { echo "unknown target '$TARGET' (targets: $TARGETS)" >&2; exit 2; }
if [ "${1:-}" = "--runs" ]; then LIMIT=(-runs="$2"); shift 2; else LIMIT=(-max_total_time="${1:-30}"); shift || true; fi

build "$PRODUCT"
mkdir -p "$SCRATCH/corpus/$TARGET" "$SCRATCH/findings/$TARGET"
LOG="$SCRATCH/findings/$TARGET/last-run.log"
set +e
"${NICE_CMD[@]}" "$SCRATCH/release/$PRODUCT" "${LIMIT[@]}" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$SCRATCH/findings/$TARGET/" "$@" \
    "$SCRATCH/corpus/$TARGET" "Corpus/$TARGET" 2>&1 | tee "$LOG" | grep -E '^#[0-9]+ +(INITED|DONE|pulse)|ERROR|SUMMARY|Test unit written|invariant violated|Fatal error|==[0-9]+==' 
status=${PIPESTATUS[0]}
set -e
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$LOG" | tail -1 || true)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$LOG" | tail -1 || true)
secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$LOG" | tail -1 || true)
echo "fuzz $TARGET: ${execs:-?} executions, ${rate:-?} exec/s, ${secs:-?} s, exit $status, findings: $([ "$status" = 0 ] && echo 0 || echo "see $SCRATCH/findings/$TARGET")"
exit $([ "$status" = 0 ] && echo 0 || echo 1)
