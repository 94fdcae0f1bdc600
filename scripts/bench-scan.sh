#!/usr/bin/env bash
# Benchmark `linkguard scan` against `rg -c` over the same unpacked export.
#
# Generates a deterministic export (scripts/gen-export.py) into
# $BENCH_DIR (default /var/tmp/linkguard-bench; never inside the repository)
# if it is missing, builds linkguard in release mode, and runs both tools
# once to warm the page cache, then $RUNS times each (default 3), printing
# the best wall time, MiB/s and peak RSS of each and the time ratio.
#
#   scripts/bench-scan.sh [--size-gib N]
#
# Needs ripgrep (`apt-get install -y ripgrep`) and GNU time (/usr/bin/time).
set -euo pipefail

SIZE_GIB=1
if [[ "${1:-}" == "--size-gib" ]]; then SIZE_GIB="$2"; fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-/var/tmp/linkguard-bench}"
RUNS="${RUNS:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/linkguard-target}"
PATTERN='(zoom\.us|zoomgov\.com|teams\.microsoft\.com|meet\.google\.com|webex\.com)'

command -v rg >/dev/null || { echo "ripgrep missing: apt-get install -y ripgrep" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "GNU time missing: apt-get install -y time" >&2; exit 1; }

DATA="$BENCH_DIR/export-${SIZE_GIB}gib"
if [[ ! -f "$DATA/.complete" ]]; then
    rm -rf "$DATA"
    python3 "$ROOT/scripts/gen-export.py" --size-gib "$SIZE_GIB" "$DATA"
    touch "$DATA/.complete"
fi
BYTES=$(du -sb --exclude=.complete "$DATA" | cut -f1)

(cd "$ROOT" && cargo build --release -p linkguard --quiet)
BIN="$CARGO_TARGET_DIR/release/linkguard"

# measure NAME CMD...: best wall seconds and its peak RSS (KiB) over $RUNS runs.
measure() {
    local name="$1"; shift
    local best="" best_rss="" log
    log="$(mktemp)"
    "$@" >/dev/null 2>&1 || true   # warm-up (page cache)
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -v -o "$log" "$@" >/dev/null 2>/dev/null || true
        local wall rss
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$log")
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
        if [[ -z "$best" ]] || awk "BEGIN{exit !($wall < $best)}"; then best="$wall"; best_rss="$rss"; fi
    done
    rm -f "$log"
    awk -v n="$name" -v w="$best" -v r="$best_rss" -v b="$BYTES" \
        'BEGIN{printf "%-10s %8.2f s  %8.1f MiB/s  peak RSS %7.1f MiB\n", n, w, b/1048576/w, r/1024}'
    eval "${name//-/_}_wall=$best"
}

echo "input: $DATA ($((BYTES / 1048576)) MiB), $(nproc) cores, best of $RUNS"
measure linkguard "$BIN" scan --quiet --format jsonl --out /dev/null "$DATA"
measure rg rg -c "$PATTERN" "$DATA"
# Host names are case-insensitive, and so is the scan: the like-for-like
# ripgrep run ignores case too.
measure rg-i rg -c -i "$PATTERN" "$DATA"
awk -v a="$linkguard_wall" -v b="$rg_wall" 'BEGIN{printf "ratio linkguard/rg:    %.2fx (target <= 1.5x)\n", a/b}'
awk -v a="$linkguard_wall" -v b="$rg_i_wall" 'BEGIN{printf "ratio linkguard/rg -i: %.2fx\n", a/b}'
