//! Accept loop: one task per connection, all sharing the shutdown signal, within Kafka's
//! connection limits (`ConnectionQuotas`: `max.connections`, `max.connections.per.ip`).

use super::connection;
use crate::broker::Broker;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub(super) async fn run(listener: TcpListener, broker: Arc<Broker>) {
    let mut shutdown = broker.shutdown.clone();
    let quotas = ConnectionQuotas::new(broker.config.max_connections, broker.config.max_connections_per_ip);
    loop {
        // As Kafka's acceptor, at max.connections the broker stops accepting until one closes.
        let permit = tokio::select! {
            p = quotas.total.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let Some(slot) = quotas.admit(peer.ip(), permit) else {
                        tracing::info!(%peer, limit = quotas.per_ip, "closing connection: max.connections.per.ip reached");
                        continue;
                    };
                    let _ = socket.set_nodelay(true);
                    let broker = broker.clone();
                    tokio::spawn(async move {
                        connection::serve(socket, peer, broker).await;
                        drop(slot);
                    });
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

/// Open connections, in all and per client address.
struct ConnectionQuotas {
    total: Arc<Semaphore>,
    per_ip: usize,
    by_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// A connection's place in the quotas, given back when it is dropped.
struct Slot {
    ip: IpAddr,
    by_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    _total: OwnedSemaphorePermit,
}

impl ConnectionQuotas {
    fn new(total: usize, per_ip: usize) -> ConnectionQuotas {
        let total = total.min(Semaphore::MAX_PERMITS);
        ConnectionQuotas { total: Arc::new(Semaphore::new(total)), per_ip, by_ip: Arc::default() }
    }

    /// A slot for a new connection from `ip`, or None when that address is at its limit.
    fn admit(&self, ip: IpAddr, total: OwnedSemaphorePermit) -> Option<Slot> {
        let mut by_ip = self.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        let n = by_ip.entry(ip).or_default();
        if *n >= self.per_ip {
            return None;
        }
        *n += 1;
        Some(Slot { ip, by_ip: self.by_ip.clone(), _total: total })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut by_ip = self.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                by_ip.remove(&self.ip);
            }
        }
    }
}
