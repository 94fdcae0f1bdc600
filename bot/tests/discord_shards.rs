//! Two `linkguard run` processes split a bot's gateway shards (0 and 1 of
//! 2), configured only through documented variables and pointed at the fake
//! Discord through `LINKGUARD_DISCORD_PROXY_URL`. Each guild's messages are
//! handled once, by the replica owning its shard.

use linkguard_fakes::discord::{cast, FakeDiscord, FakeDiscordConfig};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
/// A second guild whose shard (of 2) differs from the default guild's.
const GUILD_B: u64 = cast::GUILD + (1 << 22);
const GENERAL_B: u64 = cast::GENERAL + 1_000;

fn shard_of(guild: u64, total: u64) -> u64 {
    (guild >> 22) % total
}

fn two_guilds() -> FakeDiscordConfig {
    let mut cfg = FakeDiscordConfig::default();
    let mut b = cfg.guilds[0].clone();
    b.id = GUILD_B;
    b.name = "Second Guild".into();
    for r in &mut b.roles {
        if r.id == cast::GUILD {
            r.id = GUILD_B; // @everyone's id is the guild's
        } else {
            r.id += 1_000;
        }
    }
    for m in &mut b.members {
        for r in &mut m.roles {
            *r += 1_000;
        }
    }
    b.channels.retain(|c| c.id == cast::GENERAL);
    for c in &mut b.channels {
        c.id = GENERAL_B;
    }
    cfg.guilds.push(b);
    cfg
}

struct Replica {
    child: Child,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
    }
}

fn spawn_run(fake: &FakeDiscord, db: &std::path::Path, shards: &str) -> Replica {
    let mut child = Command::new(env!("CARGO_BIN_EXE_linkguard"))
        .args([
            "run",
            "--log-format",
            "json",
            "--shards",
            shards,
            "--shard-total",
            "2",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "LINKGUARD_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env("LINKGUARD_HTTP_ADDR", "127.0.0.1:0")
        .env("LINKGUARD_AUDIT_KEY", "shard-test-audit-key")
        .env("LINKGUARD_ROOM_KEY", "shard-test-room-key")
        .env("LINKGUARD_DISCORD_TOKEN", fake.bot_token())
        .env("LINKGUARD_DISCORD_PROXY_URL", fake.http_base())
        .env(
            "LINKGUARD_DISCORD_GUILD_IDS",
            format!("{},{GUILD_B}", cast::GUILD),
        )
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("linkguard run starts");
    let stderr = child.stderr.take().unwrap();
    let name = shards.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("\"WARN\"") || line.contains("\"ERROR\"") {
                eprintln!("[replica {name}] {line}");
            }
        }
    });
    Replica { child }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_each_own_half_the_shards() {
    assert_ne!(shard_of(cast::GUILD, 2), shard_of(GUILD_B, 2));
    let fake = FakeDiscord::start(two_guilds())
        .await
        .expect("fake discord");
    let dir = tempfile::tempdir().unwrap();
    let _a = spawn_run(&fake, &dir.path().join("a.db"), "0-0");
    let _b = spawn_run(&fake, &dir.path().join("b.db"), "1-1");
    fake.wait_until(|s| s.connected_sessions() == 2, WAIT)
        .await
        .expect("both replicas connect, one shard each");

    let mut banned = Vec::new();
    for i in 0..6u64 {
        for channel in [cast::GENERAL, GENERAL_B] {
            let n = i * 10 + u64::from(channel == GENERAL_B);
            let text = if i % 2 == 0 {
                format!("call {i}: https://zoom.us/j/9{n:010}")
            } else {
                format!("plain {i}")
            };
            let id = fake.post_user_message(channel, cast::ALICE, &text).unwrap();
            if i % 2 == 0 {
                banned.push(id);
            }
        }
    }
    fake.wait_until(
        |s| {
            banned
                .iter()
                .all(|id| s.message(*id).is_some_and(|m| m.deleted))
        },
        WAIT,
    )
    .await
    .expect("every violation in both guilds handled");
    // Once each: one webhook repost per banned message, in its own guild.
    for channel in [cast::GENERAL, GENERAL_B] {
        let reposts = fake
            .messages(channel)
            .iter()
            .filter(|m| m.webhook_id.is_some() && m.content.contains("meet.jit.si"))
            .count();
        assert_eq!(reposts, 3, "channel {channel}");
    }
    // Each replica's own database recorded only its shard's guild.
    let on_shard = |shard: u64| {
        if shard_of(cast::GUILD, 2) == shard {
            (cast::GUILD, GUILD_B)
        } else {
            (GUILD_B, cast::GUILD)
        }
    };
    for (db, shard) in [("a.db", 0), ("b.db", 1)] {
        let (mine, other) = on_shard(shard);
        let out = Command::new(env!("CARGO_BIN_EXE_linkguard"))
            .args(["audit", "export", "--format", "jsonl"])
            .env(
                "LINKGUARD_DATABASE_URL",
                format!("sqlite://{}", dir.path().join(db).display()),
            )
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&mine.to_string()),
            "{db} handled guild {mine}:\n{text}"
        );
        assert!(
            !text.contains(&other.to_string()),
            "{db} must not see guild {other}"
        );
    }
}
