//! Probes: one attempt against one target, returning what happened and how long each
//! phase took. One file per protocol; each phase reports its own failure class.

pub mod http;

pub use http::{HttpProbe, ProbeResult};
