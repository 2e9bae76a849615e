//! All integration tests, compiled into one binary (topic files below).

mod cli;
mod corpus;
mod damage;
mod parquet;
mod public_corpus;
mod util;
