//! Leaves every layer may use: the clock and durable file writes. Imports no other module of the
//! crate.

pub mod fs;
pub mod periodic;
pub mod time;
