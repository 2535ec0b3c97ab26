//! The marketplace service, part 1 (docs/commerce.md): shops, products with variants, exact stock
//! with reservations, the address book, checkout into escrow (one order and one payable per shop)
//! and the order lifecycle. Components call the handlers with their spin.toml id.

pub mod addresses;
pub mod cart;
pub mod checkout;
pub mod inbox;
pub mod inventory;
pub mod jobs;
pub mod limits;
pub mod media;
pub mod order_states;
pub mod orders;
pub mod payables;
pub mod products;
pub mod reviews;
pub mod settings;
pub mod shops;
pub mod verification;
pub mod wishlist;
