//! The machine's floor: the kernel work a broker cannot avoid per byte, done by a bare loop with
//! no protocol, measured the same way as the broker in the same run. Read a broker's CPU-s/GB
//! against these rows: what is above the floor is the broker's own cost.
//!
//! - `floor recv+write`: one thread receives a loopback TCP stream (sent in 64 KiB writes) in
//!   reads of up to 128 KiB and appends what each read got to a file with pwrite (a new file
//!   every 1 GiB) — what a produce costs a broker at the least (no CRC, no response).
//! - `floor sendfile`: one thread sends a file already in the page cache to a loopback socket
//!   with sendfile(2), 16 MiB per call — what a fetch costs a broker at the least.
//!
//! The CPU figure of these rows (CPUs/GB, brk%) is that one thread's utime+stime
//! (getrusage RUSAGE_THREAD), not a broker's. Files go to a fresh directory under $TMPDIR (the
//! bench's own broker keeps its data there too), removed afterwards.

use super::stats::{CpuUse, Row};
use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

const CHUNK: usize = 64 * 1024;
/// Receive buffer: as large as the broker's socket reads (server::connection READ_CHUNK).
const READ: usize = 128 * 1024;
const FILE_BYTES: u64 = 1 << 30;
const SENDFILE_CALL: usize = 16 << 20;

/// CPU seconds (user + system) of the calling thread.
pub fn thread_cpu_s() -> f64 {
    // SAFETY: rusage is plain integers, for which all-zero bytes are a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct it is given, which lives on this stack frame.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) } != 0 {
        return f64::NAN;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A row whose CPU figure is one thread's (`thread_s`), from load source `source`.
pub fn row(name: &str, source: &str, bytes: u64, requests: u64, wall_s: f64, thread_s: f64, note: String) -> Row {
    let cpu = CpuUse { wall_s, broker_s: Some(thread_s), client_s: None, system_s: None };
    let mut r = Row {
        name: name.into(),
        source: source.into(),
        payload_bytes: bytes,
        // One request = one read (recv+write) or one sendfile call, for us/req.
        requests: Some(requests),
        latency_of: "-".into(),
        ..Row::default()
    };
    r = r.finish(&cpu, None);
    r.note = Some(note);
    r
}

/// Receives a loopback stream for `warmup + measure` and writes it to files in `dir`; the row
/// covers the measured window.
pub fn recv_write(dir: &Path, warmup: Duration, measure: Duration) -> Result<Row> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let sender = std::thread::spawn(move || -> Result<()> {
        let mut s = TcpStream::connect(addr)?;
        let buf = vec![0x5au8; CHUNK];
        // Ends when the receiver closes the connection.
        while s.write_all(&buf).is_ok() {}
        Ok(())
    });
    let (mut sock, _) = listener.accept()?;
    let mut buf = vec![0u8; READ];
    let (mut file, mut files, mut pos) = (None::<File>, 0u32, FILE_BYTES);
    let start = Instant::now();
    let mut mark: Option<(Instant, f64, u64, u64)> = None;
    let (mut bytes, mut reads) = (0u64, 0u64);
    loop {
        if mark.is_none() && start.elapsed() >= warmup {
            mark = Some((Instant::now(), thread_cpu_s(), bytes, reads));
        }
        if let Some((at, ..)) = mark {
            if at.elapsed() >= measure {
                break;
            }
        }
        let n = sock.read(&mut buf).context("floor recv")?;
        if n == 0 {
            bail!("floor sender closed the connection");
        }
        if pos >= FILE_BYTES {
            files += 1;
            file = Some(File::create(dir.join(format!("floor-{files}.log")))?);
            pos = 0;
        }
        if let Some(f) = &file {
            f.write_all_at(&buf[..n], pos)?;
        }
        pos += n as u64;
        bytes += n as u64;
        reads += 1;
    }
    let (at, cpu0, bytes0, reads0) = mark.context("no measured window")?;
    let (wall, cpu) = (at.elapsed().as_secs_f64(), thread_cpu_s() - cpu0);
    drop(sock);
    let _ = sender.join();
    drop(file);
    for n in 1..=files {
        std::fs::remove_file(dir.join(format!("floor-{n}.log")))?;
    }
    Ok(row(
        "floor recv+write",
        "floor",
        bytes - bytes0,
        reads - reads0,
        wall,
        cpu,
        "one thread: loopback TCP reads of up to 128 KiB, each pwritten to a file (new file per GiB); sender writes 64 KiB; CPU is that thread's; one request = one read".into(),
    ))
}

/// Writes `bytes` to a file (into the page cache), then sends it whole over loopback with
/// sendfile; the row covers the send.
pub fn sendfile(dir: &Path, bytes: u64) -> Result<Row> {
    let path = dir.join("floor-sendfile.log");
    // Read access too: sendfile reads from it.
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path)?;
    let chunk = vec![0xa5u8; CHUNK];
    let mut pos = 0u64;
    while pos < bytes {
        file.write_all_at(&chunk, pos)?;
        pos += CHUNK as u64;
    }
    let total = pos;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let receiver = std::thread::spawn(move || -> Result<u64> {
        let mut s = TcpStream::connect(addr)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0u64;
        while got < total {
            match s.read(&mut buf)? {
                0 => break,
                n => got += n as u64,
            }
        }
        Ok(got)
    });
    let (sock, _) = listener.accept()?;
    let (t0, c0) = (Instant::now(), thread_cpu_s());
    let mut off: libc::off_t = 0;
    while (off as u64) < total {
        let want = SENDFILE_CALL.min((total - off as u64) as usize);
        // SAFETY: both descriptors are open for this call (the socket and the file live on this
        // stack frame), and `off` is a live local that sendfile updates.
        let n = unsafe { libc::sendfile(sock.as_raw_fd(), file.as_raw_fd(), &mut off, want) };
        if n <= 0 {
            bail!("sendfile: {}", std::io::Error::last_os_error());
        }
    }
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), thread_cpu_s() - c0);
    let got = receiver.join().map_err(|_| anyhow::anyhow!("floor receiver panicked"))??;
    if got != total {
        bail!("floor receiver got {got} of {total} bytes");
    }
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(row(
        "floor sendfile 16 MiB calls",
        "floor",
        total,
        total.div_ceil(SENDFILE_CALL as u64),
        wall,
        cpu,
        "one thread: sendfile of a page-cached file to a loopback socket; CPU is that thread's".into(),
    ))
}
