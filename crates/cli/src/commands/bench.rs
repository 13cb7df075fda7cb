//! `custody bench`: placeholder, filled below.
use crate::Outcome;
use clap::Args;
#[derive(Args, Debug)]
pub struct BenchArgs {}
pub async fn run(_a: BenchArgs) -> Outcome {
    Ok(())
}
