//! What the produce path's validation costs per byte, without a broker: `batch crc` is the
//! check the broker made before LogValidator (header, length, CRC-32C), `validator` is what it
//! makes now (the same plus Kafka's client rules and the walk over every record in place, and for
//! a compressed batch the bounded inflate). Both run in a loop on one thread over the lean
//! generator's batches; CPUs/GB is that thread's CPU time per 10^9 bytes of record payload.

use super::floor::{row, thread_cpu_s};
use super::lean::{encode_batch, records_per_batch};
use super::stats::Row;
use anyhow::Result;
use bytes::Bytes;
use odradek::log::validator::{validate, AppendOrigin, ValidationConfig};
use std::time::{Duration, Instant};

/// Which check a row measures.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// `batch::validate`: framing and CRC only (the cost before this round).
    Crc,
    /// `validator::validate`: everything a client's batch now passes.
    Validator,
}

/// Runs `check` over one batch of `record_bytes`-byte records (about `batch_bytes` long;
/// recompressed with zstd when `zstd`) for `warmup + measure`.
pub fn run(check: Check, record_bytes: usize, batch_bytes: usize, zstd: bool, warmup: Duration, measure: Duration) -> Result<Row> {
    let count = records_per_batch(record_bytes, batch_bytes);
    let plain = encode_batch(record_bytes, count);
    let batch: Bytes = if zstd {
        let h = odradek::log::batch::validate(&plain)?;
        odradek::log::records::recompress(&h, &plain, kafka_protocol::records::Compression::Zstd, 16 << 20)?.into()
    } else {
        plain
    };
    let config = ValidationConfig { compacted: false, max_message_bytes: 16 << 20 };
    let once = || -> Result<()> {
        match check {
            Check::Crc => drop(odradek::log::batch::validate(&batch)?),
            Check::Validator => drop(validate(&batch, AppendOrigin::Client, &config)?),
        }
        Ok(())
    };
    let start = Instant::now();
    while start.elapsed() < warmup {
        once()?;
    }
    let (at, cpu0) = (Instant::now(), thread_cpu_s());
    let mut batches = 0u64;
    while at.elapsed() < measure {
        once()?;
        batches += 1;
    }
    let (wall, cpu) = (at.elapsed().as_secs_f64(), thread_cpu_s() - cpu0);
    let payload = batches * (count * record_bytes) as u64;
    let name = format!("validate {} {record_bytes}B{}", if matches!(check, Check::Crc) { "batch crc" } else { "validator" }, if zstd { " zstd" } else { "" });
    let note = format!("{count} records/batch of {} bytes on the wire, {batches} batches, one thread", batch.len());
    Ok(row(&name, "validate", payload, batches, wall, cpu, note))
}
