//! One client connection: 4-byte size-prefixed frames in, responses out in request order.
//!
//! Like Kafka's SocketServer, a connection handles one request at a time, so pipelined requests
//! are answered strictly in order. One difference: a produce waiting for its fsync
//! (`acks.all.fsync`) does not hold up reading and appending the requests behind it (up to
//! `MAX_DEFERRED`); their responses queue behind it.

use super::authenticator::{Authenticator, SaslListener, Verdict};
use super::dispatch::{self, Outcome};
use super::transport::{self, ReadHalf, WriteHalf};
use crate::broker::Broker;
use crate::request::{Answer, Chunk, Client, Frame};
use bytes::{Buf, Bytes, BytesMut};
use futures::future::BoxFuture;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};

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

/// Serves one client connection until it closes, errs, idles out or the broker shuts down. On a
/// SASL listener (`sasl`), every frame passes the authenticator first.
pub(super) async fn serve(r: ReadHalf, w: WriteHalf, mut client: Client, sasl: Option<Arc<SaslListener>>, broker: Arc<Broker>) {
    let peer = client.peer;
    let mut reader = FrameReader { half: r, buf: BytesMut::new(), grown: false };
    let mut writer = BufWriter::with_capacity(64 * 1024, w);
    let mut shutdown = broker.shutdown.clone();
    let mut authenticator = sasl.map(Authenticator::new);
    let failed_auth_delay = Duration::from_millis(broker.config.failed_authentication_delay_ms);
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
        // Before authentication a frame may be only as large as a SASL token may be.
        let max = match &authenticator {
            Some(a) if !a.authenticated() => broker.config.sasl_max_receive_size,
            _ => broker.config.socket_request_max_bytes,
        };
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
        let verdict = match authenticator.as_mut() {
            None => Verdict::Dispatch(frame),
            Some(auth) => {
                let verdict = auth.on_frame(frame);
                if let Some(p) = auth.principal().filter(|p| !Arc::ptr_eq(p, &client.principal)) {
                    client.principal = p;
                }
                verdict
            }
        };
        let mut handling = std::pin::pin!(async {
            match verdict {
                Verdict::Dispatch(frame) => dispatch::handle(&broker, &client, frame).await,
                Verdict::Respond(frame) => Answer::Now(Outcome::Respond(frame)),
                // Kafka delays the answer to a failed authentication
                // (`connection.failed.authentication.delay.ms`), then closes.
                Verdict::Fail { response, reason } => Answer::Later(Box::pin(async move {
                    tokio::time::sleep(failed_auth_delay).await;
                    match response {
                        Some(frame) => Outcome::RespondAndClose(frame, reason),
                        None => Outcome::Close(reason),
                    }
                })),
            }
        });
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
    half: ReadHalf,
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
async fn respond(writer: &mut BufWriter<WriteHalf>, peer: SocketAddr, outcome: Outcome) -> bool {
    match outcome {
        Outcome::RespondAndClose(frame, reason) => {
            tracing::warn!(%peer, "closing connection: {reason}");
            let _ = send(writer, frame).await;
            let _ = writer.flush().await;
            false
        }
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
async fn respond_now(writer: &mut BufWriter<WriteHalf>, peer: SocketAddr, outcome: Outcome) -> bool {
    respond(writer, peer, outcome).await && writer.flush().await.is_ok()
}

/// Writes a response: bytes through the buffer, file ranges as the transport sends them
/// (sendfile(2) on plain TCP).
async fn send(writer: &mut BufWriter<WriteHalf>, frame: Frame) -> io::Result<()> {
    writer.write_i32(frame.size).await?;
    for chunk in frame.chunks {
        match chunk {
            Chunk::Bytes(b) => writer.write_all(&b).await?,
            Chunk::File(slice) => transport::send_file(writer, &slice).await?,
        }
    }
    Ok(())
}
