//! `stillup exporter`: a Prometheus probe endpoint, compatible with blackbox_exporter's
//! metric names, that also says why a probe failed (`probe_failure_info{class}`).
//!
//! `module.rs` holds the modules (what `/probe?module=NAME` probes with), from the TOML
//! config's `[modules.NAME]` tables or a blackbox_exporter `blackbox.yml` (`blackbox.rs`).

pub mod blackbox;
pub mod module;
