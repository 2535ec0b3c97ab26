//! Posts (docs/social.md, "Posts"): created with every kind (`standard` with up to 10 ready media,
//! `product`, `event`, `poll`, `collaborative` with up to 4 invited co-authors, `quote`), now or
//! scheduled; read by id; text edited within [`EDIT_WINDOW_MINUTES`]; deleted; one pinned per
//! profile. Going live ([`go_live`]) resolves mentions against the blocks of that moment, stores
//! tags and announces the post (`social.post.created`, which fans it out to home feeds).

use nexgate_authn::authenticate;
use nexgate_events::catalogue::social::{CollaborationInvited, PostCreated, PostDeleted};
use nexgate_events::outbox::{with_events, Outbox};
use nexgate_platform::attachments::{attach, Attachment};
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{open_from_variables as db, query, ts};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::pagination::CursorTime;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::facets::{self, Facet};
use crate::mentions;

/// Media per post.
pub const MEDIA_MAX: usize = 10;
/// Co-authors per collaborative post.
pub const COAUTHORS_MAX: usize = 4;
/// How long after publishing the text may be edited.
pub const EDIT_WINDOW_MINUTES: i64 = 30;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    text: String,
    #[serde(default)]
    media: Vec<Uuid>,
    #[serde(default)]
    visibility: Option<String>,
    product_id: Option<Uuid>,
    event_id: Option<Uuid>,
    poll: Option<crate::polls::NewPoll>,
    #[serde(default)]
    coauthors: Vec<Uuid>,
    quote_of: Option<Uuid>,
    publish_at: Option<String>,
}

/// A checked new post, ready to write.
struct Draft {
    kind: &'static str,
    text: String,
    facets: Vec<Facet>,
    visibility: &'static str,
    publish_at: Option<String>,
}

/// `POST /social/posts`: 201 with the post (or the scheduled post).
pub async fn create(req: &Request, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let b: NewPost = json_body(req)?;
    let draft = check(&b)?;
    let conn = db()?;
    check_references(&conn, ctx.user_id, &b, &draft)?;
    crate::limits::count(
        &crate::limits::configured(&crate::limits::POSTS, "posts_per_hour"),
        ctx.user_id,
    )?;
    let id = new_id();
    for (i, file) in b.media.iter().enumerate() {
        let a = Attachment {
            service: crate::SCHEMA,
            owner: ctx.user_id,
            object: ("post", id),
            file: *file,
            purpose: "post",
        };
        attach(&a, &format!("media[{i}]")).await?;
    }
    let written = with_events(&conn, crate::SCHEMA, component, |conn, events| {
        // The post's events (its fan-out, mentions, invitations) go out through the relay
        // (docs/social.md, "Speed").
        events.leave_to_relay();
        let published_at = insert(conn, ctx.user_id, id, &b, &draft)?;
        if let Some(published_at) = published_at {
            let live = Live {
                id,
                author: ctx.user_id,
                kind: draft.kind.to_string(),
                text: draft.text.clone(),
                repost_of: b.quote_of,
                published_at,
            };
            go_live_with(conn, events, live)?;
        }
        Ok(())
    });
    if let Err(problem) = written {
        for file in &b.media {
            let _ = nexgate_platform::attachments::detach(crate::SCHEMA, ("post", id), *file).await;
        }
        return Err(problem);
    }
    if draft.publish_at.is_some() {
        return Ok(json(201, &crate::scheduled::view(&conn, ctx.user_id, id)?));
    }
    Ok(json(201, &crate::hydrate::one(&conn, ctx.user_id, id)?))
}

/// The body's own rules (no database).
fn check(b: &NewPost) -> Result<Draft, Problem> {
    let kind = match (
        b.kind.as_deref().unwrap_or("standard"),
        b.coauthors.is_empty(),
    ) {
        ("standard" | "collaborative", false) => "collaborative",
        ("collaborative", true) => {
            return Err(Problem::invalid_field(
                "coauthors",
                "a collaborative post invites 1 to 4 co-authors",
            ))
        }
        ("standard", true) => "standard",
        (_, false) => {
            return Err(Problem::invalid_field(
                "coauthors",
                "only a standard post has co-authors",
            ))
        }
        ("product", _) => "product",
        ("event", _) => "event",
        ("poll", _) => "poll",
        ("quote", _) => "quote",
        ("repost", _) => {
            return Err(Problem::invalid_field(
                "kind",
                "a plain repost is POST /social/posts/{id}/repost",
            ))
        }
        _ => {
            return Err(Problem::invalid_field(
                "kind",
                "must be standard, collaborative, product, event, poll or quote",
            ))
        }
    };
    let text = b.text.trim().to_string();
    let text_required = matches!(kind, "poll" | "quote")
        || (b.media.is_empty() && matches!(kind, "standard" | "collaborative"));
    let facets = if text.is_empty() && !text_required {
        Vec::new()
    } else {
        facets::parse(&text).map_err(|e| Problem::invalid_field("text", e.message()))?
    };
    if b.media.len() > MEDIA_MAX {
        return Err(Problem::invalid_field(
            "media",
            format!("at most {MEDIA_MAX} images or videos"),
        ));
    }
    if !b.media.is_empty() && !matches!(kind, "standard" | "collaborative" | "quote") {
        return Err(Problem::invalid_field(
            "media",
            format!("a {kind} post carries no media"),
        ));
    }
    let mut seen = b.media.clone();
    seen.sort();
    seen.dedup();
    if seen.len() != b.media.len() {
        return Err(Problem::invalid_field("media", "lists a file twice"));
    }
    require(
        kind == "product",
        b.product_id.is_some(),
        "product_id",
        "product",
    )?;
    require(kind == "event", b.event_id.is_some(), "event_id", "event")?;
    require(kind == "poll", b.poll.is_some(), "poll", "poll")?;
    require(kind == "quote", b.quote_of.is_some(), "quote_of", "quote")?;
    if let Some(poll) = &b.poll {
        poll.check()?;
    }
    if b.coauthors.len() > COAUTHORS_MAX {
        return Err(Problem::invalid_field(
            "coauthors",
            format!("at most {COAUTHORS_MAX} co-authors"),
        ));
    }
    let visibility = match b.visibility.as_deref().unwrap_or("public") {
        "public" => "public",
        "followers" => "followers",
        _ => {
            return Err(Problem::invalid_field(
                "visibility",
                "must be public or followers",
            ))
        }
    };
    if let Some(at) = &b.publish_at {
        if !CursorTime::is_api_timestamp(at) {
            return Err(Problem::invalid_field(
                "publish_at",
                "must be a UTC time like 2026-12-24T18:00:00Z",
            ));
        }
    }
    Ok(Draft {
        kind,
        text,
        facets,
        visibility,
        publish_at: b.publish_at.clone(),
    })
}

/// `field` is needed by (and only by) a post of kind `kind`.
fn require(is_kind: bool, present: bool, field: &str, kind: &str) -> Result<(), Problem> {
    match (is_kind, present) {
        (true, false) => Err(Problem::invalid_field(
            field,
            format!("a {kind} post needs it"),
        )),
        (false, true) => Err(Problem::invalid_field(
            field,
            format!("only a {kind} post has it"),
        )),
        _ => Ok(()),
    }
}

/// What the body points at: the product, event, quoted post, co-authors, schedule.
fn check_references(
    conn: &Connection,
    author: Uuid,
    b: &NewPost,
    d: &Draft,
) -> Result<(), Problem> {
    if let Some(product) = b.product_id.or(b.poll.as_ref().and_then(|p| p.product_id)) {
        crate::embeds::check_product(conn, author, product)?;
    }
    if let Some(event) = b.event_id {
        crate::embeds::check_event(conn, author, event)?;
    }
    if let Some(quoted) = b.quote_of {
        let target = quotable(conn, author, quoted)
            .map_err(|_| Problem::invalid_field("quote_of", "no such post"))?;
        if target != "public" && d.visibility == "public" {
            return Err(Problem::invalid_field(
                "quote_of",
                "a followers-only post cannot be quoted publicly (set visibility: followers)",
            ));
        }
    }
    crate::coauthors::check_invitees(conn, author, &b.coauthors)?;
    if let Some(at) = &d.publish_at {
        crate::scheduled::check_time_and_quota(conn, author, at)?;
    }
    Ok(())
}

/// The effective visibility of a post `viewer` may see and repost or quote (404 otherwise;
/// a plain repost is quoted through what it reposts, so it cannot be the target).
pub fn quotable(conn: &Connection, viewer: Uuid, target: Uuid) -> Result<String, Problem> {
    crate::access::require_visible(conn, viewer, target)?;
    let rows = query(
        conn,
        "SELECT p.kind, CASE WHEN coalesce(ps.is_private, false) THEN 'followers' ELSE p.visibility END AS visibility
         FROM social.posts p LEFT JOIN profiles.privacy_settings ps ON ps.user_id = p.author_id WHERE p.id = $1",
        &[P::Uuid(target.to_string())],
    )?;
    if rows.value::<String>(0, "kind")? == "repost" {
        return Err(crate::access::no_such_post());
    }
    rows.value(0, "visibility")
}

/// Writes the post and what it carries; its publication time (API text) unless scheduled.
fn insert(
    conn: &Connection,
    author: Uuid,
    id: Uuid,
    b: &NewPost,
    d: &Draft,
) -> Result<Option<String>, Problem> {
    let facets = serde_json::to_string(&d.facets).map_err(Problem::internal)?;
    let opt = |v: Option<Uuid>| v.map_or(P::DbNull, |u| P::Uuid(u.to_string()));
    let made = query(
        conn,
        "INSERT INTO social.posts (id, author_id, kind, text, facets, visibility, state, repost_of,
                                   product_id, event_id, publish_at, published_at)
         VALUES ($1, $2, $3, $4, $5::text::jsonb, $6, CASE WHEN $7::text IS NULL THEN 'published' ELSE 'scheduled' END,
                 $8, $9, $10, $7::text::timestamptz, CASE WHEN $7::text IS NULL THEN now() END)
         RETURNING to_char(published_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS published_at",
        &[
            P::Uuid(id.to_string()),
            P::Uuid(author.to_string()),
            P::Str(d.kind.into()),
            P::Str(d.text.clone()),
            P::Str(facets),
            P::Str(d.visibility.into()),
            d.publish_at.clone().map_or(P::DbNull, P::Str),
            opt(b.quote_of),
            opt(b.product_id),
            opt(b.event_id),
        ],
    )?;
    for (i, file) in b.media.iter().enumerate() {
        conn.execute(
            "INSERT INTO social.post_media (post_id, position, file_id) VALUES ($1, $2, $3)",
            &[
                P::Uuid(id.to_string()),
                P::Int16(i as i16),
                P::Uuid(file.to_string()),
            ],
        )?;
    }
    for user in &b.coauthors {
        conn.execute(
            "INSERT INTO social.coauthors (post_id, user_id) VALUES ($1, $2)",
            &[P::Uuid(id.to_string()), P::Uuid(user.to_string())],
        )?;
    }
    if let Some(poll) = &b.poll {
        poll.insert(conn, id)?;
    }
    made.value(0, "published_at")
}

/// What going live needs of a post.
pub struct Live {
    pub id: Uuid,
    pub author: Uuid,
    pub kind: String,
    pub text: String,
    pub repost_of: Option<Uuid>,
    pub published_at: String,
}

/// A post becomes visible (read from its row): see [`go_live_with`]. For the scheduler, which
/// moves the post from `scheduled` to `published` first.
pub fn go_live(conn: &Connection, events: &mut Outbox, id: Uuid) -> Result<(), Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT author_id, kind, text, repost_of, {} FROM social.posts WHERE id = $1",
            ts("published_at")
        ),
        &[P::Uuid(id.to_string())],
    )?;
    let live = Live {
        id,
        author: rows.value(0, "author_id")?,
        kind: rows.value(0, "kind")?,
        text: rows.value(0, "text")?,
        repost_of: rows.value(0, "repost_of")?,
        published_at: rows.value(0, "published_at")?,
    };
    go_live_with(conn, events, live)
}

/// A post becomes visible: mentions resolved (blocks as they are now), tags stored, co-authors
/// invited, quote counted, `social.post.created` recorded. Runs once per post (at creation, or
/// by the scheduler). Only what the post has costs a statement: a plain text post without
/// mentions or tags writes only its event.
pub fn go_live_with(conn: &Connection, events: &mut Outbox, post: Live) -> Result<(), Problem> {
    let Live {
        id,
        author,
        kind,
        text,
        repost_of,
        published_at,
    } = post;
    let facets = if text.is_empty() {
        Vec::new()
    } else {
        facets::parse(&text).unwrap_or_default()
    };
    let resolved = mentions::resolve(conn, author, &facets)?;
    let names = facets
        .iter()
        .any(|f| !matches!(f.feature, crate::facets::Feature::Tag { .. }));
    if names {
        let stored = serde_json::to_string(&resolved.facets).map_err(Problem::internal)?;
        conn.execute(
            "UPDATE social.posts SET facets = $2::text::jsonb WHERE id = $1",
            &[P::Uuid(id.to_string()), P::Str(stored)],
        )?;
    }
    insert_tags(conn, id, &resolved.tags)?;
    mentions::record(conn, events, author, (id, None), &resolved, &[])?;
    if let Some(target) = repost_of {
        conn.execute(
            "UPDATE social.posts SET quote_count = quote_count + 1 WHERE id = $1",
            &[P::Uuid(target.to_string())],
        )?;
    }
    if kind == "collaborative" {
        invite(conn, events, id, author)?;
    }
    events.record(
        conn,
        Some(author),
        ("post", id.to_string()),
        vec![author],
        &PostCreated {
            post_id: id,
            author_id: author,
            kind,
            published_at,
        },
    )
}

/// Announces the open invitations of a collaborative post (not to anyone blocked either way).
fn invite(conn: &Connection, events: &mut Outbox, id: Uuid, author: Uuid) -> Result<(), Problem> {
    let invitees: Vec<Uuid> = query(
        conn,
        "SELECT user_id FROM social.coauthors WHERE post_id = $1 AND state = 'invited'
           AND NOT profiles.blocked_either_way(user_id, $2)",
        &[P::Uuid(id.to_string()), P::Uuid(author.to_string())],
    )?
    .column("user_id")?;
    for invitee in invitees {
        events.record(
            conn,
            Some(author),
            ("post", id.to_string()),
            vec![invitee],
            &CollaborationInvited {
                post_id: id,
                inviter_id: author,
                invitee_id: invitee,
            },
        )?;
    }
    Ok(())
}

/// The post's tags, with its publication time (none: no statement).
fn insert_tags(conn: &Connection, id: Uuid, tags: &[String]) -> Result<(), Problem> {
    if tags.is_empty() {
        return Ok(());
    }
    conn.execute(
        "INSERT INTO social.post_tags (post_id, tag, published_at)
         SELECT $1, t, p.published_at FROM unnest($2::text[]) t, social.posts p WHERE p.id = $1",
        &[
            P::Uuid(id.to_string()),
            P::ArrayStr(tags.iter().map(|t| Some(t.clone())).collect()),
        ],
    )?;
    Ok(())
}

/// The resolved facets and the tags of an edited post (replacing those before).
fn store_facets(conn: &Connection, id: Uuid, r: &mentions::Resolved) -> Result<(), Problem> {
    let facets = serde_json::to_string(&r.facets).map_err(Problem::internal)?;
    conn.execute(
        "UPDATE social.posts SET facets = $2::text::jsonb WHERE id = $1",
        &[P::Uuid(id.to_string()), P::Str(facets)],
    )?;
    conn.execute(
        "DELETE FROM social.post_tags WHERE post_id = $1",
        &[P::Uuid(id.to_string())],
    )?;
    insert_tags(conn, id, &r.tags)
}

/// `GET /social/posts/{id}`.
pub fn get(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    Ok(json(200, &crate::hydrate::one(&conn, ctx.user_id, id)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Edit {
    text: String,
}

/// `PATCH /social/posts/{id} {text}`: the author edits the text within the edit window; new
/// mentions are notified, old ones are not again.
pub fn edit(req: &Request, id: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let b: Edit = json_body(req)?;
    let text = b.text.trim().to_string();
    let conn = db()?;
    let found = query(
        &conn,
        "SELECT kind, published_at > now() - make_interval(mins => $3::int4) AS editable,
                (SELECT count(*) FROM social.post_media m WHERE m.post_id = p.id) AS media
         FROM social.posts p WHERE id = $1 AND author_id = $2 AND state = 'published' AND hidden_at IS NULL",
        &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string()), P::Int32(EDIT_WINDOW_MINUTES as i32)],
    )?;
    if found.is_empty() {
        return Err(crate::access::no_such_post());
    }
    let kind: String = found.value(0, "kind")?;
    if kind == "repost" {
        return Err(Problem::conflict(
            "not_editable",
            "a plain repost has no text",
        ));
    }
    if !found.value::<bool>(0, "editable")? {
        return Err(Problem::conflict(
            "edit_window_closed",
            format!("a post's text may be edited for {EDIT_WINDOW_MINUTES} minutes after it is published"),
        ));
    }
    let may_be_empty =
        matches!(kind.as_str(), "product" | "event") || found.value::<i64>(0, "media")? > 0;
    let facets = if text.is_empty() && may_be_empty {
        Vec::new()
    } else {
        facets::parse(&text).map_err(|e| Problem::invalid_field("text", e.message()))?
    };
    crate::limits::count(
        &crate::limits::configured(&crate::limits::POSTS, "posts_per_hour"),
        ctx.user_id,
    )?;
    with_events(&conn, crate::SCHEMA, component, |conn, events| {
        let before: Vec<Uuid> = query(
            conn,
            "DELETE FROM social.mentions WHERE post_id = $1 AND comment_id IS NULL
             RETURNING coalesce(user_id, shop_id) AS target",
            &[P::Uuid(id.to_string())],
        )?
        .column("target")?;
        conn.execute(
            "UPDATE social.posts SET text = $2, edited_at = now() WHERE id = $1",
            &[P::Uuid(id.to_string()), P::Str(text.clone())],
        )?;
        let resolved = mentions::resolve(conn, ctx.user_id, &facets)?;
        store_facets(conn, id, &resolved)?;
        mentions::record(conn, events, ctx.user_id, (id, None), &resolved, &before)
    })?;
    Ok(json(200, &crate::hydrate::one(&conn, ctx.user_id, id)?))
}

/// `DELETE /social/posts/{id}`: the author deletes the post (204); its interactions and
/// notifications are hidden with it (`social.post.deleted`).
pub fn delete(req: &Request, id: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    let deleted = with_events(&conn, crate::SCHEMA, component, |conn, events| {
        delete_one(conn, events, id, Some(ctx.user_id))
    })?;
    if !deleted {
        return Err(crate::access::no_such_post());
    }
    Ok(Response::new(204, ()))
}

/// Deletes a published or scheduled post (of `author` when given): counts of what it reposted or
/// quoted go down, its pin goes, `social.post.deleted` is recorded. `false` when there was none.
pub fn delete_one(
    conn: &Connection,
    events: &mut Outbox,
    id: Uuid,
    author: Option<Uuid>,
) -> Result<bool, Problem> {
    let rows = query(
        conn,
        "UPDATE social.posts SET state = 'deleted', deleted_at = now(), published_at = coalesce(published_at, now())
         WHERE id = $1 AND ($2::uuid IS NULL OR author_id = $2) AND state <> 'deleted'
         RETURNING author_id, kind, repost_of, published_at IS NOT NULL AS was_published",
        &[P::Uuid(id.to_string()), author.map_or(P::DbNull, |a| P::Uuid(a.to_string()))],
    )?;
    if rows.is_empty() {
        return Ok(false);
    }
    let author: Uuid = rows.value(0, "author_id")?;
    if let Some(target) = rows.value::<Option<Uuid>>(0, "repost_of")? {
        let column = if rows.value::<String>(0, "kind")? == "repost" {
            "repost_count"
        } else {
            "quote_count"
        };
        conn.execute(
            &format!("UPDATE social.posts SET {column} = greatest({column} - 1, 0) WHERE id = $1"),
            &[P::Uuid(target.to_string())],
        )?;
    }
    conn.execute(
        "DELETE FROM social.pins WHERE post_id = $1",
        &[P::Uuid(id.to_string())],
    )?;
    conn.execute(
        "DELETE FROM social.post_tags WHERE post_id = $1",
        &[P::Uuid(id.to_string())],
    )?;
    events.record(
        conn,
        Some(author),
        ("post", id.to_string()),
        vec![author],
        &PostDeleted {
            post_id: id,
            author_id: author,
        },
    )?;
    Ok(true)
}

/// `PUT /social/posts/{id}/pin`: the author pins the post to their profile (replacing any pin).
pub fn pin(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    let rows = query(
        &conn,
        "INSERT INTO social.pins (user_id, post_id)
         SELECT $1, p.id FROM social.posts p
         WHERE p.id = $2 AND p.state = 'published' AND p.hidden_at IS NULL AND p.kind <> 'repost'
           AND (p.author_id = $1 OR EXISTS (SELECT 1 FROM social.coauthors c WHERE c.post_id = p.id
                                            AND c.user_id = $1 AND c.state = 'accepted'))
         ON CONFLICT (user_id) DO UPDATE SET post_id = EXCLUDED.post_id, pinned_at = now()
         RETURNING post_id",
        &[P::Uuid(ctx.user_id.to_string()), P::Uuid(id.to_string())],
    )?;
    if rows.is_empty() {
        return Err(crate::access::no_such_post());
    }
    Ok(json(200, &json!({"pinned_post_id": id})))
}

/// `DELETE /social/posts/{id}/pin` (204, also when it was not pinned).
pub fn unpin(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    db()?.execute(
        "DELETE FROM social.pins WHERE user_id = $1 AND post_id = $2",
        &[P::Uuid(ctx.user_id.to_string()), P::Uuid(id.to_string())],
    )?;
    Ok(Response::new(204, ()))
}
