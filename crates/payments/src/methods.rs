//! `/payments/methods`: a user's mobile-money numbers (network detected from the prefix,
//! overridable; the serving provider fixes the currency) and cards (Selcom's hosted page: we keep
//! only the provider's reference). Payout numbers (`use: "payout"`) need a fresh step-up to add
//! or remove.

use nexgate_authn::{authenticate, AuthContext};
use nexgate_platform::db::{constraint, query, transaction, Rows};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::money::Currency;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::phone::{self, Provider};
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::{open_from_variables as db, ts};

/// Methods one user may keep.
pub const METHODS_PER_USER_MAX: i64 = 10;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMethod {
    kind: String,
    phone: Option<String>,
    network: Option<String>,
    provider: Option<String>,
    label: Option<String>,
    #[serde(rename = "use")]
    use_for: Option<String>,
    #[serde(default)]
    make_default: bool,
}

fn columns() -> String {
    format!(
        "id, kind, use, msisdn, network, provider, currency, label, is_default, provider_reference IS NOT NULL AS card_saved, {}",
        ts("created_at")
    )
}

fn view(r: &Rows, i: usize) -> Result<Value, Problem> {
    let msisdn: Option<String> = r.value(i, "msisdn")?;
    Ok(json!({
        "id": r.value::<Uuid>(i, "id")?,
        "kind": r.value::<String>(i, "kind")?,
        "use": r.value::<String>(i, "use")?,
        "phone": msisdn.as_deref().map(phone::masked),
        "network": r.value::<Option<String>>(i, "network")?,
        "provider": r.value::<String>(i, "provider")?,
        "currency": r.value::<String>(i, "currency")?,
        "label": r.value::<String>(i, "label")?,
        "is_default": r.value::<bool>(i, "is_default")?,
        "created_at": r.value::<String>(i, "created_at")?,
    }))
}

/// Payout numbers are where money leaves: adding, changing or removing one needs what a payout
/// needs, a fresh step-up, a verification level of at least `identity`, and no security change
/// in the last 24 hours.
fn require_step_up_for(ctx: &AuthContext, use_for: &str) -> Result<(), Problem> {
    if use_for == "payout" {
        ctx.require_step_up(nexgate_platform::time::now_unix().0)?;
        let conn = db()?;
        crate::payouts::require_identity(&conn, ctx.user_id)?;
        crate::payouts::require_no_recent_security_change(&conn, ctx.user_id)?;
    }
    Ok(())
}

/// `GET /payments/methods`.
pub fn list(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    let rows = query(
        &conn,
        &format!(
            "SELECT {} FROM payments.methods WHERE user_id = $1 AND removed_at IS NULL ORDER BY created_at",
            columns()
        ),
        &[P::Uuid(ctx.user_id.to_string())],
    )?;
    let items = (0..rows.len())
        .map(|i| view(&rows, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json(200, &json!({ "items": items })))
}

/// `POST /payments/methods`.
pub fn add(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let body: NewMethod = nexgate_platform::body::json_body(req)?;
    let use_for = body.use_for.as_deref().unwrap_or("pay");
    if !matches!(use_for, "pay" | "payout") {
        return Err(Problem::invalid_field("use", "must be `pay` or `payout`"));
    }
    require_step_up_for(&ctx, use_for)?;
    let method = body.checked(use_for)?;
    let conn = db()?;
    let user = P::Uuid(ctx.user_id.to_string());
    let result = transaction(&conn, |conn| {
        // Serialise one user's method changes (the count and the default).
        query(
            conn,
            "SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text, 7))",
            std::slice::from_ref(&user),
        )?;
        let count: i64 = query(
            conn,
            "SELECT count(*) AS n FROM payments.methods WHERE user_id = $1 AND removed_at IS NULL",
            std::slice::from_ref(&user),
        )?
        .value(0, "n")?;
        if count >= METHODS_PER_USER_MAX {
            return Err(
                Problem::new(422, "too_many_methods", "Too many payment methods")
                    .with_detail(format!("remove one first; at most {METHODS_PER_USER_MAX}")),
            );
        }
        let has_default: bool = query(
            conn,
            "SELECT EXISTS (SELECT 1 FROM payments.methods WHERE user_id = $1 AND use = $2 AND is_default AND removed_at IS NULL) AS d",
            &[user.clone(), P::Str(use_for.into())],
        )?
        .value(0, "d")?;
        let id = insert(
            conn,
            ctx.user_id,
            &method,
            body.make_default || !has_default,
        )?;
        load(conn, ctx.user_id, id)
    })?;
    Ok(json(201, &result))
}

/// A new method, checked: what it pays or receives through.
struct CheckedMethod {
    kind: String,
    use_for: String,
    msisdn: Option<String>,
    network: Option<&'static str>,
    provider: Provider,
    label: String,
}

impl NewMethod {
    /// Checks the fields for `use_for`; a 422 names the first that is wrong. A mobile-money
    /// number resolves to its network and provider; a card goes through Selcom and pays only.
    fn checked(&self, use_for: &str) -> Result<CheckedMethod, Problem> {
        let label = self.label.as_deref().map(str::trim).unwrap_or("");
        if label.chars().count() > 60 {
            return Err(Problem::invalid_field(
                "label",
                "must be at most 60 characters",
            ));
        }
        let (msisdn, network, provider) = match self.kind.as_str() {
            "mobile_money" => {
                let raw = self.phone.as_deref().ok_or_else(|| {
                    Problem::invalid_field("phone", "is required for mobile money")
                })?;
                let msisdn = phone::normalise(raw)?;
                let (network, provider) =
                    phone::resolve(&msisdn, self.network.as_deref(), self.provider.as_deref())?;
                (Some(msisdn), Some(network.as_str()), provider)
            }
            "card" => {
                self.check_card(use_for)?;
                (None, None, Provider::Selcom)
            }
            _ => {
                return Err(Problem::invalid_field(
                    "kind",
                    "must be `mobile_money` or `card`",
                ))
            }
        };
        let label = match (label.is_empty(), &msisdn) {
            (false, _) => label.to_string(),
            (true, Some(m)) => format!("{} {}", network.unwrap_or(""), phone::masked(m)),
            (true, None) => "Card".to_string(),
        };
        Ok(CheckedMethod {
            kind: self.kind.clone(),
            use_for: use_for.to_string(),
            msisdn,
            network,
            provider,
            label,
        })
    }

    fn check_card(&self, use_for: &str) -> Result<(), Problem> {
        if use_for == "payout" {
            return Err(Problem::invalid_field(
                "use",
                "cards cannot receive payouts",
            ));
        }
        if self.phone.is_some() || self.network.is_some() {
            return Err(Problem::invalid_field(
                "phone",
                "cards take no phone or network",
            ));
        }
        if self.provider.as_deref().is_some_and(|p| p != "selcom") {
            return Err(Problem::invalid_field(
                "provider",
                "cards go through selcom",
            ));
        }
        Ok(())
    }
}

/// Stores the method (the user's default for its use when `make_default`); its id.
fn insert(
    conn: &Connection,
    user: Uuid,
    m: &CheckedMethod,
    make_default: bool,
) -> Result<Uuid, Problem> {
    let user = P::Uuid(user.to_string());
    if make_default {
        query(
            conn,
            "UPDATE payments.methods SET is_default = false WHERE user_id = $1 AND use = $2 AND is_default",
            &[user.clone(), P::Str(m.use_for.clone())],
        )?;
    }
    let id = new_id();
    query(
        conn,
        "INSERT INTO payments.methods (id, user_id, kind, use, msisdn, network, provider, currency, label, is_default)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            P::Uuid(id.to_string()),
            user,
            P::Str(m.kind.clone()),
            P::Str(m.use_for.clone()),
            m.msisdn.clone().map(P::Str).unwrap_or(P::DbNull),
            m.network.map(|n| P::Str(n.into())).unwrap_or(P::DbNull),
            P::Str(m.provider.as_str().into()),
            P::Str(m.provider.currency().into()),
            P::Str(m.label.clone()),
            P::Boolean(make_default),
        ],
    )
    .map_err(|e| {
        if constraint(&e) == Some("methods_live_number_key") {
            Problem::conflict("method_exists", "this number is already one of your methods")
        } else {
            Problem::from(e)
        }
    })?;
    Ok(id)
}

fn load(conn: &Connection, user: Uuid, id: Uuid) -> Result<Value, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT {} FROM payments.methods WHERE id = $1 AND user_id = $2 AND removed_at IS NULL",
            columns()
        ),
        &[P::Uuid(id.to_string()), P::Uuid(user.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such payment method"));
    }
    view(&rows, 0)
}

/// `DELETE /payments/methods/{id}`: removed methods stay for the history of their payments.
pub fn remove(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    transaction(&conn, |conn| {
        let rows = query(
            conn,
            "SELECT use, is_default FROM payments.methods WHERE id = $1 AND user_id = $2 AND removed_at IS NULL FOR UPDATE",
            &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())],
        )?;
        if rows.is_empty() {
            return Err(Problem::not_found("no such payment method"));
        }
        let use_for: String = rows.value(0, "use")?;
        require_step_up_for(&ctx, &use_for)?;
        let was_default: bool = rows.value(0, "is_default")?;
        query(
            conn,
            "UPDATE payments.methods SET removed_at = now(), is_default = false WHERE id = $1",
            &[P::Uuid(id.to_string())],
        )?;
        if was_default {
            // The oldest remaining method of the same use becomes the default.
            query(
                conn,
                "UPDATE payments.methods SET is_default = true WHERE id = (
                    SELECT id FROM payments.methods WHERE user_id = $1 AND use = $2 AND removed_at IS NULL
                    ORDER BY created_at LIMIT 1)",
                &[P::Uuid(ctx.user_id.to_string()), P::Str(use_for)],
            )?;
        }
        Ok::<_, Problem>(())
    })?;
    Ok(Response::builder().status(204).build())
}

/// `POST /payments/methods/{id}/default`.
pub fn make_default(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    let view = transaction(&conn, |conn| {
        let rows = query(
            conn,
            "SELECT use FROM payments.methods WHERE id = $1 AND user_id = $2 AND removed_at IS NULL FOR UPDATE",
            &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())],
        )?;
        if rows.is_empty() {
            return Err(Problem::not_found("no such payment method"));
        }
        let use_for: String = rows.value(0, "use")?;
        require_step_up_for(&ctx, &use_for)?;
        query(
            conn,
            "UPDATE payments.methods SET is_default = (id = $1) WHERE user_id = $2 AND use = $3 AND removed_at IS NULL AND (is_default OR id = $1)",
            &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string()), P::Str(use_for)],
        )?;
        load(conn, ctx.user_id, id)
    })?;
    Ok(json(200, &view))
}

/// A method of `user` usable to pay: (kind, msisdn, network, provider, currency).
pub struct PayingMethod {
    pub kind: String,
    pub msisdn: Option<String>,
    pub network: Option<String>,
    pub provider: Provider,
    pub currency: Currency,
}

pub fn paying_method(conn: &Connection, user: Uuid, id: Uuid) -> Result<PayingMethod, Problem> {
    let rows = query(
        conn,
        "SELECT kind, msisdn, network, provider, currency FROM payments.methods
         WHERE id = $1 AND user_id = $2 AND use = 'pay' AND removed_at IS NULL",
        &[P::Uuid(id.to_string()), P::Uuid(user.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::invalid_field(
            "method_id",
            "is not one of your payment methods",
        ));
    }
    let provider: String = rows.value(0, "provider")?;
    Ok(PayingMethod {
        kind: rows.value(0, "kind")?,
        msisdn: rows.value(0, "msisdn")?,
        network: rows.value(0, "network")?,
        provider: Provider::parse(&provider)
            .ok_or_else(|| Problem::internal("unknown provider"))?,
        currency: Currency::parse(&rows.value::<String>(0, "currency")?)?,
    })
}
