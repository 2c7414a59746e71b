//! The broker process when the bench starts it itself: this crate's `odradek` binary on loopback
//! with a data dir the bench owns; startup timing (spawn -> first answered ApiVersions).

use crate::bench::wire::{api_versions_request, decode_response, read_frame, Frame};
use anyhow::{anyhow, bail, Context, Result};
use bytes::BytesMut;
use kafka_protocol::messages::ApiVersionsRequest;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::process::CommandExt;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub const BROKER_BIN: &str = env!("CARGO_BIN_EXE_odradek");

/// A running broker; SIGTERM (then SIGKILL after 10 s) when dropped.
pub struct BrokerProc {
    child: Child,
    pub addr: SocketAddr,
    log_tail: Arc<Mutex<VecDeque<String>>>,
    /// Receives the address from the broker's "listening on ADDR," log line.
    listening: mpsc::Receiver<String>,
    /// The SSL listener's address, from the same line.
    tls: Arc<Mutex<Option<SocketAddr>>>,
}

impl BrokerProc {
    /// Starts the broker on `listen` (port 0 for any free port) with `data_dir`. Its stderr is drained
    /// by a thread that keeps the last lines (for error reports) and reports the bound address.
    pub fn spawn(data_dir: &Path, listen: SocketAddr, partitions: usize) -> Result<BrokerProc> {
        Self::spawn_with(data_dir, listen, partitions, &[])
    }

    /// `spawn` with more `--override key=value` settings.
    pub fn spawn_with(data_dir: &Path, listen: SocketAddr, partitions: usize, overrides: &[String]) -> Result<BrokerProc> {
        let mut cmd = Command::new(BROKER_BIN);
        for o in overrides {
            cmd.arg("--override").arg(o);
        }
        // SAFETY: the closure runs in the forked child before exec and only calls prctl(2), which
        // is async-signal-safe and touches no memory of the parent. It makes the broker get
        // SIGTERM if the bench dies without dropping it (e.g. killed), so no broker is left behind.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd
            .arg("--listeners")
            .arg(listen.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--override")
            .arg(format!("num.partitions={partitions}"))
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {BROKER_BIN}"))?;
        let stderr = child.stderr.take().expect("piped stderr");
        let log_tail = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, listening) = mpsc::channel();
        let tail = log_tail.clone();
        let tls = Arc::new(Mutex::new(None));
        let tls_addr = tls.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on ").nth(1) {
                    // "listeners: PLAINTEXT 127.0.0.1:a (PLAINTEXT, ...), SSL 127.0.0.1:b (SSL, ...)"
                    if let Some(ssl) = line.split(", SSL ").nth(1).and_then(|r| r.split(' ').next()) {
                        *tls_addr.lock().unwrap() = ssl.parse().ok();
                    }
                    if let Some(t) = tx.take() {
                        let _ = t.send(rest.split(',').next().unwrap_or("").trim().to_string());
                    }
                }
                let mut q = tail.lock().unwrap();
                if q.len() == 40 {
                    q.pop_front();
                }
                q.push_back(line);
            }
        });
        Ok(BrokerProc { child, addr: listen, log_tail, listening, tls })
    }

    /// Starts the broker with a PLAINTEXT and an SSL listener on free loopback ports, its
    /// certificate from `keystore` (PEM: key and chain); returns it and the SSL address.
    pub fn start_tls(data_dir: &Path, partitions: usize, keystore: &Path) -> Result<(BrokerProc, SocketAddr)> {
        let overrides = [
            "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0".to_string(),
            "ssl.keystore.type=PEM".to_string(),
            format!("ssl.keystore.location={}", keystore.display()),
        ];
        let mut b = Self::spawn_with(data_dir, "127.0.0.1:0".parse().unwrap(), partitions, &overrides)?;
        match b.listening.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => b.addr = a.parse().with_context(|| format!("broker logged address {a:?}"))?,
            Err(_) => bail!("broker printed no 'listening on ADDR,' line within 30 s:\n{}", b.log_tail()),
        }
        let tls = b.tls.lock().unwrap().with_context(|| format!("broker logged no SSL listener:\n{}", b.log_tail()))?;
        Ok((b, tls))
    }

    /// Starts the broker on a free loopback port and waits for its "listening on" log line
    /// (the way to learn the port without racing for it).
    pub fn start(data_dir: &Path, partitions: usize) -> Result<BrokerProc> {
        let mut b = Self::spawn(data_dir, "127.0.0.1:0".parse().unwrap(), partitions)?;
        match b.listening.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => b.addr = a.parse().with_context(|| format!("broker logged address {a:?}"))?,
            Err(_) => bail!("broker printed no 'listening on ADDR,' line within 30 s:\n{}", b.log_tail()),
        }
        Ok(b)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_tail(&self) -> String {
        self.log_tail.lock().unwrap().iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// SIGTERM and wait for the exit (SIGKILL after `grace`).
    pub fn stop(mut self, grace: Duration) -> Result<ExitStatus> {
        self.terminate(grace)
    }

    fn terminate(&mut self, grace: Duration) -> Result<ExitStatus> {
        if let Some(st) = self.child.try_wait()? {
            return Ok(st);
        }
        // SAFETY: kill(2) on the pid of a child we have not reaped yet (try_wait above returned
        // None), so the pid cannot have been reused by another process.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait()? {
                return Ok(st);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let st = self.child.wait()?;
        bail!("broker did not exit within {grace:?} of SIGTERM; killed ({st})")
    }
}

impl Drop for BrokerProc {
    fn drop(&mut self) {
        let _ = self.terminate(Duration::from_secs(10));
    }
}

/// A loopback port that was free a moment ago (the broker binds it right after).
pub fn free_port() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// Starts the broker on a known port and times spawn -> first answered ApiVersions request,
/// connecting in a tight loop. Returns the time and the running broker.
pub fn timed_start(data_dir: &Path, partitions: usize) -> Result<(Duration, BrokerProc)> {
    let mut frame = Frame::encode(3, &api_versions_request());
    frame.set_corr(1);
    let mut last_err = None;
    for _attempt in 0..3 {
        let addr = free_port()?;
        let t0 = Instant::now();
        let mut b = BrokerProc::spawn(data_dir, addr, partitions)?;
        let deadline = t0 + Duration::from_secs(60);
        let stream = loop {
            match TcpStream::connect(addr) {
                Ok(s) => break Some(s),
                Err(e) if matches!(e.kind(), ErrorKind::ConnectionRefused | ErrorKind::Interrupted) => {
                    if Instant::now() > deadline || b.child.try_wait()?.is_some() {
                        break None;
                    }
                    std::thread::yield_now();
                }
                Err(e) => return Err(e).context("connect to the starting broker"),
            }
        };
        let Some(mut s) = stream else {
            last_err = Some(anyhow!("broker on {addr} never accepted a connection:\n{}", b.log_tail()));
            let _ = b.terminate(Duration::from_secs(5));
            continue; // the port may have been taken meanwhile: try another
        };
        s.set_nodelay(true)?;
        s.write_all(&frame.bytes)?;
        let mut buf = BytesMut::new();
        read_frame(&mut s, &mut buf)?;
        let elapsed = t0.elapsed();
        let resp = decode_response::<ApiVersionsRequest>(buf.freeze(), 1, 3)?;
        if resp.error_code != 0 {
            bail!("ApiVersions error {}", resp.error_code);
        }
        return Ok((elapsed, b));
    }
    Err(last_err.unwrap_or_else(|| anyhow!("broker did not start")))
}

/// A data dir under the system temp dir, removed on drop.
pub fn temp_data_dir() -> Result<(tempfile::TempDir, PathBuf)> {
    let d = tempfile::Builder::new().prefix("odradek-bench-").tempdir()?;
    let p = d.path().to_path_buf();
    Ok((d, p))
}
