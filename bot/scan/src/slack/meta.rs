//! The export's metadata files (`users.json`, `channels.json` and the
//! private conversations' files), streamed into id→name maps.

use super::Meta;
use serde::Deserialize;
use std::io::{BufReader, Read};

#[derive(Deserialize)]
struct User {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    real_name: Option<String>,
    #[serde(default)]
    profile: Option<OwnedProfile>,
}

#[derive(Deserialize)]
struct OwnedProfile {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    real_name: Option<String>,
}

#[derive(Deserialize)]
struct Conversation {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: Option<String>,
}

/// The metadata files, in the order names are resolved: later files do not
/// override earlier ones.
pub(super) const CONVERSATION_FILES: [&str; 4] =
    ["channels.json", "groups.json", "mpims.json", "dms.json"];

pub(super) fn add_users(meta: &mut Meta, r: impl Read) -> Result<(), serde_json::Error> {
    let users: Vec<User> = serde_json::from_reader(BufReader::new(r))?;
    for u in users {
        let profile = u.profile.as_ref();
        let name = [
            profile.and_then(|p| p.display_name.as_deref()),
            profile.and_then(|p| p.real_name.as_deref()),
            u.real_name.as_deref(),
            Some(u.name.as_str()),
        ]
        .into_iter()
        .flatten()
        .find(|n| !n.is_empty())
        .unwrap_or(&u.id)
        .to_owned();
        meta.users.entry(u.id).or_insert(name);
    }
    Ok(())
}

pub(super) fn add_conversations(meta: &mut Meta, r: impl Read) -> Result<(), serde_json::Error> {
    let list: Vec<Conversation> = serde_json::from_reader(BufReader::new(r))?;
    for c in list {
        // DM folders are named by id; the others by name.
        let folder = c
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| c.id.clone());
        meta.channel_ids.entry(folder).or_insert(c.id);
    }
    Ok(())
}
