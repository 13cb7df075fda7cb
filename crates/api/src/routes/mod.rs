//! The API's routes, one module per area; each exposes its `router()`.

pub mod health;
pub mod ledger;
pub mod stock;
