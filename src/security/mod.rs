//! Authentication as Kafka does it (Kafka's `common.security`): who a connection is (a
//! `KafkaPrincipal`), TLS (`tls`: rustls server configs from Kafka's `ssl.*` keys, and the mTLS
//! principal from a client certificate's subject), and SASL (`sasl`: the server side of PLAIN,
//! SCRAM-SHA-256/512 and OAUTHBEARER, with credentials from JAAS and the SCRAM store). The
//! connection's SASL state machine (Kafka's SaslServerAuthenticator) sits in `server`, above.

pub mod principal;
pub mod sasl;
pub mod tls;

pub use principal::KafkaPrincipal;
