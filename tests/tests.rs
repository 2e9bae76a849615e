//! All integration tests, compiled into one binary (topic files below).

mod chserver;
mod cli;
mod clickhouse;
mod corpus;
mod damage;
mod guide;
mod live;
mod live_tls;
mod parquet;
mod public_corpus;
mod readme;
mod redis;
mod report;
mod util;
mod ux;
