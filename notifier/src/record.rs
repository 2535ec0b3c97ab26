//! The consumer's work: one event in, its effects committed in one transaction (docs/notifications.md,
//! "Rules the notifier applies").

use std::sync::Arc;

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use nexgate_bus::consumer::Outcome;
use nexgate_events::catalogue::auth::AccountDeleted;
use nexgate_events::catalogue::social::PostDeleted;
use nexgate_events::catalogue::EventData;
use nexgate_events::envelope::Envelope;
use nexgate_events::sealed::{OpeningKeys, SEALED_FIELD};
use nexgate_notifications::preferences::{decide, Decision, Preferences};
use nexgate_notifications::templates::{self, Recipient, Template};
use nexgate_notifications::{Category, Channel};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::db::{Db, Pool, Tx};
use crate::directory::{Directory, Facts, Relation};
use crate::gateways::Gateways;

/// Distinct actors kept on a grouped notification.
const GROUP_ACTORS_MAX: i32 = 100;

pub struct Recorder {
    pub db: Pool,
    pub directory: Arc<Directory>,
    pub gateways: Arc<Gateways>,
    /// The private keys that open one-time secrets sealed to the notifier.
    pub opening_keys: Arc<OpeningKeys>,
}

impl Recorder {
    pub async fn handle(&self, body: &[u8]) -> Outcome {
        let mut envelope: Envelope = match serde_json::from_slice(body) {
            Ok(e) => e,
            Err(e) => {
                return Outcome::Refused {
                    status: 422,
                    answer: format!("not an event envelope: {e}"),
                };
            }
        };
        let Some(t) = nexgate_events::catalogue::find(&envelope.event_type) else {
            return Outcome::Refused {
                status: 422,
                answer: format!("`{}` is not in the events catalogue", envelope.event_type),
            };
        };
        // A one-time secret arrives sealed to our key (nexgate_events::sealed), never in clear;
        // it is opened here, in memory, for the message to render.
        if envelope.carries_secret() {
            if envelope.data.get(SEALED_FIELD).is_none() {
                return Outcome::Refused {
                    status: 422,
                    answer: format!(
                        "{} carries a one-time secret in clear; it must arrive sealed",
                        envelope.event_type
                    ),
                };
            }
            match self.opening_keys.open(&envelope.data) {
                Ok(opened) => envelope.data = opened,
                Err(e) => {
                    return Outcome::Refused {
                        status: 422,
                        answer: format!("{}: {e}", envelope.event_type),
                    }
                }
            }
        }
        if let Some(missing) = t
            .data_fields
            .iter()
            .find(|f| f.required && envelope.data.get(f.name).is_none())
        {
            return Outcome::Refused {
                status: 422,
                answer: format!(
                    "{} is missing required data field `{}`",
                    envelope.event_type, missing.name
                ),
            };
        }
        // The events that change what the directory says drop the cached copy first.
        if matches!(
            envelope.event_type.as_str(),
            "auth.contact.changed"
                | "profiles.block.created"
                | "profiles.profile.updated"
                | "auth.account.deleted"
        ) {
            for user in envelope.audience.iter().chain(envelope.actor.iter()) {
                self.directory.forget(*user).await;
            }
        }
        // Who the recipients are, from the core database (before the transaction).
        let facts = match self.facts(&envelope).await {
            Ok(f) => f,
            Err(e) => {
                return Outcome::Retry {
                    why: format!("directory: {e}"),
                }
            }
        };
        let mut db = self.db.get().await;
        let mut tries = 0;
        loop {
            tries += 1;
            match record(&mut db, &self.gateways, &envelope, &facts).await {
                Ok(()) => return Outcome::Done,
                // Two events of one group racing to open it, or a deadlock: the transaction
                // rolled back; run it again (the other one's row is now there to fold into).
                Err(e) if tries < 5 && is_conflict(&e) => continue,
                Err(e) => {
                    db.reset();
                    return Outcome::Retry {
                        why: format!("notifications database: {e}"),
                    };
                }
            }
        }
    }

    async fn facts(&self, e: &Envelope) -> Result<EventFacts> {
        let Some(t) = templates::template(&e.event_type) else {
            return Ok(EventFacts::default());
        };
        let mut out = EventFacts::default();
        if t.recipient == Recipient::EventAddress {
            return Ok(out);
        }
        for user in recipients(e, t) {
            out.recipients
                .push((user, self.directory.facts(user, e.actor, t.category).await?));
        }
        if let Some(actor) = e.actor {
            out.actor_card = self.directory.card(actor).await?;
        }
        Ok(out)
    }
}

/// A deleted account (docs/notifications.md, "Deleted accounts"): everything the notification
/// database holds about the user goes (its notifications with their deliveries and attempts,
/// deliveries addressed to it, preferences, push devices, reminders, digests, the cached card).
/// Notifications of other people that name it as an actor keep the name they were written with.
async fn erase_user(tx: &mut Tx<'_>, user: Uuid) -> Result<()> {
    const ERASE: [&str; 7] = [
        "DELETE FROM notifications.items WHERE user_id = $1",
        "DELETE FROM notifications.deliveries WHERE user_id = $1",
        "DELETE FROM notifications.preferences WHERE user_id = $1",
        "DELETE FROM notifications.push_devices WHERE user_id = $1",
        "DELETE FROM notifications.scheduled WHERE user_id = $1",
        "DELETE FROM notifications.digests WHERE user_id = $1",
        "DELETE FROM notifications.people WHERE user_id = $1",
    ];
    for sql in ERASE {
        tx.execute(sql, &[&user]).await?;
    }
    Ok(())
}

/// A unique violation, serialization failure or deadlock: worth running the transaction again.
fn is_conflict(e: &anyhow::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.downcast_ref::<tokio_postgres::Error>()
        .and_then(|e| e.code())
        .is_some_and(|c| {
            *c == SqlState::UNIQUE_VIOLATION
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
        })
}

/// The audience, each once; without the actor for what someone does to others ("liked your
/// post": liking your own post tells you nothing), with them for what concerns them (a welcome,
/// a new sign-in).
fn recipients(e: &Envelope, t: &Template) -> Vec<Uuid> {
    let mut r: Vec<Uuid> = e
        .audience
        .iter()
        .copied()
        .filter(|u| t.action.is_none() || Some(*u) != e.actor)
        .collect();
    r.sort();
    r.dedup();
    r
}

#[derive(Default)]
struct EventFacts {
    recipients: Vec<(Uuid, Facts)>,
    actor_card: Option<crate::directory::Card>,
}

/// Everything one event causes, in one transaction.
async fn record(db: &mut Db, gateways: &Gateways, e: &Envelope, facts: &EventFacts) -> Result<()> {
    let mut tx = db.transaction().await?;
    let template = templates::template(&e.event_type);
    let (outcome, detail) = match template {
        _ if e.event_type == AccountDeleted::TYPE.name => ("skipped", Some("account erased")),
        _ if e.event_type == PostDeleted::TYPE.name => {
            ("skipped", Some("post's notifications removed"))
        }
        Some(t) if t.recipient != Recipient::EventAddress && e.audience.is_empty() => {
            ("skipped", Some("empty audience"))
        }
        Some(_) => ("notified", None),
        None => ("skipped", Some("no template")),
    };
    let first = tx
        .execute(
            "INSERT INTO notifications.processed_events (event_id, event_type, outcome, detail) VALUES ($1, $2, $3, $4)
             ON CONFLICT (event_id) DO NOTHING",
            &[&e.id, &e.event_type, &outcome, &detail],
        )
        .await?;
    if first == 0 {
        // Seen before: its effects are already committed.
        tx.commit().await?;
        return Ok(());
    }
    if let Some(deleted) = e.data_as::<AccountDeleted>() {
        erase_user(&mut tx, deleted.user_id).await?;
        tx.commit().await?;
        return Ok(());
    }
    if let Some(deleted) = e.data_as::<PostDeleted>() {
        // A deleted post's notifications (likes, comments, reposts, mentions, invitations) go,
        // with their pending deliveries (docs/notifications.md, "Deleted posts").
        tx.execute(
            "DELETE FROM notifications.items WHERE event_type LIKE 'social.%' AND data->>'post_id' = $1",
            &[&deleted.post_id.to_string()],
        )
        .await?;
        tx.commit().await?;
        return Ok(());
    }
    let Some(t) = template.filter(|_| outcome == "notified") else {
        tx.commit().await?;
        return Ok(());
    };
    let now = Utc::now();
    if let (Some(actor), Some(card)) = (e.actor, &facts.actor_card) {
        tx.execute(
            "INSERT INTO notifications.people (user_id, username, display_name) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE SET username = EXCLUDED.username, display_name = EXCLUDED.display_name, refreshed_at = now()
             WHERE people.username IS DISTINCT FROM EXCLUDED.username OR people.display_name IS DISTINCT FROM EXCLUDED.display_name",
            &[&actor, &card.username, &card.display_name],
        )
        .await?;
    }
    let notice = Notice {
        template: t,
        event_id: e.id,
        data: &e.data,
        actor: e.actor,
    };
    match t.recipient {
        Recipient::EventAddress => {
            let user = e.audience.first().copied().unwrap_or(Uuid::nil());
            to_event_address(
                &mut tx,
                gateways,
                &notice,
                user,
                "address",
                e.carries_secret(),
            )
            .await?;
        }
        Recipient::Audience | Recipient::AudienceAndOldAddress => {
            for (user, f) in &facts.recipients {
                notify(&mut tx, gateways, &notice, *user, f, now).await?;
            }
            if t.recipient == Recipient::AudienceAndOldAddress {
                let user = e.audience.first().copied().unwrap_or(Uuid::nil());
                to_event_address(&mut tx, gateways, &notice, user, "old_address", false).await?;
            }
        }
    }
    schedule_reminders(&mut tx, e, &facts.recipients, now).await?;
    tx.commit().await?;
    Ok(())
}

/// One notification for one recipient, from an event or a fired reminder.
pub struct Notice<'a> {
    pub template: &'static Template,
    pub event_id: Uuid,
    pub data: &'a Value,
    pub actor: Option<Uuid>,
}

/// A delivery row to write.
#[derive(Default)]
pub struct NewDelivery<'a> {
    pub item: Option<Uuid>,
    pub user: Uuid,
    pub event_id: Uuid,
    pub channel: &'a str,
    pub status: &'a str,
    pub address: Option<&'a str>,
    pub message: Option<Value>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub hold_reason: Option<&'a str>,
    pub note: Option<&'a str>,
    pub category: &'a str,
}

pub async fn insert_delivery(tx: &mut Tx<'_>, d: NewDelivery<'_>) -> Result<Uuid> {
    let id = Uuid::now_v7();
    let attempts: i32 = if d.status == "delivered" { 1 } else { 0 };
    tx.execute(
        "INSERT INTO notifications.deliveries
             (id, item_id, user_id, event_id, channel, status, attempts, address, message, next_attempt_at, hold_reason, last_error, category)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &id, &d.item, &d.user, &d.event_id, &d.channel, &d.status, &attempts, &d.address,
            &d.message, &d.next_attempt_at, &d.hold_reason, &d.note, &d.category,
        ],
    )
    .await?;
    Ok(id)
}

/// A notice to the address the event names (`data.<field>` over `data.channel`), regardless of
/// preferences and quiet hours. A secret in it is erased from the row once it was sent.
async fn to_event_address(
    tx: &mut Tx<'_>,
    gateways: &Gateways,
    n: &Notice<'_>,
    user: Uuid,
    field: &str,
    secret: bool,
) -> Result<()> {
    let Some(address) = n
        .data
        .get(field)
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    else {
        return Ok(());
    };
    let channel = match n.data.get("channel").and_then(Value::as_str) {
        Some("phone") => Channel::Sms,
        _ => Channel::Email,
    };
    let t = n.template;
    let configured = gateways.configured(channel);
    insert_delivery(
        tx,
        NewDelivery {
            user,
            event_id: n.event_id,
            channel: channel.as_str(),
            status: if configured { "queued" } else { "skipped" },
            address: Some(address),
            message: Some(json!({
                "title": t.title,
                "body": templates::render(t.body, n.data),
                "data": { "type": t.event_type },
                "secret": secret,
            })),
            next_attempt_at: configured.then(Utc::now),
            note: (!configured).then_some("channel not configured"),
            category: t.category.as_str(),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// A user's preferences as stored (the defaults when none are).
pub async fn preferences(tx: &mut Tx<'_>, user: Uuid) -> Result<Preferences> {
    let row = tx
        .query_opt(
            "SELECT push, email, sms, quiet_start_minute::int, quiet_end_minute::int, time_zone, types
             FROM notifications.preferences WHERE user_id = $1",
            &[&user],
        )
        .await?;
    Ok(match row {
        None => Preferences::default(),
        Some(r) => Preferences::from_columns(
            r.get(0),
            r.get(1),
            r.get(2),
            r.get(3),
            r.get(4),
            r.get(5),
            &r.get::<_, Value>(6),
        ),
    })
}

/// Applies the recipient's preferences to one notice: the in-app row at once, and a delivery row
/// per channel (queued, held, or skipped with the reason).
pub async fn notify(
    tx: &mut Tx<'_>,
    gateways: &Gateways,
    n: &Notice<'_>,
    user: Uuid,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Result<()> {
    let t = n.template;
    if facts.relation != Relation::Normal && t.category != Category::Critical {
        let note = if facts.relation == Relation::Muted {
            "the recipient muted the actor"
        } else {
            "blocked"
        };
        let skipped = NewDelivery {
            channel: "in_app",
            status: "skipped",
            note: Some(note),
            ..NewDelivery::of(n, user)
        };
        insert_delivery(tx, skipped).await?;
        return Ok(());
    }
    let prefs = preferences(tx, user).await?;
    let title = templates::render(t.title, n.data);
    let body = templates::render(t.body, n.data);
    let item = if t.channels.contains(&Channel::InApp) {
        in_app(tx, n, user, &prefs, (&title, &body), now).await?
    } else {
        None
    };
    let fanout = Fanout {
        gateways,
        n,
        user,
        facts,
        prefs: &prefs,
        item,
        message: json!({
            "title": title,
            "body": body,
            "data": {
                "type": t.event_type,
                "notification_id": item,
                "event_id": n.event_id,
            },
        }),
        now,
    };
    for &channel in t.channels.iter().filter(|c| **c != Channel::InApp) {
        fanout.queue(tx, channel).await?;
    }
    Ok(())
}

impl<'a> NewDelivery<'a> {
    /// A delivery of notice `n` to `user`; the caller fills channel and status.
    fn of(n: &Notice<'_>, user: Uuid) -> Self {
        NewDelivery {
            user,
            event_id: n.event_id,
            category: n.template.category.as_str(),
            ..Default::default()
        }
    }
}

/// The in-app notification, unless the recipient's preferences skip it; its id.
async fn in_app(
    tx: &mut Tx<'_>,
    n: &Notice<'_>,
    user: Uuid,
    prefs: &Preferences,
    (title, body): (&str, &str),
    now: DateTime<Utc>,
) -> Result<Option<Uuid>> {
    let t = n.template;
    if let Decision::SkipByPreference(why) =
        decide(prefs, t.event_type, t.category, Channel::InApp, now)
    {
        let skipped = NewDelivery {
            channel: "in_app",
            status: "skipped_by_preference",
            note: Some(why),
            ..NewDelivery::of(n, user)
        };
        insert_delivery(tx, skipped).await?;
        return Ok(None);
    }
    let id = upsert_item(tx, n, user, title, body).await?;
    let delivered = NewDelivery {
        item: Some(id),
        channel: "in_app",
        status: "delivered",
        ..NewDelivery::of(n, user)
    };
    insert_delivery(tx, delivered).await?;
    Ok(Some(id))
}

/// One notice to one recipient, queued on the outside channels (push, email, SMS).
struct Fanout<'a> {
    gateways: &'a Gateways,
    n: &'a Notice<'a>,
    user: Uuid,
    facts: &'a Facts,
    prefs: &'a Preferences,
    item: Option<Uuid>,
    message: Value,
    now: DateTime<Utc>,
}

impl Fanout<'_> {
    /// Queues (or holds, for quiet hours) one delivery per address on `channel`, or records why
    /// nothing is sent.
    async fn queue(&self, tx: &mut Tx<'_>, channel: Channel) -> Result<()> {
        let t = self.n.template;
        let skipped = |status, note| NewDelivery {
            item: self.item,
            channel: channel.as_str(),
            status,
            note: Some(note),
            ..NewDelivery::of(self.n, self.user)
        };
        if !self.gateways.configured(channel) {
            insert_delivery(tx, skipped("skipped", "channel not configured")).await?;
            return Ok(());
        }
        let decision = decide(self.prefs, t.event_type, t.category, channel, self.now);
        if let Decision::SkipByPreference(why) = decision {
            insert_delivery(tx, skipped("skipped_by_preference", why)).await?;
            return Ok(());
        }
        let addresses = self.addresses(tx, channel).await?;
        if addresses.is_empty() {
            let note = match channel {
                Channel::Email => "no verified email",
                Channel::Sms => "no verified phone",
                _ => "no push device",
            };
            insert_delivery(tx, skipped("skipped", note)).await?;
            return Ok(());
        }
        let (status, at, hold) = match decision {
            Decision::Hold { until, reason } => ("held", until, Some(reason.as_str())),
            _ => ("queued", self.now, None),
        };
        for address in &addresses {
            let queued = NewDelivery {
                item: self.item,
                channel: channel.as_str(),
                status,
                address: Some(address),
                message: Some(self.message.clone()),
                next_attempt_at: Some(at),
                hold_reason: hold,
                ..NewDelivery::of(self.n, self.user)
            };
            insert_delivery(tx, queued).await?;
        }
        Ok(())
    }

    /// Where `channel` reaches the recipient: verified email or phone, or push devices.
    async fn addresses(&self, tx: &mut Tx<'_>, channel: Channel) -> Result<Vec<String>> {
        let contact = &self.facts.contact;
        Ok(match channel {
            Channel::Email => contact.email.iter().cloned().collect(),
            Channel::Sms => contact.phone.iter().cloned().collect(),
            Channel::Push => tx
                .query(
                    "SELECT device_id FROM notifications.push_devices WHERE user_id = $1 ORDER BY device_id",
                    &[&self.user],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect(),
            Channel::InApp => Vec::new(),
        })
    }
}

/// Folds the notice into the recipient's unread group of the same key (within a day), or writes
/// a new notification.
async fn upsert_item(
    tx: &mut Tx<'_>,
    n: &Notice<'_>,
    user: Uuid,
    title: &str,
    body: &str,
) -> Result<Uuid> {
    let t = n.template;
    let actors: Vec<Uuid> = n.actor.into_iter().collect();
    let group_key = t.group_by.and_then(|f| n.data.get(f)).map(|v| {
        format!(
            "{}:{}",
            t.event_type,
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        )
    });
    if let Some(key) = &group_key {
        let folded = tx
            .query_opt(
                "UPDATE notifications.items SET
                     actors = CASE WHEN $3::uuid[] <@ actors OR cardinality(actors) >= $8 THEN actors ELSE actors || $3::uuid[] END,
                     title = $4, body = $5, data = $6, event_id = $7, updated_at = now(), seen_at = NULL
                 WHERE user_id = $1 AND group_key = $2 AND read_at IS NULL AND created_at > now() - interval '1 day'
                 RETURNING id",
                &[&user, key, &actors, &title, &body, n.data, &n.event_id, &GROUP_ACTORS_MAX],
            )
            .await?;
        if let Some(row) = folded {
            return Ok(row.get(0));
        }
        // An unread group older than a day stays as it is; a new one starts. Only such an old
        // group is let go: a fresh one another worker committed meanwhile makes the insert
        // below conflict, and the retry folds into it.
        tx.execute(
            "UPDATE notifications.items SET group_key = NULL
             WHERE user_id = $1 AND group_key = $2 AND read_at IS NULL AND created_at <= now() - interval '1 day'",
            &[&user, key],
        )
        .await?;
    }
    let id = Uuid::now_v7();
    tx.execute(
        "INSERT INTO notifications.items (id, user_id, event_type, category, group_key, actors, title, body, data, event_id, action)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &id, &user, &t.event_type, &t.category.as_str(), &group_key, &actors, &title, &body,
            n.data, &n.event_id, &t.action,
        ],
    )
    .await?;
    Ok(id)
}

fn rfc3339(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v.and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Amounts in minor units as people read them.
fn major(amount: i64, currency: &str) -> String {
    let exponent = match currency {
        "UGX" | "RWF" | "BIF" | "JPY" | "KRW" => 0,
        _ => 2,
    };
    if exponent == 0 {
        return amount.to_string();
    }
    let sign = if amount < 0 { "-" } else { "" };
    let a = amount.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// Cancels the pending event reminders of `data.event_id`: of the user in `data[user_field]`,
/// or of everyone.
async fn cancel_event_reminders(
    tx: &mut Tx<'_>,
    data: &Value,
    user_field: Option<&str>,
) -> Result<()> {
    let event = data["event_id"].as_str().unwrap_or_default();
    let user = user_field
        .and_then(|f| data[f].as_str())
        .and_then(|u| Uuid::parse_str(u).ok());
    tx.execute(
        "UPDATE notifications.scheduled SET cancelled_at = now()
         WHERE subject = $1 AND kind IN ('event_reminder_24h', 'event_reminder_1h')
           AND ($2::uuid IS NULL OR user_id = $2) AND fired_at IS NULL AND cancelled_at IS NULL",
        &[&event, &user],
    )
    .await?;
    Ok(())
}

/// Reminders the event asks for: tickets (T-24h, T-1h before `starts_at`), installments (a day
/// before `due_at`); a cancelled event cancels its pending reminders.
async fn schedule_reminders(
    tx: &mut Tx<'_>,
    e: &Envelope,
    recipients: &[(Uuid, Facts)],
    now: DateTime<Utc>,
) -> Result<()> {
    let mut plans: Vec<(&str, &str, DateTime<Utc>, Value)> = Vec::new();
    match e.event_type.as_str() {
        "events.ticket.purchased" | "events.ticket.transferred" => {
            if let Some(starts) = rfc3339(e.data.get("starts_at")) {
                let subject = e.data["event_id"].as_str().unwrap_or_default();
                for (kind, before) in [
                    ("event_reminder_24h", Duration::hours(24)),
                    ("event_reminder_1h", Duration::hours(1)),
                ] {
                    if starts - before > now {
                        plans.push((kind, subject, starts - before, e.data.clone()));
                    }
                }
            }
            if e.event_type == "events.ticket.transferred"
                && e.data["sender_still_attending"] == Value::Bool(false)
            {
                cancel_event_reminders(tx, &e.data, Some("from_id")).await?;
            }
        }
        "commerce.installment.scheduled" => {
            if let Some(due) = rfc3339(e.data.get("due_at")).filter(|d| *d > now) {
                let mut data = e.data.clone();
                data["amount_major"] = Value::String(major(
                    e.data["amount"].as_i64().unwrap_or(0),
                    e.data["currency"].as_str().unwrap_or(""),
                ));
                let subject = e.data["installment_id"].as_str().unwrap_or_default();
                plans.push((
                    "installment_reminder",
                    subject,
                    (due - Duration::hours(24)).max(now),
                    data,
                ));
            }
        }
        "events.ticket.revoked" if e.data["holder_still_attending"] == Value::Bool(false) => {
            cancel_event_reminders(tx, &e.data, Some("holder_id")).await?;
        }
        "events.event.rescheduled" => {
            if let Some(starts) = rfc3339(e.data.get("starts_at")) {
                tx.execute(
                    "UPDATE notifications.scheduled SET
                         fire_at = $2::timestamptz - CASE kind WHEN 'event_reminder_24h' THEN interval '24 hours' ELSE interval '1 hour' END,
                         fired_at = NULL
                     WHERE subject = $1 AND kind IN ('event_reminder_24h', 'event_reminder_1h') AND cancelled_at IS NULL
                       AND $2::timestamptz - CASE kind WHEN 'event_reminder_24h' THEN interval '24 hours' ELSE interval '1 hour' END > now()",
                    &[&e.data["event_id"].as_str().unwrap_or_default(), &starts],
                )
                .await?;
            }
        }
        "events.event.cancelled" => cancel_event_reminders(tx, &e.data, None).await?,
        _ => {}
    }
    for (user, _) in recipients {
        for (kind, subject, at, data) in &plans {
            tx.execute(
                "INSERT INTO notifications.scheduled (id, user_id, kind, subject, source_event_id, fire_at, data)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (user_id, kind, subject) DO UPDATE SET fire_at = EXCLUDED.fire_at, data = EXCLUDED.data
                 WHERE scheduled.fired_at IS NULL",
                &[&Uuid::now_v7(), user, kind, subject, &e.id, at, data],
            )
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_in_major_units() {
        assert_eq!(major(150_050, "KES"), "1500.50");
        assert_eq!(major(5, "TZS"), "0.05");
        assert_eq!(major(20_000, "UGX"), "20000");
    }
}
