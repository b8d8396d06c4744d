//! Modules of the exporter: named sets of probe options that `/probe?module=NAME` applies
//! to its target. Each source (the TOML config's `[modules.NAME]`, a blackbox_exporter
//! `blackbox.yml`) produces a [`ModuleDef`]: the options as the flags would give them, with
//! where each came from; the exporter judges them as it judges flags.

use crate::cli::args::ProbeArgs;
use crate::cli::input::{Origin, Origins};
use crate::cli::options::Kind;

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpProtocol {
    Ip4,
    Ip6,
}

/// Which addresses of a name to try first (blackbox's `preferred_ip_protocol`), and whether
/// the other family may be tried at all (`ip_protocol_fallback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPreference {
    pub preferred: IpProtocol,
    pub fallback: bool,
}

/// One module as a file declares it, before its values are judged.
#[derive(Debug, Clone)]
pub struct ModuleDef {
    pub name: String,
    /// Where the module is declared (`file:line`), for messages about it as a whole.
    pub origin: Origin,
    /// The kind of target it probes (blackbox's `prober`), when the file says; a target
    /// without a scheme takes it, a target with another scheme is refused.
    pub prober: Option<Kind>,
    /// Its options as the flags would give them (`WaitArgs::defaults().probe` where unset);
    /// `attempt_timeout` is the module's timeout.
    pub args: ProbeArgs,
    /// Where each option that was set came from (file, line, key).
    pub origins: Origins,
    /// Address family preference, when the file sets one.
    pub ip: Option<IpPreference>,
}
