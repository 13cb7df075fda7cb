//! `custody bench`: placeholder, filled below.
use clap::Args;
use crate::Outcome;
#[derive(Args, Debug)]
pub struct BenchArgs {}
pub async fn run(_a: BenchArgs) -> Outcome { Ok(()) }
