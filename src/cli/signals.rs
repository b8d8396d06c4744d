//! SIGINT and SIGTERM: the one place that listens for them (the `-- COMMAND` runner listens
//! on its own, to forward each one to the child).

use tokio::signal::unix::{signal, SignalKind};

use super::exit::Signal;

/// Completes at the first SIGINT or SIGTERM, saying which.
pub async fn next_signal() -> Signal {
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers the default actions still end the process.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => Signal::Interrupt,
        _ = terminate.recv() => Signal::Terminate,
    }
}
