//! Post ids into the posts a viewer reads (Bluesky's skeleton-then-hydrate): one query for the
//! posts the viewer may see (the others are dropped), then what they embed, each in one query for
//! the whole page: the reposted or quoted post, the live product or event card ("3 people you
//! follow are going"), the poll. Media URLs point at the CDN.

use std::collections::HashMap;

use nexgate_platform::db::{query, TIMESTAMP_FORMAT};
use nexgate_platform::public_media::cdn_base;
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::access::{sees, unblocked};

fn api_time(expr: &str) -> String {
    format!("to_char(({expr}) AT TIME ZONE 'UTC', {TIMESTAMP_FORMAT})")
}

/// The JSON of the post aliased `p` for the viewer `$1` (profiles' card of the author as `pc`).
fn card_sql() -> String {
    format!(
        "jsonb_build_object(
          'id', p.id, 'kind', p.kind, 'text', p.text, 'facets', p.facets,
          'visibility', CASE WHEN coalesce(pc.is_private, false) THEN 'followers' ELSE p.visibility END,
          'author', jsonb_build_object('id', p.author_id, 'username', pc.username, 'display_name', pc.display_name),
          'coauthors', coalesce((SELECT jsonb_agg(jsonb_build_object('id', c.user_id, 'username', cc.username,
                                   'display_name', cc.display_name) ORDER BY c.answered_at)
                                 FROM social.coauthors c JOIN profiles.public_cards cc ON cc.user_id = c.user_id
                                 WHERE c.post_id = p.id AND c.state = 'accepted' AND {coauthor_unblocked}), '[]'::jsonb),
          'media', coalesce((SELECT jsonb_agg(jsonb_build_object('file_id', m.file_id, 'kind', f.kind, 'width', f.width,
                                 'height', f.height, 'duration_ms', f.duration_ms, 'blurhash', f.blurhash,
                                 'variants', f.variants, 'poster', f.poster) ORDER BY m.position)
                             FROM social.post_media m JOIN files.public_media f ON f.file_id = m.file_id
                             WHERE m.post_id = p.id), '[]'::jsonb),
          'counts', jsonb_build_object('likes', p.like_count, 'comments', p.comment_count,
                                       'reposts', p.repost_count, 'quotes', p.quote_count),
          'viewer', jsonb_build_object(
              'liked', EXISTS (SELECT 1 FROM social.likes l WHERE l.post_id = p.id AND l.user_id = $1),
              'bookmarked', EXISTS (SELECT 1 FROM social.bookmarks bm WHERE bm.post_id = p.id AND bm.user_id = $1),
              'reposted', EXISTS (SELECT 1 FROM social.posts r WHERE r.repost_of = p.id AND r.author_id = $1
                                  AND r.kind = 'repost' AND r.state = 'published')),
          'repost_of', p.repost_of, 'product_id', p.product_id, 'event_id', p.event_id,
          'pinned', EXISTS (SELECT 1 FROM social.pins pin WHERE pin.user_id = p.author_id AND pin.post_id = p.id),
          'published_at', {published}, 'edited_at', {edited})",
        coauthor_unblocked = unblocked("$1", "c.user_id"),
        published = api_time("p.published_at"),
        edited = api_time("p.edited_at"),
    )
}

/// The posts of `ids` the viewer may see, in the order of `ids`, with what they embed.
pub fn posts(conn: &Connection, viewer: Uuid, ids: &[Uuid]) -> Result<Vec<Value>, Problem> {
    let mut found = load(conn, viewer, ids)?;
    let targets: Vec<Uuid> = found
        .values()
        .filter_map(|p| p["repost_of"].as_str().and_then(|s| s.parse().ok()))
        .collect();
    let mut embedded = if targets.is_empty() {
        HashMap::new()
    } else {
        load(conn, viewer, &targets)?
    };
    decorate(
        conn,
        viewer,
        found.values_mut().chain(embedded.values_mut()),
    )?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(mut post) = found.remove(id) else {
            continue;
        };
        if let Some(target) = post["repost_of"]
            .as_str()
            .and_then(|s| s.parse::<Uuid>().ok())
        {
            let target = embedded.get(&target).cloned();
            match post["kind"].as_str() {
                // A plain repost of something the viewer may not see is not shown at all.
                Some("repost") if target.is_none() => continue,
                Some("repost") => post["reposted"] = target.unwrap_or(Value::Null),
                // A quote stays; what it quotes is "unavailable" (null) when not visible.
                _ => post["quoted"] = target.unwrap_or(Value::Null),
            }
        }
        out.push(post);
    }
    Ok(out)
}

/// One post the viewer may see (404 otherwise).
pub fn one(conn: &Connection, viewer: Uuid, id: Uuid) -> Result<Value, Problem> {
    posts(conn, viewer, &[id])?
        .pop()
        .ok_or_else(crate::access::no_such_post)
}

fn load(conn: &Connection, viewer: Uuid, ids: &[Uuid]) -> Result<HashMap<Uuid, Value>, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT p.id, {card} AS post FROM social.posts p
             LEFT JOIN profiles.public_cards pc ON pc.user_id = p.author_id
             WHERE p.id = ANY($2::text[]::uuid[]) AND {sees}",
            card = card_sql(),
            sees = sees("$1"),
        ),
        &[
            P::Uuid(viewer.to_string()),
            P::ArrayStr(ids.iter().map(|i| Some(i.to_string())).collect()),
        ],
    )?;
    let mut out = HashMap::with_capacity(rows.len());
    for i in 0..rows.len() {
        out.insert(rows.value(i, "id")?, rows.value(i, "post")?);
    }
    Ok(out)
}

/// Media URLs, live product and event cards, polls.
fn decorate<'a>(
    conn: &Connection,
    viewer: Uuid,
    posts: impl Iterator<Item = &'a mut Value>,
) -> Result<(), Problem> {
    let posts: Vec<&mut Value> = posts.collect();
    if posts.is_empty() {
        return Ok(());
    }
    let cdn = cdn_base()?;
    let id_of = |p: &Value, field: &str| p[field].as_str().and_then(|s| s.parse::<Uuid>().ok());
    let products: Vec<Uuid> = posts
        .iter()
        .filter_map(|p| id_of(p, "product_id"))
        .collect();
    let events: Vec<Uuid> = posts.iter().filter_map(|p| id_of(p, "event_id")).collect();
    let polls: Vec<Uuid> = posts
        .iter()
        .filter(|p| p["kind"] == "poll")
        .filter_map(|p| id_of(p, "id"))
        .collect();
    let product_cards = crate::embeds::product_cards(conn, viewer, &products)?;
    let event_cards = crate::embeds::event_cards(conn, viewer, &events)?;
    let poll_views = crate::polls::views(conn, viewer, &polls)?;
    for post in posts {
        if let Some(media) = post["media"].as_array_mut() {
            for m in media {
                media_urls(&cdn, m);
            }
        }
        if let Some(id) = id_of(post, "product_id") {
            post["product"] = product_cards.get(&id).cloned().unwrap_or(Value::Null);
        }
        if let Some(id) = id_of(post, "event_id") {
            post["event"] = event_cards.get(&id).cloned().unwrap_or(Value::Null);
        }
        if let Some(id) = id_of(post, "id").filter(|_| post["kind"] == "poll") {
            post["poll"] = poll_views.get(&id).cloned().unwrap_or(Value::Null);
        }
    }
    Ok(())
}

/// `variants[].key` and `poster.key` into CDN URLs.
fn media_urls(cdn: &str, media: &mut Value) {
    let url = |v: &Value| json!(format!("{cdn}/{}", v["key"].as_str().unwrap_or_default()));
    if let Some(variants) = media["variants"].as_array_mut() {
        for v in variants {
            v["url"] = url(v);
            if let Some(o) = v.as_object_mut() {
                o.remove("key");
                o.remove("bytes");
            }
        }
    }
    if media["poster"].is_object() {
        let u = url(&media["poster"]);
        media["poster"] = json!({"url": u, "width": media["poster"]["width"], "height": media["poster"]["height"]});
    }
}
