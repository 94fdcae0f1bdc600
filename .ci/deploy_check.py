#!/usr/bin/env python3
"""Checks of deploy/ that the real tools cannot make, for .ci/deploy-check.sh.

The real tools (hadolint, kubectl kustomize, kubernetes-validate, promtool,
check-jsonschema, systemd-analyze) say whether each artefact is well formed.
This says whether it is what linkguard needs: no LINKGUARD_ setting preset
where the configuration file should set it, every reference (ConfigMap,
claim, Service port, ServiceMonitor selector) resolved, pods hardened, the
Slack manifest acceptable to Slack and complete for linkguard.

Usage: deploy_check.py KIND ARGS...; prints each problem and exits 1 if any.
  k8s RENDERED.yaml OUT_DIR   also writes OUT_DIR/builtin.yaml (kinds that
                              kubernetes-validate knows) and
                              OUT_DIR/alerts.rules.yaml (PrometheusRule spec)
  compose COMPOSE.yaml
  slack MANIFEST.yaml
  dockerfile Dockerfile .dockerignore
  systemd UNIT
"""

import fnmatch
import re
import sys
import tomllib

import yaml

problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def linkguard_vars(names, allowed=()):
    return [n for n in names if n.startswith("LINKGUARD_") and n not in allowed]


# ---------------------------------------------------------------- Kubernetes

CRD_GROUPS = ("monitoring.coreos.com/",)


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_k8s(rendered, out_dir):
    with open(rendered) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    builtin = [d for d in docs if not d["apiVersion"].startswith(CRD_GROUPS)]
    crds = [d for d in docs if d["apiVersion"].startswith(CRD_GROUPS)]
    with open(f"{out_dir}/builtin.yaml", "w") as f:
        yaml.safe_dump_all(builtin, f, sort_keys=False)

    names = {k: {d["metadata"]["name"] for d in v} for k, v in by_kind.items()}
    workloads = by_kind.get("Deployment", []) + by_kind.get("StatefulSet", [])
    if not workloads:
        problem(rendered, "no Deployment or StatefulSet")
    pods = []
    for w in workloads:
        where = f"{w['kind']}/{w['metadata']['name']}"
        spec = w["spec"]
        tpl = spec["template"]
        labels = tpl["metadata"].get("labels", {})
        pods.append((where, labels, tpl["spec"], spec.get("replicas", 1)))
        if not selects(spec["selector"].get("matchLabels", {}), labels):
            problem(where, "selector does not match its pod template")
        ps = tpl["spec"]
        if ps.get("automountServiceAccountToken") is not False:
            problem(where, "automountServiceAccountToken must be false")
        sc = ps.get("securityContext", {})
        if sc.get("runAsNonRoot") is not True:
            problem(where, "pod securityContext.runAsNonRoot must be true")
        if not ps.get("topologySpreadConstraints"):
            problem(where, "no topologySpreadConstraints")
        sa = ps.get("serviceAccountName")
        if sa and sa not in names.get("ServiceAccount", set()):
            problem(where, f"service account {sa} is not defined")
        for v in ps.get("volumes", []):
            cm = v.get("configMap", {}).get("name")
            if cm and cm not in names.get("ConfigMap", set()):
                problem(where, f"volume {v['name']}: ConfigMap {cm} is not defined")
            claim = v.get("persistentVolumeClaim", {}).get("claimName")
            if claim and claim not in names.get("PersistentVolumeClaim", set()):
                problem(where, f"volume {v['name']}: claim {claim} is not defined")
        for c in ps["containers"]:
            cw = f"{where} container {c['name']}"
            image = c.get("image", "")
            if image.endswith(":latest") or (":" not in image.rsplit("/", 1)[-1] and "@" not in image):
                problem(cw, f"image {image!r} has no fixed tag or digest")
            csc = c.get("securityContext", {})
            if csc.get("readOnlyRootFilesystem") is not True:
                problem(cw, "readOnlyRootFilesystem must be true")
            if csc.get("allowPrivilegeEscalation") is not False:
                problem(cw, "allowPrivilegeEscalation must be false")
            if "ALL" not in csc.get("capabilities", {}).get("drop", []):
                problem(cw, "capabilities must drop ALL")
            if not c.get("lifecycle", {}).get("preStop"):
                problem(cw, "no preStop delay")
            if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
                problem(cw, "readinessProbe must ask /readyz")
            # The per-pod shard is the one setting a shared file cannot hold.
            allowed = ("LINKGUARD_DISCORD_SHARDS",) if w["kind"] == "StatefulSet" else ()
            for n in linkguard_vars([e["name"] for e in c.get("env", [])], allowed):
                problem(cw, f"presets {n}: set it in the configuration file")
            mounts = {m["name"] for m in c.get("volumeMounts", [])}
            for m in mounts - {v["name"] for v in ps.get("volumes", [])}:
                problem(cw, f"mounts undefined volume {m}")
            if any(e["name"] == "LINKGUARD_DISCORD_SHARDS" for e in c.get("env", [])):
                check_shards(where, w, ps, by_kind)

    for s in by_kind.get("Service", []):
        where = f"Service/{s['metadata']['name']}"
        matched = [p for p in pods if selects(s["spec"].get("selector", {}), p[1])]
        if not matched:
            problem(where, "selects no pod")
        for port in s["spec"]["ports"]:
            tp = port.get("targetPort")
            for pw, _, ps, _ in matched:
                named = {p.get("name") for c in ps["containers"] for p in c.get("ports", [])}
                if isinstance(tp, str) and tp not in named:
                    problem(where, f"targetPort {tp} is not a port of {pw}")
    for kind in ("NetworkPolicy", "PodDisruptionBudget"):
        for d in by_kind.get(kind, []):
            sel = d["spec"].get("podSelector" if kind == "NetworkPolicy" else "selector", {})
            matched = [p for p in pods if selects(sel.get("matchLabels", {}), p[1])]
            if not matched:
                problem(f"{kind}/{d['metadata']['name']}", "selects no pod")
            if kind == "PodDisruptionBudget" and any(r < 2 for *_, r in matched):
                problem(f"{kind}/{d['metadata']['name']}", "guards a single replica: it would block every drain")

    rules = None
    for d in crds:
        where = f"{d['kind']}/{d['metadata']['name']}"
        if d["kind"] == "ServiceMonitor":
            sel = d["spec"].get("selector", {}).get("matchLabels", {})
            svcs = [s for s in by_kind.get("Service", []) if selects(sel, s["metadata"].get("labels", {}))]
            if not svcs:
                problem(where, "selects no Service")
            for ep in d["spec"].get("endpoints", []):
                if not any(ep.get("port") in {p.get("name") for p in s["spec"]["ports"]} for s in svcs):
                    problem(where, f"endpoint port {ep.get('port')} is not a port of the selected Service")
            if not d["spec"].get("endpoints"):
                problem(where, "no endpoints")
        elif d["kind"] == "PrometheusRule":
            rules = d["spec"]
            if set(rules) != {"groups"}:
                problem(where, "spec must hold only groups")
        else:
            problem(where, "custom resource this check does not know")
    if rules is None:
        problem(rendered, "no PrometheusRule")
    else:
        with open(f"{out_dir}/alerts.rules.yaml", "w") as f:
            yaml.safe_dump(rules, f, sort_keys=False)
    if "ServiceMonitor" not in by_kind:
        problem(rendered, "no ServiceMonitor")
    if "NetworkPolicy" not in by_kind:
        problem(rendered, "no NetworkPolicy")


def check_shards(where, w, ps, by_kind):
    """A StatefulSet whose ordinal is the shard: shard_total must be replicas."""
    cms = {c["metadata"]["name"]: c for c in by_kind.get("ConfigMap", [])}
    for v in ps.get("volumes", []):
        cm = cms.get(v.get("configMap", {}).get("name"))
        if not cm:
            continue
        for name, text in cm.get("data", {}).items():
            if not name.endswith(".toml"):
                continue
            total = tomllib.loads(text).get("discord", {}).get("shard_total")
            if total != w["spec"].get("replicas", 1):
                problem(where, f"replicas {w['spec'].get('replicas', 1)} but discord.shard_total {total} in {name}")


# ---------------------------------------------------------------- Compose

def check_compose(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    services = doc.get("services", {})
    if "postgres" not in services or "linkguard" not in services:
        problem(path, "needs the services postgres and linkguard")
        return
    for name, s in services.items():
        restart = str(s.get("restart", ""))
        if restart not in ("always", "unless-stopped", "on-failure") and not restart.startswith("on-failure:"):
            problem(f"{path} {name}", f"restart must be always, unless-stopped or on-failure, got {restart!r}")
    lg = services["linkguard"]
    if lg.get("read_only") is not True:
        problem(f"{path} linkguard", "read_only must be true")
    if "ALL" not in lg.get("cap_drop", []):
        problem(f"{path} linkguard", "cap_drop must include ALL")
    env = lg.get("environment", {})
    env_names = list(env) if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]
    for n in linkguard_vars(env_names, ("LINKGUARD_CONFIG",)):
        problem(f"{path} linkguard", f"presets {n}: set it in the configuration file")
    for n in lg.get("secrets", []):
        # File secrets are bind mounts: every one listed must exist, so a
        # platform token some deployments do not use cannot be one.
        src = n if isinstance(n, str) else n.get("source")
        if src not in doc.get("secrets", {}):
            problem(f"{path} linkguard", f"secret {src} is not defined")


# ---------------------------------------------------------------- Slack

# The fields Slack's app manifest (schema version 1) accepts, with limits.
SLACK_FIELDS = {
    "": {"_metadata", "display_information", "features", "oauth_config", "settings"},
    "display_information": {"name", "description", "background_color", "long_description"},
    "features": {"app_home", "bot_user", "slash_commands", "shortcuts", "unfurl_domains", "workflow_steps"},
    "features.app_home": {"home_tab_enabled", "messages_tab_enabled", "messages_tab_read_only_enabled"},
    "features.bot_user": {"display_name", "always_online"},
    "features.slash_commands[]": {"command", "url", "description", "usage_hint", "should_escape"},
    "oauth_config": {"redirect_urls", "scopes", "token_management_enabled", "pkce_enabled"},
    "oauth_config.scopes": {"bot", "user", "bot_optional", "user_optional"},
    "settings": {"event_subscriptions", "interactivity", "org_deploy_enabled", "socket_mode_enabled",
                 "token_rotation_enabled", "allowed_ip_address_ranges", "incoming_webhooks",
                 "function_runtime", "is_hosted", "siws_links"},
    "settings.event_subscriptions": {"request_url", "bot_events", "user_events", "metadata_subscriptions"},
    "settings.interactivity": {"is_enabled", "request_url", "message_menu_options_url"},
    "features.shortcuts[]": {"name", "type", "callback_id", "description"},
}
LENGTHS = {
    "display_information.name": (1, 35),
    "display_information.description": (1, 140),
    "display_information.long_description": (175, 4000),
    "features.bot_user.display_name": (1, 80),
    "features.slash_commands[].command": (2, 32),
    "features.slash_commands[].description": (1, 2000),
    "features.slash_commands[].usage_hint": (1, 1000),
}
BOOLS = {"always_online", "should_escape", "home_tab_enabled", "messages_tab_enabled",
         "messages_tab_read_only_enabled", "is_enabled", "org_deploy_enabled",
         "socket_mode_enabled", "token_rotation_enabled"}
# What linkguard handles, and the scope each event needs.
EVENT_SCOPES = {
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "message.mpim": "mpim:history",
    "app_mention": "app_mentions:read",
}
BOT_SCOPES = {"chat:write", "chat:write.customize", "users:read", "usergroups:read", "commands"}


def walk_slack(path, node, at):
    if isinstance(node, list):
        for item in node:
            walk_slack(path, item, at + "[]")
        return
    if not isinstance(node, dict):
        return
    allowed = SLACK_FIELDS.get(at)
    for k, v in node.items():
        key = f"{at}.{k}" if at else k
        if allowed is not None and k not in allowed:
            problem(path, f"{key}: not a field of Slack's app manifest")
        if k in BOOLS and not isinstance(v, bool):
            problem(path, f"{key}: must be true or false")
        if key in LENGTHS:
            lo, hi = LENGTHS[key]
            if not isinstance(v, str) or not lo <= len(v) <= hi:
                problem(path, f"{key}: must be text of {lo} to {hi} characters")
        if (k in ("url", "request_url")) and not re.match(r"^https?://", str(v)):
            problem(path, f"{key}: must be an http(s) URL")
        walk_slack(path, v, key)


def check_slack(path):
    try:
        with open(path) as f:
            m = yaml.safe_load(f)
    except yaml.YAMLError as e:
        problem(path, f"not valid YAML: {e}")
        return
    if not isinstance(m, dict) or "display_information" not in m:
        problem(path, "display_information is required")
        return
    walk_slack(path, m, "")
    color = m["display_information"].get("background_color", "#000")
    if not re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", str(color)):
        problem(path, "display_information.background_color: must be #RGB or #RRGGBB")
    features = m.get("features", {})
    if "display_name" not in features.get("bot_user", {}):
        problem(path, "features.bot_user.display_name is required")
    settings = m.get("settings", {})
    socket = settings.get("socket_mode_enabled", False)
    events = settings.get("event_subscriptions", {})
    bot_scopes = set(m.get("oauth_config", {}).get("scopes", {}).get("bot", []))
    for ev, scope in EVENT_SCOPES.items():
        if ev not in events.get("bot_events", []):
            problem(path, f"bot event {ev} missing: linkguard handles it")
        if scope not in bot_scopes:
            problem(path, f"bot scope {scope} missing (needed for {ev})")
    for s in BOT_SCOPES - bot_scopes:
        problem(path, f"bot scope {s} missing: linkguard uses it")
    cmds = [c.get("command") for c in features.get("slash_commands", [])]
    if "/linkguard" not in cmds:
        problem(path, "slash command /linkguard missing")
    for c in features.get("slash_commands", []):
        for req in ("command", "description"):
            if req not in c:
                problem(path, f"slash command {c.get('command')}: {req} is required")
        if not socket and not str(c.get("url", "")).endswith("/slack/commands"):
            problem(path, f"slash command {c.get('command')}: the Events API needs url …/slack/commands")
        if socket and "url" in c:
            problem(path, f"slash command {c.get('command')}: no url in Socket Mode")
    if not socket and not str(events.get("request_url", "")).endswith("/slack/events"):
        problem(path, "settings.event_subscriptions.request_url must be …/slack/events without Socket Mode")
    if socket and "request_url" in events:
        problem(path, "settings.event_subscriptions.request_url is unused in Socket Mode")
    inter = settings.get("interactivity", {})
    if inter.get("is_enabled") and not socket and "request_url" not in inter:
        problem(path, "settings.interactivity.request_url is required when enabled without Socket Mode")
    # The Home tab, the "Check links" shortcut and the request buttons.
    if not inter.get("is_enabled"):
        problem(path, "settings.interactivity.is_enabled must be true: linkguard's buttons and modals need it")
    if not socket and not str(inter.get("request_url", "")).endswith("/slack/interactivity"):
        problem(path, "settings.interactivity.request_url must be …/slack/interactivity without Socket Mode")
    if socket and "request_url" in inter:
        problem(path, "settings.interactivity.request_url is unused in Socket Mode")
    if not features.get("app_home", {}).get("home_tab_enabled"):
        problem(path, "features.app_home.home_tab_enabled must be true: linkguard publishes a Home tab")
    if "app_home_opened" not in events.get("bot_events", []):
        problem(path, "bot event app_home_opened missing: linkguard publishes the Home tab on it")
    shortcuts = {(s.get("type"), s.get("callback_id")) for s in features.get("shortcuts", [])}
    if ("message", "linkguard_check_message") not in shortcuts:
        problem(path, "message shortcut linkguard_check_message missing (\"Check links\")")
    for sc in features.get("shortcuts", []):
        for req in ("name", "type", "callback_id", "description"):
            if req not in sc:
                problem(path, f"shortcut {sc.get('callback_id')}: {req} is required")
        if len(str(sc.get("name", ""))) > 24 or len(str(sc.get("callback_id", ""))) > 255:
            problem(path, f"shortcut {sc.get('callback_id')}: name at most 24, callback_id at most 255 characters")


# ---------------------------------------------------------------- Docker

def dockerignored(rules, path):
    """Whether Docker's .dockerignore rules exclude path (last match wins)."""
    excluded = False
    parts = path.split("/")
    for neg, pat in rules:
        pat = pat.lstrip("/").rstrip("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if fnmatch.fnmatchcase(prefix, pat) or (
                pat.startswith("**/") and any(
                    fnmatch.fnmatchcase("/".join(parts[j:i]), pat[3:]) for j in range(i))):
                excluded = not neg
                break
    return excluded


def check_dockerfile(path, ignore_path):
    with open(path) as f:
        text = f.read().replace("\\\n", " ")
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    stages = set()
    user = None
    for l in lines:
        word, _, rest = l.partition(" ")
        word = word.upper()
        if word == "FROM":
            parts = rest.split()
            image = parts[0]
            if image not in stages and "@sha256:" not in image:
                problem(path, f"base image {image} is not pinned by digest")
            if len(parts) >= 3 and parts[1].upper() == "AS":
                stages.add(parts[2])
            user = None
        elif word == "ENV":
            names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", rest)
            for n in linkguard_vars(names, ("LINKGUARD_CONFIG",)):
                problem(path, f"presets {n}: the configuration file should set it")
        elif word == "USER":
            user = rest.split(":")[0]
        elif word == "HEALTHCHECK":
            if "curl" in rest or "wget" in rest or not rest.split("CMD", 1)[-1].strip().startswith("["):
                problem(path, "HEALTHCHECK must be the exec form of `linkguard healthcheck`")
    if user in (None, "0", "root"):
        problem(path, "the final stage must run as a non-root USER")
    if "HEALTHCHECK" not in text:
        problem(path, "no HEALTHCHECK")
    for label in ("title", "licenses", "version", "revision"):
        if f"org.opencontainers.image.{label}" not in text:
            problem(path, f"OCI label org.opencontainers.image.{label} missing")
    try:
        with open(ignore_path) as f:
            rules = []
            for l in f:
                l = l.strip()
                if l and not l.startswith("#"):
                    rules.append((l.startswith("!"), l.lstrip("!")))
    except OSError:
        problem(ignore_path, "missing: the build context would hold target/ and .git")
        return
    for p in (".git/config", "target/debug/linkguard", "bot/target/x", "linkguard.db", "deploy/secrets/room_key"):
        if not dockerignored(rules, p):
            problem(ignore_path, f"{p} would be sent to the build")
    for p in ("Cargo.lock", "bot/src/main.rs", "migrations/sqlite/0001_store.sql"):
        if dockerignored(rules, p):
            problem(ignore_path, f"{p} is excluded but the build needs it")


# ---------------------------------------------------------------- systemd

def check_systemd(path):
    with open(path) as f:
        lines = [l.strip() for l in f]
    settings = [l.split("=", 1) for l in lines if "=" in l and not l.startswith("#")]
    for k, v in settings:
        if k == "Environment":
            names = [a.split("=", 1)[0].strip('"') for a in v.split()]
            for n in linkguard_vars(names):
                problem(path, f"Environment= presets {n}: the configuration file should set it")
    keys = {k for k, _ in settings}
    if "RestartPreventExitStatus" not in keys:
        problem(path, "RestartPreventExitStatus= missing: a configuration error would restart forever")
    if not any(k.startswith("LoadCredential") for k in keys):
        problem(path, "secrets should come through LoadCredential=")


def main(argv):
    kind, *args = argv
    {
        "k8s": check_k8s,
        "compose": check_compose,
        "slack": check_slack,
        "dockerfile": check_dockerfile,
        "systemd": check_systemd,
    }[kind](*args)
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
