#!/usr/bin/env bash
# Every speed ratio the README quotes, from one run on one machine.
#
# Generates (once, deterministically, with scripts/gen-export.py) into
# $BENCH_DIR (default /var/tmp/linkguard-bench; never inside the repository):
#   - chat traffic as JSON Lines: $MESSAGES messages (default 400,000, about
#     68 MiB), 1% with a meeting link in the forms people paste, 4% another URL;
#   - an export of $SIZE_GIB GiB (default 0.5): an unpacked Slack export and
#     DiscordChatExporter files ($DISCORD_SHARE of it, default 0.25), 1% of
#     messages with a meeting link;
# builds linkguard in release mode, and then, round after round ($RUNS,
# default 7), runs each pair of tools in turn so that a noisy spell on a
# shared machine falls on both:
#   scan of the JSON Lines   vs  rg -c (meeting-host alternation)   target <= 1.5x
#   check --batch of them    vs  the same rg -c                     target <= 3x
#   scan of the Slack export vs  rg -c over its folder              target <= 1.5x
#   scan of the Discord files vs rg -c over them                    target <= 1.5x
# printing each tool's best wall time, MiB/s and peak RSS, and each ratio as
# best/best and as the median of the rounds' ratios (the figure to trust).
#
# Then the crate comparison (scripts/jsoncmp: the scan's hand-written JSON
# splitting against memchr, serde_json, simd-json and sonic-rs on the same
# files), and, when they exist, the live-path benchmarks of part B of issue
# #19 (scripts/bench-live.sh, rules/benches/rules10k.rs).
#
#   scripts/bench.sh [--quick] [--engine]
#
# --quick: 3 rounds, no crate comparison, no live-path benchmarks.
# --engine: time the scan engine alone (the linkguard-scan crate's
#   scan_engine example, built without the bot's async stack) instead of the
#   release binary, and leave out check --batch: for a machine too busy to
#   build the whole binary in release mode.
#
# Needs ripgrep (`apt-get install -y ripgrep`), GNU time (/usr/bin/time) and
# python3.
set -euo pipefail

QUICK=""
ENGINE=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=1; shift ;;
        --engine) ENGINE=1; shift ;;
        *) echo "usage: $0 [--quick] [--engine]" >&2; exit 2 ;;
    esac
done
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-/var/tmp/linkguard-bench}"
RUNS="${RUNS:-7}"
[[ -n "$QUICK" ]] && RUNS=3
MESSAGES="${MESSAGES:-400000}"
SIZE_GIB="${SIZE_GIB:-0.5}"
DISCORD_SHARE="${DISCORD_SHARE:-0.25}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/linkguard-target}"
PATTERN='(zoom\.us|zoomgov\.com|teams\.microsoft\.com|meet\.google\.com|webex\.com)'

command -v rg >/dev/null || { echo "ripgrep missing: apt-get install -y ripgrep" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "GNU time missing: apt-get install -y time" >&2; exit 1; }
mkdir -p "$BENCH_DIR"

TRAFFIC="$BENCH_DIR/traffic-${MESSAGES}.jsonl"
if [[ ! -f "$TRAFFIC.complete" ]]; then
    python3 "$ROOT/scripts/gen-export.py" --format jsonl-traffic --messages "$MESSAGES" --density 0.01 "$TRAFFIC"
    touch "$TRAFFIC.complete"
fi
EXPORT="$BENCH_DIR/export-${SIZE_GIB}gib-d${DISCORD_SHARE}"
if [[ ! -f "$EXPORT/.complete" ]]; then
    rm -rf "$EXPORT"
    python3 "$ROOT/scripts/gen-export.py" --size-gib "$SIZE_GIB" --discord-share "$DISCORD_SHARE" --density 0.01 "$EXPORT"
    touch "$EXPORT/.complete"
fi

if [[ -n "$ENGINE" ]]; then
    (cd "$ROOT" && cargo build --release -p linkguard-scan --example scan_engine --quiet)
    ENGINE_BIN="$CARGO_TARGET_DIR/release/examples/scan_engine"
else
    (cd "$ROOT" && cargo build --release -p linkguard --quiet)
fi
BIN="$CARGO_TARGET_DIR/release/linkguard"
export LINKGUARD_ROOM_KEY="${LINKGUARD_ROOM_KEY:-bench-room-key}"
unset LINKGUARD_POLICY LINKGUARD_CONFIG

# run NAME INPUT CMD...: one run with standard input from INPUT; appends its
# wall time (ms, from the clock) to $NAME_walls and keeps its peak RSS (KiB).
run() {
    local name="$1" input="$2"; shift 2
    local log start end
    log="$(mktemp)"
    start=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$log" "$@" <"$input" >/dev/null 2>/dev/null || true
    end=$(date +%s%N)
    eval "${name}_walls+=\" $(( (end - start) / 1000000 ))\""
    eval "${name}_rss=$(tail -1 "$log")"
    rm -f "$log"
}

best() { tr ' ' '\n' | sed '/^$/d' | sort -n | head -1; }

# ratios NUM DEN: the ratio of the best times and the median of the rounds'.
ratios() {
    local rounds
    rounds=$(paste <(echo "$1" | tr ' ' '\n' | sed '/^$/d') <(echo "$2" | tr ' ' '\n' | sed '/^$/d'))
    echo "$rounds" | awk '{if (!a || $1<a) a=$1; if (!b || $2<b) b=$2} END {printf "%.2fx best/best, ", a/b}'
    echo "$rounds" | awk '{ if ($2 > 0) print $1/$2 }' | sort -g |
        awk '{r[NR]=$1} END {m=(NR%2)? r[(NR+1)/2] : (r[NR/2]+r[NR/2+1])/2; printf "%.2fx median of rounds", m}'
}

# The pairs: NAME|BYTES-OF|INPUT-FOR-STDIN|TARGET|LINKGUARD COMMAND (words)|RG PATH
SLACK="$EXPORT/slack"
DISCORD="$EXPORT/discord"
declare -a NAMES=(scan_jsonl check_batch scan_slack scan_discord)
[[ -n "$ENGINE" ]] && NAMES=(scan_jsonl scan_slack scan_discord)
declare -A DATA=([scan_jsonl]="$TRAFFIC" [check_batch]="$TRAFFIC" [scan_slack]="$SLACK" [scan_discord]="$DISCORD")
declare -A TARGET=([scan_jsonl]=1.5 [check_batch]=3 [scan_slack]=1.5 [scan_discord]=1.5)
lg_cmd() {
    case "$1" in
        check_batch) echo "$BIN check --batch" ;;
        *) if [[ -n "$ENGINE" ]]; then echo "$ENGINE_BIN ${DATA[$1]}"
           else echo "$BIN scan --quiet --format jsonl --out /dev/null ${DATA[$1]}"; fi ;;
    esac
}
lg_input() { [[ "$1" == check_batch ]] && echo "$TRAFFIC" || echo /dev/null; }

# Warm the page cache, and show what each linkguard run reports.
for n in "${NAMES[@]}"; do
    # shellcheck disable=SC2046
    $(lg_cmd "$n") <"$(lg_input "$n")" >/dev/null 2>&1 || true
    rg -c "$PATTERN" "${DATA[$n]}" >/dev/null 2>&1 || true
done
for n in "${NAMES[@]}"; do eval "lg_${n}_walls=''; rg_${n}_walls=''"; done
for _ in $(seq "$RUNS"); do
    for n in "${NAMES[@]}"; do
        # shellcheck disable=SC2046
        run "lg_$n" "$(lg_input "$n")" $(lg_cmd "$n")
        run "rg_$n" /dev/null rg -c "$PATTERN" "${DATA[$n]}"
    done
done

echo "linkguard $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $RUNS rounds, warm page cache"
echo "rg pattern: $PATTERN"
echo
for n in "${NAMES[@]}"; do
    bytes=$(du -sb --exclude=.complete "${DATA[$n]}" | cut -f1)
    eval "lw=\$lg_${n}_walls; rw=\$rg_${n}_walls; lr=\$lg_${n}_rss; rr=\$rg_${n}_rss"
    # shellcheck disable=SC2154
    lb=$(echo "$lw" | best); rb=$(echo "$rw" | best)
    printf '%-13s %s (%d MiB)\n' "$n" "${DATA[$n]}" $((bytes / 1048576))
    # shellcheck disable=SC2154
    awk -v t="$lb" -v b="$bytes" -v r="$lr" 'BEGIN {printf "  linkguard %7.3f s  %8.1f MiB/s  peak RSS %7.1f MiB\n", t/1000, b/1048576/(t/1000), r/1024}'
    # shellcheck disable=SC2154
    awk -v t="$rb" -v b="$bytes" -v r="$rr" 'BEGIN {printf "  rg -c     %7.3f s  %8.1f MiB/s  peak RSS %7.1f MiB\n", t/1000, b/1048576/(t/1000), r/1024}'
    echo "  ratio linkguard/rg: $(ratios "$lw" "$rw") (target <= ${TARGET[$n]}x)"
done

# What each scan found, for the record (and for comparing before/after).
echo
for n in scan_jsonl scan_slack scan_discord; do
    if [[ -n "$ENGINE" ]]; then
        # shellcheck disable=SC2046
        summary=$($(lg_cmd "$n") 2>/dev/null | tail -1 || true)
    else
        # shellcheck disable=SC2046
        summary=$($(lg_cmd "$n" | sed 's|--out /dev/null||') 2>/dev/null | tail -1 |
            grep -o '"errors":[0-9]*,"findings":[0-9]*,"messages":[0-9]*,"skipped_files":[0-9]*' || true)
    fi
    echo "$n: $summary"
done

[[ -n "$QUICK" ]] && exit 0

echo
echo "JSON splitting, hand-written against maintained crates (MiB/s, one core):"
biggest=$(ls -S "$DISCORD"/*.json | head -1)
cargo run --release --quiet --manifest-path "$ROOT/scripts/jsoncmp/Cargo.toml" -- \
    --rounds "$RUNS" --jsonl "$TRAFFIC" --slack "$SLACK" --discord "$biggest"

if [[ -x "$ROOT/scripts/bench-live.sh" ]]; then
    echo
    echo "Live path (scripts/bench-live.sh):"
    "$ROOT/scripts/bench-live.sh"
fi
if [[ -f "$ROOT/rules/benches/rules10k.rs" ]]; then
    echo
    echo "10,000-rule evaluation (cargo bench -p linkguard-rules --bench rules10k):"
    (cd "$ROOT" && cargo bench -p linkguard-rules --bench rules10k)
fi
