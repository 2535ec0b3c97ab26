//! Seller verification (docs/commerce.md, "Seller verification"). A shop's owner asks for
//! `business` verification with 1 to 5 photos or scans of documents: their own files of the
//! private File Manager purpose `document`, attached to the request. Operators (role `operator`
//! and a fresh step-up) take pending requests oldest first and see the documents through
//! short-lived signed URLs. An approval goes through profiles' operator path (`PUT
//! /users/{id}/verification`, called with the operator's own token, so profiles checks the role
//! and the step-up again and writes its audit); a rejection stays here. Either way the owner hears
//! of it (`commerce.seller_verification.decided`).

use nexgate_authn::{authenticate, AuthContext};
use nexgate_events::catalogue::commerce::SellerVerificationDecided;
use nexgate_events::outbox::Outbox;
use nexgate_platform::body::{json_body, json_response as json, query_string};
use nexgate_platform::db::{constraint, open_from_variables as db, query, transaction, ts};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::pagination::{encode_cursor, page_request, CursorTime};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::shops::owned;

/// Documents one request carries.
pub const DOCUMENTS_MAX: usize = 5;
/// Requests a user may send a day, refused ones included (each one is an operator's work).
pub const REQUESTS_PER_DAY: i64 = 5;
/// How long an operator's document link lasts.
const DOCUMENT_URL_SECS: u32 = 300;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRequest {
    documents: Vec<String>,
    #[serde(default)]
    note: String,
}

/// `POST /shop/shops/{id}/verification-requests {documents, note?}` (the shop's owner).
pub async fn request(req: &Request, shop: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let shop = parse_id("id", shop)?;
    let b: NewRequest = json_body(req)?;
    let documents = crate::media::file_ids("documents", &b.documents, DOCUMENTS_MAX)?;
    if documents.is_empty() {
        return Err(Problem::invalid_field(
            "documents",
            "give at least one document",
        ));
    }
    let note = b.note.trim().to_string();
    if note.chars().count() > 1000 {
        return Err(Problem::invalid_field(
            "note",
            "must be at most 1000 characters",
        ));
    }
    let conn = db()?;
    owned(&conn, shop, ctx.user_id)?;
    refuse_when_not_needed(&conn, ctx.user_id)?;
    crate::limits::count("verification", ctx.user_id, REQUESTS_PER_DAY, 86_400)?;
    let id = new_id();
    for (i, file) in documents.iter().enumerate() {
        crate::media::attach_document(ctx.user_id, id, *file, &format!("documents[{i}]")).await?;
    }
    conn.execute(
        "INSERT INTO commerce.verification_requests (id, shop_id, user_id, note, document_file_ids)
         VALUES ($1, $2, $3, $4, $5::text[]::uuid[])",
        &[
            P::Uuid(id.to_string()),
            P::Uuid(shop.to_string()),
            P::Uuid(ctx.user_id.to_string()),
            P::Str(note),
            P::ArrayStr(documents.iter().map(|d| Some(d.to_string())).collect()),
        ],
    )
    .map_err(|e| match constraint(&e) {
        Some("verification_requests_one_pending") => pending(),
        _ => Problem::from(e),
    })?;
    let rows = requests(&conn, "r.id = $1", &[P::Uuid(id.to_string())])?;
    Ok(json(201, &rows[0]))
}

fn pending() -> Problem {
    Problem::conflict(
        "verification_pending",
        "a request of yours is waiting for an operator",
    )
}

/// 409 when the owner is already at `business`, or already has a request waiting.
fn refuse_when_not_needed(conn: &Connection, user: Uuid) -> Result<(), Problem> {
    let rows = query(
        conn,
        "SELECT (SELECT level FROM profiles.verification_levels WHERE user_id = $1) AS level,
                EXISTS (SELECT 1 FROM commerce.verification_requests
                        WHERE user_id = $1 AND status = 'pending') AS waiting",
        &[P::Uuid(user.to_string())],
    )?;
    if rows.value::<Option<String>>(0, "level")?.as_deref() == Some("business") {
        return Err(Problem::conflict(
            "already_verified",
            "you are verified as a business already",
        ));
    }
    if rows.value::<bool>(0, "waiting")? {
        return Err(pending());
    }
    Ok(())
}

/// `GET /shop/shops/{id}/verification-requests` (the shop's owner): its requests, newest first,
/// with the decisions and reasons.
pub fn history(req: &Request, shop: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let shop = parse_id("id", shop)?;
    let conn = db()?;
    owned(&conn, shop, ctx.user_id)?;
    let items = requests(
        &conn,
        "r.shop_id = $1 ORDER BY r.created_at DESC, r.id DESC LIMIT 20",
        &[P::Uuid(shop.to_string())],
    )?;
    Ok(json(200, &json!({ "items": items })))
}

/// Requests matching `filter` (SQL after `WHERE`, may order and limit), as the API shows them.
fn requests(conn: &Connection, filter: &str, params: &[P]) -> Result<Vec<Value>, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT r.id, r.shop_id, s.handle, s.name, r.user_id, r.note, r.status,
                    r.document_file_ids::text[] AS documents, r.decision_reason, {}, {}
             FROM commerce.verification_requests r JOIN commerce.shops s ON s.id = r.shop_id
             WHERE {filter}",
            ts("r.created_at"),
            ts("r.decided_at")
        ),
        params,
    )?;
    (0..rows.len())
        .map(|i| {
            Ok(json!({
                "id": rows.value::<Uuid>(i, "id")?,
                "shop": {
                    "id": rows.value::<Uuid>(i, "shop_id")?,
                    "handle": rows.value::<String>(i, "handle")?,
                    "name": rows.value::<String>(i, "name")?,
                },
                "user_id": rows.value::<Uuid>(i, "user_id")?,
                "note": rows.value::<String>(i, "note")?,
                "status": rows.value::<String>(i, "status")?,
                "document_ids": rows.value::<Vec<Option<String>>>(i, "documents")?,
                "decision_reason": rows.value::<Option<String>>(i, "decision_reason")?,
                "created_at": rows.value::<String>(i, "created_at")?,
                "decided_at": rows.value::<Option<String>>(i, "decided_at")?,
            }))
        })
        .collect()
}

/// The caller as an operator with a fresh step-up (documents are identity papers).
fn operator(req: &Request) -> Result<AuthContext, Problem> {
    let ctx = authenticate(req)?;
    ctx.require_role("operator")?;
    ctx.require_step_up(nexgate_platform::time::now_unix().0)?;
    Ok(ctx)
}

/// `GET /shop/operator/verification-requests?limit=&cursor=`: pending requests, oldest first,
/// each with the owner's level now and the documents as signed URLs valid for five minutes.
pub async fn queue(req: &Request) -> Result<Response, Problem> {
    operator(req)?;
    let page = page_request::<(CursorTime, Uuid)>(query_string(req), 10, 20)?;
    let conn = db()?;
    let after = page.after.as_ref();
    let rows = requests(
        &conn,
        "r.status = 'pending'
           AND ($1::text IS NULL OR (r.created_at, r.id) > ($1::timestamptz, $2::uuid))
         ORDER BY r.created_at, r.id LIMIT $3",
        &[
            after
                .map(|(at, _)| P::Str(at.as_str().to_string()))
                .unwrap_or(P::DbNull),
            after
                .map(|(_, id)| P::Uuid(id.to_string()))
                .unwrap_or(P::DbNull),
            P::Int64(page.limit as i64 + 1),
        ],
    )?;
    let more = rows.len() > page.limit as usize;
    let mut items = Vec::new();
    for mut item in rows.into_iter().take(page.limit as usize) {
        let owner = item["user_id"]
            .as_str()
            .and_then(|u| Uuid::parse_str(u).ok());
        item["documents"] = documents(&item).await?;
        item["seller"] = crate::shops::seller_badge(&conn, owner.unwrap_or_default())?;
        items.push(item);
    }
    let next = more
        .then(|| {
            items
                .last()
                .map(|i| encode_cursor(&(i["created_at"].clone(), i["id"].clone())))
        })
        .flatten();
    Ok(json(200, &json!({ "items": items, "next_cursor": next })))
}

/// A request's documents as the File Manager shows attached private files: signed URLs.
async fn documents(item: &Value) -> Result<Value, Problem> {
    let body = json!({
        "service": "commerce", "object_type": "verification_request",
        "object_id": item["id"], "file_ids": item["document_ids"],
        "expires_in_secs": DOCUMENT_URL_SECS,
    });
    let (status, answer) = nexgate_platform::internal::call(
        "files",
        Method::Post,
        "/internal/files/attached",
        &body,
        None,
    )
    .await?;
    if status != 200 {
        return Err(Problem::internal(format!(
            "files attached answered {status}: {answer}"
        )));
    }
    Ok(answer["items"].clone())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Decision {
    decision: String,
    reason: String,
}

/// `POST /shop/operator/verification-requests/{id}/decision {decision: approve|reject, reason}`.
pub async fn decide(req: &Request, id: &str, component: &'static str) -> Result<Response, Problem> {
    let ctx = operator(req)?;
    let id = parse_id("id", id)?;
    let b: Decision = json_body(req)?;
    let status = match b.decision.as_str() {
        "approve" => "approved",
        "reject" => "rejected",
        _ => {
            return Err(Problem::invalid_field(
                "decision",
                "must be approve or reject",
            ))
        }
    };
    let reason = b.reason.trim().to_string();
    if reason.chars().count() < 3 || reason.chars().count() > 500 {
        return Err(Problem::invalid_field(
            "reason",
            "must be 3 to 500 characters",
        ));
    }
    let conn = db()?;
    let found = requests(&conn, "r.id = $1", &[P::Uuid(id.to_string())])?;
    let request = found
        .first()
        .ok_or_else(|| Problem::not_found("no such verification request"))?;
    if request["status"] != "pending" {
        return Err(decided());
    }
    let owner: Uuid =
        serde_json::from_value(request["user_id"].clone()).map_err(Problem::internal)?;
    let shop: Uuid =
        serde_json::from_value(request["shop"]["id"].clone()).map_err(Problem::internal)?;
    if status == "approved" {
        grant_business(req, owner, &reason).await?;
    }
    let mut outbox = Outbox::new(crate::settings::SCHEMA, component)?;
    transaction(&conn, |conn| {
        let moved = query(
            conn,
            "UPDATE commerce.verification_requests
             SET status = $2, decided_by = $3, decision_reason = $4, decided_at = now()
             WHERE id = $1 AND status = 'pending' RETURNING id",
            &[
                P::Uuid(id.to_string()),
                P::Str(status.into()),
                P::Uuid(ctx.user_id.to_string()),
                P::Str(reason.clone()),
            ],
        )?;
        if moved.is_empty() {
            return Err(decided());
        }
        outbox.record(
            conn,
            Some(ctx.user_id),
            ("verification_request", id.to_string()),
            vec![owner],
            &SellerVerificationDecided {
                request_id: id,
                shop_id: shop,
                decision: status.into(),
                reason: reason.clone(),
            },
        )
    })?;
    outbox.publish(&conn);
    let rows = requests(&conn, "r.id = $1", &[P::Uuid(id.to_string())])?;
    Ok(json(200, &rows[0]))
}

fn decided() -> Problem {
    Problem::conflict("already_decided", "this request was decided already")
}

/// Raises `owner` to `business` through profiles' operator path, with the operator's own
/// `Authorization` (profiles checks the role and step-up again and keeps the audit).
async fn grant_business(req: &Request, owner: Uuid, reason: &str) -> Result<(), Problem> {
    let authorization = req
        .header("authorization")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let call = Request::builder()
        .method(Method::Put)
        .uri(format!(
            "http://profiles-graph.spin.internal/users/{owner}/verification"
        ))
        .header("content-type", "application/json")
        .header("authorization", authorization)
        .body(
            serde_json::to_vec(&json!({ "level": "business", "reason": reason }))
                .unwrap_or_default(),
        )
        .build();
    let resp: Response = spin_sdk::http::send(call).await.map_err(|e| {
        eprintln!("commerce: profiles verification: {e}");
        Problem::unavailable("profiles")
    })?;
    match *resp.status() {
        200 => Ok(()),
        404 => Err(Problem::conflict(
            "owner_gone",
            "the shop's owner has no profile any more",
        )),
        401 | 403 => Err(Problem::forbidden(
            "profiles refused the grant: operators only, with a fresh step-up",
        )),
        s => {
            eprintln!(
                "commerce: profiles verification answered {s}: {}",
                String::from_utf8_lossy(resp.body())
            );
            Err(Problem::unavailable("profiles"))
        }
    }
}
