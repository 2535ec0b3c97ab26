//! Event ticketing (docs/ticketing.md). Served: [`drafts`] (an event written step by step, one
//! draft per organizer, published once every step holds: [`checks`]; then edited within rules:
//! [`published`]), [`ticket_types`], [`orders`] (free tickets issued at once, paid ones held until
//! [`inbox`] hears they are paid; [`payables`] one per paid ticket; [`jobs`] ending holds and
//! making owed voids), [`tickets`], [`signing`] (the signing component's side), [`checkin`]
//! (people and [`devices`], online and offline), [`roles`], [`attendees`], [`analytics`],
//! [`attendance`], [`organizers`], [`reviews`], [`payouts`] (escrow released after the event), [`cancellation`],
//! [`refunds`], [`transfers`] and [`revocations`]. Pure and unit-tested: [`qr`] (the signed ticket:
//! payload, RSA signature, the QR text), [`codes`] (the short codes typed at the door) and
//! [`admission`] (which reason code a presented ticket gets).

pub mod admission;
pub mod analytics;
pub mod attendance;
pub mod attendees;
pub mod cancellation;
pub mod checkin;
pub mod checks;
pub mod codes;
pub mod devices;
pub mod drafts;
pub mod inbox;
pub mod jobs;
pub mod orders;
pub mod organizers;
pub mod payables;
pub mod payouts;
pub mod published;
pub mod qr;
pub mod refunds;
pub mod reviews;
pub mod revocations;
pub mod roles;
pub mod signing;
pub mod ticket_types;
pub mod tickets;
pub mod transfers;

/// The service's schema (its outbox and idempotency keys live there).
pub const SCHEMA: &str = "events";
