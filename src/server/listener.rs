//! Accept loop: one task per connection, all sharing the shutdown signal.

use super::{connection, Broker};
use std::sync::Arc;
use tokio::net::TcpListener;

pub async fn run(listener: TcpListener, broker: Arc<Broker>) {
    let mut shutdown = broker.shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let _ = socket.set_nodelay(true);
                    tokio::spawn(connection::serve(socket, peer, broker.clone()));
                }
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}
