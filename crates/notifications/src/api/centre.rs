//! The notification centre: one row per notification or group of similar ones ("Amina and 4
//! others liked your post"), newest activity first; unread and unseen counts; read and seen marks.

use nexgate_authn::authenticate;
use nexgate_platform::body::json_response;
use nexgate_platform::db::{open_from_variables, query, Rows};
use nexgate_platform::ids::parse_id;
use nexgate_platform::pagination::{encode_cursor, page_request, CursorTime};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::ParameterValue as P;
use uuid::Uuid;

use nexgate_platform::db::ts;

/// Actors shown on a grouped row (the newest first); the count says how many there are in all.
const ACTORS_SHOWN: i64 = 3;
/// Ids one `POST /notifications/read` or `/seen` may name.
const IDS_MAX: usize = 100;

/// "Amina", "Amina and Baraka", "Amina and 4 others".
fn actors_phrase(names: &[String], count: i64) -> Option<String> {
    let first = names.first()?;
    Some(match count {
        1 => first.clone(),
        2 => format!(
            "{first} and {}",
            names.get(1).map_or("1 other", String::as_str)
        ),
        n => format!("{first} and {} others", n - 1),
    })
}

fn item(r: &Rows, i: usize) -> Result<Value, Problem> {
    let actors: Value =
        serde_json::from_str(&r.value::<String>(i, "recent_actors")?).map_err(Problem::internal)?;
    let count: i64 = r.value(i, "actor_count")?;
    let names: Vec<String> = actors
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    p["display_name"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .or(p["username"].as_str())
                        .unwrap_or("Someone")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    let body: String = r.value(i, "body")?;
    let action: Option<String> = r.value(i, "action")?;
    let summary = match (action, actors_phrase(&names, count)) {
        (Some(action), Some(who)) => format!("{who} {action}"),
        _ => body.clone(),
    };
    let data: Value =
        serde_json::from_str(&r.value::<String>(i, "data")?).map_err(Problem::internal)?;
    let delivery: Value =
        serde_json::from_str(&r.value::<String>(i, "delivery")?).map_err(Problem::internal)?;
    Ok(json!({
        "id": r.value::<Uuid>(i, "id")?,
        "type": r.value::<String>(i, "event_type")?,
        "category": r.value::<String>(i, "category")?,
        "group_key": r.value::<Option<String>>(i, "group_key")?,
        "title": r.value::<String>(i, "title")?,
        "body": body,
        "summary": summary,
        "actor_count": count,
        "actors": actors,
        "data": data,
        "delivery": delivery,
        "created_at": r.value::<String>(i, "created_at")?,
        "updated_at": r.value::<String>(i, "updated_at")?,
        "seen": r.value::<Option<String>>(i, "seen_at")?.is_some(),
        "read": r.value::<Option<String>>(i, "read_at")?.is_some(),
    }))
}

/// `GET /notifications?limit=&cursor=`.
pub fn list(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let query_string = req.query().to_string();
    let page = page_request::<(CursorTime, Uuid)>(&query_string, 20, 100)?;
    let conn = open_from_variables()?;
    let (after_ts, after_id) = match &page.after {
        Some((t, id)) => (P::Str(t.as_str().into()), P::Uuid(id.to_string())),
        None => (P::DbNull, P::DbNull),
    };
    let rows = query(
        &conn,
        &format!(
            "SELECT i.id, i.event_type, i.category, i.group_key, i.title, i.body, i.action, i.data::text AS data,
                    cardinality(i.actors)::bigint AS actor_count,
                    (SELECT coalesce(json_agg(json_build_object('user_id', a.uid, 'username', p.username,
                                                                'display_name', p.display_name)
                                              ORDER BY a.ord DESC)::text, '[]')
                     FROM unnest(i.actors) WITH ORDINALITY AS a(uid, ord)
                     LEFT JOIN notifications.people p ON p.user_id = a.uid
                     WHERE a.ord > cardinality(i.actors)::bigint - $4::bigint) AS recent_actors,
                    (SELECT coalesce(json_object_agg(x.channel, x.status)::text, '{{}}')
                     FROM (SELECT DISTINCT ON (d.channel) d.channel, d.status FROM notifications.deliveries d
                           WHERE d.item_id = i.id ORDER BY d.channel, d.created_at DESC) x) AS delivery,
                    {}, {}, {}, {}
             FROM notifications.items i
             WHERE i.user_id = $1
               AND ($2::text IS NULL OR (i.updated_at, i.id) < ($2::text::timestamptz, $3::uuid))
             ORDER BY i.updated_at DESC, i.id DESC
             LIMIT $5",
            ts("i.created_at"),
            ts("i.updated_at"),
            ts("i.seen_at"),
            ts("i.read_at"),
        ),
        &[
            P::Uuid(ctx.user_id.to_string()),
            after_ts,
            after_id,
            P::Int64(ACTORS_SHOWN),
            P::Int64(i64::from(page.limit) + 1),
        ],
    )?;
    let more = rows.len() > page.limit as usize;
    let shown = rows.len().min(page.limit as usize);
    let items = (0..shown)
        .map(|i| item(&rows, i))
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if more {
        let last = shown - 1;
        Some(encode_cursor(&(
            rows.value::<String>(last, "updated_at")?,
            rows.value::<Uuid>(last, "id")?,
        )))
    } else {
        None
    };
    let (unread, unseen) = counts(&conn, ctx.user_id)?;
    Ok(json_response(
        200,
        &json!({ "items": items, "next_cursor": next_cursor, "unread_count": unread, "unseen_count": unseen }),
    ))
}

fn counts(conn: &spin_sdk::pg4::Connection, user: Uuid) -> Result<(i64, i64), Problem> {
    let rows = query(
        conn,
        "SELECT count(*) FILTER (WHERE read_at IS NULL) AS unread,
                count(*) FILTER (WHERE seen_at IS NULL AND read_at IS NULL) AS unseen
         FROM notifications.items WHERE user_id = $1",
        &[P::Uuid(user.to_string())],
    )?;
    Ok((rows.value(0, "unread")?, rows.value(0, "unseen")?))
}

/// `GET /notifications/unread-count`.
pub fn unread_count(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let (unread, unseen) = counts(&open_from_variables()?, ctx.user_id)?;
    Ok(json_response(
        200,
        &json!({ "unread_count": unread, "unseen_count": unseen }),
    ))
}

/// Which notifications a read or seen mark covers: exactly one of the three.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Selection {
    ids: Option<Vec<String>>,
    group_key: Option<String>,
    #[serde(default)]
    all: bool,
}

/// The WHERE clause (after `user_id = $1`) and its parameter.
fn selection(s: &Selection) -> Result<(&'static str, P), Problem> {
    match (&s.ids, &s.group_key, s.all) {
        (Some(ids), None, false) => {
            if ids.is_empty() || ids.len() > IDS_MAX {
                return Err(Problem::invalid_field(
                    "ids",
                    format!("must name 1 to {IDS_MAX} notifications"),
                ));
            }
            let ids = ids
                .iter()
                .enumerate()
                .map(|(i, id)| parse_id(&format!("ids[{i}]"), id).map(|u| u.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((
                "id = ANY($2::text[]::uuid[])",
                P::ArrayStr(ids.into_iter().map(Some).collect()),
            ))
        }
        (None, Some(key), false) => {
            if key.is_empty() || key.len() > 300 {
                return Err(Problem::invalid_field(
                    "group_key",
                    "must be a group key this list returned",
                ));
            }
            Ok(("group_key = $2", P::Str(key.clone())))
        }
        (None, None, true) => Ok(("$2::text IS NULL", P::DbNull)),
        _ => Err(Problem::bad_request(
            "send exactly one of `ids`, `group_key` or `\"all\": true`",
        )),
    }
}

fn mark(req: &Request, column: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let sel: Selection = nexgate_platform::body::json_body(req)?;
    let (filter, param) = selection(&sel)?;
    let conn = open_from_variables()?;
    // Reading implies seeing.
    let set = if column == "read_at" {
        "read_at = now(), seen_at = coalesce(seen_at, now())"
    } else {
        "seen_at = now()"
    };
    let n = conn.execute(
        &format!(
            "UPDATE notifications.items SET {set} WHERE user_id = $1 AND {column} IS NULL AND {filter}"
        ),
        &[P::Uuid(ctx.user_id.to_string()), param],
    )?;
    let (unread, unseen) = counts(&conn, ctx.user_id)?;
    Ok(json_response(
        200,
        &json!({ "marked": n, "unread_count": unread, "unseen_count": unseen }),
    ))
}

/// `POST /notifications/read` with `{"ids": [...]}`, `{"group_key": "..."}` or `{"all": true}`.
pub fn mark_read(req: &Request) -> Result<Response, Problem> {
    mark(req, "read_at")
}

/// `POST /notifications/seen`, same selections (the badge clears; the rows stay unread).
pub fn mark_seen(req: &Request) -> Result<Response, Problem> {
    mark(req, "seen_at")
}

/// `POST /notifications/{id}/read`: 204, also when it was read already; 404 when it is not yours.
pub fn mark_one_read(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = open_from_variables()?;
    let rows = query(
        &conn,
        "UPDATE notifications.items SET read_at = coalesce(read_at, now()), seen_at = coalesce(seen_at, now())
         WHERE id = $1 AND user_id = $2 RETURNING id",
        &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such notification"));
    }
    Ok(Response::builder().status(204).body(Vec::new()).build())
}
