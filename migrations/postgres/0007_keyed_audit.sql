-- The audit chain becomes keyed (HMAC-SHA256 with `audit_key`). Records
-- written before this migration keep their SHA-256 hashes and verify as
-- before; `keyed_from` is the first seq hashed with the key. `key_check`
-- identifies the key the keyed records were written with (an HMAC of a
-- constant, which reveals nothing about the key), so a process with another
-- key refuses to write instead of breaking the chain. A checkpoint written by
-- a keyed purge carries `mac`, so a planted checkpoint row is recognised.
ALTER TABLE audit_head ADD COLUMN keyed_from BIGINT;
ALTER TABLE audit_head ADD COLUMN key_check TEXT;
UPDATE audit_head SET keyed_from = seq + 1 WHERE id = 1;
ALTER TABLE audit_checkpoint ADD COLUMN mac TEXT;
