//! The fuzzer plays the server: whatever bytes come back on a real loopback connection, a
//! probe ends within its budget with a healthy result or a classified failure, never a
//! panic or a hang.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use stillup_core::{Deadline, HttpProbe, HttpTarget, Prober};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let bytes = data.to_vec();
    runtime().block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let url = format!(
            "http://{}/health",
            listener.local_addr().expect("an address")
        );
        let server = tokio::spawn(async move {
            if let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(&bytes).await;
                let _ = stream.shutdown().await;
            }
        });
        let mut probe = HttpProbe::new(HttpTarget::parse(&url).expect("a valid URL"));
        probe.max_body = 64 * 1024;
        probe
            .conditions
            .json
            .push(stillup_core::condition::JsonCondition::parse("$.status == \"ok\"").expect("valid"));
        let budget = Deadline::after(Duration::from_millis(500));
        let result = probe.probe_once(&budget).await;
        if let Err(failure) = &result.result {
            assert!(stillup_core::FailureClass::ALL.contains(&failure.class()));
        }
        server.abort();
    });
});
