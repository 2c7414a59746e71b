//! A minimal raw Kafka connection for tests that need exact protocol control: requests are
//! encoded and responses decoded with kafka-protocol, one size-prefixed frame at a time.

use super::TestBroker;
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What a raw connection reads and writes: the socket, or a TLS stream over it.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

pub struct RawConn {
    /// The socket (for timeouts and addresses; reads and writes go through `io`).
    pub s: TcpStream,
    io: Box<dyn Stream>,
    next_corr: i32,
    /// api key -> (min, max) as advertised by the broker.
    pub versions: HashMap<i16, (i16, i16)>,
}

/// Prefixes `body` with its 4-byte size.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// Encodes header + body (no size prefix).
pub fn encode_request<R: Request>(corr: i32, version: i16, req: &R) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(corr)
        .with_client_id(Some(StrBytes::from_static_str("odradek-raw-test")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, R::header_version(version)).expect("encode header");
    req.encode(&mut buf, version).expect("encode body");
    buf.to_vec()
}

/// Decodes a response frame (without size prefix): checks the correlation id, decodes the body
/// at `version` and checks that the body was consumed exactly.
pub fn decode_response<R: Request>(frame: &[u8], corr: i32, version: i16) -> R::Response {
    let mut buf = Bytes::copy_from_slice(frame);
    let header = ResponseHeader::decode(&mut buf, <R::Response as HeaderVersion>::header_version(version))
        .expect("decode response header");
    assert_eq!(header.correlation_id, corr, "correlation id (api {} v{version})", R::KEY);
    let resp = R::Response::decode(&mut buf, version)
        .unwrap_or_else(|e| panic!("decode response body of api {} v{version}: {e}; frame {:02x?}", R::KEY, &frame[..frame.len().min(64)]));
    assert_eq!(bytes::Buf::remaining(&buf), 0, "trailing bytes after api {} v{version} response", R::KEY);
    resp
}

pub fn api_versions_req() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("odradek-raw-test"))
        .with_client_software_version(StrBytes::from_static_str("1.0"))
}

impl RawConn {
    /// Connects without negotiating versions.
    pub fn connect_raw(b: &TestBroker) -> RawConn {
        Self::connect_raw_to(&b.bootstrap())
    }

    /// Connects to `addr` without negotiating versions.
    pub fn connect_raw_to(addr: &str) -> RawConn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        s.set_nodelay(true).unwrap();
        let io = Box::new(s.try_clone().expect("clone socket"));
        RawConn { s, io, next_corr: 1, versions: HashMap::new() }
    }

    /// A connection whose bytes go through `io` (a TLS stream over `s`).
    pub fn over(s: TcpStream, io: Box<dyn Stream>) -> RawConn {
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        RawConn { s, io, next_corr: 1, versions: HashMap::new() }
    }

    /// Connects and negotiates versions with ApiVersions v3.
    pub fn connect(b: &TestBroker) -> RawConn {
        let mut c = Self::connect_raw(b);
        let resp = c.call(3, &api_versions_req());
        assert_eq!(resp.error_code, 0, "ApiVersions error");
        c.versions = resp.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect();
        c
    }

    /// Highest version <= preferred that the broker supports for `key`.
    pub fn pick_key(&self, key: i16, preferred: i16) -> i16 {
        let (min, max) = *self.versions.get(&key).unwrap_or_else(|| panic!("broker does not advertise api {key}"));
        let v = preferred.min(max);
        assert!(v >= min, "api {key}: broker range {min}..={max} excludes {v}");
        v
    }

    /// Highest version <= preferred that the broker supports for request type `R`.
    pub fn pick<R: Request>(&self, preferred: i16) -> i16 {
        self.pick_key(R::KEY, preferred)
    }

    pub fn corr(&mut self) -> i32 {
        let c = self.next_corr;
        self.next_corr += 1;
        c
    }

    pub fn write(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).expect("write to broker");
        self.io.flush().expect("flush to broker");
    }

    pub fn read_frame(&mut self) -> Vec<u8> {
        let mut len = [0u8; 4];
        self.io.read_exact(&mut len).expect("read response size");
        let len = i32::from_be_bytes(len);
        assert!((4..200_000_000).contains(&len), "bad response size {len}");
        let mut body = vec![0u8; len as usize];
        self.io.read_exact(&mut body).expect("read response body");
        body
    }

    /// A size-prefixed frame of any length (a raw SASL token after SaslHandshake v0).
    pub fn read_raw_frame(&mut self) -> Vec<u8> {
        let mut len = [0u8; 4];
        self.io.read_exact(&mut len).expect("read frame size");
        let len = i32::from_be_bytes(len);
        assert!((0..1_000_000).contains(&len), "bad frame size {len}");
        let mut body = vec![0u8; len as usize];
        self.io.read_exact(&mut body).expect("read frame body");
        body
    }

    pub fn call<R: Request>(&mut self, version: i16, req: &R) -> R::Response {
        let corr = self.corr();
        let bytes = frame(&encode_request(corr, version, req));
        self.write(&bytes);
        let f = self.read_frame();
        decode_response::<R>(&f, corr, version)
    }

    /// Asserts the broker closes the connection (EOF or reset) without answering.
    pub fn expect_closed(&mut self, what: &str) {
        self.s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 256];
        let t0 = Instant::now();
        loop {
            match self.io.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => panic!("{what}: expected the connection to be closed, but the broker sent {n} bytes: {:02x?}", &buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof) => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => panic!("{what}: expected the connection to be closed, still open after {:?} ({e})", t0.elapsed()),
            }
        }
    }
}
