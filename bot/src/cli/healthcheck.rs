//! `linkguard healthcheck`: asks the service running beside it, on the
//! configured `http_addr`, whether it is ready (`/readyz`), or with `--live`
//! only alive (`/healthz`). Exit 0 when it is, 1 when it is not or does not
//! answer in time.
//!
//! It exists so that a container image needs no curl or shell for its
//! `HEALTHCHECK`: the binary reads the same configuration (file, variables,
//! `_FILE` secrets) as the `run` it checks, so it finds the same listener.

use crate::config::Config;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `linkguard healthcheck`.
#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// Only check that the process is alive (`/healthz`), not that it is ready.
    #[arg(long)]
    live: bool,
    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECS", default_value_t = 3)]
    timeout: u64,
}

/// Where to reach a listener bound to `addr`: a wildcard address (`0.0.0.0`,
/// `[::]`) is reached on the loopback address of its family.
async fn target(addr: &str) -> anyhow::Result<SocketAddr> {
    let mut found = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| anyhow::anyhow!("http_addr `{addr}`: {e}"))?;
    let mut a = found
        .next()
        .ok_or_else(|| anyhow::anyhow!("http_addr `{addr}` names no address"))?;
    if a.ip().is_unspecified() {
        a.set_ip(match a.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Ok(a)
}

/// Runs the check and prints one line saying what it found.
pub async fn run(args: HealthcheckArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let addr = target(&config.http_addr).await?;
    let path = if args.live { "/healthz" } else { "/readyz" };
    let url = format!("http://{addr}{path}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout.max(1)))
        // The listener is on this host: an HTTP_PROXY in the environment must not
        // send the check elsewhere.
        .no_proxy()
        .build()?;
    match client.get(&url).send().await {
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            let body: String = body.trim().chars().take(200).collect();
            if status.is_success() {
                println!("{url}: {body}");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("{url}: {} {body}", status.as_u16());
                Ok(ExitCode::FAILURE)
            }
        }
        Err(e) => {
            eprintln!("{url}: no answer: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::target;

    #[tokio::test]
    async fn a_wildcard_listener_is_asked_on_loopback() {
        assert_eq!(
            target("0.0.0.0:8080").await.unwrap().to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(target("[::]:8080").await.unwrap().to_string(), "[::1]:8080");
        assert_eq!(
            target("127.0.0.2:1").await.unwrap().to_string(),
            "127.0.0.2:1"
        );
        assert!(target("no-port").await.is_err());
    }
}
