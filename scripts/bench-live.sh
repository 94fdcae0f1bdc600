#!/usr/bin/env bash
# The live path under sustained load: the real `linkguard run` (release
# build) against the fake Slack (Socket Mode) and then the fake Discord
# (gateway), $LIVE_RATE messages a second (default 1000) for $LIVE_SECS
# seconds (default 60), one in ten with a banned link. Prints `name: value`
# lines: messages sent, violations, reposts and deletes (each must happen
# exactly once), event-to-action latency p50/p99/max (the fake's send of the
# event to its receipt of the repost; `event_to_done` to the delete), the
# fake's own API round trip measured apart (and the fake Discord's gateway
# writer, queued to handed to the socket), rate-limited calls, linkguard's
# CPU seconds and peak RSS, and the machine's load average.
#
#   scripts/bench-live.sh [--platform slack|discord|both]
#   LIVE_SECS=10 LIVE_RATE=500 scripts/bench-live.sh
#
# Exits non-zero when a violation was missed or handled twice. A short
# version runs in CI: `cargo test -p linkguard --test live_load`.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/linkguard-target}"
export LIVE_RATE="${LIVE_RATE:-1000}"
export LIVE_SECS="${LIVE_SECS:-60}"

(cd "$ROOT" && cargo build --release -p linkguard --bin linkguard --example live_load --quiet)
echo "live_cores: $(nproc)"
exec "$CARGO_TARGET_DIR/release/examples/live_load" \
    --bin "$CARGO_TARGET_DIR/release/linkguard" "$@"
