//! Each user's preferences, their JSON form at `/notifications/preferences`, and the decision of
//! what one channel does with one notification.

use std::collections::BTreeMap;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};

use crate::templates::{self, Recipient};
use crate::{Category, Channel};

/// Local hour at which digests go out (daily: every day; weekly: Mondays).
pub const DIGEST_LOCAL_HOUR: u32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    All,
    Important,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Email {
    All,
    Daily,
    Weekly,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sms {
    Critical,
    None,
}

/// Quiet hours: minutes after local midnight; `start > end` wraps midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start_minute: u16,
    pub end_minute: u16,
}

/// One user's preferences (the defaults when they never changed any).
#[derive(Debug, Clone, PartialEq)]
pub struct Preferences {
    pub push: Push,
    pub email: Email,
    pub sms: Sms,
    pub quiet_hours: Option<QuietHours>,
    pub time_zone: Tz,
    /// Per-type channel switches; only non-critical types with a template.
    pub types: BTreeMap<String, BTreeMap<Channel, bool>>,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            push: Push::All,
            email: Email::All,
            sms: Sms::Critical,
            quiet_hours: None,
            time_zone: Tz::UTC,
            types: BTreeMap::new(),
        }
    }
}

/// A field of a preferences document that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
}

impl Push {
    pub fn as_str(self) -> &'static str {
        match self {
            Push::All => "all",
            Push::Important => "important",
            Push::None => "none",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Push::All, Push::Important, Push::None]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

impl Email {
    pub fn as_str(self) -> &'static str {
        match self {
            Email::All => "all",
            Email::Daily => "daily",
            Email::Weekly => "weekly",
            Email::None => "none",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Email::All, Email::Daily, Email::Weekly, Email::None]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

impl Sms {
    pub fn as_str(self) -> &'static str {
        match self {
            Sms::Critical => "critical",
            Sms::None => "none",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Sms::Critical, Sms::None]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// "22:00" → 1320.
pub fn parse_clock(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// 1320 → "22:00".
pub fn clock(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// Parses an IANA time zone name.
pub fn parse_time_zone(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

/// The stored form of a per-type switch map.
pub fn types_to_json(types: &BTreeMap<String, BTreeMap<Channel, bool>>) -> Value {
    Value::Object(
        types
            .iter()
            .map(|(t, chans)| {
                let inner: Map<String, Value> = chans
                    .iter()
                    .map(|(c, on)| (c.as_str().to_string(), Value::Bool(*on)))
                    .collect();
                (t.clone(), Value::Object(inner))
            })
            .collect(),
    )
}

/// Reads and checks a per-type switch map (`{"social.post.liked": {"push": false}}`).
pub fn types_from_json(v: &Value) -> Result<BTreeMap<String, BTreeMap<Channel, bool>>, Invalid> {
    let obj = v
        .as_object()
        .ok_or_else(|| invalid("types", "must be an object of type → {channel: bool}"))?;
    if obj.len() > templates::TEMPLATES.len() {
        return Err(invalid("types", "has more entries than there are types"));
    }
    let mut out = BTreeMap::new();
    for (name, chans) in obj {
        let field = format!("types.{name}");
        let t = templates::template(name)
            .ok_or_else(|| invalid(&field, "is not a notification type"))?;
        if t.category == Category::Critical || t.recipient == Recipient::EventAddress {
            return Err(invalid(
                &field,
                "is a critical notification (security or payments) and cannot be switched off",
            ));
        }
        let chans = chans
            .as_object()
            .ok_or_else(|| invalid(&field, "must be an object of channel → bool"))?;
        let mut m = BTreeMap::new();
        for (c, on) in chans {
            let channel = Channel::parse(c).ok_or_else(|| {
                invalid(
                    format!("{field}.{c}"),
                    "is not a channel (in_app, push, email, sms)",
                )
            })?;
            let on = on
                .as_bool()
                .ok_or_else(|| invalid(format!("{field}.{c}"), "must be true or false"))?;
            m.insert(channel, on);
        }
        out.insert(name.clone(), m);
    }
    Ok(out)
}

impl Preferences {
    /// The JSON the API answers.
    pub fn to_json(&self) -> Value {
        json!({
            "push": self.push.as_str(),
            "email": self.email.as_str(),
            "sms": self.sms.as_str(),
            "quiet_hours": self.quiet_hours.map(|q| json!({
                "start": clock(q.start_minute),
                "end": clock(q.end_minute),
            })),
            "time_zone": self.time_zone.name(),
            "types": types_to_json(&self.types),
        })
    }

    /// Applies a `PUT` document: the fields present replace the current ones, the others stay.
    /// Unknown fields and wrong values are refused, naming the field, and change nothing.
    pub fn apply(&mut self, doc: &Value) -> Result<(), Invalid> {
        let mut next = self.clone();
        next.apply_fields(doc)?;
        *self = next;
        Ok(())
    }

    fn apply_fields(&mut self, doc: &Value) -> Result<(), Invalid> {
        let obj = doc
            .as_object()
            .ok_or_else(|| invalid("body", "must be a JSON object"))?;
        let text = |k: &str| -> Result<&str, Invalid> {
            obj[k]
                .as_str()
                .ok_or_else(|| invalid(k, "must be a string"))
        };
        for key in obj.keys() {
            match key.as_str() {
                "push" => {
                    self.push = Push::parse(text("push")?)
                        .ok_or_else(|| invalid("push", "must be all, important or none"))?
                }
                "email" => {
                    self.email = Email::parse(text("email")?)
                        .ok_or_else(|| invalid("email", "must be all, daily, weekly or none"))?
                }
                "sms" => {
                    self.sms = Sms::parse(text("sms")?)
                        .ok_or_else(|| invalid("sms", "must be critical or none"))?
                }
                "time_zone" => {
                    self.time_zone = parse_time_zone(text("time_zone")?).ok_or_else(|| {
                        invalid(
                            "time_zone",
                            "must be an IANA time zone such as Africa/Nairobi",
                        )
                    })?
                }
                "quiet_hours" => {
                    self.quiet_hours = match &obj["quiet_hours"] {
                        Value::Null => None,
                        Value::Object(q) => {
                            for k in q.keys() {
                                if k != "start" && k != "end" {
                                    return Err(invalid(
                                        format!("quiet_hours.{k}"),
                                        "is not a field (start, end)",
                                    ));
                                }
                            }
                            let at = |k: &str| {
                                q.get(k)
                                    .and_then(Value::as_str)
                                    .and_then(parse_clock)
                                    .ok_or_else(|| {
                                        invalid(
                                            format!("quiet_hours.{k}"),
                                            "must be HH:MM (24-hour)",
                                        )
                                    })
                            };
                            let (start, end) = (at("start")?, at("end")?);
                            if start == end {
                                return Err(invalid("quiet_hours", "start and end must differ"));
                            }
                            Some(QuietHours {
                                start_minute: start,
                                end_minute: end,
                            })
                        }
                        _ => {
                            return Err(invalid(
                                "quiet_hours",
                                "must be {\"start\": \"HH:MM\", \"end\": \"HH:MM\"} or null",
                            ))
                        }
                    }
                }
                "types" => {
                    // Switches merge per type: a type given replaces that type's switches.
                    for (t, chans) in types_from_json(&obj["types"])? {
                        if chans.is_empty() {
                            self.types.remove(&t);
                        } else {
                            self.types.insert(t, chans);
                        }
                    }
                }
                other => {
                    return Err(invalid(
                        other,
                        "is not a preference (push, email, sms, quiet_hours, time_zone, types)",
                    ))
                }
            }
        }
        Ok(())
    }

    /// From the stored columns of `notifications.preferences` (values the table's checks allow;
    /// anything else falls back to the default rather than failing a delivery).
    pub fn from_columns(
        push: &str,
        email: &str,
        sms: &str,
        quiet_start_minute: Option<i32>,
        quiet_end_minute: Option<i32>,
        time_zone: &str,
        types: &Value,
    ) -> Preferences {
        let d = Preferences::default();
        let minute = |m: Option<i32>| m.and_then(|m| u16::try_from(m).ok());
        Preferences {
            push: Push::parse(push).unwrap_or(d.push),
            email: Email::parse(email).unwrap_or(d.email),
            sms: Sms::parse(sms).unwrap_or(d.sms),
            quiet_hours: minute(quiet_start_minute)
                .zip(minute(quiet_end_minute))
                .map(|(start_minute, end_minute)| QuietHours {
                    start_minute,
                    end_minute,
                }),
            time_zone: parse_time_zone(time_zone).unwrap_or(d.time_zone),
            types: types_from_json(types).unwrap_or_default(),
        }
    }

    /// When quiet hours covering `now` end, if they do.
    pub fn quiet_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let q = self.quiet_hours?;
        let local = now.with_timezone(&self.time_zone);
        let minute = (local.hour_minute()) as u16;
        let inside = if q.start_minute < q.end_minute {
            minute >= q.start_minute && minute < q.end_minute
        } else {
            minute >= q.start_minute || minute < q.end_minute
        };
        if !inside {
            return None;
        }
        let today = local.date_naive();
        let end_day = if minute < q.end_minute {
            today
        } else {
            today.succ_opt()?
        };
        Some(local_instant(self.time_zone, end_day, q.end_minute))
    }

    /// When the next digest of `period` goes out after `now` (08:00 local; weekly on Mondays).
    pub fn next_digest(&self, weekly: bool, now: DateTime<Utc>) -> DateTime<Utc> {
        let local = now.with_timezone(&self.time_zone);
        let mut day = local.date_naive();
        loop {
            let at = local_instant(self.time_zone, day, (DIGEST_LOCAL_HOUR * 60) as u16);
            if at > now && (!weekly || day.weekday() == Weekday::Mon) {
                return at;
            }
            day = day.succ_opt().unwrap_or(day);
        }
    }
}

trait HourMinute {
    fn hour_minute(&self) -> u32;
}

impl<T: TimeZone> HourMinute for DateTime<T> {
    fn hour_minute(&self) -> u32 {
        use chrono::Timelike;
        self.hour() * 60 + self.minute()
    }
}

/// The instant of a local wall-clock time (a time skipped by a DST change moves forward an hour).
fn local_instant(tz: Tz, day: NaiveDate, minute: u16) -> DateTime<Utc> {
    let time = NaiveTime::from_hms_opt(u32::from(minute / 60), u32::from(minute % 60), 0)
        .unwrap_or(NaiveTime::MIN);
    let naive = day.and_time(time);
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        LocalResult::None => tz
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&naive)),
    }
}

/// Why a digest-bound email is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    QuietHours,
    DigestDaily,
    DigestWeekly,
}

impl HoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::QuietHours => "quiet_hours",
            HoldReason::DigestDaily => "digest_daily",
            HoldReason::DigestWeekly => "digest_weekly",
        }
    }
}

/// What one channel does with one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Send,
    Hold {
        until: DateTime<Utc>,
        reason: HoldReason,
    },
    SkipByPreference(&'static str),
}

/// The rules of docs/notifications.md for one recipient, type and channel (the channel is one of
/// the type's default channels). Critical notifications bypass quiet hours and digests; the
/// channel-level settings still apply to them.
pub fn decide(
    prefs: &Preferences,
    event_type: &str,
    category: Category,
    channel: Channel,
    now: DateTime<Utc>,
) -> Decision {
    let critical = category == Category::Critical;
    if !critical
        && prefs
            .types
            .get(event_type)
            .and_then(|m| m.get(&channel))
            .is_some_and(|on| !on)
    {
        return Decision::SkipByPreference("switched off for this type");
    }
    let quiet = |d: Decision| match (critical, prefs.quiet_until(now)) {
        (false, Some(until)) => Decision::Hold {
            until,
            reason: HoldReason::QuietHours,
        },
        _ => d,
    };
    match channel {
        Channel::InApp => Decision::Send,
        Channel::Push => match prefs.push {
            Push::None => Decision::SkipByPreference("push is off"),
            Push::Important if category == Category::Normal => {
                Decision::SkipByPreference("push is for important notifications only")
            }
            _ => quiet(Decision::Send),
        },
        Channel::Sms => match prefs.sms {
            Sms::None => Decision::SkipByPreference("SMS is off"),
            Sms::Critical if !critical => {
                Decision::SkipByPreference("SMS is for critical notifications only")
            }
            Sms::Critical => quiet(Decision::Send),
        },
        Channel::Email => match prefs.email {
            Email::None => Decision::SkipByPreference("email is off"),
            Email::All => Decision::Send,
            _ if critical => Decision::Send,
            Email::Daily => Decision::Hold {
                until: prefs.next_digest(false, now),
                reason: HoldReason::DigestDaily,
            },
            Email::Weekly => Decision::Hold {
                until: prefs.next_digest(true, now),
                reason: HoldReason::DigestWeekly,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn quiet_nairobi() -> Preferences {
        let mut p = Preferences::default();
        p.apply(&json!({"quiet_hours": {"start": "22:00", "end": "07:00"}, "time_zone": "Africa/Nairobi"}))
            .unwrap();
        p
    }

    #[test]
    fn quiet_hours_wrap_midnight_in_the_users_time_zone() {
        let p = quiet_nairobi();
        // 20:30 UTC is 23:30 in Nairobi (UTC+3): quiet until 07:00 local = 04:00 UTC next day.
        assert_eq!(
            p.quiet_until(at("2026-11-30T20:30:00Z")),
            Some(at("2026-12-01T04:00:00Z"))
        );
        // 02:00 UTC is 05:00 local: quiet until 04:00 UTC the same day.
        assert_eq!(
            p.quiet_until(at("2026-11-30T02:00:00Z")),
            Some(at("2026-11-30T04:00:00Z"))
        );
        // 12:00 UTC is 15:00 local: not quiet.
        assert_eq!(p.quiet_until(at("2026-11-30T12:00:00Z")), None);
    }

    #[test]
    fn quiet_hours_hold_a_like_but_not_a_payment_failure() {
        let p = quiet_nairobi();
        let night = at("2026-11-30T20:30:00Z");
        assert!(matches!(
            decide(
                &p,
                "social.post.liked",
                Category::Normal,
                Channel::Push,
                night
            ),
            Decision::Hold {
                reason: HoldReason::QuietHours,
                ..
            }
        ));
        assert_eq!(
            decide(
                &p,
                "social.post.liked",
                Category::Normal,
                Channel::InApp,
                night
            ),
            Decision::Send
        );
        assert_eq!(
            decide(
                &p,
                "payments.payment.failed",
                Category::Critical,
                Channel::Push,
                night
            ),
            Decision::Send
        );
        assert_eq!(
            decide(
                &p,
                "payments.payment.failed",
                Category::Critical,
                Channel::Sms,
                night
            ),
            Decision::Send
        );
    }

    #[test]
    fn each_channel_setting_applies() {
        let now = at("2026-11-30T12:00:00Z");
        let mut p = Preferences::default();
        p.apply(&json!({"push": "important", "sms": "critical", "email": "daily"}))
            .unwrap();
        assert!(matches!(
            decide(
                &p,
                "social.post.liked",
                Category::Normal,
                Channel::Push,
                now
            ),
            Decision::SkipByPreference(_)
        ));
        assert_eq!(
            decide(
                &p,
                "social.mention.created",
                Category::Important,
                Channel::Push,
                now
            ),
            Decision::Send
        );
        assert!(matches!(
            decide(
                &p,
                "events.event.cancelled",
                Category::Important,
                Channel::Sms,
                now
            ),
            Decision::SkipByPreference(_)
        ));
        assert_eq!(
            decide(
                &p,
                "commerce.order.placed",
                Category::Important,
                Channel::Email,
                now
            ),
            Decision::Hold {
                until: at("2026-12-01T08:00:00Z"),
                reason: HoldReason::DigestDaily
            }
        );
        // Critical bypasses the digest.
        assert_eq!(
            decide(
                &p,
                "payments.payment.succeeded",
                Category::Critical,
                Channel::Email,
                now
            ),
            Decision::Send
        );
        p.apply(&json!({"push": "none", "email": "none", "sms": "none"}))
            .unwrap();
        for c in [Channel::Push, Channel::Email, Channel::Sms] {
            assert!(matches!(
                decide(&p, "payments.payment.failed", Category::Critical, c, now),
                Decision::SkipByPreference(_)
            ));
        }
    }

    #[test]
    fn weekly_digests_go_out_on_monday_mornings_local_time() {
        let mut p = Preferences::default();
        p.apply(&json!({"email": "weekly", "time_zone": "Africa/Dar_es_Salaam"}))
            .unwrap();
        // Monday 2026-11-30 12:00 UTC → next Monday 2026-12-07 08:00 EAT = 05:00 UTC.
        assert_eq!(
            p.next_digest(true, at("2026-11-30T12:00:00Z")),
            at("2026-12-07T05:00:00Z")
        );
        // Before 08:00 local on a Monday: the same morning.
        assert_eq!(
            p.next_digest(true, at("2026-11-30T04:00:00Z")),
            at("2026-11-30T05:00:00Z")
        );
    }

    #[test]
    fn per_type_switches_and_their_limits() {
        let now = at("2026-11-30T12:00:00Z");
        let mut p = Preferences::default();
        p.apply(&json!({"types": {"social.post.liked": {"push": false}}}))
            .unwrap();
        assert!(matches!(
            decide(
                &p,
                "social.post.liked",
                Category::Normal,
                Channel::Push,
                now
            ),
            Decision::SkipByPreference(_)
        ));
        assert_eq!(
            decide(
                &p,
                "social.post.liked",
                Category::Normal,
                Channel::InApp,
                now
            ),
            Decision::Send
        );
        let err = p
            .apply(&json!({"types": {"payments.payment.failed": {"sms": false}}}))
            .unwrap_err();
        assert_eq!(err.field, "types.payments.payment.failed");
        let err = p
            .apply(&json!({"types": {"social.post.liked": {"fax": false}}}))
            .unwrap_err();
        assert_eq!(err.field, "types.social.post.liked.fax");
        assert_eq!(
            p.apply(&json!({"types": {"nope.nope": {}}}))
                .unwrap_err()
                .field,
            "types.nope.nope"
        );
        // A refused document changed nothing.
        assert_eq!(p.types.len(), 1);
    }

    #[test]
    fn bad_documents_name_the_field() {
        let mut p = Preferences::default();
        for (doc, field) in [
            (json!({"push": "loud"}), "push"),
            (json!({"email": 3}), "email"),
            (json!({"time_zone": "Mars/Olympus"}), "time_zone"),
            (
                json!({"quiet_hours": {"start": "25:00", "end": "07:00"}}),
                "quiet_hours.start",
            ),
            (
                json!({"quiet_hours": {"start": "07:00", "end": "07:00"}}),
                "quiet_hours",
            ),
            (json!({"quiet_hours": "night"}), "quiet_hours"),
            (json!({"volume": 11}), "volume"),
        ] {
            let mut copy = p.clone();
            assert_eq!(copy.apply(&doc).unwrap_err().field, field, "{doc}");
        }
        p.apply(&json!({"quiet_hours": null})).unwrap();
        assert_eq!(p, Preferences::default());
    }
}
