//! What a draft's steps must hold (docs/ticketing.md, "Events and drafts"): each field checked
//! when it is written ([`changes`]), and every step again at publishing ([`ready_to_publish`]).
//! A refusal is a 422 naming the field (and, at publishing, the step).

use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::Value;

use crate::drafts::Changes;

/// Days a multi-day event may have.
pub const DAYS_MAX: usize = 30;
/// Longest day (its check-in window).
pub const DAY_SECS_MAX: i64 = 24 * 3600;
/// Ticket types per event.
pub const TICKET_TYPES_MAX: i64 = 20;

/// One day as the API takes it (RFC 3339).
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct DayTimes {
    pub starts_at: String,
    pub ends_at: String,
}

/// Unix seconds of an RFC 3339 time, or a 422 naming `field`.
pub fn instant(field: &str, text: &str) -> Result<i64, Problem> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| {
            Problem::invalid_field(field, "must be an RFC 3339 time (2027-03-01T18:00:00Z)")
        })
}

fn length(field: &str, text: &Option<String>, min: usize, max: usize) -> Result<(), Problem> {
    match text {
        Some(t) if !(min..=max).contains(&t.trim().chars().count()) => Err(Problem::invalid_field(
            field,
            format!("must be {min} to {max} characters"),
        )),
        _ => Ok(()),
    }
}

/// The fields of one step as written; the days as Unix seconds when given.
pub(crate) fn changes(c: &Changes, now: i64) -> Result<Option<Vec<(i64, i64)>>, Problem> {
    length("title", &c.title, 3, 120)?;
    length("description", &c.description, 0, 5000)?;
    length("venue_name", &c.venue_name, 2, 120)?;
    length("address", &c.address, 2, 200)?;
    length("region", &c.region, 2, 60)?;
    length("online_platform", &c.online_platform, 2, 60)?;
    if let Some(mode) = &c.mode {
        if !matches!(mode.as_str(), "in_person" | "online") {
            return Err(Problem::invalid_field(
                "mode",
                "must be in_person or online",
            ));
        }
    }
    if let Some(url) = &c.online_url {
        if !url.starts_with("https://") || url.len() > 500 || url.contains(char::is_whitespace) {
            return Err(Problem::invalid_field(
                "online_url",
                "must be an https:// link of at most 500 characters",
            ));
        }
    }
    if let Some(zone) = &c.time_zone {
        let ok = zone.len() <= 64
            && zone.contains('/')
            && zone.split('/').all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
            });
        if !ok {
            return Err(Problem::invalid_field(
                "time_zone",
                "must be an IANA time zone (Africa/Nairobi)",
            ));
        }
    }
    if let Some(currency) = &c.currency {
        if !matches!(currency.as_str(), "TZS" | "KES") {
            return Err(Problem::invalid_field("currency", "must be TZS or KES"));
        }
    }
    if c.capacity.is_some_and(|n| !(1..=1_000_000).contains(&n)) {
        return Err(Problem::invalid_field("capacity", "must be 1 to 1000000"));
    }
    if c.lat.is_some_and(|v| !(-90.0..=90.0).contains(&v))
        || c.lng.is_some_and(|v| !(-180.0..=180.0).contains(&v))
    {
        return Err(Problem::invalid_field(
            "lat",
            "lat must be -90 to 90 and lng -180 to 180",
        ));
    }
    c.days
        .as_deref()
        .map(|days| schedule(days, now))
        .transpose()
}

/// The days: 1 to 30, each ending after it starts and within 24 hours, in order without
/// overlapping, the first in the future.
pub fn schedule(days: &[DayTimes], now: i64) -> Result<Vec<(i64, i64)>, Problem> {
    if days.is_empty() || days.len() > DAYS_MAX {
        return Err(Problem::invalid_field(
            "days",
            format!("give 1 to {DAYS_MAX} days"),
        ));
    }
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(days.len());
    for (i, d) in days.iter().enumerate() {
        let start = instant(&format!("days[{i}].starts_at"), &d.starts_at)?;
        let end = instant(&format!("days[{i}].ends_at"), &d.ends_at)?;
        if end <= start || end - start > DAY_SECS_MAX {
            return Err(Problem::invalid_field(
                format!("days[{i}].ends_at"),
                "must be after the day's start, within 24 hours",
            ));
        }
        if let Some((_, previous_end)) = out.last() {
            if start < *previous_end {
                return Err(Problem::invalid_field(
                    format!("days[{i}].starts_at"),
                    "must not start before the previous day ends (days in order)",
                ));
            }
        } else if start <= now {
            return Err(Problem::invalid_field(
                "days[0].starts_at",
                "must be in the future",
            ));
        }
        out.push((start, end));
    }
    Ok(out)
}

fn step(step: &str, field: &str, message: &str) -> Problem {
    Problem::new(
        422,
        "step_incomplete",
        "A step of the event is not complete",
    )
    .with_detail(format!("step `{step}`: {field} {message}"))
    .with_field(field, message)
}

/// Every step of the draft `event` (as `drafts::view` shows it) before it goes public.
pub fn ready_to_publish(event: &Value, now: i64) -> Result<(), Problem> {
    let text = |k: &str| event[k].as_str().unwrap_or_default().trim().to_string();
    if text("title").chars().count() < 3 {
        return Err(step("basics", "title", "is required (3 to 120 characters)"));
    }
    if event["category"].is_null() {
        return Err(step("basics", "category", "is required"));
    }
    let days = event["days"].as_array().cloned().unwrap_or_default();
    let first_start = days.first().and_then(|d| d["starts_unix"].as_i64());
    match first_start {
        None => return Err(step("schedule", "days", "needs at least one day")),
        Some(start) if start <= now => {
            return Err(step("schedule", "days", "must start in the future"))
        }
        _ => {}
    }
    match event["mode"].as_str() {
        Some("in_person") => {
            for (field, value) in [
                ("venue_name", &event["venue"]["name"]),
                ("address", &event["venue"]["address"]),
                ("region", &event["venue"]["region"]),
            ] {
                if value.as_str().unwrap_or_default().is_empty() {
                    return Err(step(
                        "location",
                        field,
                        "is required for an in-person event",
                    ));
                }
            }
            if event["capacity"].is_null() {
                return Err(step(
                    "location",
                    "capacity",
                    "is required for an in-person event",
                ));
            }
        }
        Some(_) => {
            if event["online"]["platform"].is_null() || event["online"]["url"].is_null() {
                return Err(step(
                    "location",
                    "online_url",
                    "and online_platform are required for an online event",
                ));
            }
        }
        None => {
            return Err(step(
                "location",
                "mode",
                "is required (in_person or online)",
            ))
        }
    }
    tickets_fit(event, &days)
}

/// The ticket types fit the event: at least one, none admitting a day it does not have, none
/// selling after the last day ends, none bigger than the capacity.
fn tickets_fit(event: &Value, days: &[Value]) -> Result<(), Problem> {
    let types = event["ticket_types"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if types.is_empty() {
        return Err(step(
            "tickets",
            "ticket_types",
            "needs at least one ticket type",
        ));
    }
    let last_end = days
        .last()
        .and_then(|d| d["ends_unix"].as_i64())
        .unwrap_or(0);
    let capacity = event["capacity"].as_i64();
    for (i, t) in types.iter().enumerate() {
        let field = |f: &str| format!("ticket_types[{i}].{f}");
        if t["days"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d.as_u64().is_none_or(|d| d as usize > days.len()))
        {
            return Err(step(
                "tickets",
                &field("days"),
                "names a day the event does not have",
            ));
        }
        if t["sales_end_unix"]
            .as_i64()
            .is_some_and(|end| end > last_end)
        {
            return Err(step(
                "tickets",
                &field("sales_end"),
                "must not be after the event ends",
            ));
        }
        if capacity.is_some_and(|c| t["quantity"].as_i64().unwrap_or(0) > c) {
            return Err(step(
                "tickets",
                &field("quantity"),
                "is more than the event's capacity",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn day(start: &str, end: &str) -> DayTimes {
        DayTimes {
            starts_at: start.into(),
            ends_at: end.into(),
        }
    }

    #[test]
    fn days_are_in_order_within_a_day_and_in_the_future() {
        // 1_800_000_000 is 2027-01-15T08:00:00Z.
        let ok = schedule(
            &[
                day("2027-02-01T16:00:00Z", "2027-02-01T23:00:00Z"),
                day("2027-02-02T16:00:00+03:00", "2027-02-02T23:00:00+03:00"),
            ],
            NOW,
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        let field = |r: Result<Vec<(i64, i64)>, Problem>| r.unwrap_err().errors[0].field.clone();
        assert_eq!(field(schedule(&[], NOW)), "days");
        assert_eq!(
            field(schedule(
                &[day("2027-02-01T16:00:00Z", "2027-02-01T15:00:00Z")],
                NOW
            )),
            "days[0].ends_at"
        );
        assert_eq!(
            field(schedule(
                &[day("2027-02-01T16:00:00Z", "2027-02-03T15:00:00Z")],
                NOW
            )),
            "days[0].ends_at"
        );
        assert_eq!(
            field(schedule(
                &[day("2020-02-01T16:00:00Z", "2020-02-01T18:00:00Z")],
                NOW
            )),
            "days[0].starts_at"
        );
        assert_eq!(
            field(schedule(&[day("tomorrow", "2027-02-01T18:00:00Z")], NOW)),
            "days[0].starts_at"
        );
        let overlapping = [
            day("2027-02-01T16:00:00Z", "2027-02-01T23:00:00Z"),
            day("2027-02-01T22:00:00Z", "2027-02-02T02:00:00Z"),
        ];
        assert_eq!(field(schedule(&overlapping, NOW)), "days[1].starts_at");
    }
}
