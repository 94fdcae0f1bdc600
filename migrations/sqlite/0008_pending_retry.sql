-- Pending actions are retried until they finish (issue #15): how many
-- attempts, when the next is due (back-off), which process holds the action
-- now and until when (a lease, so two replicas never run one twice), why the
-- last attempt was put off, how far the action got (the repost's id is
-- recorded before the original is deleted), and the audit_key MACs that
-- authenticate the payload and the progress.
ALTER TABLE pending_actions ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pending_actions ADD COLUMN next_attempt_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pending_actions ADD COLUMN lease_owner TEXT;
ALTER TABLE pending_actions ADD COLUMN lease_until_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pending_actions ADD COLUMN last_error TEXT;
ALTER TABLE pending_actions ADD COLUMN progress TEXT;
ALTER TABLE pending_actions ADD COLUMN progress_mac TEXT;
ALTER TABLE pending_actions ADD COLUMN payload_mac TEXT;
CREATE INDEX pending_actions_due ON pending_actions (next_attempt_ms);
