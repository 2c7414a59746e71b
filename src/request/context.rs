//! What a handler knows about a request besides its body.

use kafka_protocol::messages::RequestHeader;
use std::net::SocketAddr;

/// The request's header and the address it came from.
pub struct RequestContext {
    /// The decoded request header (API key, version, correlation id, client id).
    pub header: RequestHeader,
    /// The client's address.
    pub peer: SocketAddr,
}

impl RequestContext {
    /// The header's client id, or "" if there is none.
    pub fn client_id(&self) -> String {
        self.header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default()
    }
}
