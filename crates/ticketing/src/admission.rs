//! The check-in decision (docs/ticketing.md, "Check-in"): which reason code a presented ticket
//! gets before the one statement that admits it. Pure, so every method (app, scanner, manual
//! code, kiosk) and the offline upload answer alike.

use uuid::Uuid;

use crate::qr::TicketClaims;

/// Doors open this long before a day starts.
pub const DOORS_OPEN_BEFORE_SECS: i64 = 2 * 3600;

/// The answer to a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Ok,
    /// Not a ticket: malformed, truncated, or its signature does not verify.
    Invalid,
    /// Signed, but no such ticket here.
    Unknown,
    Revoked,
    AlreadyCheckedIn,
    WrongEvent,
    /// The ticket does not admit the day that is open now (or the event is over).
    WrongDay,
    NotYetOpen,
    Cancelled,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Invalid => "invalid",
            Self::Unknown => "unknown",
            Self::Revoked => "revoked",
            Self::AlreadyCheckedIn => "already_checked_in",
            Self::WrongEvent => "wrong_event",
            Self::WrongDay => "wrong_day",
            Self::NotYetOpen => "not_yet_open",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One day of the event, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    pub day: u8,
    pub starts_at: i64,
    pub ends_at: i64,
}

/// What the server holds about the presented ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub revoked: bool,
    pub event_cancelled: bool,
}

/// The day the ticket may be admitted on now, or why not. `claims` is `None` when the ticket did
/// not verify; `known` is `None` when no ticket has its id. Checked in this order: a ticket at
/// all, the event, known here, the event cancelled, the ticket revoked, a day open now (doors
/// open [`DOORS_OPEN_BEFORE_SECS`] before it starts, close when it ends) that the ticket admits
/// and that lies in its validity.
pub fn decide(
    claims: Option<&TicketClaims>,
    scanning_event: Uuid,
    known: Option<Known>,
    days: &[Day],
    now: i64,
) -> Result<u8, Reason> {
    let claims = claims.ok_or(Reason::Invalid)?;
    if claims.event_id != scanning_event {
        return Err(Reason::WrongEvent);
    }
    let known = known.ok_or(Reason::Unknown)?;
    if known.event_cancelled {
        return Err(Reason::Cancelled);
    }
    if known.revoked {
        return Err(Reason::Revoked);
    }
    let open = days
        .iter()
        .find(|d| now >= d.starts_at - DOORS_OPEN_BEFORE_SECS && now < d.ends_at);
    let Some(open) = open else {
        // Before a day's doors open (the first, or the next one), or after the last day.
        let one_ahead = days
            .iter()
            .any(|d| now < d.starts_at - DOORS_OPEN_BEFORE_SECS);
        return Err(if one_ahead {
            Reason::NotYetOpen
        } else {
            Reason::WrongDay
        });
    };
    if !claims.admits_day(open.day) {
        return Err(Reason::WrongDay);
    }
    if now < i64::from(claims.valid_from) {
        return Err(Reason::NotYetOpen);
    }
    if now > i64::from(claims.valid_until) {
        return Err(Reason::WrongDay);
    }
    Ok(open.day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qr::days_mask;

    const H: i64 = 3600;
    const T0: i64 = 1_800_000_000;

    fn days() -> Vec<Day> {
        // A two-day festival: day 1 and day 2, each 10:00 to 22:00 (12 h), a day apart.
        vec![
            Day {
                day: 1,
                starts_at: T0,
                ends_at: T0 + 12 * H,
            },
            Day {
                day: 2,
                starts_at: T0 + 24 * H,
                ends_at: T0 + 36 * H,
            },
        ]
    }

    fn ticket(event: Uuid, admitted: &[u8]) -> TicketClaims {
        TicketClaims {
            key_id: 1,
            ticket_id: Uuid::now_v7(),
            event_id: event,
            ticket_type_id: Uuid::now_v7(),
            days: days_mask(Some(admitted)),
            valid_from: (T0 - 30 * 24 * H) as u32,
            valid_until: (T0 + 36 * H) as u32,
        }
    }

    const FINE: Option<Known> = Some(Known {
        revoked: false,
        event_cancelled: false,
    });

    #[test]
    fn reasons_in_order() {
        let event = Uuid::now_v7();
        let t = ticket(event, &[1, 2]);
        let at = T0 + H;
        assert_eq!(decide(None, event, FINE, &days(), at), Err(Reason::Invalid));
        assert_eq!(
            decide(Some(&t), Uuid::now_v7(), FINE, &days(), at),
            Err(Reason::WrongEvent)
        );
        assert_eq!(
            decide(Some(&t), event, None, &days(), at),
            Err(Reason::Unknown)
        );
        let both = Some(Known {
            revoked: true,
            event_cancelled: true,
        });
        assert_eq!(
            decide(Some(&t), event, both, &days(), at),
            Err(Reason::Cancelled)
        );
        let revoked = Some(Known {
            revoked: true,
            event_cancelled: false,
        });
        assert_eq!(
            decide(Some(&t), event, revoked, &days(), at),
            Err(Reason::Revoked)
        );
        assert_eq!(decide(Some(&t), event, FINE, &days(), at), Ok(1));
        assert_eq!(decide(Some(&t), event, FINE, &days(), T0 + 25 * H), Ok(2));
    }

    #[test]
    fn doors_and_days() {
        let event = Uuid::now_v7();
        let day_two_only = ticket(event, &[2]);
        let every = ticket(event, &[1, 2]);
        // Doors open two hours before the start.
        assert_eq!(
            decide(Some(&every), event, FINE, &days(), T0 - 3 * H),
            Err(Reason::NotYetOpen)
        );
        assert_eq!(decide(Some(&every), event, FINE, &days(), T0 - H), Ok(1));
        // Day 1 open: a day-2 ticket is refused; between the days, it waits.
        assert_eq!(
            decide(Some(&day_two_only), event, FINE, &days(), T0 + H),
            Err(Reason::WrongDay)
        );
        assert_eq!(
            decide(Some(&day_two_only), event, FINE, &days(), T0 + 15 * H),
            Err(Reason::NotYetOpen)
        );
        assert_eq!(
            decide(Some(&day_two_only), event, FINE, &days(), T0 + 30 * H),
            Ok(2)
        );
        // After the last day.
        assert_eq!(
            decide(Some(&every), event, FINE, &days(), T0 + 40 * H),
            Err(Reason::WrongDay)
        );
    }

    #[test]
    fn codes_are_the_documented_ones() {
        let all = [
            Reason::Ok,
            Reason::Invalid,
            Reason::Unknown,
            Reason::Revoked,
            Reason::AlreadyCheckedIn,
            Reason::WrongEvent,
            Reason::WrongDay,
            Reason::NotYetOpen,
            Reason::Cancelled,
        ];
        let codes: Vec<&str> = all.iter().map(|r| r.code()).collect();
        assert_eq!(
            codes,
            [
                "ok",
                "invalid",
                "unknown",
                "revoked",
                "already_checked_in",
                "wrong_event",
                "wrong_day",
                "not_yet_open",
                "cancelled"
            ]
        );
    }
}
