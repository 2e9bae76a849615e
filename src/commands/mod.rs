//! One module per top-level command.

pub mod analyze;
pub mod dump;
pub mod inspect;
pub mod misc;
pub mod outputs;
pub mod report;
