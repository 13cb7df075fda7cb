//! The API's routes, one module per area; each exposes its `router()`.

pub mod admin;
pub mod health;
pub mod ledger;
pub mod receiving;
pub mod stock;
