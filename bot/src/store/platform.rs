//! Where a record comes from, as the store keeps it: the [`Platform`] a
//! message, request or session belongs to, the [`Origin`] of an audit record
//! (a platform, or linkguard's own CLI, web console or service), and which
//! [`Revision`] of a message an event is.
//!
//! Each is stored as its text, written (`as_str`) and read (`parse`) here and
//! nowhere else; the text is what the database has always held, so no
//! migration goes with these types. Text that names none of them is an
//! error that names it, never a guess.

use super::audit::checked_text_serde;
use linkguard_rules::Dialect;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The platforms linkguard moderates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// Slack.
    Slack,
    /// Discord.
    Discord,
}

impl Platform {
    /// Every platform.
    pub const ALL: [Platform; 2] = [Platform::Slack, Platform::Discord];

    /// The platform's name in the store, audit records and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Platform::Slack => "slack",
            Platform::Discord => "discord",
        }
    }

    /// The platform named `s` (as [`Platform::as_str`] writes it).
    pub fn parse(s: &str) -> Result<Platform, UnknownPlatform> {
        named(Platform::ALL, Platform::as_str, s).ok_or_else(|| UnknownPlatform(s.to_owned()))
    }

    /// The text dialect of the platform's messages.
    pub fn dialect(self) -> Dialect {
        match self {
            Platform::Slack => Dialect::Slack,
            Platform::Discord => Dialect::Discord,
        }
    }
}

/// The one of `all` whose name is `s`.
fn named<T: Copy, const N: usize>(all: [T; N], name: fn(T) -> &'static str, s: &str) -> Option<T> {
    all.into_iter().find(|t| name(*t) == s)
}

/// Text that names no [`Platform`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform {0:?} (known: slack, discord)")]
pub struct UnknownPlatform(pub String);

/// Where an audit record comes from: a platform, or linkguard itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A message, command or event on a platform.
    Platform(Platform),
    /// The `linkguard` command line (and exceptions granted for every
    /// platform, which the CLI grants).
    Cli,
    /// The web console's break-glass sign-in.
    Console,
    /// The service itself: start-up, purges, policy imports, revocations
    /// without a platform's scope.
    Linkguard,
    /// A message `linkguard scan` found in an input that does not say its
    /// platform (JSON Lines without `platform`); stored as `any`.
    AnyPlatform,
}

impl Origin {
    /// Every origin.
    pub const ALL: [Origin; 6] = [
        Origin::Platform(Platform::Slack),
        Origin::Platform(Platform::Discord),
        Origin::Cli,
        Origin::Console,
        Origin::Linkguard,
        Origin::AnyPlatform,
    ];

    /// The stored text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Origin::Platform(p) => p.as_str(),
            Origin::Cli => "cli",
            Origin::Console => "console",
            Origin::Linkguard => "linkguard",
            Origin::AnyPlatform => "any",
        }
    }

    /// The origin named `s` (as [`Origin::as_str`] writes it).
    pub fn parse(s: &str) -> Result<Origin, UnknownOrigin> {
        named(Origin::ALL, Origin::as_str, s).ok_or_else(|| UnknownOrigin(s.to_owned()))
    }

    /// The platform, when the origin is one.
    pub fn platform(self) -> Option<Platform> {
        match self {
            Origin::Platform(p) => Some(p),
            _ => None,
        }
    }
}

impl From<Platform> for Origin {
    fn from(p: Platform) -> Origin {
        Origin::Platform(p)
    }
}

impl PartialEq<Platform> for Origin {
    fn eq(&self, other: &Platform) -> bool {
        *self == Origin::Platform(*other)
    }
}

/// A caller's platform, or the CLI (`None`).
impl From<Option<Platform>> for Origin {
    fn from(p: Option<Platform>) -> Origin {
        p.map_or(Origin::Cli, Origin::Platform)
    }
}

/// Text that names no [`Origin`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform {0:?} (known: slack, discord, cli, console, linkguard, any)")]
pub struct UnknownOrigin(pub String);

/// Which revision of a message an event is: the original post, or an edit
/// named by the platform's edit timestamp (Slack's `edited.ts`, Discord's
/// `edited_timestamp`). Part of the idempotency key, so a redelivered
/// revision is handled once and each edit once more. Stored as its text
/// (`0` for the original).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Revision(String);

impl Revision {
    /// The text of the original post's revision.
    const ORIGINAL: &'static str = "0";

    /// The original post.
    pub fn original() -> Revision {
        Revision(Revision::ORIGINAL.to_owned())
    }

    /// An edit, named by the platform's edit timestamp.
    pub fn edit(stamp: impl fmt::Display) -> Revision {
        Revision(stamp.to_string())
    }

    /// Whether this is the original post (not an edit).
    pub fn is_original(&self) -> bool {
        self.0 == Revision::ORIGINAL
    }

    /// The revision as stored and keyed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Revision {
    fn default() -> Revision {
        Revision::original()
    }
}

impl From<&str> for Revision {
    fn from(s: &str) -> Revision {
        Revision(s.to_owned())
    }
}

impl From<String> for Revision {
    fn from(s: String) -> Revision {
        Revision(s)
    }
}

impl PartialEq<&str> for Revision {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

macro_rules! from_str_by_parse {
    ($t:ty, $err:ty) => {
        impl FromStr for $t {
            type Err = $err;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$t>::parse(s)
            }
        }
        checked_text_serde!($t);
    };
}
from_str_by_parse!(Platform, UnknownPlatform);
from_str_by_parse!(Origin, UnknownOrigin);

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_origin_reads_back_as_itself() {
        for o in Origin::ALL {
            assert_eq!(Origin::parse(o.as_str()), Ok(o));
        }
        for p in Platform::ALL {
            assert_eq!(Platform::parse(p.as_str()), Ok(p));
            assert_eq!(Origin::parse(p.as_str()), Ok(Origin::Platform(p)));
        }
    }

    #[test]
    fn the_stored_text_is_what_the_database_always_held() {
        let texts: Vec<&str> = Origin::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            texts,
            ["slack", "discord", "cli", "console", "linkguard", "any"]
        );
        assert_eq!(Origin::from(None::<Platform>), Origin::Cli);
        assert_eq!(Revision::original().as_str(), "0");
    }

    #[test]
    fn unknown_text_is_an_error_that_names_it() {
        let e = Platform::parse("teams").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"unknown platform "teams" (known: slack, discord)"#
        );
        assert!(Platform::parse("cli").is_err());
        assert!(Platform::parse("Slack").is_err());
        let e = Origin::parse("irc").unwrap_err();
        assert!(e.to_string().contains(r#""irc""#), "{e}");
        let e = serde_json::from_str::<Platform>(r#""matrix""#).unwrap_err();
        assert!(e.to_string().contains("matrix"), "{e}");
    }

    #[test]
    fn display_pads_like_a_string() {
        assert_eq!(format!("[{:<9}]", Origin::Linkguard), "[linkguard]");
        assert_eq!(format!("[{:<8}]", Platform::Slack), "[slack   ]");
    }

    #[test]
    fn platforms_serialise_as_their_stored_text() {
        assert_eq!(
            serde_json::to_string(&Platform::Discord).unwrap(),
            r#""discord""#
        );
        assert_eq!(
            serde_json::from_str::<Origin>(r#""linkguard""#).unwrap(),
            Origin::Linkguard
        );
    }
}
