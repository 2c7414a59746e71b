//! `odradek`: runs the broker until SIGTERM or Ctrl-C.

use odradek::{Broker, Config};
use std::time::Instant;

const HELP: &str = "odradek — a Kafka-compatible broker

USAGE: odradek [--config server.properties] [--override key=value]... [--<kafka-key> value]...

Every setting is an Apache Kafka config key; a flag --a-b-c sets a.b.c, and ODRADEK_A_B_C=v sets it
from the environment. Common ones: --listeners HOST:PORT (default 0.0.0.0:9092), --advertised-listeners
HOST:PORT, --data-dir DIR (log.dirs, default ./data), --num-partitions N, --auto-create-topics-enable
BOOL, --segment-bytes N, --retention-ms N, --message-max-bytes N, --socket-request-max-bytes N.
Precedence: defaults < --config < env < flags < --override.\n--api-versions prints the supported API table.";

fn main() -> std::process::ExitCode {
    let started = Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return std::process::ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--api-versions") {
        // The same table ApiVersions answers with.
        for (key, min, max) in odradek::server::dispatch::supported_apis() {
            println!("| {key:?} | {} | {min}–{max} |", key as i16);
        }
        return std::process::ExitCode::SUCCESS;
    }
    let config = match Config::from_args_and_env(&args, std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("odradek: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    odradek::log::LogManager::prepare_descriptors(&config.data_dir);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("odradek: cannot start runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async move {
        // Registered before the listener is bound: a SIGTERM as soon as the port answers is a
        // clean shutdown, not the default action's kill.
        let signals = shutdown_signals();
        let handle = match Broker::start(config).await {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "startup failed");
                return std::process::ExitCode::FAILURE;
            }
        };
        // The first listener leads the line (scripts wait for `listening on ADDR,`); all follow.
        let first = &handle.endpoints()[0];
        let all: Vec<String> = handle
            .endpoints()
            .iter()
            .map(|e| format!("{} {} ({}, advertised {}:{})", e.listener, handle.listener_addr(&e.listener).map_or("?".into(), |a| a.to_string()), e.protocol, e.host, e.port))
            .collect();
        tracing::info!(
            "odradek started: listening on {}, advertised {}:{}, data dir {}, in {} ms; listeners: {}",
            handle.local_addr(),
            first.host,
            first.port,
            handle.data_dir().display(),
            started.elapsed().as_millis(),
            all.join(", ")
        );
        signals.await;
        tracing::info!("shutting down");
        match handle.shutdown().await {
            Ok(()) => {
                tracing::info!("shut down cleanly");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!(error = %e, "unclean shutdown");
                std::process::ExitCode::FAILURE
            }
        }
    });
    // The logs are closed; a request still blocked in a storage thread (a long fsync, say) must
    // not keep the process alive (dropping a runtime waits for its blocking tasks forever).
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}

/// Completes on SIGTERM or SIGINT; both handlers are installed when this is called.
fn shutdown_signals() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
