//! One module per top-level command.

pub mod dump;
pub mod inspect;
pub mod misc;
pub mod outputs;
