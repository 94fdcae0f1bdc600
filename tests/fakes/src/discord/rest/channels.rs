//! A channel itself: reading a guild channel, thread or DM channel, and
//! the typing indicator.

use crate::discord::payloads;
use crate::discord::state::DiscordState;

use super::*;

/// `GET /channels/{id}`: a guild channel or thread, or a DM channel.
pub(super) fn get_channel(st: &DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = req.segs.as_slice();
    let (id, home) = known_channel(st, segs[1])?;
    match home {
        Some(g) => {
            let guild = st.guild(g).ok_or_else(unknown_channel)?;
            let c = guild.channel(id).ok_or_else(unknown_channel)?;
            Ok(Reply::ok(payloads::channel(c, g)))
        }
        None => {
            let user = st
                .dm_recipient(id)
                .and_then(|u| st.config.user(u))
                .ok_or_else(unknown_channel)?;
            Ok(Reply::ok(payloads::dm_channel(id, user)))
        }
    }
}

/// `POST /channels/{id}/typing`.
pub(super) fn typing(st: &DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = req.segs.as_slice();
    known_channel(st, segs[1])?;
    Ok(Reply::no_content())
}
