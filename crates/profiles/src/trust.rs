//! The trust score of sellers and organizers (docs/profiles.md, "Trust score").
//!
//! Inputs, counted incrementally from events (`POST /internal/profiles/events`, deduplicated on the
//! event id): completed transactions (`commerce.order.completed`, and for organizers
//! `events.event.completed`: an event that really happened, not a ticket merely bought),
//! cancellations by the seller or organizer (`commerce.order.cancelled` with `cancelled_by:
//! seller`, `events.event.cancelled`), refunds (`payments.refund.processed`), disputes
//! (`payments.dispute.opened`) and ratings (`commerce.review.created`, `events.review.created`);
//! plus the account's age and its verification level. [`score`] is a pure function of them.

use nexgate_authn::authenticate;
use nexgate_events::Envelope;
use nexgate_platform::db::{query, transaction};
use nexgate_platform::Problem;
use serde::Serialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::ParameterValue as P;
use uuid::Uuid;

use crate::lookup::{blocked_either_way, no_such_user, resolve_as};
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::open_from_variables as db;

/// The counters behind a score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TrustInputs {
    pub completed: i64,
    pub cancellations: i64,
    pub refunds: i64,
    pub disputes: i64,
    pub ratings_count: i64,
    pub ratings_sum: i64,
    pub account_age_days: i64,
    /// 0 none, 1 contact, 2 identity, 3 business.
    pub verification_rank: i64,
}

/// Prior of the Bayesian rating: as if every seller started with this many ratings of this value.
pub const RATING_PRIOR_COUNT: f64 = 5.0;
pub const RATING_PRIOR_MEAN: f64 = 3.5;
/// Completed transactions at which experience reaches ~63 %.
pub const EXPERIENCE_SCALE: f64 = 50.0;
/// Fewer completed transactions than this shows the `new` badge whatever the score.
pub const NEW_SELLER_COMPLETED_MIN: i64 = 5;

/// The score, 0 to 100:
/// `100 × (0.35 rating + 0.30 reliability + 0.15 experience + 0.10 age + 0.10 verification)` where
/// rating = (Bayesian mean − 1) / 4 with a prior of 5 ratings of 3.5; reliability =
/// 1 − (refunds + 2·disputes + cancellations) / (completed + refunds + disputes + cancellations);
/// experience = 1 − e^(−completed/50); age = min(days / 365, 1); verification = rank / 3.
pub fn score(i: &TrustInputs) -> i64 {
    let mean = (i.ratings_sum as f64 + RATING_PRIOR_COUNT * RATING_PRIOR_MEAN)
        / (i.ratings_count as f64 + RATING_PRIOR_COUNT);
    let rating = ((mean - 1.0) / 4.0).clamp(0.0, 1.0);
    let problems = (i.refunds + 2 * i.disputes + i.cancellations) as f64;
    let outcomes = (i.completed + i.refunds + i.disputes + i.cancellations).max(1) as f64;
    let reliability = (1.0 - problems / outcomes).clamp(0.0, 1.0);
    let experience = 1.0 - (-(i.completed as f64) / EXPERIENCE_SCALE).exp();
    let age = (i.account_age_days as f64 / 365.0).clamp(0.0, 1.0);
    let verification = (i.verification_rank as f64 / 3.0).clamp(0.0, 1.0);
    let total =
        0.35 * rating + 0.30 * reliability + 0.15 * experience + 0.10 * age + 0.10 * verification;
    (total * 100.0).round() as i64
}

/// The badge shown with a score.
pub fn badge(i: &TrustInputs, score: i64) -> &'static str {
    if i.completed < NEW_SELLER_COMPLETED_MIN {
        "new"
    } else if score >= 85 {
        "top"
    } else if score >= 70 {
        "trusted"
    } else if score >= 50 {
        "good"
    } else {
        "low"
    }
}

/// Which counter an event moves, for whom.
fn effect(e: &Envelope) -> Result<Option<(Uuid, &'static str, i64)>, Problem> {
    let user = |field: &str| -> Result<Uuid, Problem> {
        e.data[field]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| Problem::invalid_field(format!("data.{field}"), "must be a user id"))
    };
    Ok(match e.event_type.as_str() {
        "commerce.order.completed" => Some((user("seller_id")?, "completed", 1)),
        "events.event.completed" => Some((user("organizer_id")?, "completed", 1)),
        "commerce.order.cancelled" if e.data["cancelled_by"] == "seller" => {
            Some((user("seller_id")?, "cancellations", 1))
        }
        "commerce.order.cancelled" => None,
        "events.event.cancelled" => Some((user("organizer_id")?, "cancellations", 1)),
        "payments.refund.processed" => Some((user("payee_id")?, "refunds", 1)),
        "payments.dispute.opened" => Some((user("payee_id")?, "disputes", 1)),
        "commerce.review.created" | "events.review.created" => {
            let rating = e.data["rating"]
                .as_i64()
                .filter(|r| (1..=5).contains(r))
                .ok_or_else(|| Problem::invalid_field("data.rating", "must be 1 to 5"))?;
            let rated = if e.event_type == "commerce.review.created" {
                "seller_id"
            } else {
                "organizer_id"
            };
            Some((user(rated)?, "rating", rating))
        }
        _ => None,
    })
}

/// Applies one trust input once (deduplicated on the event id); called by [`crate::inbox`].
pub fn apply(envelope: &Envelope) -> Result<Response, Problem> {
    let Some((user, counter, value)) = effect(envelope)? else {
        return Ok(json(
            200,
            &json!({ "applied": false, "reason": "not a trust input" }),
        ));
    };
    let conn = db()?;
    let applied = transaction(&conn, |conn| -> Result<bool, Problem> {
        if !crate::inbox::first_delivery(conn, envelope)? {
            return Ok(false);
        }
        let known = query(
            conn,
            "SELECT 1 AS known FROM profiles.profiles WHERE user_id = $1",
            &[P::Uuid(user.to_string())],
        )?;
        if known.is_empty() {
            // A user who deleted their account meanwhile: nothing to count, and nothing to retry.
            return Ok(false);
        }
        let (set, params): (&str, Vec<P>) = match counter {
            "rating" => (
                "ratings_count = trust_stats.ratings_count + 1, ratings_sum = trust_stats.ratings_sum + $2",
                vec![P::Uuid(user.to_string()), P::Int32(value as i32)],
            ),
            c => (
                match c {
                    "completed" => "completed = trust_stats.completed + 1",
                    "cancellations" => "cancellations = trust_stats.cancellations + 1",
                    "refunds" => "refunds = trust_stats.refunds + 1",
                    _ => "disputes = trust_stats.disputes + 1",
                },
                vec![P::Uuid(user.to_string())],
            ),
        };
        let insert_values = match counter {
            "rating" => "ratings_count, ratings_sum) VALUES ($1, 1, $2)",
            "completed" => "completed) VALUES ($1, 1)",
            "cancellations" => "cancellations) VALUES ($1, 1)",
            "refunds" => "refunds) VALUES ($1, 1)",
            _ => "disputes) VALUES ($1, 1)",
        };
        conn.execute(
            &format!(
                "INSERT INTO profiles.trust_stats (user_id, {insert_values} \
                 ON CONFLICT (user_id) DO UPDATE SET {set}, updated_at = now()"
            ),
            &params,
        )?;
        Ok(true)
    })?;
    Ok(json(200, &json!({ "applied": applied })))
}

/// `GET /users/{id}/trust`: the score, its badge and the counts behind it.
pub fn get(req: &Request, target: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    let target = resolve_as(&conn, ctx.user_id, target)?;
    if target != ctx.user_id && blocked_either_way(&conn, ctx.user_id, target)? {
        return Err(no_such_user());
    }
    let rows = query(
        &conn,
        "SELECT coalesce(t.completed, 0)::int8 AS completed, coalesce(t.cancellations, 0)::int8 AS cancellations, \
                coalesce(t.refunds, 0)::int8 AS refunds, coalesce(t.disputes, 0)::int8 AS disputes, \
                coalesce(t.ratings_count, 0)::int8 AS ratings_count, coalesce(t.ratings_sum, 0)::int8 AS ratings_sum, \
                floor(extract(epoch FROM now() - p.created_at) / 86400)::int8 AS age_days, \
                v.level_rank::int8 AS rank \
         FROM profiles.profiles p \
         JOIN profiles.verification_levels v ON v.user_id = p.user_id \
         LEFT JOIN profiles.trust_stats t ON t.user_id = p.user_id WHERE p.user_id = $1",
        &[P::Uuid(target.to_string())],
    )?;
    if rows.is_empty() {
        return Err(no_such_user());
    }
    let inputs = TrustInputs {
        completed: rows.value(0, "completed")?,
        cancellations: rows.value(0, "cancellations")?,
        refunds: rows.value(0, "refunds")?,
        disputes: rows.value(0, "disputes")?,
        ratings_count: rows.value(0, "ratings_count")?,
        ratings_sum: rows.value(0, "ratings_sum")?,
        account_age_days: rows.value(0, "age_days")?,
        verification_rank: rows.value(0, "rank")?,
    };
    let s = score(&inputs);
    let average_rating = (inputs.ratings_count > 0)
        .then(|| (inputs.ratings_sum as f64 / inputs.ratings_count as f64 * 100.0).round() / 100.0);
    Ok(json(
        200,
        &json!({
            "user_id": target,
            "score": s,
            "badge": badge(&inputs, s),
            "average_rating": average_rating,
            "counts": inputs,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seller(completed: i64) -> TrustInputs {
        TrustInputs {
            completed,
            account_age_days: 400,
            verification_rank: 2,
            ..Default::default()
        }
    }

    #[test]
    fn a_fresh_account_is_new_and_scores_in_the_middle() {
        let fresh = TrustInputs::default();
        let s = score(&fresh);
        assert_eq!(badge(&fresh, s), "new");
        assert!((35..=55).contains(&s), "{s}");
    }

    #[test]
    fn good_ratings_and_volume_raise_the_score_and_problems_lower_it() {
        let mut good = seller(200);
        good.ratings_count = 150;
        good.ratings_sum = 150 * 5;
        let g = score(&good);
        assert!(g >= 85, "{g}");
        assert_eq!(badge(&good, g), "top");
        let mut troubled = good;
        troubled.disputes = 40;
        troubled.refunds = 30;
        assert!(score(&troubled) < g - 10);
        let mut harsh = good;
        harsh.ratings_sum = 150;
        assert!(score(&harsh) < g - 20);
    }

    #[test]
    fn one_rating_moves_a_new_seller_only_a_little() {
        let mut one = seller(1);
        let before = score(&one);
        one.ratings_count = 1;
        one.ratings_sum = 1;
        let after = score(&one);
        assert!(before - after <= 5, "{before} -> {after}");
    }
}
