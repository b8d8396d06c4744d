//! The one integration binary: runs the real `stillup` binary against in-process
//! `ScriptedServer`s (and a few hand-written listeners) on 127.0.0.1, port 0 only.
//!
//! Tests assert failure classes and their order, exit codes, and time bounds with generous
//! slack — never tight timings: the machine running them is shared and noisy.

mod integration {
    mod support;

    mod amqp;
    #[cfg(unix)]
    mod blackbox;
    mod broken_http;
    mod conditions;
    mod config;
    mod deadlines;
    #[cfg(target_os = "linux")]
    mod dns;
    mod exec;
    mod exporter;
    mod failfast;
    mod grpc;
    mod hostile;
    #[cfg(unix)]
    mod html_report;
    mod http2;
    mod limits;
    mod mqtt;
    mod mysql;
    mod nats;
    mod network;
    mod output;
    mod output_files;
    mod packaging;
    #[cfg(unix)]
    mod postgres;
    #[cfg(unix)]
    mod prometheus;
    mod proxy;
    #[cfg(unix)]
    mod recipes;
    mod redis;
    mod request;
    mod reverse;
    mod schema;
    mod secrets;
    mod signals;
    mod stability;
    mod status;
    mod story;
    #[cfg(target_os = "linux")]
    mod stub_dns;
    mod targets;
    mod tcp;
    mod terminal;
    mod tls;
    #[cfg(unix)]
    mod unix;
    mod usage;
    mod watch;
}
