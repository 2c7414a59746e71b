//! What a handler knows about a request besides its body.

use crate::security::KafkaPrincipal;
use kafka_protocol::messages::RequestHeader;
use std::net::SocketAddr;
use std::sync::Arc;

/// Who sent a request, and on which listener (Kafka's RequestContext without the header).
#[derive(Clone)]
pub struct Client {
    /// The client's address.
    pub peer: SocketAddr,
    /// The listener the connection came in on (upper case, as Kafka names it).
    pub listener: Arc<str>,
    /// The connection's principal (`User:ANONYMOUS` unless TLS or SASL said otherwise).
    pub principal: Arc<KafkaPrincipal>,
}

/// The request's header and its client.
pub struct RequestContext {
    /// The decoded request header (API key, version, correlation id, client id).
    pub header: RequestHeader,
    /// Who sent it, on which listener.
    pub client: Client,
}

impl RequestContext {
    /// The header's client id, or "" if there is none.
    pub fn client_id(&self) -> String {
        self.header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default()
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.client.peer
    }
}
