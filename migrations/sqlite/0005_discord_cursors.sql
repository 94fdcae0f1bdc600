-- Where linkguard last read each Discord channel (or thread): every message
-- up to `last_message_id` (a snowflake) has been handled. After a restart or a
-- gateway session that could not be resumed, the channel's history after it
-- is read back through the pipeline, so nothing posted meanwhile stays up.
CREATE TABLE discord_channel_cursors (
    channel_id      TEXT PRIMARY KEY NOT NULL,
    guild_id        TEXT NOT NULL,
    last_message_id INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
);
CREATE INDEX discord_channel_cursors_guild ON discord_channel_cursors (guild_id);
