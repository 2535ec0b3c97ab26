//! What each event type becomes in the notification centre (docs/notifications.md, "Triggers"):
//! its category, what similar notifications group by, and the in-app text. A type without a
//! template here is acked and recorded as skipped.

use serde_json::Value;

/// How one type is notified.
pub struct Template {
    pub category: &'static str,
    /// The data field similar notifications group by (with the type), if any.
    pub group_by: Option<&'static str>,
    pub title: &'static str,
    /// The body; `{field}` is replaced by that data field.
    pub body: &'static str,
}

const fn t(
    category: &'static str,
    group_by: Option<&'static str>,
    title: &'static str,
    body: &'static str,
) -> Template {
    Template {
        category,
        group_by,
        title,
        body,
    }
}

/// The template of `event_type`, if it notifies in-app.
pub fn template(event_type: &str) -> Option<Template> {
    Some(match event_type {
        "auth.account.created" => t(
            "important",
            None,
            "Welcome to Nexgate",
            "Your account is ready.",
        ),
        "auth.registration.address_in_use" => t(
            "critical",
            None,
            "Sign-up attempt",
            "Someone tried to register with your address.",
        ),
        "auth.contact.changed" => t(
            "critical",
            None,
            "Contact changed",
            "Your sign-in {channel} was changed.",
        ),
        "auth.login.new_device" => t(
            "critical",
            None,
            "New sign-in",
            "Your account was used on a new device.",
        ),
        "auth.suspicious_activity.detected" => t(
            "critical",
            None,
            "Suspicious activity",
            "We noticed unusual activity on your account.",
        ),
        "auth.password.changed" => t(
            "critical",
            None,
            "Password changed",
            "Your password was changed.",
        ),
        "auth.mfa.enabled" => t(
            "critical",
            None,
            "Two-step verification on",
            "Two-step verification is now on.",
        ),
        "auth.mfa.disabled" => t(
            "critical",
            None,
            "Two-step verification off",
            "Two-step verification was turned off.",
        ),
        "profiles.follow.created" => t(
            "normal",
            Some("followee_id"),
            "New follower",
            "Someone started following you.",
        ),
        "profiles.follow_request.created" => t(
            "normal",
            Some("target_id"),
            "Follow request",
            "Someone asked to follow you.",
        ),
        "profiles.follow_request.approved" => t(
            "normal",
            None,
            "Request approved",
            "Your follow request was approved.",
        ),
        "social.mention.created" => t(
            "important",
            None,
            "You were mentioned",
            "Someone mentioned you in a {context}.",
        ),
        "dm.message.created" => t(
            "important",
            Some("conversation_id"),
            "New message",
            "{preview}",
        ),
        "dm.reaction.created" => t(
            "normal",
            Some("message_id"),
            "New reaction",
            "Someone reacted {emoji} to your message.",
        ),
        "commerce.order.placed" => t(
            "important",
            None,
            "Order placed",
            "Order {order_id} was placed.",
        ),
        "commerce.order.shipped" => t(
            "important",
            None,
            "Order shipped",
            "Your order {order_id} is on its way.",
        ),
        "commerce.order.delivered" => t(
            "important",
            None,
            "Order delivered",
            "Order {order_id} was delivered.",
        ),
        "commerce.review.created" => t(
            "normal",
            Some("seller_id"),
            "New review",
            "Your shop received a review.",
        ),
        "commerce.group_buy.progressed" => t(
            "normal",
            Some("group_buy_id"),
            "Group buy",
            "{participants} of {target} have joined.",
        ),
        "commerce.installment.scheduled" => t(
            "important",
            None,
            "Installment scheduled",
            "An installment is due on {due_at}.",
        ),
        "events.ticket.purchased" => t(
            "important",
            None,
            "Ticket confirmed",
            "Your ticket is ready.",
        ),
        "events.event.cancelled" => t(
            "important",
            None,
            "Event cancelled",
            "An event you have a ticket for was cancelled.",
        ),
        "events.ticket.checked_in" => {
            t("normal", None, "Checked in", "Your ticket was checked in.")
        }
        "events.event.starting_soon" => t(
            "important",
            None,
            "Starting soon",
            "Your event starts at {starts_at}.",
        ),
        "social.post.liked" => t(
            "normal",
            Some("post_id"),
            "New like",
            "Someone liked your post.",
        ),
        "social.comment.created" => t("normal", Some("post_id"), "New comment", "{preview}"),
        "social.post.reposted" => t(
            "normal",
            Some("post_id"),
            "New repost",
            "Someone reposted your post.",
        ),
        "social.shop.mentioned" => t(
            "normal",
            Some("shop_id"),
            "Shop mentioned",
            "Your shop was mentioned in a post.",
        ),
        "social.poll.ended" => t(
            "normal",
            None,
            "Poll ended",
            "A poll has ended: see the results.",
        ),
        "social.collaboration.invited" => t(
            "important",
            None,
            "Collaboration invite",
            "You were invited to co-author a post.",
        ),
        "payments.payment.succeeded" => t(
            "critical",
            None,
            "Payment successful",
            "Receipt {receipt_number}.",
        ),
        "payments.payment.failed" => t("critical", None, "Payment failed", "{reason}"),
        "payments.payment.received" => t(
            "critical",
            None,
            "Payment received",
            "A buyer paid; the money is held until release.",
        ),
        "payments.escrow.released" => t(
            "critical",
            None,
            "Money released",
            "Funds were added to your balance.",
        ),
        "payments.refund.processed" => {
            t("critical", None, "Refund processed", "A refund was sent.")
        }
        "payments.payout.sent" => t(
            "critical",
            None,
            "Payout sent",
            "Your payout is on its way.",
        ),
        "payments.payout.failed" => t("critical", None, "Payout failed", "{reason}"),
        _ => return None,
    })
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
    fn every_template_is_a_catalogued_type() {
        for t in nexgate_events::catalogue::CATALOGUE {
            if let Some(tpl) = template(t.name) {
                assert!(matches!(tpl.category, "critical" | "important" | "normal"));
                if let Some(g) = tpl.group_by {
                    assert!(
                        t.data_fields.iter().any(|f| f.name == g),
                        "{}: no field {g}",
                        t.name
                    );
                }
            }
        }
        assert!(template("profiles.profile.updated").is_none());
    }
}
