//! The API's routes, one module per area; each exposes its `router()`.

pub mod analytics;
pub mod catalog;
pub mod containers;
pub mod doses;
pub mod health;
pub mod inventories;
pub mod ledger;
pub mod movements;
pub mod patients;
pub mod people;
pub mod pmp;
pub mod receiving;
pub mod rems;
pub mod reports;
pub mod stock;
pub mod tiles;
pub mod waste;
