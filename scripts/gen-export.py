#!/usr/bin/env python3
"""Generate a large, deterministic chat export for benchmarking `linkguard scan`.

With --format export (the default), writes under OUT:
  slack/     an unpacked Slack workspace export (users.json, channels.json and a
             folder of YYYY-MM-DD.json day-files per channel), messages shaped like
             Slack's own (blocks, user_profile, escaped slashes, thread replies,
             edits, unfurl attachments, files);
  discord/   DiscordChatExporter JSON files (one per channel), a --discord-share
             fraction of the total size.
A --density fraction of messages (default 0.01) carry a meeting link (Zoom,
Teams, Meet, Webex; plain, labelled, wrapped in Safe Links), about 15% another
link.

With --format jsonl-traffic, writes the one file OUT: --messages lines of chat
traffic as `linkguard check --batch` and `linkguard scan` read it,
{"id", "platform", "text"}, short to long sentences of which a --density
fraction (default 0.01) end with a meeting link written the ways people paste
them (a plain URL with a passcode, Slack's <url|label>, no scheme at all, a
Safe Links wrapper, Teams and Meet URLs) and 4% with another URL (plain,
<url>, Markdown [label](url)).

The same seed always gives the same bytes.

Usage: scripts/gen-export.py [--size-gib 1] [--discord-share 0.1] [--density 0.01] [--seed 7] [--pretty] OUT_DIR
       scripts/gen-export.py --format jsonl-traffic [--messages 400000] [--density 0.01] [--seed 7] OUT.jsonl
"""

import argparse
import json
import os
import random
import sys

WORDS = (
    "the a we should ship it today tomorrow review the deploy plan please check "
    "logs metrics dashboard incident retro sprint roadmap customer feedback "
    "design doc merge request build failed green again thanks lunch coffee "
    "standup notes quarter budget hiring onboarding release candidate hotfix "
    "rollback database migration latency p99 alert pager weekend café naïve"
).split()

MEETING_LINKS = [
    "https://zoom.us/j/{n}?pwd={pwd}",
    "https://us02web.zoom.us/j/{n}",
    "https://teams.microsoft.com/l/meetup-join/19%3ameeting_{pwd}%40thread.v2/0",
    "https://meet.google.com/{g}",
    "https://acme.webex.com/meet/{w}",
    "https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fzoom.us%2Fj%2F{n}&data=05%7C{pwd}&reserved=0",
]
OTHER_LINKS = [
    "https://github.com/acme/{w}/pull/{n}",
    "https://docs.acme.dev/{w}/{g}",
    "https://jira.acme.dev/browse/OPS-{n}",
    "https://www.example.com/{w}?q={g}",
]


def words(rng, lo, hi):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def link(rng, templates):
    return rng.choice(templates).format(
        n=rng.randint(10**9, 10**11),
        pwd="".join(rng.choice("abcdefghijkmnopqrstuvwxyz0123456789") for _ in range(24)),
        g="-".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(k)) for k in (3, 4, 3)),
        w=rng.choice(WORDS),
    )


DENSITY = 0.01


def message_text(rng):
    """(text, link-or-None, is_meeting), in Slack's markup."""
    r = rng.random()
    if r < DENSITY:
        url = link(rng, MEETING_LINKS)
        if rng.random() < 0.3:
            return f"{words(rng, 3, 15)} <{url}|{words(rng, 1, 3)}> {words(rng, 0, 10)}", url, True
        return f"{words(rng, 3, 15)} <{url}> {words(rng, 0, 10)}", url, True
    if r < DENSITY + 0.15:
        url = link(rng, OTHER_LINKS)
        return f"{words(rng, 3, 20)} <{url}> {words(rng, 0, 10)}", url, False
    return words(rng, 3, 40), None, False


PRETTY = False


def slack_dump(obj, indent=None):
    # Slack's exports escape forward slashes and non-ASCII characters.
    if indent is not None:
        return json.dumps(obj, ensure_ascii=True, indent=indent).replace("/", "\\/")
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")


def slack_message(rng, users, ts, team, thread_of):
    text, url, _ = message_text(rng)
    uid, uname, real = rng.choice(users)
    m = {
        "client_msg_id": "%08x-%04x-%04x-%04x-%012x" % tuple(rng.getrandbits(b) for b in (32, 16, 16, 16, 48)),
        "type": "message",
        "text": text,
        "user": uid,
        "ts": ts,
        "blocks": [
            {
                "type": "rich_text",
                "block_id": "%05x" % rng.getrandbits(20),
                "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
            }
        ],
        "team": team,
        "user_team": team,
        "source_team": team,
        "user_profile": {
            "avatar_hash": "%012x" % rng.getrandbits(48),
            "image_72": f"https://avatars.slack-edge.com/2020-01-01/{uid}_72.png",
            "first_name": real.split()[0],
            "real_name": real,
            "display_name": uname,
            "team": team,
            "name": uname,
            "is_restricted": False,
            "is_ultra_restricted": False,
        },
    }
    if thread_of:
        m["thread_ts"] = thread_of
        m["parent_user_id"] = rng.choice(users)[0]
    if rng.random() < 0.05:
        m["edited"] = {"user": uid, "ts": ts}
    if url and rng.random() < 0.3:
        m["attachments"] = [
            {
                "from_url": url,
                "original_url": url,
                "fallback": f"Meeting: {words(rng, 2, 5)}",
                "title": words(rng, 2, 6),
                "title_link": url,
                "service_name": "Unfurl",
                "id": 1,
            }
        ]
    if rng.random() < 0.02:
        m["files"] = [
            {
                "id": "F%09d" % rng.randint(0, 10**9),
                "name": f"{rng.choice(WORDS)}.txt",
                "title": words(rng, 1, 4),
                "mimetype": "text/plain",
                "preview": words(rng, 5, 30),
            }
        ]
    return m


def gen_slack(root, budget, rng):
    os.makedirs(root, exist_ok=True)
    team = "T0ACME001"
    users = []
    for i in range(400):
        uname = f"{rng.choice(WORDS)}.{rng.choice(WORDS)}{i}"
        users.append((f"U{i:08d}", uname, f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()}"))
    with open(os.path.join(root, "users.json"), "w") as f:
        f.write(slack_dump([
            {"id": u, "team_id": team, "name": n, "real_name": r, "profile": {"display_name": n, "real_name": r}}
            for u, n, r in users
        ]))
    channels = [f"{rng.choice(WORDS)}-{i}" for i in range(120)]
    with open(os.path.join(root, "channels.json"), "w") as f:
        f.write(slack_dump([{"id": f"C{i:08d}", "name": c, "created": 1500000000} for i, c in enumerate(channels)]))
    written = 0
    day = 0
    base = 1546300800  # 2019-01-01
    while written < budget:
        for c in channels:
            if written >= budget:
                break
            d = os.path.join(root, c)
            os.makedirs(d, exist_ok=True)
            start = base + day * 86400
            msgs = []
            parents = []
            for k in range(rng.randint(40, 160)):
                ts = "%d.%06d" % (start + k * 300 + rng.randint(0, 299), rng.randint(0, 999999))
                thread_of = rng.choice(parents) if parents and rng.random() < 0.15 else None
                msgs.append(slack_message(rng, users, ts, team, thread_of))
                if rng.random() < 0.1:
                    parents.append(ts)
            if PRETTY:
                # As Slack writes them: the whole array indented by 4.
                body = slack_dump(msgs, indent=4)
            else:
                body = "[\n" + ",\n".join(slack_dump(m) for m in msgs) + "\n]"
            name = os.path.join(d, "%04d-%02d-%02d.json" % day_to_date(day))
            with open(name, "w") as f:
                f.write(body)
            written += len(body)
        day += 1
    return written


def day_to_date(day):
    import datetime

    d = datetime.date(2019, 1, 1) + datetime.timedelta(days=day)
    return d.year, d.month, d.day


def discord_markup(text):
    """Slack's <url> and <url|label> as Discord users write them: the bare
    URL, and a label as Markdown [label](url)."""
    out = []
    for part in text.split("<"):
        if ">" in part and out:
            inner, rest = part.split(">", 1)
            url, _, label = inner.partition("|")
            out.append(f"[{label}]({url}){rest}" if label else url + rest)
        else:
            out.append(part)
    return "".join(out)


# Chat traffic (--format jsonl-traffic): meeting links as people paste them,
# and other links, each a template over {n} (a meeting number), {p} (a
# passcode-like token), {g} (a Meet code) and {i} (the message's index).
TRAFFIC_WORDS = (
    "ok so the build is green now can you review my change before standup "
    "lunch later? sprint planning moved to thursday customer asked about pricing "
    "I pushed a fix the dashboard looks off again thanks! agenda for the retro "
    "deploy window tonight pager was quiet migration done docs updated yes no maybe"
).split()

TRAFFIC_MEETINGS = [
    "https://zoom.us/j/{n}?pwd={p}",
    "<https://acme.zoom.us/j/{n}|join here>",
    "zoom.us/j/{n}",
    "https://meet.google.com/{g}",
    "https://teams.microsoft.com/l/meetup-join/19%3ameeting_{p}%40thread.v2/0",
    "https://nam12.safelinks.protection.outlook.com/?url=https%3A%2F%2Fzoom.us%2Fj%2F{n}&data=05%7C{p}&reserved=0",
    "<https://us06web.zoom.us/j/{n}>",
]
TRAFFIC_OTHER = [
    "https://github.com/acme/service/pull/{i}",
    "<https://acme.atlassian.net/browse/OPS-{i}>",
    "https://docs.acme.dev/runbooks/{i}",
    "[the notes](https://www.notion.so/acme/notes-{i})",
    "https://en.wikipedia.org/wiki/Page_{i}",
]


def gen_traffic(path, count, rng):
    """JSON Lines chat traffic, one message per line."""
    size = 0
    with open(path, "w") as f:
        for i in range(count):
            text = " ".join(rng.choice(TRAFFIC_WORDS) for _ in range(rng.randint(4, 40)))
            r = rng.random()
            if r < DENSITY:
                text += " " + rng.choice(TRAFFIC_MEETINGS).format(
                    n=rng.randint(10**9, 10**11 - 1),
                    p="".join(rng.choice("abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(16)),
                    g="-".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(k)) for k in (3, 4, 3)),
                    i=i,
                )
            elif r < DENSITY + 0.04:
                text += " " + rng.choice(TRAFFIC_OTHER).format(i=i)
            line = json.dumps({"id": str(i), "platform": rng.choice(("slack", "discord")), "text": text})
            f.write(line + "\n")
            size += len(line) + 1
    return size


def gen_discord(root, budget, rng):
    os.makedirs(root, exist_ok=True)
    authors = [
        {"id": str(10**17 + i), "name": f"{rng.choice(WORDS)}{i}", "discriminator": "0000",
         "nickname": rng.choice(WORDS).title(), "color": None, "isBot": False, "roles": [], "avatarUrl": "https://cdn.discordapp.com/embed/avatars/0.png"}
        for i in range(200)
    ]
    files = 4
    written = 0
    for ci in range(files):
        path = os.path.join(root, f"Acme - channel-{ci} [{9 * 10**17 + ci}].json")
        with open(path, "w") as f:
            head = {
                "guild": {"id": "800000000000000001", "name": "Acme", "iconUrl": "https://cdn.discordapp.com/icons/x.png"},
                "channel": {"id": str(9 * 10**17 + ci), "type": "GuildTextChat", "categoryId": "7", "category": "Text", "name": f"channel-{ci}", "topic": None},
                "dateRange": {"after": None, "before": None},
                "exportedAt": "2024-01-01T00:00:00+00:00",
            }
            f.write(json.dumps(head, indent=2)[:-2] + ',\n  "messages": [\n')
            n = 0
            part = budget // files
            size = 0
            t = 1546300800
            while size < part:
                text, url, _ = message_text(rng)
                text = discord_markup(text)
                t += rng.randint(1, 600)
                m = {
                    "id": str(10**18 + n + ci * 10**9),
                    "type": "Default",
                    "timestamp": "%04d-%02d-%02dT%02d:%02d:%02d.000+00:00" % (*day_to_date((t - 1546300800) // 86400), (t // 3600) % 24, (t // 60) % 60, t % 60),
                    "timestampEdited": None,
                    "callEndedTimestamp": None,
                    "isPinned": False,
                    "content": text,
                    "author": rng.choice(authors),
                    "attachments": [],
                    "embeds": [{"title": words(rng, 2, 5), "url": url, "timestamp": None, "description": words(rng, 5, 20), "thumbnail": None, "images": [], "fields": []}] if url and rng.random() < 0.3 else [],
                    "stickers": [],
                    "reactions": [],
                    "mentions": [],
                }
                s = ("," if n else "") + "\n" + json.dumps(m, indent=2, ensure_ascii=False)
                f.write(s)
                size += len(s)
                n += 1
            f.write('\n  ],\n  "messageCount": %d\n}\n' % n)
            written += size
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--format", choices=("export", "jsonl-traffic"), default="export")
    ap.add_argument("--size-gib", type=float, default=1.0)
    ap.add_argument("--messages", type=int, default=400000, help="jsonl-traffic: how many lines")
    ap.add_argument("--density", type=float, default=0.01, help="fraction of messages with a meeting link")
    ap.add_argument("--discord-share", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--pretty", action="store_true", help="indent Slack day-files by 4, as Slack does")
    ap.add_argument("out_dir", metavar="OUT")
    a = ap.parse_args()
    global PRETTY, DENSITY
    PRETTY = a.pretty
    if not 0 <= a.density <= 0.8:
        ap.error("--density must be between 0 and 0.8")
    DENSITY = a.density
    rng = random.Random(a.seed)
    if a.format == "jsonl-traffic":
        n = gen_traffic(a.out_dir, a.messages, rng)
        print(f"wrote {n / (1 << 20):.0f} MiB ({a.messages} messages) to {a.out_dir}", file=sys.stderr)
        return
    total = int(a.size_gib * (1 << 30))
    d = gen_discord(os.path.join(a.out_dir, "discord"), int(total * a.discord_share), rng)
    s = gen_slack(os.path.join(a.out_dir, "slack"), total - d, rng)
    print(f"wrote {(s + d) / (1 << 20):.0f} MiB to {a.out_dir} (slack {s >> 20} MiB, discord {d >> 20} MiB)", file=sys.stderr)


if __name__ == "__main__":
    main()
