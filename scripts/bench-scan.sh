#!/usr/bin/env bash
# Benchmark `linkguard scan` against `rg -c` over the same unpacked export.
#
# Generates a deterministic export (scripts/gen-export.py) into
# $BENCH_DIR (default /var/tmp/linkguard-bench; never inside the repository)
# if it is missing, builds linkguard in release mode, and runs both tools
# once to warm the page cache, then $RUNS rounds (default 5) in which each
# tool runs once in turn, printing the best wall time, MiB/s and peak RSS of
# each and the time ratios (of the best times, and the median of the rounds').
#
#   scripts/bench-scan.sh [--size-gib N] [--pretty]
#
# --pretty writes the Slack day-files indented, as Slack itself does (the
# default is one message per line).
#
# Needs ripgrep (`apt-get install -y ripgrep`) and GNU time (/usr/bin/time).
set -euo pipefail

SIZE_GIB=1
PRETTY=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --size-gib) SIZE_GIB="$2"; shift 2 ;;
        --pretty) PRETTY="--pretty"; shift ;;
        *) echo "usage: $0 [--size-gib N] [--pretty]" >&2; exit 2 ;;
    esac
done
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-/var/tmp/linkguard-bench}"
RUNS="${RUNS:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/linkguard-target}"
PATTERN='(zoom\.us|zoomgov\.com|teams\.microsoft\.com|meet\.google\.com|webex\.com)'

command -v rg >/dev/null || { echo "ripgrep missing: apt-get install -y ripgrep" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "GNU time missing: apt-get install -y time" >&2; exit 1; }

DATA="$BENCH_DIR/export-${SIZE_GIB}gib${PRETTY:+-pretty}"
if [[ ! -f "$DATA/.complete" ]]; then
    rm -rf "$DATA"
    python3 "$ROOT/scripts/gen-export.py" --size-gib "$SIZE_GIB" $PRETTY "$DATA"
    touch "$DATA/.complete"
fi
BYTES=$(du -sb --exclude=.complete "$DATA" | cut -f1)

(cd "$ROOT" && cargo build --release -p linkguard --quiet)
BIN="$CARGO_TARGET_DIR/release/linkguard"

# run NAME CMD...: one run; appends its wall time (ms, from the clock, not
# GNU time's 10 ms steps) to $NAME_walls and keeps its peak RSS (KiB).
run() {
    local name="${1//-/_}"; shift
    local log start end
    log="$(mktemp)"
    start=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$log" "$@" >/dev/null 2>/dev/null || true
    end=$(date +%s%N)
    eval "${name}_walls+=\" $(( (end - start) / 1000000 ))\""
    eval "${name}_rss=$(tail -1 "$log")"
    rm -f "$log"
}

# The tools take turns, round after round, so that a noisy spell on a shared
# machine falls on all of them; each round's ratio is kept, and the median
# ratio reported beside the ratio of the best times.
LG=("$BIN" scan --quiet --format jsonl --out /dev/null "$DATA")
RG=(rg -c "$PATTERN" "$DATA")
# Host names are case-insensitive, and so is the scan: the like-for-like
# ripgrep run ignores case too.
RGI=(rg -c -i "$PATTERN" "$DATA")
"${LG[@]}" >/dev/null 2>&1 || true; "${RG[@]}" >/dev/null 2>&1 || true   # warm the page cache
linkguard_walls=""; rg_walls=""; rg_i_walls=""
for _ in $(seq "$RUNS"); do
    run linkguard "${LG[@]}"
    run rg "${RG[@]}"
    run rg-i "${RGI[@]}"
done

echo "input: $DATA ($((BYTES / 1048576)) MiB), $(nproc) cores, $RUNS rounds (best time, peak RSS)"
for name in linkguard rg rg_i; do
    eval "walls=\$${name}_walls; rss=\$${name}_rss"
    # shellcheck disable=SC2154
    echo "$walls" | tr ' ' '\n' | sed '/^$/d' | sort -n | head -1 | awk -v n="${name//_/-}" -v r="$rss" -v b="$BYTES" \
        '{printf "%-10s %7.3f s  %8.1f MiB/s  peak RSS %7.1f MiB\n", n, $1/1000, b/1048576/($1/1000), r/1024}'
done
# ratios NUM DEN: the ratio of the best times and the median of the rounds'.
ratios() {
    local rounds
    rounds=$(paste <(echo "$1" | tr ' ' '\n' | sed '/^$/d') <(echo "$2" | tr ' ' '\n' | sed '/^$/d'))
    echo "$rounds" | awk '{if (!a || $1<a) a=$1; if (!b || $2<b) b=$2} END {printf "%.2fx best/best, ", a/b}'
    echo "$rounds" | awk '{print $1/$2}' | sort -g |
        awk '{r[NR]=$1} END {m=(NR%2)? r[(NR+1)/2] : (r[NR/2]+r[NR/2+1])/2; printf "%.2fx median of rounds", m}'
}
echo "ratio linkguard/rg:    $(ratios "$linkguard_walls" "$rg_walls") (target <= 1.5x)"
echo "ratio linkguard/rg -i: $(ratios "$linkguard_walls" "$rg_i_walls")"
