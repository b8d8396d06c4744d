//! The command-line front end: arguments, validation, presentation, exit codes. The engine
//! lives in the library; this module only decides what to run and how to show it.
//!
//! It sits in the library (behind the `cli` feature, hidden from the docs) rather than in
//! `main.rs` so that the fuzz targets can reach the config-file parser; it is the binary's
//! code, not an API.

pub mod args;
pub mod classes;
pub mod config;
pub mod demo;
pub mod exec;
pub mod exit;
pub mod exporter;
pub(crate) mod file;
pub(crate) mod html;
pub mod input;
pub mod manual;
pub mod markdown;
pub mod metrics;
pub mod openmetrics;
pub mod options;
pub mod output;
pub mod output_file;
pub(crate) mod progress;
pub mod render;
pub mod signals;
pub mod watch;
