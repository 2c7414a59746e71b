//! The record codecs of a batch's attributes (bits 0-2), and decompression with a bound.
//!
//! Every decompression of bytes the broker did not make goes through `decompress`, which streams
//! into a buffer that may not grow past a limit: a small payload that would inflate to gigabytes
//! (a decompression bomb) is refused after at most `limit` bytes of output, never inflated whole.
//! Compression stays kafka-protocol's (xerial-framed snappy, KIP-57 lz4 frames, as Kafka writes).

use super::batch::COMPRESSION_CODEC_MASK;
use bytes::BytesMut;
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
use kafka_protocol::records::Compression;
use std::io::Read;

/// Why a records section could not be decompressed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// The attributes name codec 5, 6 or 7, which Kafka does not define.
    #[error("unknown compression type id {0}")]
    UnknownCodec(i16),
    /// The output would pass the limit: a decompression bomb, or a batch too large to keep.
    #[error("records inflate past the limit of {limit} bytes")]
    TooLarge {
        /// The most output allowed, in bytes.
        limit: usize,
    },
    /// The codec's stream is malformed (or, compressing, the codec failed).
    #[error("records cannot be decompressed: {0}")]
    Corrupt(String),
}

/// The codec in a batch's attributes; ids 5-7 are not codecs.
pub fn codec_of(attributes: i16) -> Result<Compression, CodecError> {
    Ok(match attributes & COMPRESSION_CODEC_MASK {
        0 => Compression::None,
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        4 => Compression::Zstd,
        id => return Err(CodecError::UnknownCodec(id)),
    })
}

/// The id a codec has in a batch's attributes.
pub fn codec_id(c: Compression) -> i16 {
    match c {
        Compression::None => 0,
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        Compression::Lz4 => 3,
        Compression::Zstd => 4,
    }
}

/// `data` decompressed with codec `c` (not `None`), refused once the output would pass `limit`.
pub fn decompress(c: Compression, data: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    let corrupt = |e: std::io::Error| CodecError::Corrupt(e.to_string());
    match c {
        Compression::None => bounded_copy(data, limit),
        Compression::Gzip => read_bounded(flate2::read::GzDecoder::new(data), limit).map_err(io_or_limit(limit)),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(corrupt)?;
            read_bounded(decoder, limit).map_err(io_or_limit(limit))
        }
        Compression::Lz4 => {
            let decoder = lz4::Decoder::new(data).map_err(corrupt)?;
            read_bounded(decoder, limit).map_err(io_or_limit(limit))
        }
        Compression::Snappy => snappy(data, limit),
    }
}

fn bounded_copy(data: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    if data.len() > limit {
        return Err(CodecError::TooLarge { limit });
    }
    Ok(data.to_vec())
}

/// The error `read_bounded` gives when the output passes its limit.
const OVER_LIMIT: &str = "over limit";

fn io_or_limit(limit: usize) -> impl Fn(std::io::Error) -> CodecError {
    move |e| if e.to_string() == OVER_LIMIT { CodecError::TooLarge { limit } } else { CodecError::Corrupt(e.to_string()) }
}

/// Reads `r` to its end into a buffer that grows as output arrives (never sized by the input's
/// claims), failing as soon as more than `limit` bytes come out.
fn read_bounded(r: impl Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let read = r.take(limit as u64 + 1).read_to_end(&mut out)?;
    if read > limit {
        return Err(std::io::Error::other(OVER_LIMIT));
    }
    Ok(out)
}

/// Kafka's snappy: xerial framing (a 16-byte magic header, then blocks of `[len u32][raw
/// snappy]`), or one raw snappy block without the header, as snappy-java reads it. Each block
/// states its decompressed length up front, which is checked against what the limit leaves
/// before anything is allocated.
fn snappy(data: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    const MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
    const HEADER_LEN: usize = 16;
    let mut out = Vec::new();
    let block = |raw: &[u8], out: &mut Vec<u8>| -> Result<(), CodecError> {
        let n = snap::raw::decompress_len(raw).map_err(|e| CodecError::Corrupt(e.to_string()))?;
        if n > limit - out.len() {
            return Err(CodecError::TooLarge { limit });
        }
        let start = out.len();
        out.resize(start + n, 0);
        snap::raw::Decoder::new().decompress(raw, &mut out[start..]).map_err(|e| CodecError::Corrupt(e.to_string()))?;
        Ok(())
    };
    if data.len() < HEADER_LEN || &data[..MAGIC.len()] != MAGIC {
        block(data, &mut out)?;
        return Ok(out);
    }
    let mut rest = &data[HEADER_LEN..];
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(CodecError::Corrupt("snappy block length truncated".into()));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len > tail.len() {
            return Err(CodecError::Corrupt("snappy block truncated".into()));
        }
        block(&tail[..len], &mut out)?;
        rest = &tail[len..];
    }
    Ok(out)
}

/// `raw` compressed with codec `c`, as Kafka's producers frame it.
pub fn compress(c: Compression, raw: &[u8]) -> Result<BytesMut, CodecError> {
    let mut out = BytesMut::with_capacity(raw.len() / 2 + 64);
    let put = |tmp: &mut BytesMut| {
        tmp.extend_from_slice(raw);
        Ok(())
    };
    match c {
        Compression::None => {
            out.extend_from_slice(raw);
            Ok(())
        }
        Compression::Gzip => Gzip::compress(&mut out, put),
        Compression::Snappy => Snappy::compress(&mut out, put),
        Compression::Lz4 => Lz4::compress(&mut out, put),
        Compression::Zstd => Zstd::compress(&mut out, put),
    }
    .map_err(|e| CodecError::Corrupt(format!("{e:#}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_codec_and_refuses_bombs() {
        let raw = vec![7u8; 200_000];
        for c in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let packed = compress(c, &raw).unwrap();
            assert!(packed.len() < raw.len() / 10, "{c:?} compresses");
            assert_eq!(decompress(c, &packed, raw.len()).unwrap(), raw, "{c:?} round trip");
            assert_eq!(decompress(c, &packed, raw.len() - 1), Err(CodecError::TooLarge { limit: raw.len() - 1 }), "{c:?} bound");
            assert!(decompress(c, b"garbage that is no stream", 1 << 20).is_err(), "{c:?} garbage");
        }
        assert_eq!(codec_of(5), Err(CodecError::UnknownCodec(5)));
        assert_eq!(codec_of(0x14).map(codec_id), Ok(4));
    }
}
