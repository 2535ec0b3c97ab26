//! Event ticketing (docs/ticketing.md): the parts every component of the service stands on.
//! [`qr`] is the signed ticket (payload, RSA signature, the QR text); [`codes`] the short codes
//! typed at the door; [`admission`] which reason code a presented ticket gets. All pure, so the
//! signing and check-in components share them and they are tested natively.

pub mod admission;
pub mod codes;
pub mod qr;
