//! The buyer's address book: `GET/POST /shop/addresses`, `DELETE /shop/addresses/{id}`. At most
//! [`ADDRESSES_MAX`] per user, one default (the first is the default until another is chosen).

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{open_from_variables as db, query, transaction, ts};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

pub const ADDRESSES_MAX: i64 = 20;
const FIELD_CHARS_MAX: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAddress {
    name: String,
    phone: String,
    region: String,
    #[serde(default)]
    district: String,
    #[serde(default)]
    street: String,
    lat: Option<f64>,
    lng: Option<f64>,
    #[serde(default)]
    is_default: bool,
}

fn check(b: &NewAddress) -> Result<(), Problem> {
    for (field, value, required) in [
        ("name", &b.name, true),
        ("region", &b.region, true),
        ("district", &b.district, false),
        ("street", &b.street, false),
    ] {
        if (required && value.trim().is_empty()) || value.chars().count() > FIELD_CHARS_MAX {
            return Err(Problem::invalid_field(field, "must be 1 to 200 characters"));
        }
    }
    let digits = b.phone.trim().trim_start_matches('+');
    if !(9..=15).contains(&digits.len()) || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(Problem::invalid_field(
            "phone",
            "must be a phone number of 9 to 15 digits",
        ));
    }
    match (b.lat, b.lng) {
        (None, None) => {}
        (Some(lat), Some(lng))
            if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lng) => {}
        _ => {
            return Err(Problem::invalid_field(
                "lat",
                "give lat and lng together, within range",
            ))
        }
    }
    Ok(())
}

/// The columns of an address as the API shows it.
const COLUMNS: &str = "id, name, phone, region, district, street, lat, lng, is_default";

fn from_row(rows: &nexgate_platform::db::Rows, i: usize) -> Result<Value, Problem> {
    Ok(json!({
        "id": rows.value::<Uuid>(i, "id")?,
        "name": rows.value::<String>(i, "name")?,
        "phone": rows.value::<String>(i, "phone")?,
        "region": rows.value::<String>(i, "region")?,
        "district": rows.value::<String>(i, "district")?,
        "street": rows.value::<String>(i, "street")?,
        "lat": rows.value::<Option<f64>>(i, "lat")?,
        "lng": rows.value::<Option<f64>>(i, "lng")?,
        "is_default": rows.value::<bool>(i, "is_default")?,
        "created_at": rows.value::<String>(i, "created_at")?,
    }))
}

/// One address of `user` (404 for anyone else's).
pub fn load(conn: &Connection, id: Uuid, user: Uuid) -> Result<Value, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT {COLUMNS}, {} FROM commerce.addresses WHERE id = $1 AND user_id = $2",
            ts("created_at")
        ),
        &[P::Uuid(id.to_string()), P::Uuid(user.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such address of yours"));
    }
    from_row(&rows, 0)
}

/// `GET /shop/addresses`.
pub fn list(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    let rows = query(
        &conn,
        &format!(
            "SELECT {COLUMNS}, {} FROM commerce.addresses WHERE user_id = $1 ORDER BY created_at, id",
            ts("created_at")
        ),
        &[P::Uuid(ctx.user_id.to_string())],
    )?;
    let items = (0..rows.len())
        .map(|i| from_row(&rows, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json(200, &json!({ "items": items })))
}

/// `POST /shop/addresses`: 201; 409 `address_book_full` past [`ADDRESSES_MAX`].
pub fn add(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let b: NewAddress = json_body(req)?;
    check(&b)?;
    let conn = db()?;
    let id = new_id();
    let me = || P::Uuid(ctx.user_id.to_string());
    transaction(&conn, |conn| {
        // One writer per user at a time, so the count and the default stay right.
        query(
            conn,
            "SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text, 0))",
            &[me()],
        )?;
        let count: i64 = query(
            conn,
            "SELECT count(*) AS n FROM commerce.addresses WHERE user_id = $1",
            &[me()],
        )?
        .value(0, "n")?;
        if count >= ADDRESSES_MAX {
            return Err(Problem::conflict(
                "address_book_full",
                format!("you have {ADDRESSES_MAX} addresses; delete one first"),
            ));
        }
        let is_default = b.is_default || count == 0;
        if is_default {
            query(conn, "UPDATE commerce.addresses SET is_default = false WHERE user_id = $1 AND is_default", &[me()])?;
        }
        query(
            conn,
            "INSERT INTO commerce.addresses (id, user_id, name, phone, region, district, street, lat, lng, is_default)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                P::Uuid(id.to_string()),
                me(),
                P::Str(b.name.trim().into()),
                P::Str(b.phone.trim().into()),
                P::Str(b.region.trim().into()),
                P::Str(b.district.trim().into()),
                P::Str(b.street.trim().into()),
                b.lat.map(P::Floating64).unwrap_or(P::DbNull),
                b.lng.map(P::Floating64).unwrap_or(P::DbNull),
                P::Boolean(is_default),
            ],
        )?;
        Ok(())
    })?;
    Ok(json(201, &load(&conn, id, ctx.user_id)?))
}

/// `DELETE /shop/addresses/{id}`: 204 (orders keep their own copy of the address).
pub fn remove(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    let rows = query(
        &conn,
        "DELETE FROM commerce.addresses WHERE id = $1 AND user_id = $2 RETURNING id",
        &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such address of yours"));
    }
    Ok(Response::builder().status(204).build())
}
