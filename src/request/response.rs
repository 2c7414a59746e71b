//! Encoding a response into what the connection sends: a size prefix and chunks, where a chunk is
//! either encoded bytes or a range of a segment file that goes to the socket with sendfile(2).
//!
//! Fetch responses carry record batches straight from the log. kafka-protocol encodes the whole
//! response, but a large records field is given to it as a *placeholder* of the right length (a
//! slice of a read-only mapping of zero pages, never sent); the buffer it encodes into recognises the
//! placeholder by address and records the file range in its place. The frame is thus encoded by
//! kafka-protocol byte for byte as usual, and the batch bytes never pass through user space.

use crate::log::FileSlice;
use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::buf::ByteBufMut;
use kafka_protocol::protocol::Encodable;
use memmap2::{Mmap, MmapOptions};
use std::ops::Range;
use std::sync::OnceLock;

/// Below this size a records field is copied into the response instead: one sendfile plus the
/// writes around it cost more than copying a few KiB.
pub const SPLICE_MIN_BYTES: usize = 16 * 1024;

/// Bytes of the placeholder mapping: the largest records field that can be spliced (a larger
/// one is copied into the response).
const PLACEHOLDER_BYTES: usize = 64 << 20;

/// Placeholder bytes for file ranges: one read-only anonymous mapping of zero pages, made once.
/// Never written and never read (unless a placeholder reached an ordinary buffer, which `encode`
/// refuses), so it costs address space only — not memory, and not binary size as a static would.
/// None if the mapping fails: fetches then read their records instead.
fn placeholder() -> Option<&'static [u8]> {
    static MAP: OnceLock<Option<&'static [u8]>> = OnceLock::new();
    *MAP.get_or_init(|| {
        let map = MmapOptions::new().len(PLACEHOLDER_BYTES).map_anon().and_then(|m| m.make_read_only()).ok()?;
        let map: &'static Mmap = Box::leak(Box::new(map));
        Some(&map[..])
    })
}

/// One piece of a response.
pub enum Chunk {
    /// Encoded bytes.
    Bytes(Bytes),
    /// A range of a segment file, sent with sendfile(2).
    File(FileSlice),
}

/// A response ready to send: the 4-byte size, then the chunks in order.
pub struct Frame {
    /// The size prefix: the bytes of all chunks.
    pub size: i32,
    /// The frame's contents, in order.
    pub chunks: Vec<Chunk>,
}

/// A response whose records fields are (partly) placeholders for `slices`, in encoding order.
pub struct Spliced<R> {
    /// The response, with placeholders where `slices` go.
    pub response: R,
    /// The file ranges, in the order the encoder meets their placeholders.
    pub slices: Vec<FileSlice>,
}

/// Collects the file ranges of one response while its handler builds it.
#[derive(Default)]
pub struct Splicer {
    slices: Vec<FileSlice>,
}

impl Splicer {
    /// The value for a records field holding `slice`: a placeholder for a large slice (sent with
    /// sendfile later), the bytes themselves for a small one.
    pub fn records(&mut self, slice: FileSlice) -> std::io::Result<Bytes> {
        match placeholder() {
            Some(p) if slice.len >= SPLICE_MIN_BYTES && slice.len <= p.len() => {
                let len = slice.len;
                self.slices.push(slice);
                Ok(Bytes::from_static(&p[..len]))
            }
            _ => slice.read_bytes(),
        }
    }

    /// `response`, whose records fields hold the placeholders made so far.
    pub fn finish<R>(self, response: R) -> Spliced<R> {
        Spliced { response, slices: self.slices }
    }
}

/// Why a response could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// kafka-protocol could not encode the response at this version (unsupported, or a field set
    /// that the version lacks).
    #[error("{0}")]
    Codec(#[from] anyhow::Error),
    /// A placeholder without its file range, of another length, or a range left over.
    #[error("file ranges and placeholders do not match up")]
    Placeholders,
    /// The encoder went back to bytes already behind a file range (a length written afterwards).
    #[error("the encoder rewrote bytes across a file range")]
    Seek,
    /// The frame is larger than its i32 size prefix can say.
    #[error("response too large")]
    TooLarge,
}

/// Encodes the response header and `resp` at the request's version.
pub fn encode<R: Encodable>(header: &RequestHeader, key: ApiKey, resp: &R, slices: Vec<FileSlice>) -> Result<Frame, EncodeError> {
    let version = header.request_api_version;
    let mut buf = SpliceBuf { slices: slices.into_iter(), ..Default::default() };
    ResponseHeader::default().with_correlation_id(header.correlation_id).encode(&mut buf, key.response_header_version(version))?;
    resp.encode(&mut buf, version)?;
    if let Some(e) = buf.error.take() {
        return Err(e);
    }
    if buf.slices.next().is_some() {
        return Err(EncodeError::Placeholders);
    }
    buf.flush();
    let size = i32::try_from(buf.done).map_err(|_| EncodeError::TooLarge)?;
    Ok(Frame { size, chunks: buf.chunks })
}

/// The buffer kafka-protocol encodes into: bytes accumulate in `current`; a placeholder closes
/// the current chunk and becomes a file chunk.
#[derive(Default)]
struct SpliceBuf {
    chunks: Vec<Chunk>,
    current: BytesMut,
    /// Bytes in `chunks`.
    done: usize,
    slices: std::vec::IntoIter<FileSlice>,
    error: Option<EncodeError>,
    scratch: Vec<u8>,
}

impl SpliceBuf {
    fn flush(&mut self) {
        if !self.current.is_empty() {
            self.done += self.current.len();
            self.chunks.push(Chunk::Bytes(self.current.split().freeze()));
        }
    }

    fn is_placeholder(src: &[u8]) -> bool {
        !src.is_empty() && placeholder().is_some_and(|p| src.as_ptr() == p.as_ptr())
    }

    fn fail(&mut self, e: EncodeError) {
        self.error.get_or_insert(e);
    }
}

// SAFETY: every method of the unsafe contract (remaining_mut, advance_mut, chunk_mut) forwards to
// the BytesMut `current`, which upholds it; put_slice only adds safe copies into `current` or
// bookkeeping, and never exposes uninitialised memory.
unsafe impl BufMut for SpliceBuf {
    fn remaining_mut(&self) -> usize {
        self.current.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller's guarantee (cnt bytes of chunk_mut initialised) is about the chunk
        // we handed out, which is current's.
        unsafe { self.current.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.current.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        if !Self::is_placeholder(src) {
            self.current.extend_from_slice(src);
            return;
        }
        match self.slices.next() {
            Some(slice) if slice.len == src.len() => {
                self.flush();
                self.done += slice.len;
                self.chunks.push(Chunk::File(slice));
            }
            _ => self.fail(EncodeError::Placeholders),
        }
    }
}

impl ByteBufMut for SpliceBuf {
    fn offset(&self) -> usize {
        self.done + self.current.len()
    }

    fn seek(&mut self, offset: usize) {
        match offset.checked_sub(self.done) {
            Some(local) => self.current.resize(local, 0),
            None => self.fail(EncodeError::Seek),
        }
    }

    fn range(&mut self, r: Range<usize>) -> &mut [u8] {
        let pending = self.current.len();
        match (r.start.checked_sub(self.done), r.end.checked_sub(self.done)) {
            (Some(s), Some(e)) if s <= e && e <= pending => &mut self.current[s..e],
            _ => {
                self.fail(EncodeError::Seek);
                self.scratch.resize(r.len(), 0);
                &mut self.scratch[..]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::FetchResponse;
    use kafka_protocol::protocol::Decodable;

    /// A fetch response encoded with placeholders, with the file ranges put back in, is byte for
    /// byte what kafka-protocol encodes with the bytes inline — at a flexible and an old version.
    #[test]
    fn spliced_frame_equals_plain_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let path = dir.path().join("seg");
        std::fs::write(&path, &data).unwrap();
        let file = std::sync::Arc::new(std::fs::File::open(&path).unwrap());
        let slices: Vec<FileSlice> =
            [(10, 40_000), (50_000, 100), (50_100, 49_900)].iter().map(|&(pos, len)| FileSlice::new(file.clone(), pos, len)).collect();
        for version in [4i16, 12, 16] {
            let mut splicer = Splicer::default();
            let mut plain_parts = Vec::new();
            let mut spliced_parts = Vec::new();
            for s in &slices {
                plain_parts.push(s.read_bytes().unwrap());
                spliced_parts.push(splicer.records(s.clone()).unwrap());
            }
            let response = |parts: &[Bytes]| {
                FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
                    .with_topic(kafka_protocol::messages::TopicName(kafka_protocol::protocol::StrBytes::from_static_str("t")))
                    .with_partitions(parts.iter().enumerate().map(|(i, p)| PartitionData::default().with_partition_index(i as i32).with_records(Some(p.clone()))).collect())])
            };
            let header = RequestHeader::default().with_request_api_key(1).with_request_api_version(version).with_correlation_id(7);
            let spliced = splicer.finish(response(&spliced_parts));
            let frame = encode(&header, ApiKey::Fetch, &spliced.response, spliced.slices).unwrap();
            assert_eq!(frame.chunks.iter().filter(|c| matches!(c, Chunk::File(_))).count(), 2, "two slices are large enough");
            let mut sent = Vec::new();
            for c in &frame.chunks {
                match c {
                    Chunk::Bytes(b) => sent.extend_from_slice(b),
                    Chunk::File(f) => sent.extend_from_slice(&f.read_bytes().unwrap()),
                }
            }
            assert_eq!(sent.len(), frame.size as usize);
            let plain = encode(&header, ApiKey::Fetch, &response(&plain_parts), Vec::new()).unwrap();
            let Chunk::Bytes(plain_bytes) = &plain.chunks[0] else { panic!("plain encoding is one chunk") };
            assert_eq!(plain.chunks.len(), 1);
            assert_eq!(&sent[..], &plain_bytes[..], "v{version}");
            let mut body = Bytes::from(sent);
            ResponseHeader::decode(&mut body, ApiKey::Fetch.response_header_version(version)).unwrap();
            let decoded = FetchResponse::decode(&mut body, version).unwrap();
            assert_eq!(decoded.responses[0].partitions[2].records.as_deref(), Some(&data[50_100..100_000]));
        }
    }

    #[test]
    fn placeholder_without_its_slice_is_refused() {
        let resp = FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
            .with_partitions(vec![PartitionData::default().with_records(Some(Bytes::from_static(&placeholder().unwrap()[..SPLICE_MIN_BYTES])))])]);
        let header = RequestHeader::default().with_request_api_version(12);
        assert!(matches!(encode(&header, ApiKey::Fetch, &resp, Vec::new()), Err(EncodeError::Placeholders)));
    }
}
