//! Mentions and tags at write time (docs/social.md, "Mentions and tags"): `@username`s resolve to
//! users through `profiles.user_id_by_username`, `$handle`s to shops through commerce's
//! `commerce.shop_by_handle`. A name nobody holds, the author themselves, or someone who blocked
//! the author or whom the author blocked, gets no link (its facet is dropped) and no notification.
//! Mention notifications are capped per author per hour (the mention still links past the cap).

use nexgate_events::catalogue::social::{MentionCreated, ShopMentioned};
use nexgate_events::outbox::Outbox;
use nexgate_platform::db::query;
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::facets::{Facet, Feature};

/// A text's facets after resolution, and what they point at.
#[derive(Default)]
pub struct Resolved {
    /// The facets kept, as stored and shown (`user_id` / `shop_id` added to mentions).
    pub facets: Vec<Value>,
    pub users: Vec<Uuid>,
    /// (shop, its owner).
    pub shops: Vec<(Uuid, Uuid)>,
    pub tags: Vec<String>,
}

/// Resolves `facets` of a text by `author` against today's names and blocks.
pub fn resolve(conn: &Connection, author: Uuid, facets: &[Facet]) -> Result<Resolved, Problem> {
    let names: Vec<String> = facets
        .iter()
        .filter_map(|f| match &f.feature {
            Feature::Mention { username } => Some(username.clone()),
            _ => None,
        })
        .collect();
    let handles: Vec<String> = facets
        .iter()
        .filter_map(|f| match &f.feature {
            Feature::Shop { handle } => Some(handle.clone()),
            _ => None,
        })
        .collect();
    let users = lookup(
        conn,
        author,
        "SELECT n.name, profiles.user_id_by_username(n.name) AS id, NULL::uuid AS owner
         FROM unnest($2::text[]) AS n(name)",
        &names,
    )?;
    let shops = lookup(
        conn,
        author,
        "SELECT n.name, s.shop_id AS id, s.seller_id AS owner
         FROM unnest($2::text[]) AS n(name)
         JOIN commerce.shop_cards s ON s.shop_id = commerce.shop_by_handle(n.name)",
        &handles,
    )?;
    let mut out = Resolved::default();
    for f in facets {
        let mut v = serde_json::to_value(f).map_err(Problem::internal)?;
        match &f.feature {
            Feature::Mention { username } => {
                let Some((id, _)) = users.iter().find(|(n, _)| n == username).map(|x| x.1) else {
                    continue;
                };
                v["user_id"] = json!(id);
                push_unique(&mut out.users, id);
            }
            Feature::Shop { handle } => {
                let Some((id, owner)) = shops.iter().find(|(n, _)| n == handle).map(|x| x.1) else {
                    continue;
                };
                v["shop_id"] = json!(id);
                if !out.shops.iter().any(|(s, _)| *s == id) {
                    out.shops.push((id, owner.unwrap_or(Uuid::nil())));
                }
            }
            Feature::Tag { tag } => {
                if !out.tags.contains(tag) {
                    out.tags.push(tag.clone());
                }
            }
        }
        out.facets.push(v);
    }
    Ok(out)
}

fn push_unique(list: &mut Vec<Uuid>, id: Uuid) {
    if !list.contains(&id) {
        list.push(id);
    }
}

type Found = Vec<(String, (Uuid, Option<Uuid>))>;

/// Names → (id, owner), without anyone blocked either way with `author` (or the author).
fn lookup(conn: &Connection, author: Uuid, sql: &str, names: &[String]) -> Result<Found, Problem> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let rows = query(
        conn,
        &format!(
            "SELECT x.name, x.id, x.owner FROM ({sql}) x
             WHERE x.id IS NOT NULL AND coalesce(x.owner, x.id) <> $1
               AND NOT profiles.blocked_either_way($1, coalesce(x.owner, x.id))"
        ),
        &[
            P::Uuid(author.to_string()),
            P::ArrayStr(names.iter().map(|n| Some(n.clone())).collect()),
        ],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        out.push((
            rows.value(i, "name")?,
            (rows.value(i, "id")?, rows.value(i, "owner")?),
        ));
    }
    Ok(out)
}

/// Stores the links of a post's (or comment's) resolved mentions and announces the ones not in
/// `already` (an edit does not notify twice), within the author's hourly cap.
pub fn record(
    conn: &Connection,
    events: &mut Outbox,
    author: Uuid,
    at: (Uuid, Option<Uuid>),
    resolved: &Resolved,
    already: &[Uuid],
) -> Result<(), Problem> {
    let (post, comment) = at;
    let comment_param = comment.map_or(P::DbNull, |c| P::Uuid(c.to_string()));
    for user in &resolved.users {
        conn.execute(
            "INSERT INTO social.mentions (post_id, comment_id, user_id) VALUES ($1, $2, $3)",
            &[
                P::Uuid(post.to_string()),
                comment_param.clone(),
                P::Uuid(user.to_string()),
            ],
        )?;
        if already.contains(user)
            || !crate::limits::within(&crate::limits::MENTION_NOTIFICATIONS, author)
        {
            continue;
        }
        events.record(
            conn,
            Some(author),
            ("post", post.to_string()),
            vec![*user],
            &MentionCreated {
                mentioned_id: *user,
                mentioner_id: author,
                context: if comment.is_some() { "comment" } else { "post" }.into(),
                post_id: Some(post),
                comment_id: comment,
            },
        )?;
    }
    for (shop, owner) in &resolved.shops {
        conn.execute(
            "INSERT INTO social.mentions (post_id, comment_id, shop_id) VALUES ($1, $2, $3)",
            &[
                P::Uuid(post.to_string()),
                comment_param.clone(),
                P::Uuid(shop.to_string()),
            ],
        )?;
        if comment.is_some()
            || already.contains(shop)
            || !crate::limits::within(&crate::limits::MENTION_NOTIFICATIONS, author)
        {
            continue;
        }
        events.record(
            conn,
            Some(author),
            ("post", post.to_string()),
            vec![*owner],
            &ShopMentioned {
                shop_id: *shop,
                shop_owner_id: *owner,
                mentioner_id: author,
                post_id: post,
            },
        )?;
    }
    Ok(())
}
