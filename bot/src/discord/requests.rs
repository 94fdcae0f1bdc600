//! Exception requests on Discord, rendered with message components. The
//! logic (validation, admin rights, the state machine, the audit) is the
//! platform-neutral `commands::requests`; this only translates:
//!
//! - the DM linkguard sends an author whose link it acted on carries a
//!   "Request an exception" button (when `discord.admin_channel_id` is set);
//! - the button opens a modal (reason, duration); its submit becomes
//!   [`Commands::request_submit`] for the author themselves, in the server
//!   the button names (checked: an allowed server the clicker is a member
//!   of), answered ephemerally with the request's number or what was wrong;
//! - the delivery loop posts each new request in the admin channel with
//!   Approve / Deny buttons, and once decided (anywhere: here, Slack's
//!   words, the CLI) updates that message and tells the requester by DM;
//! - an Approve / Deny click becomes [`Commands::request_decide`] with the
//!   clicker's admin rights as [`super::tenancy::is_admin`] decides them:
//!   only admins' clicks count, others are told so (and audited).

use super::answer::{answer_in_time, private, Answer, Asked, Later};
use super::tenancy::Guilds;
use crate::commands::requests::{
    duration_label, request_duration, RequestError, DEFAULT_REQUEST_DURATION, MAX_REASON_CHARS,
    REQUEST_DURATIONS,
};
use crate::commands::{Caller, Commands};
use crate::moderation::{ActionError, Platform};
use crate::store::{ExceptionRequest, ExceptionTarget, RequestState, Store};
use serenity::all::{
    ActionRowComponent, ButtonStyle, ChannelId, ComponentInteraction, Context, CreateActionRow,
    CreateAllowedMentions, CreateButton, CreateInputText, CreateInteractionResponse, CreateMessage,
    CreateModal, EditMessage, GuildId, Http, InputTextStyle, MessageId, ModalInteraction, User,
    UserId,
};
use std::sync::Arc;
use std::time::Duration;

/// Button on the author's notice: `lg:rq:open:{guild}`.
const OPEN: &str = "lg:rq:open:";
/// The modal: `lg:rq:form:{guild}`.
const FORM: &str = "lg:rq:form:";
/// Admin buttons: `lg:rq:approve:{id}`, `lg:rq:deny:{id}`.
const APPROVE: &str = "lg:rq:approve:";
const DENY: &str = "lg:rq:deny:";
/// The modal's inputs.
const REASON: &str = "reason";
const DURATION: &str = "duration";
/// The answer to a button or form from someone who is not a member of an
/// allowed server.
const NOT_A_MEMBER: &str =
    "linkguard takes exception requests only from members of its company's servers.";
/// The answer to a button none of linkguard's messages carries (a forged
/// click, or one from a version that named its buttons differently).
const UNKNOWN_BUTTON: &str = "linkguard does not know that button; nothing was done.";
/// The answer to a form linkguard did not open.
const UNKNOWN_FORM: &str = "linkguard does not know that form; nothing was sent.";
/// The answer to an Approve / Deny whose request number is not one.
const NO_SUCH_REQUEST: &str = "That button names no exception request; nothing was decided.";
/// The answer to an Approve / Deny outside the company's servers.
const NOT_HERE: &str = "linkguard decides exception requests only in its company's servers.";
/// How often the delivery loop looks for requests made elsewhere.
const POLL: Duration = Duration::from_secs(5);

/// The "Request an exception" button for a notice about a message in
/// `guild`.
pub fn request_button(guild: &str) -> CreateActionRow {
    CreateActionRow::Buttons(vec![CreateButton::new(format!("{OPEN}{guild}"))
        .label("Request an exception")
        .style(ButtonStyle::Secondary)])
}

fn caller_of(
    user: &User,
    guild: u64,
    channel: ChannelId,
    is_admin: bool,
    roles: Vec<String>,
) -> Caller {
    Caller {
        platform: Some(Platform::Discord),
        workspace: guild.to_string(),
        channel: channel.get().to_string(),
        user_id: user.id.get().to_string(),
        user_name: user
            .global_name
            .clone()
            .unwrap_or_else(|| user.name.clone()),
        roles,
        is_admin,
    }
}

/// The server a button or modal names, if it is allowed and `user` is a
/// member there (a DM carries no server of its own).
async fn home(ctx: &Context, guilds: &Guilds, raw: &str, user: UserId) -> Option<u64> {
    let guild = allowed_guild(guilds, raw)?;
    guild.member(ctx, user).await.ok()?;
    Some(guild.get())
}

/// The server a button or modal names, if it is allowed (no call made).
fn allowed_guild(guilds: &Guilds, raw: &str) -> Option<GuildId> {
    // Zero is no server id (and `GuildId::new` would panic on it).
    let guild = GuildId::from(raw.parse::<std::num::NonZeroU64>().ok()?);
    guilds.allows(Some(guild)).then_some(guild)
}

fn decision_row(id: i64) -> CreateActionRow {
    CreateActionRow::Buttons(vec![
        CreateButton::new(format!("{APPROVE}{id}"))
            .label("Approve")
            .style(ButtonStyle::Success),
        CreateButton::new(format!("{DENY}{id}"))
            .label("Deny")
            .style(ButtonStyle::Danger),
    ])
}

/// The admin channel's text for a request.
fn admin_text(r: &ExceptionRequest) -> String {
    let target = match &r.target {
        ExceptionTarget::User(u) => format!("<@{u}>"),
        ExceptionTarget::Channel(c) => format!("<#{c}>"),
    };
    let mut text = format!(
        "**Exception request #{}** from <@{}> for {target}: {} for {}\n> {}",
        r.id,
        r.requester_id,
        r.subject,
        duration_label(r.duration_secs),
        r.reason.replace('\n', "\n> ")
    );
    match r.state {
        RequestState::Pending => {}
        state => {
            text.push_str(&format!("\n**{}**{}", state.as_str(), decided_by(r)));
            if let Some(n) = &r.note {
                text.push_str(&format!(": {n}"));
            }
        }
    }
    super::commands::truncate(text)
}

/// A component click: the notice's button or an admin's decision.
pub async fn on_component(
    ctx: &Context,
    comp: &ComponentInteraction,
    commands: &Commands,
    guilds: &Guilds,
    admin_roles: &[String],
) {
    let id = comp.data.custom_id.as_str();
    let response = if let Some(raw) = id.strip_prefix(OPEN) {
        // The form opens at once (a form cannot be deferred); whether the
        // clicker is a member there is checked when it is sent.
        match allowed_guild(guilds, raw) {
            None => private(NOT_A_MEMBER),
            Some(guild) => request_form(guild.get()),
        }
    } else if let Some((approve, raw)) = id
        .strip_prefix(APPROVE)
        .map(|r| (true, r))
        .or_else(|| id.strip_prefix(DENY).map(|r| (false, r)))
    {
        let asked = Asked {
            id: comp.id,
            token: &comp.token,
        };
        let work = decide(comp, commands, guilds, admin_roles, approve, raw);
        answer_in_time(&ctx.http, asked, Later::Update, "an Approve / Deny", work).await;
        return;
    } else {
        private(UNKNOWN_BUTTON)
    };
    if let Err(e) = comp.create_response(&ctx.http, response).await {
        tracing::warn!(error = %e, "could not answer an exception request button");
    }
}

/// The modal the notice's button opens: why, and for how long (one of the
/// offered durations), for a request in `guild`.
fn request_form(guild: u64) -> CreateInteractionResponse {
    let durations = REQUEST_DURATIONS
        .iter()
        .map(|d| d.code)
        .collect::<Vec<_>>()
        .join(", ");
    CreateInteractionResponse::Modal(
        CreateModal::new(format!("{FORM}{guild}"), "Request an exception").components(vec![
            CreateActionRow::InputText(
                CreateInputText::new(InputTextStyle::Paragraph, "Why do you need it?", REASON)
                    .max_length(MAX_REASON_CHARS as u16)
                    .required(true),
            ),
            CreateActionRow::InputText(
                CreateInputText::new(InputTextStyle::Short, "For how long?", DURATION)
                    .placeholder(format!("one of {durations}"))
                    .value(DEFAULT_REQUEST_DURATION.code)
                    .max_length(20)
                    .required(true),
            ),
        ]),
    )
}

/// An Approve / Deny click on request `raw`, with the clicker's admin
/// rights: the admin message updated, or the clicker told why not (also
/// for a click that names no request, or comes from no allowed server).
/// Deferred when it takes long (see [`super::answer`]).
async fn decide(
    comp: &ComponentInteraction,
    commands: &Commands,
    guilds: &Guilds,
    admin_roles: &[String],
    approve: bool,
    raw: &str,
) -> Answer {
    let Ok(request) = raw.parse::<i64>() else {
        return Answer::Private(NO_SUCH_REQUEST.to_owned());
    };
    let (roles, is_admin) =
        super::tenancy::member_rights(guilds, comp.guild_id, comp.member.as_ref(), admin_roles);
    let Some(guild) = comp.guild_id.filter(|g| guilds.allows(Some(*g))) else {
        return Answer::Private(NOT_HERE.to_owned());
    };
    let caller = caller_of(&comp.user, guild.get(), comp.channel_id, is_admin, roles);
    match commands
        .request_decide(&caller, request, approve, None)
        .await
    {
        Ok(d) => Answer::Update {
            content: admin_text(&d.request),
            components: Vec::new(),
        },
        Err(e @ RequestError::Store(_)) => {
            tracing::warn!(error = %e, "deciding an exception request failed");
            Answer::Private(
                "linkguard could not record that decision right now; please try again.".to_owned(),
            )
        }
        Err(e) => Answer::Private(e.to_string()),
    }
}

/// The modal's submit: a request for the author themselves.
pub async fn on_modal(
    ctx: &Context,
    modal: &ModalInteraction,
    commands: &Commands,
    guilds: &Guilds,
) {
    let Some(raw) = modal.data.custom_id.strip_prefix(FORM) else {
        if let Err(e) = modal
            .create_response(&ctx.http, private(UNKNOWN_FORM))
            .await
        {
            tracing::warn!(error = %e, "could not answer an unknown form");
        }
        return;
    };
    let value = |want: &str| {
        modal
            .data
            .components
            .iter()
            .flat_map(|row| &row.components)
            .find_map(|c| match c {
                ActionRowComponent::InputText(t) if t.custom_id == want => t.value.clone(),
                _ => None,
            })
            .unwrap_or_default()
    };
    let work = async {
        let answer = match home(ctx, guilds, raw, modal.user.id).await {
            None => NOT_A_MEMBER.to_owned(),
            Some(guild) => {
                let asked = value(DURATION);
                match request_duration(&asked) {
                    None => RequestError::DurationNotOffered { given: asked }.to_string(),
                    Some(d) => {
                        let caller =
                            caller_of(&modal.user, guild, modal.channel_id, false, Vec::new());
                        match commands
                        .request_submit(&caller, None, "", &value(REASON), d.duration())
                        .await
                    {
                        Ok(r) => format!(
                            "Request #{} sent to the admins ({}). You will get a message when they decide.",
                            r.id, d.label
                        ),
                        Err(e @ RequestError::Store(_)) => {
                            tracing::warn!(error = %e, "storing an exception request failed");
                            "linkguard could not store your request right now; please try again.".into()
                        }
                        Err(e) => format!("Your request was not sent: {e}."),
                    }
                    }
                }
            }
        };
        Answer::Private(answer)
    };
    let asked = Asked {
        id: modal.id,
        token: &modal.token,
    };
    answer_in_time(
        &ctx.http,
        asked,
        Later::Private,
        "an exception request form",
        work,
    )
    .await;
}

/// Shows one request where it belongs; `Ok` when its state is shown.
async fn deliver(
    http: &Http,
    store: &Store,
    channel: ChannelId,
    r: &ExceptionRequest,
) -> Result<(), serenity::Error> {
    show_to_admins(http, store, channel, r).await?;
    let requester = r.requester_id.parse::<std::num::NonZeroU64>().ok();
    if let (Some(text), Some(user)) = (decision_text(r), requester) {
        let sent = async {
            let dm = UserId::from(user).create_dm_channel(http).await?;
            dm.id
                .send_message(
                    http,
                    CreateMessage::new()
                        .content(text)
                        .allowed_mentions(CreateAllowedMentions::new()),
                )
                .await
        };
        if let Err(e) = sent.await {
            if !is_refusal(&e) {
                return Err(e);
            }
            // DMs closed, or the requester gone: asking again will not help.
            // The decision is shown in the admin channel and by
            // `/linkguard exempt list`.
            tracing::warn!(request.id = r.id, error = %e, "cannot tell the requester of an exception request by DM; not retrying");
        }
    }
    Ok(())
}

/// Whether Discord said no for good (not allowed, unknown target) rather
/// than "not now" (a rate limit, a server error, the network), as the
/// moderation actions sort its errors.
fn is_refusal(e: &serenity::Error) -> bool {
    !matches!(
        super::actions::action_error("", e, None),
        ActionError::Later { .. }
    )
}

/// How long before a failed delivery is tried again: a refusal (missing
/// permissions in the admin channel, which an admin has to fix) much later
/// than a passing failure.
fn retry_in(e: &serenity::Error) -> Duration {
    if is_refusal(e) {
        Duration::from_secs(600)
    } else {
        Duration::from_secs(30)
    }
}

/// Posts a request in the admin channel (remembering where), or updates the
/// message it already has there: Approve / Deny while it is pending.
async fn show_to_admins(
    http: &Http,
    store: &Store,
    channel: ChannelId,
    r: &ExceptionRequest,
) -> Result<(), serenity::Error> {
    let existing = r
        .admin_message
        .as_deref()
        .and_then(|m| m.parse::<u64>().ok())
        .zip(
            r.admin_channel
                .as_deref()
                .and_then(|c| c.parse::<u64>().ok()),
        );
    let components = if r.state == RequestState::Pending {
        vec![decision_row(r.id)]
    } else {
        Vec::new()
    };
    // A message in another channel than the configured one (the admins
    // moved the admin channel) is left; the request is posted anew here.
    let here = existing.filter(|(m, c)| *m != 0 && *c == channel.get());
    if let Some((m, c)) = here {
        let edit = EditMessage::new()
            .content(admin_text(r))
            .components(components.clone())
            .allowed_mentions(CreateAllowedMentions::new());
        match ChannelId::new(c)
            .edit_message(http, MessageId::new(m), edit)
            .await
        {
            Ok(_) => return Ok(()),
            // Someone deleted it: posted again below, so the request is
            // not left without its buttons.
            Err(e)
                if super::actions::http_failure(&e).is_some_and(|(_, code, _)| {
                    code == super::actions::UNKNOWN_MESSAGE
                        || code == super::actions::UNKNOWN_CHANNEL
                }) =>
            {
                tracing::info!(
                    request.id = r.id,
                    "an exception request's admin message was deleted; posting it again"
                );
            }
            Err(e) => return Err(e),
        }
    }
    let posted = channel
        .send_message(
            http,
            CreateMessage::new()
                .content(admin_text(r))
                .components(components)
                .allowed_mentions(CreateAllowedMentions::new()),
        )
        .await?;
    if let Err(e) = store
        .request_set_admin_message(
            r.id,
            &channel.get().to_string(),
            &posted.id.get().to_string(),
        )
        .await
    {
        tracing::warn!(error = %e, "could not remember the admin message of a request");
    }
    Ok(())
}

/// What the requester is told by DM once a request is decided or expired
/// (nothing while it is pending).
fn decision_text(r: &ExceptionRequest) -> Option<String> {
    let note = r
        .note
        .as_deref()
        .map(|n| format!(" Note: {n}"))
        .unwrap_or_default();
    Some(match r.state {
        RequestState::Approved => format!(
            "Your exception request #{} was approved{}: for {}, linkguard leaves your links alone.{note}",
            r.id,
            decided_by(r),
            duration_label(r.duration_secs),
        ),
        RequestState::Denied => format!(
            "Your exception request #{} was denied{}.{note}",
            r.id,
            decided_by(r),
        ),
        RequestState::Expired => format!(
            "Your exception request #{} expired without a decision.",
            r.id
        ),
        _ => return None,
    })
}

/// " by NAME" when the request says who decided it.
fn decided_by(r: &ExceptionRequest) -> String {
    r.decided_by
        .as_deref()
        .map(|b| format!(" by {b}"))
        .unwrap_or_default()
}

/// Delivers Discord requests (new ones to the admin channel, decisions to
/// their requesters) until the task is dropped.
pub async fn run_delivery(http: Arc<Http>, store: Store, admin_channel: u64) {
    let channel = ChannelId::new(admin_channel);
    loop {
        // Taken before reading the outbox, so a change made meanwhile wakes us.
        let woken = store.requests_changed();
        if let Err(e) = store.requests_expire(Platform::Discord).await {
            tracing::debug!(error = %e, "expiring old exception requests");
        }
        match store.requests_undelivered(Platform::Discord, 20).await {
            Ok(due) => {
                for r in due {
                    match deliver(&http, &store, channel, &r).await {
                        Ok(()) => {
                            if let Err(e) = store.request_delivered(r.id, r.state).await {
                                tracing::warn!(error = %e, "could not record a request's delivery");
                            }
                        }
                        Err(e) => {
                            let wait = retry_in(&e);
                            tracing::warn!(request.id = r.id, error = %e, retry_in_s = wait.as_secs(), "could not show an exception request on Discord; retrying");
                            let _ = store.request_delivery_failed(r.id, wait).await;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading exception requests to deliver"),
        }
        let _ = tokio::time::timeout(POLL, woken).await;
    }
}
