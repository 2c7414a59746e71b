//! One client connection: 4-byte size-prefixed frames in, responses out in request order.
//!
//! Like Kafka's SocketServer, a connection handles one request at a time, so pipelined requests
//! are answered strictly in order. One difference: a produce waiting for its fsync
//! (`acks.all.fsync`) does not hold up reading and appending the requests behind it (up to
//! `MAX_DEFERRED`); their responses queue behind it.

use super::dispatch::{self, Outcome};
use super::response::{Chunk, Frame};
use super::Broker;
use crate::log::FileSlice;
use bytes::{BufMut, BytesMut};
use futures::future::BoxFuture;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter, Interest};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Responses a connection may hold back behind a deferred one (a produce waiting for an fsync)
/// before it stops reading requests: the Java producer's default
/// `max.in.flight.requests.per.connection`; it bounds memory and latency.
const MAX_DEFERRED: usize = 5;

type Pending = VecDeque<BoxFuture<'static, Outcome>>;

pub async fn serve(socket: TcpStream, peer: SocketAddr, broker: Arc<Broker>) {
    let (r, w) = socket.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut writer = BufWriter::with_capacity(64 * 1024, w);
    let mut shutdown = broker.shutdown.clone();
    let max = broker.config.socket_request_max_bytes;
    let mut size_buf = BytesMut::with_capacity(4);
    // Outcomes not yet sent, in request order; only non-empty once a response was deferred.
    let mut pending: Pending = VecDeque::new();
    'conn: loop {
        let size = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            outcome = next_deferred(&mut pending), if !pending.is_empty() => {
                if !respond_now(&mut writer, peer, outcome).await {
                    break;
                }
                continue;
            }
            // Cancel-safe: a size prefix read halfway stays in `size_buf` for the next turn.
            r = read_size(&mut reader, &mut size_buf), if pending.len() < MAX_DEFERRED => match r {
                Ok(n) => n,
                Err(_) => break, // EOF or reset: the client went away
            },
        };
        if size < 0 || size as usize > max {
            tracing::warn!(%peer, size, max, "closing connection: request size is invalid or exceeds socket.request.max.bytes");
            break;
        }
        let frame = match read_frame(&mut reader, size as usize).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(%peer, size, error = %e, "closing connection: truncated request frame");
                break;
            }
        };
        let mut handling = std::pin::pin!(dispatch::handle(&broker, peer, frame.freeze()));
        // Deferred responses ahead of this request go out as they become ready, also while it
        // is being handled (a long-polling fetch must not hold back an fsynced produce's ack).
        let outcome = loop {
            if pending.is_empty() {
                break handling.await;
            }
            tokio::select! {
                biased;
                outcome = &mut handling => break outcome,
                outcome = next_deferred(&mut pending) => {
                    if !respond_now(&mut writer, peer, outcome).await {
                        break 'conn;
                    }
                }
            }
        };
        if !pending.is_empty() || matches!(outcome, Outcome::Later(_)) {
            // Behind a deferred response everything waits its turn, so answers stay in order.
            match outcome {
                Outcome::Later(f) => pending.push_back(f),
                Outcome::NoResponse => {}
                ready => pending.push_back(Box::pin(futures::future::ready(ready))),
            }
            continue;
        }
        if !respond(&mut writer, peer, outcome).await {
            break 'conn;
        }
        // Batch responses into one write while another whole request is already buffered.
        if !holds_whole_frame(reader.buffer()) && writer.flush().await.is_err() {
            break;
        }
    }
    let _ = writer.flush().await;
}

/// The first pending outcome, once ready, taken off the queue (cancel-safe: it stays queued
/// until it is ready). Never completes on an empty queue.
async fn next_deferred(pending: &mut Pending) -> Outcome {
    let Some(head) = pending.front_mut() else {
        return std::future::pending().await;
    };
    let outcome = head.await;
    pending.pop_front();
    outcome
}

/// Sends (or acts on) one ready outcome; false when the connection must close.
async fn respond(writer: &mut BufWriter<OwnedWriteHalf>, peer: SocketAddr, outcome: Outcome) -> bool {
    match outcome {
        Outcome::Respond(frame) => match send(writer, frame).await {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "closing connection: write failed");
                false
            }
        },
        Outcome::NoResponse => true,
        Outcome::Close(reason) => {
            tracing::warn!(%peer, "closing connection: {reason}");
            false
        }
        // A deferred outcome always resolves to one of the above; never nested.
        Outcome::Later(_) => {
            tracing::error!(%peer, "closing connection: a deferred response resolved to another deferred one");
            false
        }
    }
}

/// A deferred response that became ready: sent and flushed at once, since nothing else may be
/// about to join it in the buffer.
async fn respond_now(writer: &mut BufWriter<OwnedWriteHalf>, peer: SocketAddr, outcome: Outcome) -> bool {
    respond(writer, peer, outcome).await && writer.flush().await.is_ok()
}

/// Reads the 4-byte size prefix of the next request into `buf` (which keeps what a cancelled
/// call read), then returns it.
async fn read_size(reader: &mut BufReader<OwnedReadHalf>, buf: &mut BytesMut) -> io::Result<i32> {
    while buf.len() < 4 {
        let want = 4 - buf.len();
        if reader.read_buf(&mut buf.limit(want)).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    buf.clear();
    Ok(size)
}

/// Writes a response: bytes through the buffer, file ranges with sendfile(2) straight from the
/// page cache to the socket (after flushing what precedes them).
async fn send(writer: &mut BufWriter<OwnedWriteHalf>, frame: Frame) -> io::Result<()> {
    writer.write_i32(frame.size).await?;
    for chunk in frame.chunks {
        match chunk {
            Chunk::Bytes(b) => writer.write_all(&b).await?,
            Chunk::File(slice) => {
                writer.flush().await?;
                send_file(writer.get_ref().as_ref(), &slice).await?;
            }
        }
    }
    Ok(())
}

async fn send_file(socket: &TcpStream, slice: &FileSlice) -> io::Result<()> {
    let mut offset = slice.position as libc::off_t;
    let end = offset + slice.len as libc::off_t;
    while offset < end {
        socket.writable().await?;
        let sent = socket.try_io(Interest::WRITABLE, || {
            // SAFETY: both descriptors belong to objects borrowed for this call (the socket and
            // the slice's open file), and `offset` is a live local that sendfile updates.
            let n = unsafe { libc::sendfile(socket.as_raw_fd(), slice.file().as_raw_fd(), &mut offset, (end - offset) as usize) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n)
            }
        });
        match sent {
            // The file ended early: it cannot, batches once written stay, but never loop on it.
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "segment file shorter than the range to send")),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads a `size`-byte frame into fresh memory that is never zeroed first (reads larger than
/// the reader's buffer go straight from the socket into it).
async fn read_frame(reader: &mut BufReader<OwnedReadHalf>, size: usize) -> io::Result<BytesMut> {
    let mut frame = BytesMut::with_capacity(size);
    while frame.len() < size {
        let want = size - frame.len();
        if reader.read_buf(&mut (&mut frame).limit(want)).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(frame)
}

/// Whether `buf` starts with a complete size-prefixed frame.
fn holds_whole_frame(buf: &[u8]) -> bool {
    buf.len() >= 4 && {
        let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        size >= 0 && buf.len() - 4 >= size as usize
    }
}
