-- The notifications service decides whether a push token may move to another account: only when
-- the account holding it no longer has a live session on the device it registered the token for
-- (docs/notifications.md, "Push devices"). The view gains the session's device id (at the end, so
-- existing readers are unchanged).
CREATE OR REPLACE VIEW auth.live_sessions AS
    SELECT id AS session_id, account_id AS user_id, expires_at, device_id
    FROM auth.sessions
    WHERE revoked_at IS NULL AND expires_at > now();
