//! Slack request signing (`X-Slack-Signature`), used for every HTTP delivery
//! and, deliberately wrongly, for the negative-test helpers.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How `FakeSlack::send_raw_event` signs a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignMode {
    /// Correct signature with the current time.
    Valid,
    /// Current time, signature computed with a different secret.
    Forged,
    /// Correct signature over a timestamp ten minutes old (outside the 5-minute window).
    Stale,
    /// No `X-Slack-Signature` / `X-Slack-Request-Timestamp` headers at all.
    Unsigned,
}

/// `v0=` + hex(HMAC-SHA256(secret, `v0:{timestamp}:{body}`)).
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_docs_vector() {
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(
            sign(
                "8f742231b10e8888abcd99yyyzzz85a5",
                "1531420618",
                body.as_bytes()
            ),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }
}
