//! The payment service (docs/payments.md): payment methods, payables, intents over mobile money
//! (Daraja, Selcom, Tembo Plus), provider callbacks, the sweeper, escrow and the ledger.
//!
//! Money moves only through the ledger (`payments.create_transfer`), with transfer ids derived
//! from the business step, so retries never move it twice.

pub mod callbacks;
pub mod disburse;
pub mod erasure;
pub mod history;
pub mod intents;
pub mod ledger;
pub mod methods;
pub mod payables;
pub mod payouts;
pub mod phone;
pub mod providers;
pub mod returns;
pub mod rows;
pub mod secrets;
pub mod settings;
pub mod settle;
pub mod states;
pub mod sweeper;
