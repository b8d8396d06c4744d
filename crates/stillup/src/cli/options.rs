//! Which option applies to which kind of target: one table that flags, `STILLUP_*`
//! variables and config-file keys all consult, so that an option is either used for a
//! target or refused before any request — never accepted and silently ignored.
//!
//! Keys are long flag names (the config file's keys and, upper-cased, the variables' names).
//! This table is the seed of one declaration per option (name, type, variable, config key,
//! scope, kinds, help); for now it holds the kinds alone, and a test keeps it complete.

use stillup_core::target::Target;

/// A kind of target, as options see it: `http+unix://` is HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Http,
    Tcp,
    Grpc,
}

impl Kind {
    pub fn of(target: &Target) -> Kind {
        match target {
            Target::Http(_) => Kind::Http,
            Target::Tcp(_) => Kind::Tcp,
            Target::Grpc(_) => Kind::Grpc,
        }
    }

    /// "a TCP target", for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Http => "an HTTP target",
            Kind::Tcp => "a TCP target",
            Kind::Grpc => "a gRPC target",
        }
    }

    /// The schemes of this kind, for messages.
    pub fn schemes(self) -> &'static str {
        match self {
            Kind::Http => "http(s)://, http+unix://",
            Kind::Tcp => "tcp://",
            Kind::Grpc => "grpc(s)://",
        }
    }
}

const ALL: &[Kind] = &[Kind::Http, Kind::Tcp, Kind::Grpc];
const HTTP: &[Kind] = &[Kind::Http];
/// Request metadata and TLS: a gRPC call is an HTTP/2 request and takes them too.
const HTTP_GRPC: &[Kind] = &[Kind::Http, Kind::Grpc];

/// Every option of `wait`, `check` and `watch`, with the kinds of target it applies to.
pub const APPLIES_TO: &[(&str, &[Kind])] = &[
    // What to probe and how many must be ready.
    ("targets", ALL),
    ("config", ALL),
    ("targets-file", ALL),
    ("any", ALL),
    ("require", ALL),
    // The schedule and the goal.
    ("until", ALL),
    ("successes", ALL),
    ("fail-fast", ALL),
    ("fail-when", HTTP),
    ("timeout", ALL),
    ("interval", ALL),
    ("backoff", ALL),
    ("max-interval", ALL),
    ("jitter", ALL),
    ("keep-alive", HTTP),
    ("refused-interval", ALL),
    ("attempt-timeout", ALL),
    // What makes an attempt healthy. Every kind has an answer whose latency can be bounded:
    // the response (HTTP), the accepted connection (TCP), the health call's answer (gRPC).
    ("expect-status", HTTP),
    ("expect-json", HTTP),
    ("expect-body", HTTP),
    ("expect-header", HTTP),
    ("max-latency", ALL),
    ("max-body", HTTP),
    // The request.
    ("method", HTTP),
    ("header", HTTP_GRPC),
    ("data", HTTP),
    ("data-file", HTTP),
    ("user", HTTP_GRPC),
    ("bearer", HTTP_GRPC),
    ("http2", HTTP),
    ("no-follow", HTTP),
    // TLS (https://, grpcs://).
    ("insecure", HTTP_GRPC),
    ("cacert", HTTP_GRPC),
    ("cert", HTTP_GRPC),
    ("key", HTTP_GRPC),
    // Where to connect.
    ("resolve", ALL),
    ("connect-to", ALL),
    // Output.
    ("output", ALL),
    ("quiet", ALL),
    ("color", ALL),
    // watch.
    ("duration", ALL),
    ("rate", ALL),
    ("max-in-flight", ALL),
    ("max-downtime", ALL),
    ("max-outages", ALL),
    ("min-availability", ALL),
    ("report", ALL),
];

/// The kinds `key` applies to; an option missing from the table applies to none (a test
/// keeps every option in it).
pub fn kinds(key: &str) -> &'static [Kind] {
    APPLIES_TO
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(&[], |(_, kinds)| kinds)
}

/// Whether `key` means something for a target of `kind`.
pub fn applies(key: &str, kind: Kind) -> bool {
    kinds(key).contains(&kind)
}

/// "http(s)://, http+unix:// targets", for messages.
pub fn described(key: &str) -> String {
    let schemes: Vec<&str> = kinds(key).iter().map(|k| k.schemes()).collect();
    format!("{} targets", schemes.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every option of every command that probes is in the table, once.
    #[test]
    fn every_option_of_wait_check_and_watch_is_in_the_table() {
        let cli = super::super::args::Cli::command();
        for name in ["wait", "check", "watch"] {
            for arg in cli.find_subcommand(name).unwrap().get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version" | "command") {
                    continue;
                }
                let key = arg.get_long().unwrap_or(id);
                assert!(
                    !kinds(key).is_empty(),
                    "--{key} of {name} is not in APPLIES_TO"
                );
            }
        }
        for (i, (key, _)) in APPLIES_TO.iter().enumerate() {
            assert!(
                APPLIES_TO[i + 1..].iter().all(|(k, _)| k != key),
                "{key} twice"
            );
        }
    }

    #[test]
    fn http_only_options_name_the_kinds_they_apply_to() {
        assert!(!applies("expect-status", Kind::Tcp));
        assert!(applies("max-latency", Kind::Tcp));
        assert!(applies("header", Kind::Grpc));
        assert_eq!(
            described("expect-status"),
            "http(s)://, http+unix:// targets"
        );
    }
}
