-- The message a pending action is about (platform-neutral JSON), so a restart
-- can finish the action. Transient: the row goes when the outcome is recorded.
ALTER TABLE pending_actions ADD COLUMN payload TEXT;
