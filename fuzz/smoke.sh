#!/usr/bin/env bash
# Fuzz smoke run: builds every cargo-fuzz target once, then fuzzes each in turn for
# FUZZ_SECONDS (default 30; FUZZ_SECONDS_<target> overrides one target) over a temporary copy of
# its seeds, so corpus growth never touches the repo. Prints executions and coverage per target;
# a crash input is saved into fuzz/crashes/<target>/ and the script exits non-zero.
#
#   fuzz/smoke.sh                          # every target, 30 s each
#   FUZZ_SECONDS=300 fuzz/smoke.sh record_batch properties
#   FUZZ_EXTRA="-ignore_crashes=1" fuzz/smoke.sh request   # keep going past a known crash
set -uo pipefail

cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-30}
toolchain=${FUZZ_TOOLCHAIN:-+nightly}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request record_batch segment_recovery internal_records properties sasl)

if ! cargo "$toolchain" fuzz --version >/dev/null 2>&1; then
    cargo "$toolchain" install cargo-fuzz --locked || exit 1
fi
cargo "$toolchain" fuzz build || exit 1
triple=$(rustc "$toolchain" -vV | sed -n 's/^host: //p')
bin_dir="$PWD/fuzz/target/$triple/release"

# Scratch space on tmpfs when there is one: the segment and request targets create and delete
# files every execution, several times slower on a disk file system.
scratch=${FUZZ_TMPDIR:-}
if [ -z "$scratch" ]; then
    scratch=${TMPDIR:-/tmp}
    [ -d /dev/shm ] && [ -w /dev/shm ] && scratch=/dev/shm
fi
work=$(mktemp -d "$scratch/odradek-fuzz-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The harness's brokers and scratch partitions go under the temp dir: keep them in ours.
export TMPDIR="$work/tmp"
mkdir -p "$TMPDIR"

failed=()
printf '%-18s %6s %12s %8s %8s  %s\n' target secs execs cov ft result
for t in "${targets[@]}"; do
    secs_var="FUZZ_SECONDS_$t"
    secs=${!secs_var:-$seconds}
    dir="$work/$t"
    mkdir -p "$dir/corpus" "$dir/artifacts"
    cp fuzz/seeds/"$t"/* "$dir/corpus/"
    # -jobs=1 -workers=1: one fuzzing process, whose output libFuzzer copies to ours at the end.
    (cd "$dir" && "$bin_dir/$t" "$dir/corpus" -max_total_time="$secs" -print_final_stats=1 \
        -rss_limit_mb=2048 -timeout=10 -jobs=1 -workers=1 -artifact_prefix="$dir/artifacts/" \
        ${FUZZ_EXTRA:-}) >"$dir/log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
    last=$(grep -E '^#[0-9]+.* cov: ' "$dir/log" | tail -1)
    # -fork mode (e.g. with -ignore_crashes=1) prints no final stats: its status lines count.
    [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    result=ok
    shopt -s nullglob
    found=("$dir"/artifacts/*)
    shopt -u nullglob
    if [ $rc -ne 0 ] || [ ${#found[@]} -gt 0 ]; then
        result="FAILED (exit $rc)"
        failed+=("$t")
        mkdir -p "fuzz/crashes/$t"
        for f in "${found[@]}"; do
            cp "$f" "fuzz/crashes/$t/"
            result="$result, saved fuzz/crashes/$t/$(basename "$f")"
        done
        mkdir -p "fuzz/artifacts/$t"
        cp "$dir/log" "fuzz/artifacts/$t/smoke-$(date +%Y%m%d-%H%M%S).log"
        grep -E 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|^SUMMARY' "$dir/log" | head -5 | sed 's/^/    /'
    fi
    printf '%-18s %6s %12s %8s %8s  %s\n' "$t" "$secs" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$result"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "crashed: ${failed[*]} (inputs in fuzz/crashes/<target>/, logs in fuzz/artifacts/<target>/)" >&2
    exit 1
fi
