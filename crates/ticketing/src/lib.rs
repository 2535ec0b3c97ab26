//! Event ticketing (docs/ticketing.md). Served: [`drafts`] (an event written step by step, one
//! draft per organizer, published once every step holds: [`checks`]) and [`ticket_types`]. Pure
//! and unit-tested, for the signing and check-in components to come: [`qr`] (the signed ticket:
//! payload, RSA signature, the QR text), [`codes`] (the short codes typed at the door) and
//! [`admission`] (which reason code a presented ticket gets).

pub mod admission;
pub mod checkin;
pub mod checks;
pub mod codes;
pub mod drafts;
pub mod orders;
pub mod qr;
pub mod roles;
pub mod signing;
pub mod ticket_types;
pub mod tickets;

/// The service's schema (its outbox and idempotency keys live there).
pub const SCHEMA: &str = "events";
