//! A connection's byte stream, plain TCP or TLS (Kafka's `PlaintextTransportLayer` and
//! `SslTransportLayer`): the two halves the connection reads and writes, and how a file range
//! reaches the socket — sendfile(2) on plain TCP, page-cache reads through the TLS writer
//! otherwise (the bytes must be encrypted in user space).

use crate::log::FileSlice;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter, Interest, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

type Tls = TlsStream<TcpStream>;

/// The read half of a connection.
pub(super) enum ReadHalf {
    Plain(OwnedReadHalf),
    Tls(tokio::io::ReadHalf<Tls>),
}

/// The write half of a connection.
pub(super) enum WriteHalf {
    Plain(OwnedWriteHalf),
    Tls(tokio::io::WriteHalf<Tls>),
}

/// Splits a plain TCP connection.
pub(super) fn plain(socket: TcpStream) -> (ReadHalf, WriteHalf) {
    let (r, w) = socket.into_split();
    (ReadHalf::Plain(r), WriteHalf::Plain(w))
}

/// Splits a TLS connection whose handshake is done.
pub(super) fn tls(stream: Tls) -> (ReadHalf, WriteHalf) {
    let (r, w) = tokio::io::split(stream);
    (ReadHalf::Tls(r), WriteHalf::Tls(w))
}

impl AsyncRead for ReadHalf {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadHalf::Plain(r) => Pin::new(r).poll_read(cx, buf),
            ReadHalf::Tls(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteHalf::Plain(w) => Pin::new(w).poll_write(cx, buf),
            WriteHalf::Tls(w) => Pin::new(w).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteHalf::Plain(w) => Pin::new(w).poll_write_vectored(cx, bufs),
            WriteHalf::Tls(w) => Pin::new(w).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            WriteHalf::Plain(w) => w.is_write_vectored(),
            WriteHalf::Tls(w) => w.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Plain(w) => Pin::new(w).poll_flush(cx),
            WriteHalf::Tls(w) => Pin::new(w).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Plain(w) => Pin::new(w).poll_shutdown(cx),
            WriteHalf::Tls(w) => Pin::new(w).poll_shutdown(cx),
        }
    }
}

/// Bytes read from the page cache per write on a TLS connection: a TLS record is at most 16 KiB,
/// so this fills several records per syscall without holding much per connection.
const TLS_FILE_CHUNK: usize = 64 * 1024;

/// Writes a file range after what the writer holds.
pub(super) async fn send_file(writer: &mut BufWriter<WriteHalf>, slice: &FileSlice) -> io::Result<()> {
    if matches!(writer.get_ref(), WriteHalf::Plain(_)) {
        writer.flush().await?;
        if let WriteHalf::Plain(half) = writer.get_ref() {
            return sendfile(half.as_ref(), slice).await;
        }
    }
    let mut buf = vec![0u8; TLS_FILE_CHUNK.min(slice.len)];
    let (mut pos, end) = (slice.position, slice.position + slice.len as u64);
    while pos < end {
        let want = buf.len().min((end - pos) as usize);
        let n = slice.file().read_at(&mut buf[..want], pos)?;
        if n == 0 {
            return Err(short_file());
        }
        writer.write_all(&buf[..n]).await?;
        pos += n as u64;
    }
    Ok(())
}

fn short_file() -> io::Error {
    // Batches once written stay; a shorter file is never looped on.
    io::Error::new(io::ErrorKind::UnexpectedEof, "segment file shorter than the range to send")
}

async fn sendfile(socket: &TcpStream, slice: &FileSlice) -> io::Result<()> {
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
            Ok(0) => return Err(short_file()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
