//! linkguard started the way its container starts it: the image's
//! environment (read from `deploy/Dockerfile`), its working directory and
//! command, the configuration file that `deploy/compose.yaml` mounts, and
//! the secrets as files that file names, the database URL pointing at
//! PostgreSQL. It must run on PostgreSQL, not on a SQLite file of its own,
//! and `linkguard healthcheck` (the image's HEALTHCHECK) must say so.
//!
//! The paths the image uses (`/etc/linkguard/…`, `/run/secrets/…`,
//! `/var/lib/linkguard`) are laid out under a temporary directory.

mod store_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo_file(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The final stage of the Dockerfile: its ENV pairs, WORKDIR, CMD and
/// HEALTHCHECK command.
struct Image {
    env: Vec<(String, String)>,
    workdir: String,
    cmd: Vec<String>,
    healthcheck: Vec<String>,
}

fn json_words(s: &str) -> Vec<String> {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("not an exec-form list: {s}: {e}"))
}

fn image() -> Image {
    let text = repo_file("deploy/Dockerfile").replace("\\\n", " ");
    let lines: Vec<&str> = text.lines().collect();
    let last_from = lines
        .iter()
        .rposition(|l| l.starts_with("FROM "))
        .expect("a FROM line");
    let mut img = Image {
        env: Vec::new(),
        workdir: "/".into(),
        cmd: Vec::new(),
        healthcheck: Vec::new(),
    };
    for line in &lines[last_from..] {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "ENV" => {
                for pair in rest.split_whitespace() {
                    let (k, v) = pair.split_once('=').expect("ENV KEY=VALUE");
                    img.env.push((k.to_owned(), v.trim_matches('"').to_owned()));
                }
            }
            "WORKDIR" => img.workdir = rest.trim().to_owned(),
            "CMD" => img.cmd = json_words(rest),
            "HEALTHCHECK" => {
                let (_, cmd) = rest.split_once("CMD").expect("HEALTHCHECK … CMD");
                img.healthcheck = json_words(cmd);
            }
            _ => {}
        }
    }
    img
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A path of the image, under the test's root.
fn at(root: &Path, image_path: &str) -> PathBuf {
    root.join(image_path.trim_start_matches('/'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_on_postgresql_as_the_image_and_compose_start_it() {
    let Some(db) = store_common::postgres().await else {
        return;
    };
    let img = image();
    // The image presets nothing a configuration file can set.
    for (k, _) in &img.env {
        assert_eq!(k, "LINKGUARD_CONFIG", "the image presets {k}");
    }
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let config_path = img
        .env
        .iter()
        .find(|(k, _)| k == "LINKGUARD_CONFIG")
        .map(|(_, v)| v.clone())
        .expect("the image names its configuration file");

    // Compose mounts compose.linkguard.toml over the image's file, and the
    // secrets folder at /run/secrets/linkguard.
    let compose = repo_file("deploy/compose.yaml");
    assert!(
        compose.contains(&format!("./compose.linkguard.toml:{config_path}:ro")),
        "compose.yaml no longer mounts compose.linkguard.toml at {config_path}"
    );
    let (http, metrics) = (free_port(), free_port());
    let config = repo_file("deploy/compose.linkguard.toml")
        .replace(
            "/run/secrets/",
            &format!("{}/", at(root, "/run/secrets").display()),
        )
        .replace("0.0.0.0:8080", &format!("127.0.0.1:{http}"))
        .replace("0.0.0.0:9090", &format!("127.0.0.1:{metrics}"));
    let config_file = at(root, &config_path);
    std::fs::create_dir_all(config_file.parent().unwrap()).unwrap();
    std::fs::write(&config_file, &config).unwrap();
    let secrets = at(root, "/run/secrets/linkguard");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("database_url"), format!("{}\n", db.url)).unwrap();
    std::fs::write(secrets.join("room_key"), "a-room-key-for-this-test\n").unwrap();
    std::fs::write(secrets.join("audit_key"), "an-audit-key-for-this-test\n").unwrap();
    let workdir = at(root, &img.workdir);
    std::fs::create_dir_all(&workdir).unwrap();

    let linkguard = |args: &[String]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_linkguard"));
        c.args(args).env_clear().current_dir(&workdir);
        for (k, v) in &img.env {
            let v = if v.starts_with('/') {
                at(root, v).display().to_string()
            } else {
                v.clone()
            };
            c.env(k, v);
        }
        c
    };

    let check = linkguard(&["config".into(), "check".into()])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        printed.contains("database_url = postgres://")
            && printed.contains("(via database_url_file in"),
        "config check does not show the PostgreSQL URL from the secret file:\n{printed}"
    );

    // Its log goes to a file: a pipe nobody reads could fill and stall it.
    let log_path = root.join("linkguard.log");
    let mut service = linkguard(&img.cmd)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let health = |args: &[String]| linkguard(&args[1..]).output().unwrap();
    assert!(
        img.healthcheck[0].ends_with("/linkguard"),
        "{:?}",
        img.healthcheck
    );
    // Ready within a bounded time: observed through the image's own health check.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = health(&img.healthcheck);
        if out.status.success() {
            assert!(String::from_utf8_lossy(&out.stdout).contains("ready"));
            break;
        }
        if let Some(status) = service.try_wait().unwrap() {
            panic!("linkguard exited with {status}:\n{}", log());
        }
        assert!(
            Instant::now() < deadline,
            "never ready: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // It migrated and uses the PostgreSQL database…
    let pool = db.raw().await;
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'audit_log'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(tables, 1, "no audit_log table in the PostgreSQL database");
    pool.close().await;
    // …and made no SQLite file where the image's default would put one.
    let files: Vec<_> = std::fs::read_dir(&workdir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        files.is_empty(),
        "files in the working directory: {files:?}"
    );

    // SIGTERM, as `docker stop` sends: a clean exit 0.
    let term = Command::new("kill")
        .args(["-TERM", &service.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = service.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit within 30 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "exit status {status}:\n{}", log());
    assert!(!log().contains("sqlite"), "{}", log());
    // The health check now fails, naming what it asked.
    let out = health(&img.healthcheck);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("127.0.0.1:{http}/readyz")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Docker reserves a health check's exit status 2; a configuration error
/// makes the check fail with 1, and says why.
#[test]
fn healthcheck_fails_with_1_on_a_configuration_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_linkguard"))
        .arg("healthcheck")
        .env_clear()
        .env("LINKGUARD_LOG_FORMAT", "smoke")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("log_format"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The image is built without the `demo` feature, and without it nothing
/// of the fake Slack and Discord servers is linked into the binary.
#[test]
fn the_image_leaves_out_the_demo_and_the_fakes() {
    let dockerfile = repo_file("deploy/Dockerfile").replace("\\\n", " ");
    let builds: Vec<&str> = dockerfile
        .lines()
        .flat_map(|l| l.split("&&"))
        .filter(|c| c.trim_start().starts_with("cargo build"))
        .collect();
    assert!(!builds.is_empty(), "no `cargo build` in deploy/Dockerfile");
    for build in builds {
        let words: Vec<&str> = build.split_whitespace().collect();
        assert!(
            words.contains(&"--no-default-features") && !words.contains(&"--features"),
            "the image must be built without the demo: {}",
            build.trim()
        );
    }

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "--locked", "--offline", "--prefix", "none"])
        .args(["-e", "normal", "--no-default-features", "-p", "linkguard"])
        .output()
        .unwrap();
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tree.lines().any(|l| l.starts_with("linkguard v")), "{tree}");
    assert!(
        !tree.lines().any(|l| l.starts_with("linkguard-fakes ")),
        "the release build links the fakes:\n{tree}"
    );
}
