//! `linkguard check`: what the policy says about a message, for a person or,
//! with `--batch`, for other programs (JSON Lines in, JSON Lines out).

use crate::config::Config;
use anyhow::Context as _;
use linkguard_rules::eval::{LinkVerdict, MessageContext, Verdict};
use linkguard_rules::policy::{Policy, RoomKey, DEFAULT_POLICY_NAME};
use linkguard_rules::Dialect;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::process::ExitCode;

const EXIT_HELP: &str = "\
Exit status:
  0  no banned link was found (with --batch: and every line was valid JSON)
  1  at least one link is banned by the policy (monitor-mode rules included)
  2  the policy or the input could not be read (with --batch: a malformed line)";

/// Arguments of `linkguard check`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_HELP)]
pub struct CheckArgs {
    /// Policy file (default: $LINKGUARD_POLICY, else the built-in policy).
    #[arg(long, value_name = "FILE")]
    policy: Option<String>,
    /// The dialect the text is written in.
    #[arg(long, value_name = "slack|discord|any", default_value = "any", value_parser = parse_dialect)]
    platform: Dialect,
    /// Print one JSON object instead of the readable report.
    #[arg(long, conflicts_with = "batch")]
    json: bool,
    /// Read JSON Lines ({"id"?, "platform"?, "text"}) and write one JSON object per line.
    #[arg(long)]
    batch: bool,
    /// The message to check (default: standard input).
    text: Option<String>,
}

fn parse_dialect(s: &str) -> Result<Dialect, String> {
    Dialect::parse(s).ok_or_else(|| format!("unknown platform `{s}` (use slack, discord or any)"))
}

/// Loads the policy `check` and `scan` use: a file if one is named, else the
/// built-in default.
pub fn load_policy(path: Option<&str>, config: &Config) -> anyhow::Result<Policy> {
    match path.or(config.policy_path.as_deref()) {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read policy file {path}"))?;
            Ok(Policy::parse(path, &text)?)
        }
        None => Ok(Policy::parse(
            DEFAULT_POLICY_NAME,
            linkguard_rules::policy::DEFAULT_POLICY,
        )?),
    }
}

/// Runs `linkguard check`.
pub async fn run(args: CheckArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let policy = match load_policy(args.policy.as_deref(), config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let key = RoomKey::new(config.room_key.expose());
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.batch {
        // `Stdin`, not its lock, which cannot go to the reading thread.
        let code = batch(&policy, &key, args.platform, std::io::stdin(), &mut out)?;
        out.flush()?;
        return Ok(code);
    }
    let text = match args.text {
        Some(t) => t,
        None => {
            let mut t = String::new();
            std::io::stdin()
                .read_to_string(&mut t)
                .context("cannot read the message from standard input")?;
            t
        }
    };
    let ctx = MessageContext {
        platform: args.platform,
        ..MessageContext::default()
    };
    let verdict = policy.evaluate(&text, &ctx, &key);
    let rewritten = verdict.rewrite(&text, args.platform);
    if args.json {
        let v = verdict_json(None, &policy, &verdict, &rewritten);
        writeln!(out, "{v}")?;
    } else {
        human(&mut out, &policy, &verdict, &rewritten, &text)?;
    }
    out.flush()?;
    Ok(if verdict.is_blocked() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The JSON object for one message: the distinct links and the rewrite.
pub fn verdict_json(
    id: Option<&Value>,
    policy: &Policy,
    verdict: &Verdict,
    rewritten: &str,
) -> Value {
    let links: Vec<Value> = verdict
        .distinct()
        .into_iter()
        .map(|v| link_json(policy, v))
        .collect();
    json!({
        "id": id.cloned().unwrap_or(Value::Null),
        "links": links,
        "rewritten": rewritten,
    })
}

fn link_json(policy: &Policy, v: &LinkVerdict) -> Value {
    let block = v.block();
    json!({
        "provider": v.link.provider.as_str(),
        "provider_name": policy.provider_name(&v.link.provider),
        "url": v.link.url,
        "span": [v.link.span.start, v.link.span.end],
        "allowed": block.is_none(),
        "rule": block.map(|b| b.rule.as_str()),
        "action": block.map(|b| b.action.as_str()),
        "monitor": block.map(|b| b.monitor),
        "reason": block.map(|b| b.reason.as_str()),
        "alternative": block.and_then(|b| b.alternative.as_deref()),
    })
}

/// Processes JSON Lines; a malformed line yields an error object and the run
/// goes on. Large inputs are spread over the cores, output in input order
/// ([`super::check_batch`]).
pub fn batch(
    policy: &Policy,
    key: &RoomKey,
    default_platform: Dialect,
    input: impl Read + Send,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let found = super::check_batch::run(policy, key, default_platform, input, out)?;
    Ok(if found.error {
        ExitCode::from(2)
    } else if found.blocked {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What a batch found, for the exit status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Some link is banned.
    pub blocked: bool,
    /// Some line could not be read or understood.
    pub error: bool,
}

impl Outcome {
    /// Both findings together.
    pub fn merge(&mut self, other: Outcome) {
        self.blocked |= other.blocked;
        self.error |= other.error;
    }
}

/// The answer to one line of `--batch` input (`line` is its text, or why it
/// could not be read), one object and a line break appended to `out`: the
/// definition of the batch output, which the fast path must match.
pub(super) fn reference_line(
    policy: &Policy,
    key: &RoomKey,
    default_platform: Dialect,
    line_no: u64,
    line: Result<&str, String>,
    out: &mut Vec<u8>,
    found: &mut Outcome,
) {
    let mut answer = |v: Value| {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &v);
        out.push(b'\n');
    };
    let line = match line {
        Ok(l) => l,
        Err(reason) => {
            found.error = true;
            return answer(json!({"line": line_no, "error": reason}));
        }
    };
    if line.trim().is_empty() {
        return;
    }
    let parsed: Result<Value, _> = serde_json::from_str(line);
    let obj = match parsed {
        Ok(Value::Object(o)) => o,
        Ok(_) => {
            found.error = true;
            return answer(json!({"line": line_no, "error": "expected a JSON object"}));
        }
        Err(e) => {
            found.error = true;
            return answer(json!({"line": line_no, "error": format!("invalid JSON: {e}")}));
        }
    };
    let id = obj.get("id");
    let Some(text) = obj.get("text").and_then(Value::as_str) else {
        found.error = true;
        return answer(json!({"id": id, "line": line_no, "error": "missing string field `text`"}));
    };
    let platform = match obj.get("platform") {
        None | Some(Value::Null) => default_platform,
        Some(Value::String(p)) => match Dialect::parse(p) {
            Some(d) => d,
            None => {
                found.error = true;
                return answer(
                    json!({"id": id, "line": line_no, "error": format!("unknown platform `{p}`")}),
                );
            }
        },
        Some(_) => {
            found.error = true;
            return answer(
                json!({"id": id, "line": line_no, "error": "`platform` must be a string"}),
            );
        }
    };
    let ctx = MessageContext {
        platform,
        ..MessageContext::default()
    };
    let verdict = policy.evaluate(text, &ctx, key);
    found.blocked |= verdict.is_blocked();
    let rewritten = verdict.rewrite(text, platform);
    answer(verdict_json(id, policy, &verdict, &rewritten));
}

/// The readable report of `linkguard check` (also the console's "test a
/// message").
pub(crate) fn human(
    out: &mut impl Write,
    policy: &Policy,
    verdict: &Verdict,
    rewritten: &str,
    original: &str,
) -> std::io::Result<()> {
    let links = verdict.distinct();
    if links.is_empty() {
        writeln!(out, "No meeting links found. Nothing to change.")?;
        return Ok(());
    }
    writeln!(out, "Policy: {}", policy.name())?;
    for (i, v) in links.iter().enumerate() {
        let name = policy.provider_name(&v.link.provider);
        writeln!(out, "{}. {} ({name})", i + 1, v.link.url)?;
        match v.block() {
            None => writeln!(out, "   allowed")?,
            Some(b) => {
                let mode = if b.monitor {
                    " [monitor mode: would act]"
                } else {
                    ""
                };
                writeln!(out, "   BLOCKED by rule `{}`{mode}", b.rule)?;
                if !b.reason.is_empty() {
                    writeln!(out, "   reason: {}", b.reason)?;
                }
                writeln!(out, "   action: {}", b.action.as_str())?;
                if let Some(alt) = &b.alternative {
                    writeln!(out, "   use instead: {alt}")?;
                }
            }
        }
    }
    if rewritten != original {
        writeln!(out, "\nRewritten message:\n{rewritten}")?;
    }
    Ok(())
}
