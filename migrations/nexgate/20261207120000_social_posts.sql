-- The social service (docs/social.md): posts of every kind with their facets, media, tags and
-- mentions; co-authors; likes, comments, reposts, bookmarks, polls and votes; pins; reports.
-- Counts live on the rows they count and change in the same transaction as what they count, so
-- they are exact under concurrency. Who may see a post is decided at read time (the author's
-- privacy and blocks can change after the post): `social.can_see(viewer, post)`.

SELECT platform.install_service_tables('social');

CREATE TABLE social.posts (
    id uuid PRIMARY KEY,
    author_id uuid NOT NULL,
    kind text NOT NULL
        CHECK (kind IN ('standard', 'product', 'event', 'poll', 'collaborative', 'repost', 'quote')),
    text text NOT NULL DEFAULT '',
    -- [{start, end, feature: {type, ...}}], UTF-8 byte ranges (crates/social/src/facets.rs).
    facets jsonb NOT NULL DEFAULT '[]',
    -- What the author asked for; a private author's posts are followers-only whatever it says.
    visibility text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'followers')),
    state text NOT NULL DEFAULT 'published' CHECK (state IN ('scheduled', 'published', 'deleted')),
    -- Set by an operator resolving a report: gone from every read path.
    hidden_at timestamptz,
    repost_of uuid REFERENCES social.posts (id),
    product_id uuid,
    event_id uuid,
    -- A scheduled post's time (at least 5 minutes ahead when set).
    publish_at timestamptz,
    published_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    edited_at timestamptz,
    deleted_at timestamptz,
    like_count integer NOT NULL DEFAULT 0 CHECK (like_count >= 0),
    comment_count integer NOT NULL DEFAULT 0 CHECK (comment_count >= 0),
    repost_count integer NOT NULL DEFAULT 0 CHECK (repost_count >= 0),
    quote_count integer NOT NULL DEFAULT 0 CHECK (quote_count >= 0),
    bookmark_count integer NOT NULL DEFAULT 0 CHECK (bookmark_count >= 0),
    CONSTRAINT posts_repost_target CHECK ((kind IN ('repost', 'quote')) = (repost_of IS NOT NULL)),
    CONSTRAINT posts_product CHECK ((kind = 'product') = (product_id IS NOT NULL)),
    CONSTRAINT posts_event CHECK ((kind = 'event') = (event_id IS NOT NULL)),
    CONSTRAINT posts_published_at CHECK ((state = 'scheduled') = (published_at IS NULL))
);
-- One plain repost of a post per user (undo deletes it).
CREATE UNIQUE INDEX posts_one_repost ON social.posts (author_id, repost_of)
    WHERE kind = 'repost' AND state <> 'deleted';
CREATE INDEX posts_author_idx ON social.posts (author_id, published_at DESC, id DESC)
    WHERE state = 'published';
CREATE INDEX posts_recent_idx ON social.posts (published_at DESC, id DESC) WHERE state = 'published';
CREATE INDEX posts_quotes_idx ON social.posts (repost_of, published_at DESC, id DESC)
    WHERE state = 'published' AND repost_of IS NOT NULL;
CREATE INDEX posts_scheduled_idx ON social.posts (publish_at) WHERE state = 'scheduled';
CREATE INDEX posts_author_scheduled_idx ON social.posts (author_id) WHERE state = 'scheduled';

-- Up to 10 ready images or videos of the File Manager (purpose `post`), attached to the post.
CREATE TABLE social.post_media (
    post_id uuid NOT NULL REFERENCES social.posts (id) ON DELETE CASCADE,
    position smallint NOT NULL CHECK (position BETWEEN 0 AND 9),
    file_id uuid NOT NULL,
    PRIMARY KEY (post_id, position)
);

CREATE TABLE social.post_tags (
    post_id uuid NOT NULL REFERENCES social.posts (id) ON DELETE CASCADE,
    tag text NOT NULL,
    published_at timestamptz NOT NULL,
    PRIMARY KEY (post_id, tag)
);
CREATE INDEX post_tags_recent_idx ON social.post_tags (tag, published_at DESC, post_id DESC);
CREATE INDEX post_tags_time_idx ON social.post_tags (published_at);

-- Mentions resolved at write time (none across a block either way).
CREATE TABLE social.mentions (
    post_id uuid NOT NULL REFERENCES social.posts (id) ON DELETE CASCADE,
    comment_id uuid,
    user_id uuid,
    shop_id uuid,
    CONSTRAINT mentions_one_target CHECK ((user_id IS NULL) <> (shop_id IS NULL))
);
CREATE INDEX mentions_post_idx ON social.mentions (post_id);
CREATE INDEX mentions_user_idx ON social.mentions (user_id) WHERE user_id IS NOT NULL;

-- Co-authors of a collaborative post (at most 4): invited, then accepted or declined; an accepted
-- co-author may remove themselves (removed).
CREATE TABLE social.coauthors (
    post_id uuid NOT NULL REFERENCES social.posts (id) ON DELETE CASCADE,
    user_id uuid NOT NULL,
    state text NOT NULL DEFAULT 'invited' CHECK (state IN ('invited', 'accepted', 'declined', 'removed')),
    invited_at timestamptz NOT NULL DEFAULT now(),
    answered_at timestamptz,
    PRIMARY KEY (post_id, user_id)
);
CREATE INDEX coauthors_user_idx ON social.coauthors (user_id, state);

CREATE TABLE social.likes (
    post_id uuid NOT NULL REFERENCES social.posts (id) ON DELETE CASCADE,
    user_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, user_id)
);
CREATE INDEX likes_user_idx ON social.likes (user_id, created_at DESC);

-- Comments: a reply to a reply is attached to its top-level comment (one level shown).
CREATE TABLE social.comments (
    id uuid PRIMARY KEY,
    post_id uuid NOT NULL REFERENCES social.posts (id) ON DELETE CASCADE,
    author_id uuid NOT NULL,
    parent_id uuid REFERENCES social.comments (id) ON DELETE CASCADE,
    text text NOT NULL,
    facets jsonb NOT NULL DEFAULT '[]',
    state text NOT NULL DEFAULT 'visible' CHECK (state IN ('visible', 'deleted', 'hidden')),
    like_count integer NOT NULL DEFAULT 0 CHECK (like_count >= 0),
    reply_count integer NOT NULL DEFAULT 0 CHECK (reply_count >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX comments_post_idx ON social.comments (post_id, parent_id, created_at, id);
CREATE INDEX comments_author_idx ON social.comments (author_id, created_at DESC);

CREATE TABLE social.comment_likes (
    comment_id uuid NOT NULL REFERENCES social.comments (id) ON DELETE CASCADE,
    user_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (comment_id, user_id)
);

-- Private: only their owner lists them.
CREATE TABLE social.bookmarks (
    user_id uuid NOT NULL,
    post_id uuid NOT NULL REFERENCES social.posts (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, post_id)
);
CREATE INDEX bookmarks_recent_idx ON social.bookmarks (user_id, created_at DESC, post_id DESC);

CREATE TABLE social.polls (
    post_id uuid PRIMARY KEY REFERENCES social.posts (id) ON DELETE CASCADE,
    question text NOT NULL,
    multiple boolean NOT NULL DEFAULT false,
    -- Whether a voter may change their vote until the poll closes.
    changeable boolean NOT NULL DEFAULT false,
    closes_at timestamptz,
    -- Feedback on a product (optional).
    product_id uuid,
    -- Set once by the close-polls job (social.poll.ended sent).
    ended_at timestamptz
);
CREATE INDEX polls_closing_idx ON social.polls (closes_at) WHERE ended_at IS NULL AND closes_at IS NOT NULL;

CREATE TABLE social.poll_options (
    post_id uuid NOT NULL REFERENCES social.polls (post_id) ON DELETE CASCADE,
    position smallint NOT NULL CHECK (position BETWEEN 0 AND 3),
    text text NOT NULL,
    votes integer NOT NULL DEFAULT 0 CHECK (votes >= 0),
    PRIMARY KEY (post_id, position)
);

CREATE TABLE social.poll_votes (
    post_id uuid NOT NULL REFERENCES social.polls (post_id) ON DELETE CASCADE,
    user_id uuid NOT NULL,
    position smallint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, user_id, position),
    FOREIGN KEY (post_id, position) REFERENCES social.poll_options (post_id, position) ON DELETE CASCADE
);
CREATE INDEX poll_votes_user_idx ON social.poll_votes (user_id);

-- One pinned post per profile.
CREATE TABLE social.pins (
    user_id uuid PRIMARY KEY,
    post_id uuid NOT NULL REFERENCES social.posts (id) ON DELETE CASCADE,
    pinned_at timestamptz NOT NULL DEFAULT now()
);

-- Reports land in a queue operators list and resolve; a report never hides anything by itself.
CREATE TABLE social.reports (
    id uuid PRIMARY KEY,
    reporter_id uuid NOT NULL,
    post_id uuid NOT NULL REFERENCES social.posts (id) ON DELETE CASCADE,
    comment_id uuid REFERENCES social.comments (id) ON DELETE CASCADE,
    reason text NOT NULL
        CHECK (reason IN ('spam', 'harassment', 'hate', 'violence', 'nudity', 'scam', 'misinformation', 'other')),
    details text NOT NULL DEFAULT '',
    state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'hidden', 'dismissed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    resolved_by uuid,
    resolved_at timestamptz
);
-- One open report per reporter and target.
CREATE UNIQUE INDEX reports_one_open ON social.reports (reporter_id, post_id, coalesce(comment_id, post_id))
    WHERE state = 'open';
CREATE INDEX reports_queue_idx ON social.reports (created_at, id) WHERE state = 'open';

-- Who may see a post: published, not hidden, no block either way between viewer and author, and
-- public (from an account that is not private) or the viewer is the author or follows them. A
-- repost or quote is seen only with what it reposts.
CREATE FUNCTION social.can_see_one(viewer uuid, target uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM social.posts p
        LEFT JOIN profiles.privacy_settings ps ON ps.user_id = p.author_id
        WHERE p.id = target AND p.state = 'published' AND p.hidden_at IS NULL
          AND NOT profiles.blocked_either_way(viewer, p.author_id)
          AND (p.author_id = viewer
               OR (p.visibility = 'public' AND NOT coalesce(ps.is_private, false))
               OR profiles.follows(viewer, p.author_id)))
$$;

CREATE FUNCTION social.can_see(viewer uuid, target uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT social.can_see_one(viewer, target)
       AND coalesce((SELECT p.kind <> 'repost' OR social.can_see_one(viewer, p.repost_of)
                     FROM social.posts p WHERE p.id = target), false)
$$;

-- Published for other services (docs/social.md, "Published"): a post's card.
CREATE VIEW social.post_cards AS
    SELECT p.id, p.author_id, p.kind, left(p.text, 200) AS text_excerpt,
           (SELECT m.file_id FROM social.post_media m WHERE m.post_id = p.id ORDER BY m.position LIMIT 1) AS first_media_id,
           p.visibility, CASE WHEN p.hidden_at IS NOT NULL THEN 'hidden' ELSE p.state END AS state,
           p.published_at
    FROM social.posts p;

GRANT USAGE ON SCHEMA social TO nexgate_services;
GRANT SELECT ON social.post_cards TO nexgate_services;
REVOKE ALL ON FUNCTION social.can_see_one(uuid, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION social.can_see(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION social.can_see(uuid, uuid) TO nexgate_services;
