//! One client connection: 4-byte size-prefixed frames in, responses out in request order.
//!
//! Like Kafka's SocketServer, a connection handles one request at a time, so pipelined requests
//! are answered strictly in order. One difference: a produce waiting for its fsync
//! (`acks.all.fsync`) does not hold up reading and appending the requests behind it (up to
//! `MAX_DEFERRED`); their responses queue behind it.

use super::dispatch::{self, Outcome};
use crate::broker::Broker;
use crate::request::{Answer, Chunk, Frame};
use crate::log::FileSlice;
use bytes::{Buf, Bytes, BytesMut};
use futures::future::BoxFuture;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter, Interest};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Responses a connection may hold back behind a deferred one (a produce waiting for an fsync)
/// before it stops reading requests: the Java producer's default
/// `max.in.flight.requests.per.connection`; it bounds memory and latency.
const MAX_DEFERRED: usize = 5;

type Pending = VecDeque<BoxFuture<'static, Outcome>>;

/// Bytes asked of the socket per read (at least): several pipelined requests arrive in one read,
/// and their responses then go out in one write.
const READ_CHUNK: usize = 128 * 1024;

/// The most a read reserves for the rest of a large frame.
const GROW_STEP: usize = 1024 * 1024;

/// Frames shorter than this are copied out of the read buffer; longer ones (produce) are handed
/// on as views of it, without a copy. A small request whose fields are kept (a group member's
/// metadata) so pins only its own bytes, not a whole read chunk.
const COPY_BELOW: usize = 4096;

/// Serves one client connection until it closes, errs, idles out or the broker shuts down.
pub(super) async fn serve(socket: TcpStream, peer: SocketAddr, broker: Arc<Broker>) {
    let (r, w) = socket.into_split();
    let mut reader = FrameReader { half: r, buf: BytesMut::new(), grown: false };
    let mut writer = BufWriter::with_capacity(64 * 1024, w);
    let mut shutdown = broker.shutdown.clone();
    let max = broker.config.socket_request_max_bytes;
    // Outcomes not yet sent, in request order; only non-empty once a response was deferred.
    let mut pending: Pending = VecDeque::new();
    // connections.max.idle.ms: the time a whole request may take to arrive after the last one.
    let idle = Duration::from_millis(broker.config.connections_max_idle_ms);
    let idle_timer = tokio::time::sleep(idle);
    tokio::pin!(idle_timer);
    // Idle time counts from the broker's last answer or the client's last request. Each turn
    // only notes the time; the timer is re-armed when it fires early, not on every request.
    let mut active_at = tokio::time::Instant::now();
    let mut timer_rearmed = false;
    'conn: loop {
        if !std::mem::take(&mut timer_rearmed) {
            active_at = tokio::time::Instant::now();
        }
        let frame = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            outcome = next_deferred(&mut pending), if !pending.is_empty() => {
                if !respond_now(&mut writer, peer, outcome).await {
                    break;
                }
                continue;
            }
            // Cancel-safe: bytes read stay in the reader's buffer for the next turn.
            r = reader.next(max), if pending.len() < MAX_DEFERRED => match r {
                Ok(Read::Frame(frame)) => frame,
                Ok(Read::Invalid(size)) => {
                    tracing::warn!(%peer, size, max, "closing connection: request size is invalid or exceeds socket.request.max.bytes");
                    break;
                }
                Ok(Read::Eof { partial }) => {
                    if partial > 0 {
                        tracing::warn!(%peer, partial, "closing connection: truncated request frame");
                    }
                    break;
                }
                Err(_) => break, // reset: the client went away
            },
            _ = &mut idle_timer, if pending.is_empty() => {
                if active_at + idle > tokio::time::Instant::now() {
                    idle_timer.as_mut().reset(active_at + idle);
                    timer_rearmed = true;
                    continue;
                }
                tracing::info!(%peer, idle_ms = idle.as_millis() as u64, partial = reader.buf.len(), "closing connection: no whole request within connections.max.idle.ms");
                break;
            }
        };
        let mut handling = std::pin::pin!(dispatch::handle(&broker, peer, frame));
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
        let outcome = match outcome {
            Answer::Later(f) => {
                pending.push_back(f);
                continue;
            }
            Answer::Now(outcome) => outcome,
        };
        if !pending.is_empty() {
            // Behind a deferred response everything waits its turn, so answers stay in order.
            if !matches!(outcome, Outcome::NoResponse) {
                pending.push_back(Box::pin(futures::future::ready(outcome)));
            }
            continue;
        }
        if !respond(&mut writer, peer, outcome).await {
            break 'conn;
        }
        // Batch responses into one write while another whole request is already buffered.
        if !reader.holds_whole_frame() && writer.flush().await.is_err() {
            break;
        }
    }
    let _ = writer.flush().await;
}

/// What the reader found next.
enum Read {
    Frame(Bytes),
    /// A size prefix that is negative or above the limit.
    Invalid(i32),
    /// The client closed the connection, `partial` bytes into a frame.
    Eof { partial: usize },
}

/// Reads 4-byte size-prefixed frames straight from the socket into one buffer.
struct FrameReader {
    half: OwnedReadHalf,
    buf: BytesMut,
    /// The buffer was grown past READ_CHUNK for one large frame.
    grown: bool,
}

impl FrameReader {
    /// The next frame. Cancel-safe: whatever was read stays in the buffer.
    async fn next(&mut self, max: usize) -> io::Result<Read> {
        loop {
            let missing = match self.frame_size() {
                Some(size) if size < 0 || size as usize > max => return Ok(Read::Invalid(size)),
                Some(size) => {
                    let size = size as usize;
                    if self.buf.len() >= 4 + size {
                        self.buf.advance(4);
                        let frame = if size < COPY_BELOW {
                            let f = Bytes::copy_from_slice(&self.buf[..size]);
                            self.buf.advance(size);
                            f
                        } else {
                            self.buf.split_to(size).freeze()
                        };
                        return Ok(Read::Frame(frame));
                    }
                    4 + size - self.buf.len()
                }
                None => 4 - self.buf.len(),
            };
            // A buffer grown for a frame larger than a chunk is let go once that frame is out of
            // it (it is freed when the frame is dropped): a connection keeps about one chunk.
            if self.grown && self.buf.is_empty() {
                self.buf = BytesMut::new();
                self.grown = false;
            }
            // Room for the rest of this frame and for what else the socket already holds; the
            // buffer is reused in place once the frames handed out of it are dropped.
            // A large frame's buffer grows as its bytes arrive (never sized up front by a size
            // prefix that may be a lie): at most GROW_STEP more per read.
            self.grown |= missing > READ_CHUNK;
            self.buf.reserve(missing.clamp(READ_CHUNK, GROW_STEP));
            if self.half.read_buf(&mut self.buf).await? == 0 {
                return Ok(Read::Eof { partial: self.buf.len() });
            }
        }
    }

    /// The size prefix of the next frame, once its 4 bytes are in.
    fn frame_size(&self) -> Option<i32> {
        match self.buf.get(..4) {
            Some(&[a, b, c, d]) => Some(i32::from_be_bytes([a, b, c, d])),
            _ => None,
        }
    }

    /// Whether a whole valid frame is already buffered.
    fn holds_whole_frame(&self) -> bool {
        self.frame_size().is_some_and(|size| size >= 0 && self.buf.len() - 4 >= size as usize)
    }
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
    }
}

/// A deferred response that became ready: sent and flushed at once, since nothing else may be
/// about to join it in the buffer.
async fn respond_now(writer: &mut BufWriter<OwnedWriteHalf>, peer: SocketAddr, outcome: Outcome) -> bool {
    respond(writer, peer, outcome).await && writer.flush().await.is_ok()
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
