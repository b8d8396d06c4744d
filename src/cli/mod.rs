//! The command-line front end: arguments, validation, presentation, exit codes. The engine
//! lives in the library; this module only decides what to run and how to show it.

pub mod args;
pub mod config;
pub mod demo;
pub mod exec;
pub mod exit;
pub mod file;
pub mod html;
pub mod progress;
pub mod render;
pub mod signals;
pub mod watch;
