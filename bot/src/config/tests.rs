use super::*;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn environment_wins_over_file_over_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("linkguard.toml");
    let token = dir.path().join("token");
    std::fs::write(&token, "xoxb-from-file\n").unwrap();
    std::fs::write(
        &file,
        format!(
            "dedupe_ttl_secs = 60\nhttp_addr = \"127.0.0.1:1\"\n[slack]\nbot_token_file = \"{}\"\nsigning_secret = \"s\"\nmode = \"http\"\n",
            token.display()
        ),
    )
    .unwrap();
    let c = Config::load(Some(&file), vars(&[("LINKGUARD_HTTP_ADDR", "127.0.0.1:2")])).unwrap();
    assert_eq!(c.dedupe_ttl_secs, 60);
    assert_eq!(c.http_addr, "127.0.0.1:2");
    let s = c.slack.as_ref().unwrap();
    assert_eq!(s.bot_token.expose(), "xoxb-from-file");
    assert_eq!(
        c.sources["http_addr"],
        "the environment (LINKGUARD_HTTP_ADDR)"
    );
    assert!(c.sources["slack.bot_token"].starts_with("file "));
    let d = c.describe();
    assert!(
        !d.contains("xoxb-from-file") && d.contains("slack.bot_token = [redacted]"),
        "{d}"
    );
    assert_eq!(format!("{:?}", c).matches("xoxb").count(), 0);
}

#[test]
fn the_example_configuration_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/linkguard.example.toml");
    let c = Config::load(Some(&path), vars(&[])).unwrap();
    assert_eq!(c.http_addr, "0.0.0.0:8080");
    assert!(c.slack.is_none() && c.discord.is_none());
    // Every key is documented in the example, commented out or not.
    let text = std::fs::read_to_string(&path).unwrap();
    for (key, _, _) in Config::keys() {
        let leaf = key.rsplit('.').next().unwrap();
        assert!(
            text.contains(&format!("{leaf} =")) || text.contains(&format!("{leaf}_file =")),
            "{key} is not in the example"
        );
    }
}

#[test]
fn a_variable_and_its_file_twin_together_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("database_url");
    std::fs::write(&url_file, "postgres://lg:pw@db/lg\n").unwrap();
    let e = Config::load(
        None,
        vars(&[
            ("LINKGUARD_DATABASE_URL", "sqlite://x.db"),
            ("LINKGUARD_DATABASE_URL_FILE", url_file.to_str().unwrap()),
        ]),
    )
    .unwrap_err();
    assert_eq!(e.key, "database_url");
    let text = e.to_string();
    assert!(
        text.contains("LINKGUARD_DATABASE_URL and LINKGUARD_DATABASE_URL_FILE"),
        "{text}"
    );
    assert!(!text.contains("pw"), "{text}");
    // An empty variable counts as unset, as before.
    let c = Config::load(
        None,
        vars(&[
            ("LINKGUARD_DATABASE_URL", ""),
            ("LINKGUARD_DATABASE_URL_FILE", url_file.to_str().unwrap()),
        ]),
    )
    .unwrap();
    assert_eq!(c.database_url.expose(), "postgres://lg:pw@db/lg");
    // The same in one TOML file.
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        format!(
            "[slack]\nbot_token = \"x\"\nbot_token_file = \"{}\"\n",
            url_file.display()
        ),
    )
    .unwrap();
    let e = Config::load(Some(&file), vars(&[])).unwrap_err();
    assert_eq!(e.key, "slack.bot_token");
    assert!(e.to_string().contains("slack.bot_token_file"), "{e}");
    // A _FILE twin of a setting that is not a secret is a mistake, not
    // something to ignore.
    let e = Config::load(
        None,
        vars(&[("LINKGUARD_HTTP_ADDR_FILE", url_file.to_str().unwrap())]),
    )
    .unwrap_err();
    assert_eq!(e.key, "http_addr");
    assert!(e.to_string().contains("LINKGUARD_HTTP_ADDR_FILE"), "{e}");
}

#[test]
fn shard_keys_are_settings() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[discord]\ntoken = \"t\"\nshards = \"2-3\"\nshard_total = 4\n",
    )
    .unwrap();
    let c = Config::load(Some(&file), vars(&[])).unwrap();
    let want = ShardRange {
        first: 2,
        last: 3,
        total: 4,
    };
    assert_eq!(c.discord.as_ref().unwrap().shards, Some(want));
    assert!(c.describe().contains("discord.shards = 2-3 of 4"));
    // The environment overrides the file, one shard per replica.
    let c = Config::load(Some(&file), vars(&[("LINKGUARD_DISCORD_SHARDS", "1")])).unwrap();
    let got = c.discord.unwrap().shards.unwrap();
    assert_eq!((got.first, got.last, got.total), (1, 1, 4));
    let bad = [
        (("LINKGUARD_DISCORD_SHARDS", "4"), "discord.shards"),
        (
            ("LINKGUARD_DISCORD_SHARD_TOTAL", "0"),
            "discord.shard_total",
        ),
        (
            ("LINKGUARD_DISCORD_SHARD_TOTAL", "many"),
            "discord.shard_total",
        ),
    ];
    for ((name, value), key) in bad {
        let e = Config::load(Some(&file), vars(&[(name, value)])).unwrap_err();
        assert_eq!(e.key, key, "{name}={value}: {e}");
        assert!(e.to_string().contains(name), "{e}");
    }
}

#[test]
fn catch_up_never_reaches_past_the_idempotency_keys() {
    let discord = |extra: &[(&str, &str)]| {
        let mut v = vec![("LINKGUARD_DISCORD_TOKEN", "t")];
        v.extend_from_slice(extra);
        Config::load(None, vars(&v))
    };
    let d = discord(&[]).unwrap().discord.unwrap();
    assert_eq!(d.catch_up, CatchUpLimits::default());
    let d = discord(&[("LINKGUARD_DEDUPE_TTL_SECS", "3600")])
        .unwrap()
        .discord
        .unwrap();
    assert_eq!(d.catch_up.max_age_secs, 1800, "half the keys' lifetime");
    let e = discord(&[
        ("LINKGUARD_DEDUPE_TTL_SECS", "3600"),
        ("LINKGUARD_DISCORD_CATCH_UP_MAX_AGE_SECS", "3600"),
    ])
    .unwrap_err();
    assert_eq!(e.key, "discord.catch_up_max_age_secs");
    assert!(e.to_string().contains("below dedupe_ttl_secs"), "{e}");
    let e = discord(&[("LINKGUARD_DISCORD_CATCH_UP_MAX_MESSAGES", "lots")]).unwrap_err();
    assert_eq!(e.key, "discord.catch_up_max_messages");
    let d = discord(&[("LINKGUARD_DISCORD_CATCH_UP_MAX_MESSAGES", "0")])
        .unwrap()
        .discord
        .unwrap();
    assert_eq!(d.catch_up.max_messages, 0);
    assert!(Config::load(
        None,
        vars(&[
            ("LINKGUARD_DISCORD_TOKEN", "t"),
            ("LINKGUARD_DISCORD_CATCH_UP_MAX_MESSAGES", "0")
        ])
    )
    .unwrap()
    .describe()
    .contains("discord.catch_up_max_messages = 0 (off)"));
}

#[test]
fn errors_name_the_key_and_the_source() {
    let e = Config::load(None, vars(&[("LINKGUARD_DEDUPE_TTL_SECS", "soon")])).unwrap_err();
    assert_eq!(e.key, "dedupe_ttl_secs");
    assert_eq!(e.to_string(), "dedupe_ttl_secs (from the environment (LINKGUARD_DEDUPE_TTL_SECS)): expected a whole number of seconds, got `soon`");
    let e = Config::load(
        None,
        vars(&[("LINKGUARD_SLACK_BOT_TOKEN_FILE", "/nonexistent/t")]),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("LINKGUARD_SLACK_BOT_TOKEN_FILE")
            && e.to_string().contains("/nonexistent/t"),
        "{e}"
    );
    let e = Config::load(
        None,
        vars(&[
            ("LINKGUARD_SLACK_BOT_TOKEN", "x"),
            ("LINKGUARD_SLACK_MODE", "smoke"),
        ]),
    )
    .unwrap_err();
    assert_eq!(e.key, "slack.mode");
    let e = Config::load(None, vars(&[("LINKGUARD_SLACK_APP_TOKEN", "xapp-1")])).unwrap_err();
    assert_eq!(e.key, "slack.bot_token");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[slack]\nbot_tokn = \"x\"\n").unwrap();
    let e = Config::load(Some(&file), vars(&[])).unwrap_err();
    assert_eq!(e.key, "slack.bot_tokn");
    assert!(e.to_string().contains("unknown setting"));
    let e = Config::load(
        None,
        vars(&[("LINKGUARD_DATABASE_URL", "mysql://u:hunter2@h/db")]),
    )
    .unwrap_err();
    assert!(!e.to_string().contains("hunter2"), "{e}");
    let e = Config::load(None, vars(&[("LINKGUARD_HTTP_HEADER_TIMEOUT_SECS", "0")])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "http_header_timeout_secs (from the environment (LINKGUARD_HTTP_HEADER_TIMEOUT_SECS)): expected 1 to 3600 seconds, got 0"
    );
}

#[test]
fn the_development_room_key_is_refused_for_run_only() {
    let c = Config::load(None, vars(&[])).unwrap();
    let e = c.run_errors();
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].key, "room_key");
    assert_eq!(e[1].key, "audit_key");
    assert!(e[0]
        .to_string()
        .starts_with("room_key (from default): the built-in development key"));
    let c = Config::load(
        None,
        vars(&[
            ("LINKGUARD_ROOM_KEY", "a-real-secret"),
            ("LINKGUARD_AUDIT_KEY", "another-real-secret"),
        ]),
    )
    .unwrap();
    assert!(c.run_errors().is_empty());
    // An empty key file is no better.
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("room_key");
    std::fs::write(&empty, "\n").unwrap();
    let c = Config::load(
        None,
        vars(&[("LINKGUARD_ROOM_KEY_FILE", empty.to_str().unwrap())]),
    )
    .unwrap();
    assert!(
        c.run_errors()[0].to_string().contains("empty"),
        "{:?}",
        c.run_errors()
    );
}

#[test]
fn server_and_team_ids_come_from_lists_or_comma_separated_variables() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[discord]\ntoken = \"t\"\nguild_ids = [\"1058897343283331074\", \"1058897343283331074\"]\n[slack]\nbot_token = \"x\"\napp_token = \"y\"\nteam_ids = [\"T0FAKETEAM1\"]\n",
    )
    .unwrap();
    let c = Config::load(Some(&file), vars(&[])).unwrap();
    assert_eq!(
        c.discord.as_ref().unwrap().guild_ids,
        vec![1_058_897_343_283_331_074]
    );
    assert_eq!(c.slack.as_ref().unwrap().team_ids, vec!["T0FAKETEAM1"]);
    assert!(c.warnings().iter().all(|w| !w.contains("guild_ids")));
    let c = Config::load(
        Some(&file),
        vars(&[
            ("LINKGUARD_DISCORD_GUILD_IDS", "1, 2"),
            ("LINKGUARD_SLACK_TEAM_IDS", "T1,T2"),
        ]),
    )
    .unwrap();
    assert_eq!(c.discord.as_ref().unwrap().guild_ids, vec![1, 2]);
    assert_eq!(c.slack.as_ref().unwrap().team_ids, vec!["T1", "T2"]);
    let c = Config::load(None, vars(&[("LINKGUARD_DISCORD_TOKEN", "t")])).unwrap();
    assert!(c.discord.as_ref().unwrap().guild_ids.is_empty());
    assert!(c
        .warnings()
        .iter()
        .any(|w| w.contains("LINKGUARD_DISCORD_GUILD_IDS")));
    for bad in ["0", "12a", "1.5"] {
        let e = Config::load(
            None,
            vars(&[
                ("LINKGUARD_DISCORD_TOKEN", "t"),
                ("LINKGUARD_DISCORD_GUILD_IDS", bad),
            ]),
        )
        .unwrap_err();
        assert_eq!(e.key, "discord.guild_ids", "{bad}");
    }
    let e = Config::load(
        None,
        vars(&[
            ("LINKGUARD_SLACK_BOT_TOKEN", "x"),
            ("LINKGUARD_SLACK_APP_TOKEN", "y"),
            ("LINKGUARD_SLACK_TEAM_IDS", "t0lower"),
        ]),
    )
    .unwrap_err();
    assert_eq!(e.key, "slack.team_ids");
}
