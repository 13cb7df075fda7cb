//! One module per subcommand.

pub mod backup;
pub mod bench;
pub mod bench_http;
pub mod bench_pg;
pub mod bench_render;
pub mod bench_scale;
pub mod bench_serve;
pub mod bench_tlog;
pub mod demo;
pub mod export;
pub mod init;
pub mod pmp;
pub mod proof;
pub mod report;
pub mod serve;
pub mod verify;
pub mod witness;
