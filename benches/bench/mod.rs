//! The parts of `odradek-bench`: raw wire access, the broker process, measurement and reporting,
//! and the two load sources (lean pipelined generator, rdkafka).

pub mod broker;
pub mod floor;
pub mod lean;
pub mod rdk;
pub mod stats;
pub mod wire;
