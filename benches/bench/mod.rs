//! The parts of `odradek-bench`: raw wire access, the broker process, measurement and reporting,
//! the two load sources (lean pipelined generator, rdkafka), and the validator's own cost.

pub mod broker;
pub mod floor;
pub mod lean;
pub mod rdk;
pub mod stats;
pub mod tls;
pub mod validate;
pub mod wire;
