//! Pure translation of serenity's models into the platform-neutral
//! [`IncomingMessage`], and the small rules that decide which Discord messages
//! linkguard looks at at all. No I/O here, so every rule is unit-tested.

use crate::moderation::{Author, IncomingMessage, Platform, Revision, Skip};
use serenity::all::{
    AuthorizingIntegrationOwner, Embed, Message, MessageInteractionMetadata, MessageReferenceKind,
    MessageType, MessageUpdateEvent, PartialMember, Poll, Timestamp, User,
};
use std::time::Instant;

/// Discord's limit on a message's content, in characters.
pub const MESSAGE_LIMIT: usize = 2000;

/// Where a message lives, as the policy sees it: a thread or forum post is
/// reported under its parent channel (so channel scopes apply to its
/// threads), with the thread beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The guild, `None` in direct messages.
    pub guild: Option<u64>,
    /// The channel, or the parent channel of a thread.
    pub channel: u64,
    /// The thread (or forum post) the message is in.
    pub thread: Option<u64>,
}

impl Placement {
    /// The channel id the message itself belongs to (the thread, if any).
    pub fn message_channel(&self) -> u64 {
        self.thread.unwrap_or(self.channel)
    }
}

/// Decides whether a message from `author` is ignored. Our own bot and our
/// own webhooks are always ignored (never loop); other bots and webhooks are
/// ignored unless `moderate_bots` is set, because a bot that keeps posting a
/// banned link would otherwise make linkguard repost it forever.
pub fn ignored(
    author: &User,
    webhook_id: Option<u64>,
    own_bot: Option<u64>,
    own_webhook: bool,
    moderate_bots: bool,
) -> Option<Skip> {
    if own_bot == Some(author.id.get()) {
        return Some(Skip::Ours);
    }
    if webhook_id.is_some() && own_webhook {
        return Some(Skip::OurRepost);
    }
    if (author.bot || webhook_id.is_some()) && !moderate_bots {
        return Some(Skip::OtherBot);
    }
    None
}

/// The person another app's message speaks for, when that app is installed
/// to the person rather than to the server: a user-installed app answers
/// its user's command (or button, or form) in any channel they can post in,
/// under the app's name, so what it posts is theirs, and a server's
/// `moderate_bots = off` (trusting the bots its admins added) must not let
/// it through. An app the server installed (too) is one of its bots.
pub fn user_app_invoker(meta: Option<&MessageInteractionMetadata>) -> Option<&User> {
    let (user, owners) = match meta? {
        MessageInteractionMetadata::Command(c) => (&c.user, &c.authorizing_integration_owners),
        MessageInteractionMetadata::Component(c) => (&c.user, &c.authorizing_integration_owners),
        MessageInteractionMetadata::ModalSubmit(m) => (&m.user, &m.authorizing_integration_owners),
        _ => return None,
    };
    let by_user = owners
        .0
        .iter()
        .any(|o| matches!(o, AuthorizingIntegrationOwner::UserInstall(_)));
    let by_server = owners
        .0
        .iter()
        .any(|o| matches!(o, AuthorizingIntegrationOwner::GuildInstall(_)));
    (by_user && !by_server).then_some(user)
}

/// The name shown on a repost: guild nickname, else global display name, else
/// username.
pub fn display_name(user: &User, member: Option<&PartialMember>) -> String {
    member
        .and_then(|m| m.nick.clone())
        .or_else(|| user.global_name.clone())
        .unwrap_or_else(|| user.name.clone())
}

/// The face shown on a repost: guild avatar, else user avatar, else the
/// default avatar.
pub fn avatar_url(user: &User, member: Option<&PartialMember>, guild: Option<u64>) -> String {
    let guild_avatar = match (member.and_then(|m| m.avatar.as_ref()), guild) {
        (Some(hash), Some(g)) => {
            let ext = if hash.is_animated() { "gif" } else { "webp" };
            Some(format!(
                "https://cdn.discordapp.com/guilds/{g}/users/{}/avatars/{hash}.{ext}?size=1024",
                user.id
            ))
        }
        _ => None,
    };
    guild_avatar.unwrap_or_else(|| user.face())
}

/// The platform-neutral author.
pub fn author(user: &User, member: Option<&PartialMember>, guild: Option<u64>) -> Author {
    Author {
        id: user.id.to_string(),
        display_name: display_name(user, member),
        avatar_url: Some(avatar_url(user, member, guild)),
        roles: member
            .map(|m| m.roles.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
    }
}

/// The revision of an edit: its `edited_timestamp`. An update without one
/// has not changed the text since it was posted, so it is the original
/// revision, the same key as the original post, and is not handled twice.
pub fn update_revision(edited: Option<&Timestamp>) -> Revision {
    edited.map_or_else(Revision::original, Revision::edit)
}

/// Whether an embed's text was written by whoever sent the message. Only
/// `rich` embeds are (a bot's or a webhook's own; people cannot send embeds,
/// but they can forward a message that has one); an embed without a type is
/// rich by Discord's default. Every other type (`link`, `article`, `video`,
/// `image`, `gifv`, …) is Discord's preview of a link that is already in the
/// text: reading it would find the same link twice, or a link nobody wrote
/// (a page's own description).
fn authored(embed: &Embed) -> bool {
    matches!(embed.kind.as_deref(), None | Some("rich"))
}

/// The text of the authored embeds among `embeds`: title, link, author,
/// description, fields and footer, one per line.
pub fn embed_text<'a>(embeds: impl IntoIterator<Item = &'a Embed>) -> String {
    let mut out = String::new();
    let mut push = |s: &str| {
        if !s.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(s);
        }
    };
    for e in embeds.into_iter().filter(|e| authored(e)) {
        for s in [&e.title, &e.url].into_iter().flatten() {
            push(s);
        }
        if let Some(a) = &e.author {
            push(&a.name);
            if let Some(u) = &a.url {
                push(u);
            }
        }
        if let Some(d) = &e.description {
            push(d);
        }
        for f in &e.fields {
            push(&f.name);
            push(&f.value);
        }
        if let Some(f) = &e.footer {
            push(&f.text);
        }
    }
    out
}

/// Whether `msg` is a forward: its text is in `message_snapshots`, not in
/// `content` (which is empty).
///
/// serenity 0.12.5 models snapshots ([`Message::message_snapshots`], each
/// the inner `message` of Discord's `{message: {...}}`), so they are read
/// from the typed message; no raw-event handler is needed. Its snapshot model
/// requires `content`, `timestamp`, `mentions`, `attachments`, `embeds` and
/// `type`, which Discord sends in every snapshot.
pub fn is_forward(msg: &Message) -> bool {
    msg.message_reference
        .as_ref()
        .is_some_and(|r| r.kind == MessageReferenceKind::Forward)
        || !msg.message_snapshots.is_empty()
}

/// The text of a poll: its question, then each answer, one per line.
/// Any member who may post can attach one, and everyone sees it.
fn poll_text(poll: &Poll) -> String {
    std::iter::once(&poll.question)
        .chain(poll.answers.iter().map(|a| &a.poll_media))
        .filter_map(|m| m.text.as_deref())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a message says, as the policy reads it: its content, then what it
/// carries that a sender wrote (each forwarded snapshot's content and rich
/// embeds and buttons, then its own rich embeds, its poll's question and
/// answers and its buttons and menus), one part per line. Also says why a
/// repost could not stand in for it, when the carried parts hold text.
fn message_text(msg: &Message) -> (String, Option<String>) {
    let mut parts: Vec<String> = vec![msg.content.clone()];
    for snap in &msg.message_snapshots {
        parts.push(snap.content.clone());
        parts.push(embed_text(&snap.embeds));
        parts.push(super::components::typed_text(&snap.components));
    }
    let own_embeds = embed_text(&msg.embeds);
    let has_embed_text = !own_embeds.is_empty();
    parts.push(own_embeds);
    let poll = msg.poll.as_deref().map(poll_text).unwrap_or_default();
    let has_poll_text = !poll.is_empty();
    parts.push(poll);
    let buttons = super::components::typed_text(&msg.components);
    let has_buttons = !buttons.is_empty();
    parts.push(buttons);
    parts.retain(|p| !p.is_empty());
    let why = if is_forward(msg) {
        Some(
            "it is a forward, which a repost cannot re-create (webhooks cannot forward)".to_owned(),
        )
    } else if has_embed_text {
        Some("its embeds cannot be reposted under the author's name".to_owned())
    } else if has_poll_text {
        Some("it has a poll, which a repost cannot re-create with its votes".to_owned())
    } else if has_buttons {
        Some("its buttons or menus cannot be reposted under the author's name".to_owned())
    } else {
        None
    };
    (parts.join("\n"), why)
}

/// All the text `msg` carries that moderation checks (its content, a
/// forward's snapshots, rich embeds), one part a line: what "Check links"
/// checks too.
pub fn checked_text(msg: &Message) -> String {
    message_text(msg).0
}

/// `incoming` with the text `msg` carries in display components, read
/// over REST (see [`super::components`]): added after its other text, and
/// a repost cannot stand in for it (a webhook repost of the text would
/// lose the layout; of a forward, could not forward).
pub fn with_components(mut incoming: IncomingMessage, carried: &str) -> IncomingMessage {
    if carried.is_empty() {
        return incoming;
    }
    push_part(&mut incoming.text, carried);
    incoming.not_repostable.get_or_insert_with(|| {
        "its text is in components, which a repost cannot re-create".to_owned()
    });
    incoming
}

/// Adds `part` to `text` as a line of its own (no empty line when `text`
/// is empty).
pub fn push_part(text: &mut String, part: &str) {
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(part);
}

/// Whether `msg` has any text to check (content, or text it carries). A
/// system notice has none: its content, when it has any, is Discord's
/// words or a name (a thread's, a channel's, a stage's topic), and
/// removing the notice and reposting the name as a message would be wrong.
pub fn has_text(msg: &Message) -> bool {
    !is_system_notice(msg.kind) && !message_text(msg).0.is_empty()
}

/// Message types that are not something a person or an app wrote in the
/// channel (joins, pins, boosts, "started a thread", renames, stage
/// events…). A type Discord adds later is read, to be safe.
pub fn is_system_notice(kind: MessageType) -> bool {
    !matches!(
        kind,
        MessageType::Regular
            | MessageType::InlineReply
            | MessageType::ChatInputCommand
            | MessageType::ContextMenuCommand
            | MessageType::ThreadStarterMessage
            | MessageType::Unknown(_)
    )
}

/// A thread's starter message (type 21, what a thread started from a
/// message shows first) only points at that message, which lives in the
/// parent channel: the message to moderate is the one it references.
pub fn starter_source(msg: &Message) -> Option<&Message> {
    (msg.kind == MessageType::ThreadStarterMessage)
        .then_some(msg.referenced_message.as_deref())
        .flatten()
}

/// A message read back from a thread's starter (see [`starter_source`]):
/// `source` at its own place, keyed by its own id and current revision, so a
/// message already moderated when it was posted or edited is not handled
/// twice.
pub fn from_starter(source: &Message, at: Placement, received: Instant) -> IncomingMessage {
    let mut m = from_create(source, at, received);
    m.revision = update_revision(source.edited_timestamp.as_ref());
    m
}

/// A new message (MESSAGE_CREATE), or one read back from history, whose
/// `edited_timestamp` makes it the same revision as the edit's MESSAGE_UPDATE.
/// Its text includes what it carries (see `message_text`): a forward's
/// snapshots and authored embeds.
pub fn from_create(msg: &Message, at: Placement, received: Instant) -> IncomingMessage {
    let (text, not_repostable) = message_text(msg);
    IncomingMessage {
        platform: Platform::Discord,
        workspace: at.guild.map(|g| g.to_string()).unwrap_or_default(),
        channel: at.channel.to_string(),
        thread: at.thread.map(|t| t.to_string()),
        message_id: msg.id.to_string(),
        revision: update_revision(msg.edited_timestamp.as_ref()),
        // A user-installed app's answer is its user's (see `user_app_invoker`).
        author: match user_app_invoker(msg.interaction_metadata.as_deref()) {
            Some(user) => author(user, None, at.guild),
            None => author(&msg.author, msg.member.as_deref(), at.guild),
        },
        text,
        has_attachments: !msg.attachments.is_empty()
            || !msg.sticker_items.is_empty()
            || msg.poll.is_some(),
        not_repostable,
        received,
    }
}

/// An edit (MESSAGE_UPDATE), read from the event itself because the cached
/// message is often absent. `None` for a partial update without `content`
/// (an embed unfurl, a pin): that is not a new revision of the text.
/// `fallback_author` is used when the event does not name its author, and
/// `invoker` (a user-installed app's user, see [`user_app_invoker`]) instead
/// of the author.
pub fn from_update(
    ev: &MessageUpdateEvent,
    fallback_author: Option<&User>,
    invoker: Option<&User>,
    at: Placement,
    received: Instant,
) -> Option<IncomingMessage> {
    let mut text = ev.content.clone()?;
    // A bot or webhook may edit its embeds and buttons along with its text.
    let embeds = ev.embeds.as_deref().map(embed_text).unwrap_or_default();
    let buttons = ev
        .components
        .as_deref()
        .map(super::components::typed_text)
        .unwrap_or_default();
    let not_repostable = (!embeds.is_empty() || !buttons.is_empty()).then(|| {
        "its embeds, buttons or menus cannot be reposted under the author's name".to_owned()
    });
    for part in [embeds, buttons].into_iter().filter(|p| !p.is_empty()) {
        push_part(&mut text, &part);
    }
    let user = invoker.or(ev.author.as_ref()).or(fallback_author)?;
    let member = ev
        .member
        .as_ref()
        .and_then(|m| m.as_deref())
        .filter(|_| invoker.is_none());
    // An update that does not list attachments may still have some: assume
    // it does, so that a repost never drops a file (the action degrades to a
    // reply instead).
    let has_attachments = match &ev.attachments {
        Some(a) => !a.is_empty() || ev.sticker_items.as_ref().is_some_and(|s| !s.is_empty()),
        None => true,
    };
    Some(IncomingMessage {
        platform: Platform::Discord,
        workspace: at.guild.map(|g| g.to_string()).unwrap_or_default(),
        channel: at.channel.to_string(),
        thread: at.thread.map(|t| t.to_string()),
        message_id: ev.id.to_string(),
        revision: update_revision(ev.edited_timestamp.as_ref()),
        author: author(user, member, at.guild),
        text,
        has_attachments,
        not_repostable,
        received,
    })
}

/// A webhook username Discord accepts: 1 to 80 characters, without the
/// reserved words "discord" and "clyde" (the request fails otherwise).
pub fn webhook_username(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 6);
    let mut rest = name;
    // Reserved words are broken up with a zero-width space, which keeps the
    // name readable and recognisable.
    while let Some(ch) = rest.chars().next() {
        let reserved = ["discord", "clyde"].into_iter().find(|w| {
            rest.get(..w.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(w))
        });
        match reserved {
            Some(w) => {
                out.push(ch);
                out.push('\u{200b}');
                out.push_str(&rest[1..w.len()]);
                rest = &rest[w.len()..];
            }
            None => {
                out.push(ch);
                rest = &rest[ch.len_utf8()..];
            }
        }
    }
    let trimmed: String = out.trim().chars().take(80).collect();
    if trimmed.is_empty() {
        "linkguard".to_owned()
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(v: serde_json::Value) -> User {
        serde_json::from_value(v).expect("user")
    }

    fn alice() -> serde_json::Value {
        json!({"id": "661720242585731077", "username": "alice", "global_name": "Alice",
               "discriminator": "0", "avatar": "a1b2c3d4e5f60718293a4b5c6d7e8f90"})
    }

    fn message(extra: serde_json::Value) -> Message {
        let mut v = json!({
            "id": "1456071927398531100", "channel_id": "1456071927398531076",
            "guild_id": "1058897343283331074",
            "author": alice(),
            "member": {"roles": ["1058897846599811078"], "nick": null, "joined_at": "2024-01-01T00:00:00+00:00",
                        "deaf": false, "mute": false, "flags": 0},
            "content": "standup https://zoom.us/j/1", "timestamp": "2025-01-01T00:00:00+00:00",
            "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0
        });
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            for (k, x) in e {
                o.insert(k.clone(), x.clone());
            }
        }
        serde_json::from_value(v).expect("message")
    }

    /// An answer of the app "Echo" to alice's command, the app installed by
    /// `owners` (`"1"`: a user, `"0"`: a server).
    fn app_answer(owners: serde_json::Value) -> Message {
        message(json!({
            "author": {"id": "1300000000000000001", "username": "Echo", "discriminator": "0",
                       "avatar": null, "bot": true},
            "member": null,
            "webhook_id": "1300000000000000001", "application_id": "1300000000000000001",
            "type": 20,
            "interaction_metadata": {"id": "1300000000000000009", "type": 2, "user": alice(),
                "authorizing_integration_owners": owners, "name": "echo"}
        }))
    }

    /// "Started a thread" (its content is the thread's name) and other
    /// system notices are not messages to moderate; replies and command
    /// answers are.
    #[test]
    fn system_notices_have_no_text_to_check() {
        let kind = |k: u8| message(json!({"type": k, "content": "sync https://zoom.us/j/1"}));
        for k in [4, 6, 7, 18, 24, 27, 31] {
            assert!(!has_text(&kind(k)), "type {k}");
        }
        for k in [0, 19, 20, 23, 99] {
            assert!(has_text(&kind(k)), "type {k}");
        }
    }

    /// A user-installed app's answer is its user's message, moderated even
    /// with other bots off; an app the server installed stays a bot.
    #[test]
    fn a_user_installed_apps_answer_speaks_for_its_user() {
        let mine = app_answer(json!({"1": "661720242585731077"}));
        let invoker = user_app_invoker(mine.interaction_metadata.as_deref()).expect("alice's");
        assert_eq!(invoker.name, "alice");
        assert_eq!(ignored(&mine.author, Some(1), None, false, true), None);
        let m = from_create(&mine, THREAD_AT, Instant::now());
        assert_eq!(
            (m.author.id.as_str(), m.author.display_name.as_str()),
            ("661720242585731077", "Alice")
        );
        for owners in [
            json!({"0": "1058897343283331074"}),
            json!({"0": "1058897343283331074", "1": "661720242585731077"}),
            json!({}),
        ] {
            let servers = app_answer(owners.clone());
            assert!(
                user_app_invoker(servers.interaction_metadata.as_deref()).is_none(),
                "{owners}"
            );
            assert_eq!(
                from_create(&servers, THREAD_AT, Instant::now()).author.id,
                "1300000000000000001"
            );
        }
        assert!(user_app_invoker(message(json!({})).interaction_metadata.as_deref()).is_none());
    }

    const THREAD_AT: Placement = Placement {
        guild: Some(1_058_897_343_283_331_074),
        channel: 1_058_897_594_941_571_075,
        thread: Some(1_456_071_927_398_531_076),
    };

    #[test]
    fn a_thread_message_is_reported_under_its_parent_channel() {
        let m = from_create(&message(json!({})), THREAD_AT, Instant::now());
        assert_eq!(m.workspace, "1058897343283331074");
        assert_eq!(m.channel, "1058897594941571075");
        assert_eq!(m.thread.as_deref(), Some("1456071927398531076"));
        assert!(m.revision.is_original());
        assert_eq!(m.author.display_name, "Alice");
        let edited = message(json!({"edited_timestamp": "2025-01-01T00:05:00+00:00"}));
        let read_back = from_create(&edited, THREAD_AT, Instant::now());
        assert_eq!(
            read_back.revision,
            update_revision(edited.edited_timestamp.as_ref()),
            "a message edited before it is read back is the edit's revision"
        );
        assert_eq!(m.author.roles, vec!["1058897846599811078".to_owned()]);
        assert_eq!(
            m.author.avatar_url.as_deref(),
            Some("https://cdn.discordapp.com/avatars/661720242585731077/a1b2c3d4e5f60718293a4b5c6d7e8f90.webp?size=1024")
        );
        assert!(!m.has_attachments);
        assert_eq!(THREAD_AT.message_channel(), 1_456_071_927_398_531_076);
    }

    #[test]
    fn names_and_faces_prefer_the_guild_profile() {
        let u = user(alice());
        let member: PartialMember = serde_json::from_value(json!({
            "roles": [], "nick": "Ally", "avatar": "b1b2c3d4e5f60718293a4b5c6d7e8f90",
            "deaf": false, "mute": false, "flags": 0
        }))
        .expect("member");
        assert_eq!(display_name(&u, Some(&member)), "Ally");
        assert_eq!(
            avatar_url(&u, Some(&member), Some(7)),
            "https://cdn.discordapp.com/guilds/7/users/661720242585731077/avatars/b1b2c3d4e5f60718293a4b5c6d7e8f90.webp?size=1024"
        );
        let plain =
            user(json!({"id": "5", "username": "bob", "discriminator": "0", "avatar": null}));
        assert_eq!(display_name(&plain, None), "bob");
        assert!(
            avatar_url(&plain, None, None).starts_with("https://cdn.discordapp.com/embed/avatars/")
        );
    }

    #[test]
    fn attachments_stickers_and_unknown_attachments_protect_content() {
        let with_file = message(
            json!({"attachments": [{"id": "1", "filename": "a.txt", "size": 1,
            "url": "https://cdn.discordapp.com/a.txt", "proxy_url": "https://media.discordapp.net/a.txt"}]}),
        );
        assert!(from_create(&with_file, THREAD_AT, Instant::now()).has_attachments);
        let ev: MessageUpdateEvent = serde_json::from_value(json!({
            "id": "1", "channel_id": "2", "content": "now https://zoom.us/j/2",
            "edited_timestamp": "2025-01-01T00:01:00+00:00", "author": alice()
        }))
        .expect("update");
        let m = from_update(&ev, None, None, THREAD_AT, Instant::now()).expect("has content");
        assert!(m.has_attachments, "unknown attachments are assumed present");
        assert_eq!(m.revision, update_revision(ev.edited_timestamp.as_ref()));
        assert!(!m.revision.is_original());
    }

    #[test]
    fn a_polls_question_and_answers_are_read_and_cannot_be_reposted() {
        // As Discord sends a poll in MESSAGE_CREATE: answers may be emoji only.
        let m = message(json!({
            "content": "vote please",
            "poll": {
                "question": {"text": "Where? https://zoom.us/j/7"},
                "answers": [
                    {"answer_id": 1, "poll_media": {"text": "meet.google.com/abc-defg-hij"}},
                    {"answer_id": 2, "poll_media": {"emoji": {"id": null, "name": "👍"}}}
                ],
                "expiry": "2025-01-02T00:00:00.000000+00:00",
                "allow_multiselect": false, "layout_type": 1,
                "results": {"is_finalized": false, "answer_counts": []}
            }
        }));
        let got = from_create(&m, THREAD_AT, Instant::now());
        assert_eq!(
            got.text,
            "vote please\nWhere? https://zoom.us/j/7\nmeet.google.com/abc-defg-hij"
        );
        assert!(got.not_repostable.is_some_and(|w| w.contains("poll")));
        assert!(got.has_attachments);
        assert!(has_text(&m));
    }

    #[test]
    fn link_buttons_and_menus_are_read_beside_the_content_and_in_a_forward() {
        // An app's answer: content, and a link button to the meeting.
        let m = message(json!({
            "content": "Standup below",
            "components": [{"type": 1, "components": [
                {"type": 2, "style": 5, "label": "Join", "url": "https://zoom.us/j/11"},
                {"type": 2, "style": 1, "label": "Snooze", "custom_id": "s"}
            ]}]
        }));
        let got = from_create(&m, THREAD_AT, Instant::now());
        assert_eq!(
            got.text,
            "Standup below\nJoin\nhttps://zoom.us/j/11\nSnooze"
        );
        assert!(got.not_repostable.is_some_and(|w| w.contains("buttons")));
        // A forward of a bot's message with a menu.
        let fwd = message(json!({
            "content": "", "flags": 16384,
            "message_reference": {"type": 1, "channel_id": "1058897594941571081",
                "message_id": "1456071927398531000", "guild_id": "1058897343283331074"},
            "message_snapshots": [{"message": {"type": 0, "content": "pick a room",
                "embeds": [], "attachments": [], "mentions": [],
                "timestamp": "2025-01-01T00:00:00+00:00",
                "components": [{"type": 1, "components": [{"type": 3, "custom_id": "r",
                    "options": [{"label": "A", "value": "a", "description": "https://zoom.us/j/12"}]}]}]}}]
        }));
        assert_eq!(checked_text(&fwd), "pick a room\nA\nhttps://zoom.us/j/12");
    }

    #[test]
    fn a_forward_is_read_from_its_snapshot_and_cannot_be_reposted() {
        let fwd = message(json!({
            "content": "", "flags": 16384,
            "message_reference": {"type": 1, "channel_id": "1058897594941571081",
                "message_id": "1456071927398531000", "guild_id": "1058897343283331074"},
            "message_snapshots": [{"message": {"type": 0, "content": "call https://zoom.us/j/5",
                "embeds": [{"type": "rich", "title": "Bridge", "description": "https://zoom.us/j/6"}],
                "attachments": [], "timestamp": "2025-01-01T00:00:00+00:00",
                "edited_timestamp": null, "flags": 0, "mentions": [], "mention_roles": []}}]
        }));
        assert!(is_forward(&fwd) && has_text(&fwd));
        let m = from_create(&fwd, THREAD_AT, Instant::now());
        assert_eq!(
            m.text,
            "call https://zoom.us/j/5\nBridge\nhttps://zoom.us/j/6"
        );
        assert!(m
            .not_repostable
            .as_deref()
            .is_some_and(|w| w.contains("forward")));
        assert!(!m.has_attachments);
    }

    #[test]
    fn rich_embeds_are_read_and_link_previews_are_not() {
        let m = from_create(
            &message(json!({
                "content": "see https://example.com/post",
                "embeds": [
                    {"type": "link", "url": "https://example.com/post",
                     "description": "our call: https://zoom.us/j/7"},
                    {"title": "Standup", "url": "https://zoom.us/j/8",
                     "author": {"name": "ci", "url": "https://zoom.us/j/9"},
                     "fields": [{"name": "Bridge", "value": "https://zoom.us/j/10", "inline": false}],
                     "footer": {"text": "https://zoom.us/j/11"}}
                ]
            })),
            THREAD_AT,
            Instant::now(),
        );
        assert_eq!(
            m.text,
            "see https://example.com/post\nStandup\nhttps://zoom.us/j/8\nci\nhttps://zoom.us/j/9\nBridge\nhttps://zoom.us/j/10\nhttps://zoom.us/j/11"
        );
        assert!(m.not_repostable.is_some());
        let preview_only = from_create(
            &message(
                json!({"embeds": [{"type": "video", "url": "https://zoom.us/j/1",
                "title": "Zoom"}]}),
            ),
            THREAD_AT,
            Instant::now(),
        );
        assert_eq!(preview_only.text, "standup https://zoom.us/j/1");
        assert!(preview_only.not_repostable.is_none());
    }

    #[test]
    fn a_thread_starter_points_at_its_source_message() {
        let source = json!({
            "id": "1456071927398531076", "channel_id": "1058897594941571075",
            "author": alice(), "content": "kickoff https://zoom.us/j/12",
            "timestamp": "2025-01-01T00:00:00+00:00", "edited_timestamp": "2025-01-01T00:05:00+00:00",
            "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": [], "pinned": false, "type": 0
        });
        let starter = message(json!({
            "id": "1456071927398531999", "channel_id": "1456071927398531076", "type": 21,
            "content": "", "message_reference": {"channel_id": "1058897594941571075",
                "message_id": "1456071927398531076", "guild_id": "1058897343283331074"},
            "referenced_message": source
        }));
        let src = starter_source(&starter).expect("a starter");
        let at = Placement {
            guild: Some(1_058_897_343_283_331_074),
            channel: 1_058_897_594_941_571_075,
            thread: None,
        };
        let m = from_starter(src, at, Instant::now());
        assert_eq!(m.message_id, "1456071927398531076");
        assert_eq!(m.channel, "1058897594941571075");
        assert_eq!(m.text, "kickoff https://zoom.us/j/12");
        assert_eq!(m.revision, update_revision(src.edited_timestamp.as_ref()));
        assert!(starter_source(&message(json!({}))).is_none());
    }

    #[test]
    fn partial_updates_without_content_are_not_revisions() {
        let ev: MessageUpdateEvent = serde_json::from_value(json!({
            "id": "1", "channel_id": "2", "guild_id": "3",
            "embeds": [{"type": "link", "url": "https://zoom.us/j/1"}]
        }))
        .expect("partial update");
        assert!(from_update(&ev, None, None, THREAD_AT, Instant::now()).is_none());
        let unedited: MessageUpdateEvent = serde_json::from_value(json!({
            "id": "1", "channel_id": "2", "content": "x", "edited_timestamp": null,
            "attachments": [], "author": alice()
        }))
        .expect("update");
        let m = from_update(&unedited, None, None, THREAD_AT, Instant::now()).expect("content");
        assert!(m.revision.is_original(), "same key as the original post");
        assert!(!m.has_attachments);
    }

    #[test]
    fn own_messages_never_loop_and_bots_are_ignored_by_default() {
        let me =
            user(json!({"id": "9", "username": "modbot", "discriminator": "4821", "bot": true}));
        let hook =
            user(json!({"id": "77", "username": "Alice", "discriminator": "0000", "bot": true}));
        let person = user(alice());
        assert_eq!(ignored(&me, None, Some(9), false, true), Some(Skip::Ours));
        assert_eq!(
            ignored(&hook, Some(77), Some(9), true, true),
            Some(Skip::OurRepost)
        );
        assert_eq!(
            ignored(&hook, Some(77), Some(9), false, false),
            Some(Skip::OtherBot)
        );
        assert_eq!(ignored(&hook, Some(77), Some(9), false, true), None);
        assert_eq!(ignored(&person, None, Some(9), false, false), None);
    }

    #[test]
    fn webhook_usernames_avoid_reserved_words_and_fit() {
        assert_eq!(webhook_username("Alice"), "Alice");
        let n = webhook_username("Discord Dan");
        assert!(!n.to_lowercase().contains("discord"), "{n}");
        assert!(n.starts_with('D') && n.ends_with("iscord Dan"), "{n}");
        assert!(!webhook_username("my clyde").contains("clyde"));
        assert_eq!(webhook_username("   "), "linkguard");
        assert_eq!(webhook_username(&"é".repeat(100)).chars().count(), 80);
    }
}
