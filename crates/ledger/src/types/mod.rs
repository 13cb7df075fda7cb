//! Domain values: each parses once at the edge and cannot hold an invalid value.

pub mod dea;
pub mod enums;
pub mod ids;
pub mod ndc;
pub mod quantity;
pub mod text;
pub mod time;
