#!/bin/sh
# Build the libFuzzer targets with clang (ASan + UBSan) and run each for N
# seconds (default 20): tests/fuzz/run.sh [SECONDS] [TARGET...]
# New inputs go to build-fuzz/fuzz-work/<target>/, crashes to
# build-fuzz/fuzz-work/<target>/crash-*; the seed corpus in
# tests/fuzz/corpus/<target>/ is only read. Exit status 1 when a target failed.
set -eu
secs=${1:-20}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${NW_FUZZ_BUILD:-$root/build-fuzz}
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DNW_FUZZ=ON -DNW_TESTS=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target fuzz_all -j"$(nproc)" >/dev/null
targets=${*:-$(cd "$build/fuzz" && ls fuzz_* | sort)}
status=0
for t in $targets; do
    work=$build/fuzz-work/$t
    mkdir -p "$work"
    seeds=$root/tests/fuzz/corpus/$t
    [ -d "$seeds" ] || seeds=
    if "$build/fuzz/$t" -max_total_time="$secs" -max_len=262144 -timeout=10 -rss_limit_mb=2560 \
         -artifact_prefix="$work/" -print_final_stats=1 "$work" $seeds >"$work.log" 2>&1; then
        echo "ok   $t: $(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$work.log" | grep -Eo '[0-9]+$') runs in ${secs}s"
    else
        echo "FAIL $t: see $work.log"
        status=1
    fi
done
exit $status
