//! One client connection: 4-byte size-prefixed frames in, responses out in request order.
//!
//! Like Kafka's SocketServer, a connection handles one request at a time (Kafka mutes the channel
//! until the response is sent), so pipelined requests are answered strictly in order.

use super::dispatch::{self, Outcome};
use super::Broker;
use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;

pub async fn serve(socket: TcpStream, peer: SocketAddr, broker: Arc<Broker>) {
    let (r, w) = socket.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut writer = BufWriter::with_capacity(64 * 1024, w);
    let mut shutdown = broker.shutdown.clone();
    let max = broker.config.socket_request_max_bytes;
    loop {
        let size = tokio::select! {
            r = reader.read_i32() => match r {
                Ok(n) => n,
                Err(_) => break, // EOF or reset: the client went away
            },
            _ = shutdown.changed() => break,
        };
        if size < 0 || size as usize > max {
            tracing::warn!(%peer, size, max, "closing connection: request size is invalid or exceeds socket.request.max.bytes");
            break;
        }
        let mut frame = BytesMut::zeroed(size as usize);
        if let Err(e) = reader.read_exact(&mut frame).await {
            tracing::warn!(%peer, size, error = %e, "closing connection: truncated request frame");
            break;
        }
        match dispatch::handle(&broker, peer, frame.freeze()).await {
            Outcome::Respond(bytes) => {
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
                // Batch responses into one write while another whole request is already buffered.
                if !holds_whole_frame(reader.buffer()) && writer.flush().await.is_err() {
                    break;
                }
            }
            Outcome::NoResponse => {}
            Outcome::Close(reason) => {
                tracing::warn!(%peer, "closing connection: {reason}");
                break;
            }
        }
    }
    let _ = writer.flush().await;
}

/// Whether `buf` starts with a complete size-prefixed frame.
fn holds_whole_frame(buf: &[u8]) -> bool {
    buf.len() >= 4 && {
        let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        size >= 0 && buf.len() - 4 >= size as usize
    }
}
