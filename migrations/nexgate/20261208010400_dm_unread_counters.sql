-- Each member's unread count, kept with every change that moves it (docs/dm.md, "Unread counts"),
-- so the conversation list and the unread total read a column instead of counting messages (the
-- list of a user with 1,000 conversations counted 1,000 conversations' messages per request).
-- Unread: messages after the member's read pointer and join, not theirs, not unsent, not deleted
-- for them. `dm.count_unread` is that definition; the counter must always equal it (a test checks).
ALTER TABLE dm.members ADD COLUMN unread integer NOT NULL DEFAULT 0;

CREATE FUNCTION dm.count_unread(conv uuid, member uuid) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT count(*)::int FROM dm.messages u
    JOIN dm.members m ON m.conversation_id = u.conversation_id AND m.user_id = member
    WHERE u.conversation_id = conv AND u.seq > greatest(m.read_seq, m.joined_seq)
      AND u.sender_id IS DISTINCT FROM member AND u.unsent_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM dm.hidden_messages h WHERE h.user_id = member AND h.message_id = u.id)
$$;

UPDATE dm.members SET unread = dm.count_unread(conversation_id, user_id);
