//! What each event type becomes (docs/notifications.md, "Triggers"): its category, default
//! channels, what similar notifications group by, and the text. A type without a template is acked
//! and recorded as skipped. `reminders.*` are the notifier's own scheduled notifications.

use serde_json::Value;

use crate::{Category, Channel};

/// Who a notification goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    /// The envelope's audience, by their preferences.
    Audience,
    /// Only the address the event names (`data.address` over `data.channel`), regardless of
    /// preferences and quiet hours: one-time secrets and notices to an address. No in-app copy.
    EventAddress,
    /// The audience, and a notice to `data.old_address` (over `data.channel`) when present.
    AudienceAndOldAddress,
}

/// How one type is notified.
#[derive(Debug)]
pub struct Template {
    pub event_type: &'static str,
    pub category: Category,
    /// The channels this type uses by default (preferences may turn them off).
    pub channels: &'static [Channel],
    /// The data field similar notifications group by (with the type), if any.
    pub group_by: Option<&'static str>,
    /// What the grouped line says after the actors: "Amina and 4 others liked your post".
    pub action: Option<&'static str>,
    pub title: &'static str,
    /// The body; `{field}` is replaced by that data field.
    pub body: &'static str,
    pub recipient: Recipient,
}

/// Every template.
pub const TEMPLATES: &[Template] = &[
    Template {
        event_type: "auth.identity.linked",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Email],
        group_by: None,
        action: None,
        title: "Sign-in method added",
        body: "You can now sign in with {provider}. If this was not you, change your password and contact us.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "auth.identity.unlinked",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Email],
        group_by: None,
        action: None,
        title: "Sign-in method removed",
        body: "You can no longer sign in with {provider}. If this was not you, change your password and contact us.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "files.file.failed",
        category: Category::Important,
        channels: &[Channel::InApp],
        group_by: None,
        action: None,
        title: "Upload failed",
        body: "{reason}",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "payments.dispute.opened",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Push, Channel::Email],
        group_by: None,
        action: None,
        title: "Dispute opened",
        body: "A payment is on hold while a dispute is resolved: {reason}",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "payments.payment.returned",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Push, Channel::Sms],
        group_by: None,
        action: None,
        title: "Payment returned",
        body: "Your payment arrived after the order was closed ({why}); it is on its way back to you.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "commerce.order.cancelled",
        category: Category::Important,
        channels: &[Channel::InApp, Channel::Push, Channel::Email],
        group_by: None,
        action: None,
        title: "Order cancelled",
        body: "An order was cancelled (by the {cancelled_by}).",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "auth.account.created",
        category: Category::Important,
        channels: &[Channel::InApp, Channel::Email],
        group_by: None,
        action: None,
        title: "Welcome to Nexgate",
        body: "Your account is ready.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "auth.verification_code.issued",
        category: Category::Critical,
        channels: &[],
        group_by: None,
        action: None,
        title: "Your Nexgate code",
        body: "Your Nexgate code is {code}. It expires at {expires_at}. Never share it.",
        recipient: Recipient::EventAddress,
    },
    Template {
        event_type: "auth.registration.address_in_use",
        category: Category::Critical,
        channels: &[],
        group_by: None,
        action: None,
        title: "Sign-up attempt",
        body: "Someone tried to register a new Nexgate account with {address}, which is already yours. If it was you, sign in instead; otherwise you can ignore this.",
        recipient: Recipient::EventAddress,
    },
    Template {
        event_type: "auth.password_reset.requested",
        category: Category::Critical,
        channels: &[],
        group_by: None,
        action: None,
        title: "Reset your password",
        body: "Reset your Nexgate password with this link (valid until {expires_at}): {link}",
        recipient: Recipient::EventAddress,
    },
    Template {
        event_type: "auth.contact.changed",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Email],
        group_by: None,
        action: None,
        title: "Contact changed",
        body: "Your sign-in {channel} was changed.",
        recipient: Recipient::AudienceAndOldAddress,
    },
    Template {
        event_type: "auth.login.new_device",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Push, Channel::Email],
        group_by: None,
        action: None,
        title: "New sign-in",
        body: "Your account was used on a new device.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "auth.suspicious_activity.detected",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Push, Channel::Email, Channel::Sms],
        group_by: None,
        action: None,
        title: "Suspicious activity",
        body: "We noticed unusual activity on your account.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "auth.password.changed",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Email],
        group_by: None,
        action: None,
        title: "Password changed",
        body: "Your password was changed.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "auth.mfa.enabled",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Email],
        group_by: None,
        action: None,
        title: "Two-step verification on",
        body: "Two-step verification is now on.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "auth.mfa.recovery_codes_regenerated",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Email],
        group_by: None,
        action: None,
        title: "New recovery codes",
        body: "New two-step verification recovery codes were made; the old ones no longer work.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "auth.mfa.disabled",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Email],
        group_by: None,
        action: None,
        title: "Two-step verification off",
        body: "Two-step verification was turned off.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "profiles.follow.created",
        category: Category::Normal,
        channels: &[Channel::InApp, Channel::Push],
        group_by: Some("followee_id"),
        action: Some("started following you"),
        title: "New follower",
        body: "Someone started following you.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "profiles.follow_request.created",
        category: Category::Normal,
        channels: &[Channel::InApp, Channel::Push],
        group_by: Some("target_id"),
        action: Some("asked to follow you"),
        title: "Follow request",
        body: "Someone asked to follow you.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "profiles.follow_request.approved",
        category: Category::Normal,
        channels: &[Channel::InApp, Channel::Push],
        group_by: None,
        action: Some("approved your follow request"),
        title: "Request approved",
        body: "Your follow request was approved.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "social.mention.created",
        category: Category::Important,
        channels: &[Channel::InApp, Channel::Push],
        group_by: None,
        action: Some("mentioned you"),
        title: "You were mentioned",
        body: "Someone mentioned you in a {context}.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "profiles.mention.created",
        category: Category::Important,
        channels: &[Channel::InApp, Channel::Push],
        group_by: None,
        action: Some("mentioned you"),
        title: "You were mentioned",
        body: "Someone mentioned you in their {context}.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "dm.message.created",
        category: Category::Important,
        channels: &[Channel::Push],
        group_by: Some("conversation_id"),
        action: Some("sent you messages"),
        title: "New message",
        body: "{preview}",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "dm.reaction.created",
        category: Category::Normal,
        channels: &[Channel::Push],
        group_by: Some("message_id"),
        action: Some("reacted to your message"),
        title: "New reaction",
        body: "Someone reacted {emoji} to your message.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "commerce.order.placed",
        category: Category::Important,
        channels: &[Channel::InApp, Channel::Push, Channel::Email],
        group_by: None,
        action: None,
        title: "Order placed",
        body: "Order {order_id} was placed.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "commerce.order.shipped",
        category: Category::Important,
        channels: &[Channel::InApp, Channel::Push],
        group_by: None,
        action: None,
        title: "Order shipped",
        body: "Your order {order_id} is on its way.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "commerce.order.delivered",
        category: Category::Important,
        channels: &[Channel::InApp, Channel::Push],
        group_by: None,
        action: None,
        title: "Order delivered",
        body: "Order {order_id} was delivered.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "commerce.price.dropped",
        category: Category::Normal,
        channels: &[Channel::InApp, Channel::Push],
        group_by: None,
        action: None,
        title: "Price drop",
        body: "Something on your wishlist now costs less.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "commerce.seller_verification.decided",
        category: Category::Important,
        channels: &[Channel::InApp, Channel::Email],
        group_by: None,
        action: None,
        title: "Business verification",
        body: "Your request for business verification was {decision}: {reason}",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "commerce.stock.restocked",
        category: Category::Normal,
        channels: &[Channel::InApp, Channel::Push],
        group_by: None,
        action: None,
        title: "Back in stock",
        body: "Something on your wishlist is back in stock.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "commerce.review.created",
        category: Category::Normal,
        channels: &[Channel::InApp, Channel::Push],
        group_by: Some("seller_id"),
        action: Some("reviewed your shop"),
        title: "New review",
        body: "Your shop received a review.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "commerce.group_buy.progressed",
        category: Category::Normal,
        channels: &[Channel::InApp, Channel::Push],
        group_by: Some("group_buy_id"),
        action: Some("joined your group buy"),
        title: "Group buy",
        body: "{participants} of {target} have joined.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "commerce.installment.scheduled",
        category: Category::Important,
        channels: &[Channel::InApp],
        group_by: None,
        action: None,
        title: "Installment scheduled",
        body: "An installment is due on {due_at}.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "events.ticket.purchased",
        category: Category::Important,
        channels: &[Channel::InApp, Channel::Email],
        group_by: None,
        action: None,
        title: "Ticket confirmed",
        body: "Your ticket is ready.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "events.event.cancelled",
        category: Category::Important,
        channels: &[Channel::InApp, Channel::Push, Channel::Email],
        group_by: None,
        action: None,
        title: "Event cancelled",
        body: "An event you have a ticket for was cancelled.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "events.ticket.transferred",
        category: Category::Important,
        channels: &[Channel::InApp, Channel::Push],
        group_by: None,
        action: None,
        title: "Ticket received",
        body: "A ticket was transferred to you.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "events.ticket.revoked",
        category: Category::Important,
        channels: &[Channel::InApp, Channel::Email],
        group_by: None,
        action: None,
        title: "Ticket refunded",
        body: "Your ticket was refunded and no longer admits.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "events.event.rescheduled",
        category: Category::Important,
        channels: &[Channel::InApp, Channel::Push, Channel::Email],
        group_by: None,
        action: None,
        title: "Event rescheduled",
        body: "An event you have a ticket for has new dates.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "events.ticket.checked_in",
        category: Category::Normal,
        channels: &[Channel::InApp, Channel::Push],
        group_by: None,
        action: None,
        title: "Checked in",
        body: "Your ticket was checked in.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "events.event.starting_soon",
        category: Category::Important,
        channels: &[Channel::Push],
        group_by: None,
        action: None,
        title: "Starting soon",
        body: "Your event starts at {starts_at}.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "social.post.liked",
        category: Category::Normal,
        channels: &[Channel::InApp, Channel::Push],
        group_by: Some("post_id"),
        action: Some("liked your post"),
        title: "New like",
        body: "Someone liked your post.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "social.comment.created",
        category: Category::Normal,
        channels: &[Channel::InApp, Channel::Push],
        group_by: Some("post_id"),
        action: Some("commented on your post"),
        title: "New comment",
        body: "{preview}",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "social.post.reposted",
        category: Category::Normal,
        channels: &[Channel::InApp, Channel::Push],
        group_by: Some("post_id"),
        action: Some("reposted your post"),
        title: "New repost",
        body: "Someone reposted your post.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "social.shop.mentioned",
        category: Category::Normal,
        channels: &[Channel::InApp, Channel::Push],
        group_by: Some("shop_id"),
        action: Some("mentioned your shop"),
        title: "Shop mentioned",
        body: "Your shop was mentioned in a post.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "social.poll.ended",
        category: Category::Normal,
        channels: &[Channel::InApp, Channel::Push],
        group_by: None,
        action: None,
        title: "Poll ended",
        body: "A poll has ended: see the results.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "social.collaboration.invited",
        category: Category::Important,
        channels: &[Channel::InApp, Channel::Push],
        group_by: None,
        action: Some("invited you to co-author a post"),
        title: "Collaboration invite",
        body: "You were invited to co-author a post.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "payments.payment.succeeded",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Push, Channel::Email],
        group_by: None,
        action: None,
        title: "Payment successful",
        body: "Receipt {receipt_number}.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "payments.payment.failed",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Push, Channel::Sms],
        group_by: None,
        action: None,
        title: "Payment failed",
        body: "{reason}",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "payments.payment.received",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Push],
        group_by: None,
        action: None,
        title: "Payment received",
        body: "A buyer paid; the money is held until release.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "payments.escrow.released",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Push, Channel::Email],
        group_by: None,
        action: None,
        title: "Money released",
        body: "Funds were added to your balance.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "payments.refund.processed",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Push, Channel::Email],
        group_by: None,
        action: None,
        title: "Refund processed",
        body: "A refund was sent.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "payments.payout.sent",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Push, Channel::Sms],
        group_by: None,
        action: None,
        title: "Payout sent",
        body: "Your payout is on its way.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "payments.payout.failed",
        category: Category::Critical,
        channels: &[Channel::InApp, Channel::Push, Channel::Sms],
        group_by: None,
        action: None,
        title: "Payout failed",
        body: "{reason}",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "reminders.event_24h",
        category: Category::Important,
        channels: &[Channel::InApp, Channel::Push],
        group_by: None,
        action: None,
        title: "Tomorrow",
        body: "Your event starts at {starts_at}.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "reminders.event_1h",
        category: Category::Important,
        channels: &[Channel::InApp, Channel::Push],
        group_by: None,
        action: None,
        title: "In an hour",
        body: "Your event starts at {starts_at}.",
        recipient: Recipient::Audience,
    },
    Template {
        event_type: "reminders.installment",
        category: Category::Important,
        channels: &[Channel::InApp, Channel::Push],
        group_by: None,
        action: None,
        title: "Installment due",
        body: "An installment of {amount_major} {currency} is due on {due_at}.",
        recipient: Recipient::Audience,
    },
];

/// The template of `event_type`, if it notifies.
pub fn template(event_type: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.event_type == event_type)
}

/// `{field}` replaced by the data field's text (strings as they are, numbers as digits).
pub fn render(text: &str, data: &Value) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                let field = &after[..end];
                match data.get(field) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(Value::Null) | None => {}
                    Some(other) => out.push_str(&other.to_string()),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_filled_in() {
        assert_eq!(
            render(
                "{participants} of {target} have joined.",
                &json!({"participants": 4, "target": 10})
            ),
            "4 of 10 have joined."
        );
        assert_eq!(render("Hi {missing}!", &json!({})), "Hi !");
        assert_eq!(render("no braces", &json!({})), "no braces");
    }

    #[test]
    fn every_template_is_a_catalogued_type_with_the_fields_it_uses() {
        for tpl in TEMPLATES {
            if tpl.event_type.starts_with("reminders.") {
                continue;
            }
            let t = nexgate_events::catalogue::find(tpl.event_type)
                .unwrap_or_else(|| panic!("{} is not catalogued", tpl.event_type));
            if let Some(g) = tpl.group_by {
                assert!(
                    t.data_fields.iter().any(|f| f.name == g),
                    "{}: no field {g}",
                    t.name
                );
            }
            // Secret-carrying types go only to the address the event names.
            assert_eq!(
                t.carries_secret,
                tpl.recipient == Recipient::EventAddress
                    && tpl.channels.is_empty()
                    && t.name != "auth.registration.address_in_use",
                "{}",
                t.name
            );
            if tpl.category == Category::Critical {
                assert!(
                    tpl.group_by.is_none(),
                    "{}: critical ones are never folded",
                    t.name
                );
            }
        }
        assert!(template("profiles.profile.updated").is_none());
    }

    /// docs/notifications.md's trigger table says what the templates do.
    #[test]
    fn the_documented_table_matches_the_templates() {
        let doc = include_str!("../../../docs/notifications.md");
        for t in TEMPLATES {
            let row = doc
                .lines()
                .find(|l| l.contains(&format!("| `{}` |", t.event_type)))
                .unwrap_or_else(|| panic!("{} is not in the table", t.event_type));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            assert_eq!(cells[3], t.category.as_str(), "{}", t.event_type);
            if t.recipient != Recipient::EventAddress {
                let letters: Vec<&str> = t
                    .channels
                    .iter()
                    .map(|c| match c {
                        Channel::InApp => "I",
                        Channel::Push => "P",
                        Channel::Email => "E",
                        Channel::Sms => "S",
                    })
                    .collect();
                assert!(
                    cells[4].starts_with(&letters.join(", ")),
                    "{}: {}",
                    t.event_type,
                    cells[4]
                );
            }
            assert_eq!(cells[5], t.group_by.unwrap_or(""), "{}", t.event_type);
        }
    }

    #[test]
    fn type_names_are_unique() {
        let mut names: Vec<&str> = TEMPLATES.iter().map(|t| t.event_type).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TEMPLATES.len());
    }
}
