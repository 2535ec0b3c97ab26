//! Shops: `POST /shop/shops`, `GET /shop/shops/{id}`, `PATCH /shop/shops/{id}` (the owner's).
//! A handle follows the username rules (crates/names) and is unique among shops.

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{constraint, open_from_variables as db, query, transaction, ts};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::money::Currency;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// Longest shop name, description and return policy.
pub const NAME_CHARS_MAX: usize = 80;
pub const TEXT_CHARS_MAX: usize = 2_000;
/// At most this many delivery areas per shop.
pub const DELIVERY_AREAS_MAX: usize = 50;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewShop {
    handle: String,
    name: String,
    currency: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    return_policy: String,
    delivery_areas: Vec<DeliveryArea>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryArea {
    region: String,
    fee: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShopChanges {
    name: Option<String>,
    description: Option<String>,
    return_policy: Option<String>,
    status: Option<String>,
    delivery_areas: Option<Vec<DeliveryArea>>,
    /// Files the owner uploaded with purpose `shop`.
    logo_file_id: Option<String>,
    banner_file_id: Option<String>,
}

fn check_text(field: &str, text: &str, max: usize) -> Result<(), Problem> {
    if text.chars().count() > max {
        return Err(Problem::invalid_field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

fn check_areas(areas: &[DeliveryArea]) -> Result<(), Problem> {
    if areas.is_empty() || areas.len() > DELIVERY_AREAS_MAX {
        return Err(Problem::invalid_field(
            "delivery_areas",
            format!("name 1 to {DELIVERY_AREAS_MAX} regions"),
        ));
    }
    for (i, a) in areas.iter().enumerate() {
        if a.region.trim().is_empty() || a.region.chars().count() > NAME_CHARS_MAX {
            return Err(Problem::invalid_field(
                format!("delivery_areas[{i}].region"),
                "must be a region name of 1 to 80 characters",
            ));
        }
        crate::products::check_whole_shillings(&format!("delivery_areas[{i}].fee"), a.fee, true)?;
    }
    Ok(())
}

fn store_areas(conn: &Connection, shop: Uuid, areas: &[DeliveryArea]) -> Result<(), Problem> {
    query(
        conn,
        "DELETE FROM commerce.shop_delivery_areas WHERE shop_id = $1",
        &[P::Uuid(shop.to_string())],
    )?;
    for a in areas {
        query(
            conn,
            "INSERT INTO commerce.shop_delivery_areas (shop_id, region, fee) VALUES ($1, $2, $3)
             ON CONFLICT (shop_id, region) DO UPDATE SET fee = EXCLUDED.fee",
            &[
                P::Uuid(shop.to_string()),
                P::Str(a.region.trim().to_string()),
                P::Int64(a.fee),
            ],
        )?;
    }
    Ok(())
}

/// `POST /shop/shops`: 201 with the shop; 409 `handle_taken`. A user's first shop is linked to
/// their profile (profiles' `links`), so the profile shows it.
pub async fn create(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let b: NewShop = json_body(req)?;
    let handle = nexgate_names::username::Username::parse(&b.handle)
        .map_err(|m| Problem::invalid_field("handle", m))?;
    let name = b.name.trim();
    if name.is_empty() {
        return Err(Problem::invalid_field("name", "is required"));
    }
    check_text("name", name, NAME_CHARS_MAX)?;
    check_text("description", &b.description, TEXT_CHARS_MAX)?;
    check_text("return_policy", &b.return_policy, TEXT_CHARS_MAX)?;
    let currency = Currency::parse(&b.currency)
        .ok()
        .filter(|c| matches!(c.code(), "TZS" | "KES"))
        .ok_or_else(|| Problem::invalid_field("currency", "must be TZS or KES"))?;
    check_areas(&b.delivery_areas)?;
    let conn = db()?;
    let id = new_id();
    let first = transaction(&conn, |conn| {
        check_handle_free(conn, &handle.key(), None)?;
        query(
            conn,
            "INSERT INTO commerce.shops (id, owner_id, handle, name, description, currency, return_policy)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                P::Uuid(id.to_string()),
                P::Uuid(ctx.user_id.to_string()),
                P::Str(handle.as_str().to_string()),
                P::Str(name.to_string()),
                P::Str(b.description.clone()),
                P::Str(currency.code().to_string()),
                P::Str(b.return_policy.clone()),
            ],
        )
        .map_err(|e| match constraint(&e) {
            Some("shops_handle_key") => {
                Problem::conflict("handle_taken", "another shop has this handle")
            }
            _ => Problem::from(e),
        })?;
        store_areas(conn, id, &b.delivery_areas)?;
        let shops: i64 = query(
            conn,
            "SELECT count(*) AS n FROM commerce.shops WHERE owner_id = $1",
            &[P::Uuid(ctx.user_id.to_string())],
        )?
        .value(0, "n")?;
        Ok::<_, Problem>(shops == 1)
    })?;
    if first {
        // Best effort after the commit: the shop stands either way (a retried create would only
        // meet `handle_taken`); a failed link is logged for an operator.
        let linked = nexgate_platform::internal::call(
            "profiles",
            spin_sdk::http::Method::Put,
            &format!("/internal/profiles/users/{}/links", ctx.user_id),
            &json!({ "shop_id": id }),
            None,
        )
        .await;
        if !matches!(linked, Ok((200, _))) {
            eprintln!("commerce: linking shop {id} to its owner's profile failed: {linked:?}");
        }
    }
    Ok(json(
        201,
        &view(&conn, id)?.ok_or_else(|| Problem::internal("new shop vanished"))?,
    ))
}

/// A shop as the API shows it, with its delivery areas.
pub fn view(conn: &Connection, id: Uuid) -> Result<Option<Value>, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT s.id, s.owner_id, s.handle, s.name, s.description, s.currency, s.return_policy, s.status, {},
                    (SELECT coalesce(jsonb_agg(jsonb_build_object('region', a.region, 'fee', a.fee)
                         ORDER BY a.region), '[]'::jsonb)::text
                     FROM commerce.shop_delivery_areas a WHERE a.shop_id = s.id) AS areas,
                    s.logo_file_id, l.variants::text AS logo_variants, l.blurhash AS logo_blurhash,
                    s.banner_file_id, b.variants::text AS banner_variants, b.blurhash AS banner_blurhash
             FROM commerce.shops s
             LEFT JOIN files.public_media l ON l.file_id = s.logo_file_id
             LEFT JOIN files.public_media b ON b.file_id = s.banner_file_id
             WHERE s.id = $1",
            ts("s.created_at")
        ),
        &[P::Uuid(id.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    let areas: String = rows.value(0, "areas")?;
    let cdn = nexgate_platform::public_media::cdn_base()?;
    let picture = |which: &str| {
        nexgate_platform::public_media::view(
            &cdn,
            rows.value(0, &format!("{which}_file_id"))?,
            rows.value(0, &format!("{which}_variants"))?,
            rows.value(0, &format!("{which}_blurhash"))?,
        )
    };
    Ok(Some(json!({
        "id": rows.value::<Uuid>(0, "id")?,
        "owner_id": rows.value::<Uuid>(0, "owner_id")?,
        "handle": rows.value::<String>(0, "handle")?,
        "name": rows.value::<String>(0, "name")?,
        "description": rows.value::<String>(0, "description")?,
        "currency": rows.value::<String>(0, "currency")?,
        "return_policy": rows.value::<String>(0, "return_policy")?,
        "status": rows.value::<String>(0, "status")?,
        "delivery_areas": serde_json::from_str::<Value>(&areas).unwrap_or(Value::Null),
        "logo": picture("logo")?,
        "banner": picture("banner")?,
        "seller": seller_badge(conn, rows.value(0, "owner_id")?)?,
        "created_at": rows.value::<String>(0, "created_at")?,
    })))
}

/// The seller's badge (docs/commerce.md, "Shops"): the owner's verification level and trust
/// badge from profiles, read live, so a buyer sees them at the moment of purchase. Nulls once the
/// owner's account is gone.
pub fn seller_badge(conn: &Connection, owner: Uuid) -> Result<Value, Problem> {
    let rows = query(
        conn,
        "SELECT l.level, t.badge, t.score FROM profiles.verification_levels l
         LEFT JOIN profiles.trust_scores t ON t.user_id = l.user_id WHERE l.user_id = $1",
        &[P::Uuid(owner.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(
            json!({ "user_id": owner, "verification_level": null, "trust_badge": null, "trust_score": null }),
        );
    }
    Ok(json!({
        "user_id": owner,
        "verification_level": rows.value::<String>(0, "level")?,
        "trust_badge": rows.value::<Option<String>>(0, "badge")?,
        "trust_score": rows.value::<Option<i32>>(0, "score")?,
    }))
}

/// `GET /shop/shops/{id}`.
pub fn get(req: &Request, id: &str) -> Result<Response, Problem> {
    authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    let shop = view(&conn, id)?.ok_or_else(|| Problem::not_found("no such shop"))?;
    Ok(json(200, &shop))
}

/// The shop `id` if `user` owns it (locked for the transaction), else 404.
pub fn owned(conn: &Connection, id: Uuid, user: Uuid) -> Result<(), Problem> {
    let rows = query(
        conn,
        "SELECT 1 FROM commerce.shops WHERE id = $1 AND owner_id = $2",
        &[P::Uuid(id.to_string()), P::Uuid(user.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such shop of yours"));
    }
    Ok(())
}

/// SQL true when `$user` may manage the shop `<alias>.id` (its owner or one of its staff).
pub fn managed_by(alias: &str, user_param: &str) -> String {
    format!(
        "({alias}.owner_id = {user_param} OR EXISTS (SELECT 1 FROM commerce.shop_staff st \
           WHERE st.shop_id = {alias}.id AND st.user_id = {user_param}))"
    )
}

/// The shop `id` if `user` may manage its products, stock and orders (owner or staff), else 404.
pub fn manageable(conn: &Connection, id: Uuid, user: Uuid) -> Result<(), Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT 1 FROM commerce.shops s WHERE s.id = $1 AND {}",
            managed_by("s", "$2")
        ),
        &[P::Uuid(id.to_string()), P::Uuid(user.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such shop of yours"));
    }
    Ok(())
}

/// At most this many staff per shop.
pub const STAFF_MAX: i64 = 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewStaff {
    username: String,
}

/// `GET /shop/shops/{id}/staff` (owner or staff).
pub fn staff(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    manageable(&conn, id, ctx.user_id)?;
    let rows = query(
        &conn,
        &format!(
            "SELECT user_id, added_by, {} FROM commerce.shop_staff WHERE shop_id = $1 ORDER BY added_at",
            ts("added_at")
        ),
        &[P::Uuid(id.to_string())],
    )?;
    let mut items = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        items.push(json!({
            "user_id": rows.value::<Uuid>(i, "user_id")?,
            "added_by": rows.value::<Uuid>(i, "added_by")?,
            "added_at": rows.value::<String>(i, "added_at")?,
        }));
    }
    Ok(json(200, &json!({ "items": items })))
}

/// `POST /shop/shops/{id}/staff {username}`: the owner, signed in recently, adds a staff member
/// (201); 404 for no such user, 409 `staff_full`.
pub fn add_staff(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    ctx.require_recent_auth(nexgate_platform::time::now_unix().0)?;
    let id = parse_id("id", id)?;
    let b: NewStaff = json_body(req)?;
    let conn = db()?;
    owned(&conn, id, ctx.user_id)?;
    let user: Option<Uuid> = query(
        &conn,
        "SELECT profiles.user_id_by_username($1) AS user_id",
        &[P::Str(b.username.trim().to_string())],
    )?
    .value(0, "user_id")?;
    let user = user.ok_or_else(|| Problem::invalid_field("username", "no such user"))?;
    if user == ctx.user_id {
        return Err(Problem::invalid_field("username", "is the shop's owner"));
    }
    let added = query(
        &conn,
        "INSERT INTO commerce.shop_staff (shop_id, user_id, added_by)
         SELECT $1, $2, $3 WHERE (SELECT count(*) FROM commerce.shop_staff WHERE shop_id = $1) < $4
         ON CONFLICT (shop_id, user_id) DO NOTHING RETURNING user_id",
        &[
            P::Uuid(id.to_string()),
            P::Uuid(user.to_string()),
            P::Uuid(ctx.user_id.to_string()),
            P::Int64(STAFF_MAX),
        ],
    )?;
    if added.is_empty() {
        let already = !query(
            &conn,
            "SELECT 1 FROM commerce.shop_staff WHERE shop_id = $1 AND user_id = $2",
            &[P::Uuid(id.to_string()), P::Uuid(user.to_string())],
        )?
        .is_empty();
        if !already {
            return Err(Problem::conflict(
                "staff_full",
                format!("a shop has at most {STAFF_MAX} staff"),
            ));
        }
    }
    Ok(json(201, &json!({ "shop_id": id, "user_id": user })))
}

/// `DELETE /shop/shops/{id}/staff/{user_id}`: the owner, signed in recently, removes one (204).
pub fn remove_staff(req: &Request, id: &str, user: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    ctx.require_recent_auth(nexgate_platform::time::now_unix().0)?;
    let id = parse_id("id", id)?;
    let user = parse_id("user_id", user)?;
    let conn = db()?;
    owned(&conn, id, ctx.user_id)?;
    let gone = query(
        &conn,
        "DELETE FROM commerce.shop_staff WHERE shop_id = $1 AND user_id = $2 RETURNING user_id",
        &[P::Uuid(id.to_string()), P::Uuid(user.to_string())],
    )?;
    if gone.is_empty() {
        return Err(Problem::not_found("no such staff member"));
    }
    Ok(Response::builder().status(204).build())
}

/// Days between two handle changes of a shop (the first one is free).
pub const HANDLE_COOLDOWN_DAYS: i32 = 30;
/// Days a shop's old handle stays its own after a change.
pub const OLD_HANDLE_HOLD_DAYS: i32 = 14;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewHandle {
    handle: String,
}

/// `PUT /shop/shops/{id}/handle {handle}`: the owner renames the shop's `$handle`, at most once
/// per [`HANDLE_COOLDOWN_DAYS`] (409 `handle_cooldown`); the old one keeps naming the shop and
/// nobody else may take it for [`OLD_HANDLE_HOLD_DAYS`].
pub fn rename(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let b: NewHandle = json_body(req)?;
    let handle = nexgate_names::username::Username::parse(&b.handle)
        .map_err(|m| Problem::invalid_field("handle", m))?;
    let conn = db()?;
    transaction(&conn, |conn| {
        let rows = query(
            conn,
            "SELECT handle, handle_changed_at > now() - make_interval(days => $3) AS cooling
             FROM commerce.shops WHERE id = $1 AND owner_id = $2 FOR UPDATE",
            &[
                P::Uuid(id.to_string()),
                P::Uuid(ctx.user_id.to_string()),
                P::Int32(HANDLE_COOLDOWN_DAYS),
            ],
        )?;
        if rows.is_empty() {
            return Err(Problem::not_found("no such shop of yours"));
        }
        let old: String = rows.value(0, "handle")?;
        if old.to_lowercase() == handle.key() {
            return Ok(());
        }
        if rows.value::<Option<bool>>(0, "cooling")? == Some(true) {
            return Err(Problem::conflict(
                "handle_cooldown",
                format!("a shop's handle changes at most once every {HANDLE_COOLDOWN_DAYS} days"),
            ));
        }
        check_handle_free(conn, &handle.key(), Some(id))?;
        query(
            conn,
            "UPDATE commerce.shops SET handle = $2, handle_changed_at = now(), updated_at = now() WHERE id = $1",
            &[P::Uuid(id.to_string()), P::Str(handle.as_str().to_string())],
        )
        .map_err(|e| match constraint(&e) {
            Some("shops_handle_key") => Problem::conflict("handle_taken", "another shop has this handle"),
            _ => Problem::from(e),
        })?;
        query(
            conn,
            "INSERT INTO commerce.shop_handle_holds (handle_key, shop_id, until)
             VALUES (lower($1), $2, now() + make_interval(days => $3))
             ON CONFLICT (handle_key) DO UPDATE SET shop_id = EXCLUDED.shop_id, until = EXCLUDED.until",
            &[P::Str(old), P::Uuid(id.to_string()), P::Int32(OLD_HANDLE_HOLD_DAYS)],
        )?;
        query(
            conn,
            "DELETE FROM commerce.shop_handle_holds WHERE handle_key = $1",
            &[P::Str(handle.key())],
        )?;
        Ok(())
    })?;
    Ok(json(
        200,
        &view(&conn, id)?.ok_or_else(|| Problem::not_found("no such shop"))?,
    ))
}

/// 409 `handle_taken` when another shop holds `key` (a renamed shop's old handle, within its
/// hold); `mine` may take back its own.
fn check_handle_free(conn: &Connection, key: &str, mine: Option<Uuid>) -> Result<(), Problem> {
    let held = query(
        conn,
        "SELECT 1 FROM commerce.shop_handle_holds WHERE handle_key = $1 AND until > now()
           AND ($2::uuid IS NULL OR shop_id <> $2)",
        &[
            P::Str(key.to_string()),
            mine.map(|m| P::Uuid(m.to_string())).unwrap_or(P::DbNull),
        ],
    )?;
    if !held.is_empty() {
        return Err(Problem::conflict(
            "handle_taken",
            "another shop has this handle",
        ));
    }
    Ok(())
}

/// `PATCH /shop/shops/{id}`: the owner changes name, texts, status or delivery areas.
pub async fn patch(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let b: ShopChanges = json_body(req)?;
    check_changes(&b)?;
    let conn = db()?;
    owned(&conn, id, ctx.user_id)?;
    let mut pictures = [None, None];
    for (slot, (field, value)) in pictures.iter_mut().zip([
        ("logo_file_id", &b.logo_file_id),
        ("banner_file_id", &b.banner_file_id),
    ]) {
        if let Some(value) = value {
            let file = parse_id(field, value)?;
            crate::media::attach_shop_picture(ctx.user_id, id, file, field).await?;
            *slot = Some(file);
        }
    }
    let picture = |f: Option<Uuid>| f.map(|f| P::Uuid(f.to_string())).unwrap_or(P::DbNull);
    transaction(&conn, |conn| {
        owned(conn, id, ctx.user_id)?;
        query(
            conn,
            "UPDATE commerce.shops SET name = coalesce($2, name), description = coalesce($3, description),
                 return_policy = coalesce($4, return_policy), status = coalesce($5, status),
                 logo_file_id = coalesce($6, logo_file_id), banner_file_id = coalesce($7, banner_file_id),
                 updated_at = now()
             WHERE id = $1",
            &[
                P::Uuid(id.to_string()),
                b.name.as_ref().map(|s| P::Str(s.trim().to_string())).unwrap_or(P::DbNull),
                b.description.clone().map(P::Str).unwrap_or(P::DbNull),
                b.return_policy.clone().map(P::Str).unwrap_or(P::DbNull),
                b.status.clone().map(P::Str).unwrap_or(P::DbNull),
                picture(pictures[0]),
                picture(pictures[1]),
            ],
        )?;
        if let Some(areas) = &b.delivery_areas {
            store_areas(conn, id, areas)?;
        }
        Ok::<_, Problem>(())
    })?;
    Ok(json(
        200,
        &view(&conn, id)?.ok_or_else(|| Problem::not_found("no such shop"))?,
    ))
}

/// Every field a shop change gives, checked (a 422 naming the first bad one).
fn check_changes(b: &ShopChanges) -> Result<(), Problem> {
    if let Some(status) = &b.status {
        if !matches!(status.as_str(), "open" | "paused" | "closed") {
            return Err(Problem::invalid_field(
                "status",
                "must be open, paused or closed",
            ));
        }
    }
    if let Some(name) = &b.name {
        if name.trim().is_empty() {
            return Err(Problem::invalid_field("name", "may not be empty"));
        }
        check_text("name", name, NAME_CHARS_MAX)?;
    }
    for (field, text) in [
        ("description", &b.description),
        ("return_policy", &b.return_policy),
    ] {
        if let Some(text) = text {
            check_text(field, text, TEXT_CHARS_MAX)?;
        }
    }
    if let Some(areas) = &b.delivery_areas {
        check_areas(areas)?;
    }
    Ok(())
}
