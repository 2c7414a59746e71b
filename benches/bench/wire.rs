//! Raw Kafka wire access: size-prefixed frames, request headers and response decoding with
//! kafka-protocol, pre-encoded requests whose correlation id is patched in place, and a blocking
//! connection with version negotiation and a few admin helpers (create/delete topics, wait for
//! leaders) that work against any Kafka-compatible broker.

use anyhow::{anyhow, bail, Context, Result};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiVersionsRequest, CreateTopicsRequest, DeleteTopicsRequest, MetadataRequest, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

pub const CLIENT_ID: &str = "odradek-bench";

/// Byte range of the correlation id in a size-prefixed request frame:
/// size (4) + api_key (2) + api_version (2).
const CORR_AT: usize = 8;

/// A whole request frame (size prefix + header + body), encoded once and re-sent many times.
#[derive(Clone)]
pub struct Frame {
    pub bytes: Vec<u8>,
}

impl Frame {
    /// Encodes `req` at `version` with correlation id 0.
    pub fn encode<R: Request>(version: i16, req: &R) -> Frame {
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(0)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let mut buf = BytesMut::with_capacity(64 + req.compute_size(version).unwrap_or(0));
        buf.extend_from_slice(&[0; 4]);
        header.encode(&mut buf, R::header_version(version)).expect("encode request header");
        req.encode(&mut buf, version).expect("encode request body");
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        Frame { bytes: buf.to_vec() }
    }

    /// Sets the correlation id in place.
    pub fn set_corr(&mut self, corr: i32) {
        self.bytes[CORR_AT..CORR_AT + 4].copy_from_slice(&corr.to_be_bytes());
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }
}

/// Reads one response frame (without its size prefix) into `buf`, reusing its allocation.
/// The buffer only grows; bytes beyond the new length are not cleared.
pub fn read_frame(r: &mut impl Read, buf: &mut BytesMut) -> Result<()> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).context("read response size")?;
    let len = i32::from_be_bytes(len);
    if !(4..=1 << 30).contains(&len) {
        bail!("bad response size {len}");
    }
    let len = len as usize;
    if buf.len() < len {
        buf.resize(len, 0);
    } else {
        buf.truncate(len);
    }
    r.read_exact(&mut buf[..]).context("read response body")?;
    Ok(())
}

/// The correlation id of a response frame (without size prefix).
pub fn corr_of(frame: &[u8]) -> i32 {
    i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]])
}

/// Decodes a response frame (without size prefix) of request type `R` at `version`, checking the
/// correlation id. Byte fields of the body (e.g. fetched records) are slices of `frame`, not copies.
pub fn decode_response<R: Request>(mut frame: Bytes, corr: i32, version: i16) -> Result<R::Response> {
    let header = ResponseHeader::decode(&mut frame, <R::Response as HeaderVersion>::header_version(version))
        .map_err(|e| anyhow!("decode response header of api {} v{version}: {e}", R::KEY))?;
    if header.correlation_id != corr {
        bail!("api {} v{version}: correlation id {} where {corr} was expected", R::KEY, header.correlation_id);
    }
    R::Response::decode(&mut frame, version).map_err(|e| anyhow!("decode response of api {} v{version}: {e}", R::KEY))
}

pub fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

pub fn api_versions_request() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str(CLIENT_ID))
        .with_client_software_version(StrBytes::from_static_str("1.0"))
}

/// Resolves `host:port` to its first address.
pub fn resolve(addr: &str) -> Result<SocketAddr> {
    addr.to_socket_addrs()
        .with_context(|| format!("resolve {addr}"))?
        .next()
        .ok_or_else(|| anyhow!("{addr} resolves to nothing"))
}

/// A blocking connection that knows the broker's version ranges.
pub struct Conn {
    pub stream: TcpStream,
    next_corr: i32,
    /// api key -> (min, max) as advertised by the broker.
    versions: HashMap<i16, (i16, i16)>,
    buf: BytesMut,
}

impl Conn {
    /// Connects and negotiates versions with ApiVersions (v3, or v0 if the broker refuses v3).
    pub fn connect(addr: SocketAddr) -> Result<Conn> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut c = Conn { stream, next_corr: 1, versions: HashMap::new(), buf: BytesMut::new() };
        let mut resp = c.call(3, &api_versions_request())?;
        if resp.error_code == 35 {
            resp = c.call(0, &ApiVersionsRequest::default())?;
        }
        if resp.error_code != 0 {
            bail!("ApiVersions error {}", resp.error_code);
        }
        c.versions = resp.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect();
        Ok(c)
    }

    /// Highest version <= `preferred` that the broker supports for `R`.
    pub fn pick<R: Request>(&self, preferred: i16) -> Result<i16> {
        let (min, max) = *self.versions.get(&R::KEY).ok_or_else(|| anyhow!("broker does not support api {}", R::KEY))?;
        let v = preferred.min(max);
        if v < min {
            bail!("api {}: broker supports {min}..={max}, the bench needs <= {preferred}", R::KEY);
        }
        Ok(v)
    }

    pub fn next_corr(&mut self) -> i32 {
        let c = self.next_corr;
        self.next_corr = self.next_corr.wrapping_add(1);
        c
    }

    /// Sends `req` and waits for its response.
    pub fn call<R: Request>(&mut self, version: i16, req: &R) -> Result<R::Response> {
        let mut f = Frame::encode(version, req);
        let corr = self.next_corr();
        f.set_corr(corr);
        self.stream.write_all(&f.bytes)?;
        self.read_response::<R>(corr, version)
    }

    /// Sends a pre-encoded frame with a fresh correlation id and returns that id.
    pub fn send_frame(&mut self, f: &mut Frame) -> Result<i32> {
        let corr = self.next_corr();
        f.set_corr(corr);
        self.stream.write_all(&f.bytes)?;
        Ok(corr)
    }

    /// Reads one response and decodes it as `R`'s response.
    pub fn read_response<R: Request>(&mut self, corr: i32, version: i16) -> Result<R::Response> {
        let frame = self.read_raw()?;
        decode_response::<R>(frame, corr, version)
    }

    /// Reads one response frame (without size prefix), reusing the connection's buffer when the
    /// previous frame is no longer referenced.
    pub fn read_raw(&mut self) -> Result<Bytes> {
        read_frame(&mut self.stream, &mut self.buf)?;
        let frame = std::mem::take(&mut self.buf).freeze();
        Ok(frame)
    }

    /// Gives a frame's buffer back for reuse (if nothing else references it).
    pub fn recycle(&mut self, frame: Bytes) {
        if let Ok(b) = frame.try_into_mut() {
            if b.capacity() > self.buf.capacity() {
                self.buf = b;
            }
        }
    }

    /// Creates topics (replication factor 1); an existing topic is an error.
    pub fn create_topics(&mut self, topics: &[(&str, i32)]) -> Result<()> {
        let v = self.pick::<CreateTopicsRequest>(7)?;
        let req = CreateTopicsRequest::default().with_timeout_ms(30_000).with_topics(
            topics
                .iter()
                .map(|(name, parts)| {
                    CreatableTopic::default()
                        .with_name(topic_name(name))
                        .with_num_partitions(*parts)
                        .with_replication_factor(1)
                })
                .collect(),
        );
        let resp = self.call(v, &req)?;
        for t in &resp.topics {
            if t.error_code != 0 {
                bail!("CreateTopics {}: error {} {:?}", t.name.as_str(), t.error_code, t.error_message);
            }
        }
        Ok(())
    }

    /// Deletes topics by name (errors are reported, not fatal to the caller's run).
    pub fn delete_topics(&mut self, names: &[&str]) -> Result<()> {
        let v = self.pick::<DeleteTopicsRequest>(6)?;
        let mut req = DeleteTopicsRequest::default().with_timeout_ms(30_000);
        if v >= 6 {
            req.topics = names.iter().map(|n| DeleteTopicState::default().with_name(Some(topic_name(n)))).collect();
        } else {
            req.topic_names = names.iter().map(|n| topic_name(n)).collect();
        }
        let resp = self.call(v, &req)?;
        for r in &resp.responses {
            if r.error_code != 0 {
                bail!("DeleteTopics {:?}: error {}", r.name, r.error_code);
            }
        }
        Ok(())
    }

    /// Metadata request for the given topics (v12 or lower; never auto-creates).
    pub fn metadata_request(&self, topics: &[&str]) -> Result<(i16, MetadataRequest)> {
        let v = self.pick::<MetadataRequest>(12)?;
        let req = MetadataRequest::default().with_allow_auto_topic_creation(false).with_topics(Some(
            topics.iter().map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t)))).collect(),
        ));
        Ok((v, req))
    }

    /// Waits until every partition of `topics` has a leader.
    pub fn wait_for_leaders(&mut self, topics: &[&str], timeout: Duration) -> Result<()> {
        let (v, req) = self.metadata_request(topics)?;
        let deadline = Instant::now() + timeout;
        loop {
            let resp = self.call(v, &req)?;
            let ready = resp.topics.len() == topics.len()
                && resp.topics.iter().all(|t| {
                    t.error_code == 0 && !t.partitions.is_empty() && t.partitions.iter().all(|p| p.error_code == 0 && p.leader_id.0 >= 0)
                });
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("topics {topics:?} have no leader after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
