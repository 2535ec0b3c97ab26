//! The live cards of product and event posts (docs/social.md, "Live embeds"), read when the post
//! is read from the views commerce and events publish: price, stock or seats, "sold out", the
//! seller's or organizer's badge, what buying or booking needs, and how many of the viewer's
//! followees bought the product or are going (only people who do not hide it, never anyone blocked
//! either way, with up to three of their names). A card whose seller or organizer and the viewer
//! blocked each other is not shown (null).

use std::collections::HashMap;

use nexgate_platform::db::query;
use nexgate_platform::Problem;
use serde_json::Value;
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::access::unblocked;

fn params(viewer: Uuid, ids: &[Uuid]) -> [P; 2] {
    [
        P::Uuid(viewer.to_string()),
        P::ArrayStr(ids.iter().map(|i| Some(i.to_string())).collect()),
    ]
}

/// Followees of `$1` in the subquery `who` (a set of `user_id`), as `{count, sample}`.
fn followees_sql(who: &str) -> String {
    format!(
        "(SELECT jsonb_build_object('count', count(*), 'sample',
                 coalesce((array_agg(jsonb_build_object('id', fc.user_id, 'username', fc.username,
                           'display_name', fc.display_name) ORDER BY fc.username))[1:3], '{{}}'))
          FROM profiles.accepted_follows f
          JOIN profiles.public_cards fc ON fc.user_id = f.followee_id
          WHERE f.follower_id = $1 AND f.followee_id IN ({who}) AND {unblocked})",
        unblocked = unblocked("$1", "f.followee_id")
    )
}

pub fn product_cards(
    conn: &Connection,
    viewer: Uuid,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Value>, Problem> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    // Who bought: a followee whose account is not private (commerce publishes no "hide my
    // purchases" setting; a private account's purchases are never counted).
    let bought = followees_sql(
        "SELECT b.followee_id FROM profiles.accepted_follows b
         JOIN profiles.privacy_settings bp ON bp.user_id = b.followee_id AND NOT bp.is_private
         WHERE b.follower_id = $1 AND commerce.bought(b.followee_id, c.product_id)",
    );
    let rows = query(
        conn,
        &format!(
            "SELECT c.product_id, jsonb_build_object(
                 'product_id', c.product_id, 'title', c.title, 'status', c.status,
                 'shop', jsonb_build_object('id', c.shop_id, 'handle', c.shop_handle),
                 'seller_id', c.seller_id,
                 'seller_trust_badge', (SELECT t.badge FROM profiles.trust_scores t WHERE t.user_id = c.seller_id),
                 'currency', c.currency, 'price_min', c.price_min, 'price_max', c.price_max,
                 'available', c.available, 'sold_out', c.available <= 0,
                 'rating_count', c.rating_count, 'rating_sum', c.rating_sum,
                 'variants', coalesce(c.variants, '[]'::jsonb),
                 'followees_bought', {bought}) AS card
             FROM commerce.product_cards c
             WHERE c.product_id = ANY($2::text[]::uuid[]) AND c.status = 'active' AND {seller_ok}",
            seller_ok = unblocked("$1", "c.seller_id"),
        ),
        &params(viewer, ids),
    )?;
    collect(&rows, "product_id")
}

pub fn event_cards(
    conn: &Connection,
    viewer: Uuid,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Value>, Problem> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let going =
        followees_sql("SELECT a.user_id FROM events.attendance a WHERE a.event_id = c.event_id");
    let rows = query(
        conn,
        &format!(
            "SELECT c.event_id, jsonb_build_object(
                 'event_id', c.event_id, 'title', c.title, 'status', c.status, 'organizer_id', c.organizer_id,
                 'category', c.category, 'mode', c.mode, 'venue_name', c.venue_name, 'region', c.region,
                 'starts_at', c.starts_at, 'ends_at', c.ends_at, 'days', c.days, 'currency', c.currency,
                 'price_from', c.price_from, 'seats_left', c.seats_left, 'sold_out', c.seats_left <= 0,
                 'ticket_types', coalesce(c.ticket_types, '[]'::jsonb),
                 'organizer_rating_average', c.organizer_rating_average,
                 'organizer_rating_count', c.organizer_rating_count,
                 'organizer_trust_badge', c.organizer_trust_badge,
                 'organizer_verification_level', c.organizer_verification_level,
                 'followees_going', {going}) AS card
             FROM events.event_cards c
             WHERE c.event_id = ANY($2::text[]::uuid[]) AND {organizer_ok}",
            organizer_ok = unblocked("$1", "c.organizer_id"),
        ),
        &params(viewer, ids),
    )?;
    collect(&rows, "event_id")
}

fn collect(rows: &nexgate_platform::db::Rows, key: &str) -> Result<HashMap<Uuid, Value>, Problem> {
    let mut out = HashMap::with_capacity(rows.len());
    for i in 0..rows.len() {
        out.insert(rows.value(i, key)?, rows.value(i, "card")?);
    }
    Ok(out)
}

/// 422 naming `field` unless the product is on sale and its seller and the author are not
/// blocked either way.
pub fn check_product(conn: &Connection, author: Uuid, product: Uuid) -> Result<(), Problem> {
    if product_cards(conn, author, &[product])?.is_empty() {
        return Err(Problem::invalid_field(
            "product_id",
            "no such product on sale",
        ));
    }
    Ok(())
}

/// 422 naming `event_id` unless the event is published (not a draft, not cancelled).
pub fn check_event(conn: &Connection, author: Uuid, event: Uuid) -> Result<(), Problem> {
    let found = event_cards(conn, author, &[event])?;
    match found.get(&event) {
        Some(card) if card["status"] == "published" => Ok(()),
        _ => Err(Problem::invalid_field(
            "event_id",
            "no such published event",
        )),
    }
}
