-- Direct messages, first part (docs/dm.md): conversations (exactly one per pair of users, or
-- groups), members with their read pointers and choices, message requests, messages numbered per
-- conversation (`seq`, taken under the conversation's row lock, so the numbering is the commit
-- order within a conversation), edit history, reactions, delete-for-me, full-text search, and a
-- change log for sync whose token is a transaction-id boundary (every change below it has
-- committed or never will).

SELECT platform.install_service_tables('dm');

CREATE TABLE dm.conversations (
    id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('direct', 'group')),
    -- A direct conversation's two users, in order ("<smaller uuid>:<larger uuid>"): one per pair.
    pair_key text UNIQUE,
    title text,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- The last message's number (0: none yet) and time.
    last_seq bigint NOT NULL DEFAULT 0,
    last_message_at timestamptz,
    CONSTRAINT conversations_direct_pair CHECK ((kind = 'direct') = (pair_key IS NOT NULL)),
    CONSTRAINT conversations_group_title CHECK (kind = 'direct' OR title IS NOT NULL)
);

CREATE TABLE dm.members (
    conversation_id uuid NOT NULL REFERENCES dm.conversations (id) ON DELETE CASCADE,
    user_id uuid NOT NULL,
    role text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin')),
    -- active; request: a direct conversation the recipient's policy did not admit (accept or
    -- delete); invited: added to a group while a block stood with someone in it (accept or not);
    -- left, removed, declined.
    state text NOT NULL DEFAULT 'active'
        CHECK (state IN ('active', 'request', 'invited', 'left', 'removed', 'declined')),
    -- Messages with seq above it are the member's (a new group member sees history from joining).
    joined_seq bigint NOT NULL DEFAULT 0,
    read_seq bigint NOT NULL DEFAULT 0,
    muted_until timestamptz,
    archived boolean NOT NULL DEFAULT false,
    pinned_at timestamptz,
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX members_user_idx ON dm.members (user_id, state);

CREATE TABLE dm.messages (
    id uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES dm.conversations (id) ON DELETE CASCADE,
    seq bigint NOT NULL,
    sender_id uuid,
    -- The sender's own id for the message: a retried send finds it instead of sending twice.
    client_id text NOT NULL,
    text text NOT NULL,
    reply_to uuid REFERENCES dm.messages (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    edited_at timestamptz,
    unsent_at timestamptz,
    -- The words search matches, computed once when the text is written (not at every search).
    search tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
    UNIQUE (conversation_id, seq),
    UNIQUE (sender_id, client_id)
);

CREATE TABLE dm.message_edits (
    message_id uuid NOT NULL REFERENCES dm.messages (id) ON DELETE CASCADE,
    previous_text text NOT NULL,
    edited_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX message_edits_message_idx ON dm.message_edits (message_id, edited_at);

-- One reaction per user per message, changeable.
CREATE TABLE dm.reactions (
    message_id uuid NOT NULL REFERENCES dm.messages (id) ON DELETE CASCADE,
    user_id uuid NOT NULL,
    emoji text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, user_id)
);

-- Full-text search over the messages a member can see ('simple': no stemming, any language).
CREATE INDEX messages_search_idx ON dm.messages USING gin (search) WHERE unsent_at IS NULL;
CREATE INDEX messages_conversation_time_idx ON dm.messages (conversation_id, created_at DESC, id DESC);

-- "Delete for me".
CREATE TABLE dm.hidden_messages (
    user_id uuid NOT NULL,
    message_id uuid NOT NULL REFERENCES dm.messages (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, message_id)
);

CREATE TABLE dm.settings (
    user_id uuid PRIMARY KEY,
    -- Off: nobody sees this user's read pointer, and they see nobody's.
    read_receipts boolean NOT NULL DEFAULT true
);

-- What changed, for GET /dm/sync: one row per change of a conversation (message created, edited,
-- unsent; read pointer moved; membership changed). `txid` orders them by transaction.
CREATE TABLE dm.changes (
    id bigserial PRIMARY KEY,
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    conversation_id uuid NOT NULL REFERENCES dm.conversations (id) ON DELETE CASCADE,
    kind text NOT NULL
        CHECK (kind IN ('message', 'edit', 'unsend', 'read', 'membership', 'conversation', 'reaction')),
    message_id uuid,
    user_id uuid,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX changes_txid_idx ON dm.changes (txid, id);
CREATE INDEX changes_conversation_idx ON dm.changes (conversation_id, txid);

-- Envelopes applied once (a deleted account's erasure).
CREATE TABLE dm.consumed_events (
    event_id uuid PRIMARY KEY,
    consumed_at timestamptz NOT NULL DEFAULT now()
);
