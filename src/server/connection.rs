//! One client connection: 4-byte size-prefixed frames in, responses out in request order.
//!
//! Like Kafka's SocketServer, a connection handles one request at a time (Kafka mutes the channel
//! until the response is sent), so pipelined requests are answered strictly in order.

use super::dispatch::{self, Outcome};
use super::response::{Chunk, Frame};
use super::Broker;
use crate::log::FileSlice;
use bytes::{BufMut, BytesMut};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter, Interest};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

pub async fn serve(socket: TcpStream, peer: SocketAddr, broker: Arc<Broker>) {
    let (r, w) = socket.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut writer = BufWriter::with_capacity(64 * 1024, w);
    let mut shutdown = broker.shutdown.clone();
    let max = broker.config.socket_request_max_bytes;
    let mut frame = BytesMut::new();
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
        if let Err(e) = read_frame(&mut reader, size as usize, &mut frame).await {
            tracing::warn!(%peer, size, error = %e, "closing connection: truncated request frame");
            break;
        }
        match dispatch::handle(&broker, peer, std::mem::take(&mut frame).freeze()).await {
            Outcome::Respond(frame) => {
                if let Err(e) = send(&mut writer, frame).await {
                    tracing::debug!(%peer, error = %e, "closing connection: write failed");
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
async fn read_frame(reader: &mut BufReader<OwnedReadHalf>, size: usize, frame: &mut BytesMut) -> io::Result<()> {
    *frame = BytesMut::with_capacity(size);
    while frame.len() < size {
        let want = size - frame.len();
        if reader.read_buf(&mut frame.limit(want)).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
}

/// Whether `buf` starts with a complete size-prefixed frame.
fn holds_whole_frame(buf: &[u8]) -> bool {
    buf.len() >= 4 && {
        let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        size >= 0 && buf.len() - 4 >= size as usize
    }
}
