//! The registry: every kind of target stillup probes, one module per protocol, tied together
//! here and nowhere else.
//!
//! Each protocol module owns its URL schemes (`SCHEMES`), its target type and parser, its
//! probe (a [`Prober`] that classifies its own failures) and how it takes the shared options
//! ([`Configure`]). This file turns them into the closed enums [`Target`], [`Probe`] and
//! [`Kind`] — closed because [`Prober::probe_once`] returns `impl Future` and so cannot be a
//! trait object, and because the command line must see a new kind as a compile error, not as
//! a silent fallback.
//!
//! # Adding a protocol
//!
//! 1. Write `probe/<proto>/mod.rs` exporting `SCHEMES`, `XTarget` (with `parse`, `host`,
//!    `port`, `uses_tls`, `Display` without secrets) and `XProbe` (with `new`, [`Prober`] and
//!    [`Configure`]); its tests beside it and in `crates/stillup/tests/integration/<proto>.rs`.
//! 2. Here: `pub mod <proto>;` and one line in the `kinds!` table below, saying what the kind
//!    is called and which shared options it takes (TLS, a login, a token).
//!
//! Nothing else in the code changes: the command line derives which options apply to the
//! kind, and its messages, from [`Kind::ALL`] and [`KindInfo`]. In the docs, the README's
//! applicability table gains a column: `cargo test -p stillup --lib applicability` prints it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::deadline::Deadline;
use crate::login::Login;
use crate::net::overrides::AddressOverrides;
use crate::redact::{has_ambiguous_userinfo, Secret};
use crate::target::{redact_input, TargetError};

mod prober;

pub mod amqp;
pub mod grpc;
pub mod http;
pub mod mqtt;
pub mod mysql;
pub mod nats;
pub mod pool;
pub mod postgres;
pub mod redis;
pub mod tcp;

pub(crate) use prober::AbortOnDrop;
pub use prober::{Configure, ProbeDetails, ProbeResult, Prober, TlsDetails};

pub use amqp::{AmqpProbe, AmqpTarget};
pub use grpc::{GrpcProbe, GrpcTarget};
pub use http::{HttpProbe, HttpTarget, Scheme};
pub use mqtt::{MqttProbe, MqttTarget};
pub use mysql::{MysqlProbe, MysqlTarget};
pub use nats::{NatsProbe, NatsTarget};
pub use pool::ConnectionPool;
pub use postgres::{PostgresProbe, PostgresTarget};
pub use redis::{RedisProbe, RedisTarget};
pub use tcp::{TcpProbe, TcpTarget};

/// What the command line needs to know of a kind of target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// The stable word for the kind, in JSON reports: `http`, `postgres`.
    pub name: &'static str,
    /// The kind in a sentence: `an HTTP target`.
    pub noun: &'static str,
    /// Its URL schemes, lower case.
    pub schemes: &'static [&'static str],
    /// Whether it may speak TLS, and so takes `--cacert`, `--insecure`, `--cert` / `--key`.
    pub speaks_tls: bool,
    /// Whether it logs in with a user and a secret (`--user`).
    pub takes_login: bool,
    /// Whether it logs in with a token (`--bearer`).
    pub takes_token: bool,
}

impl KindInfo {
    /// `tcp://`, or `grpc://, grpcs://`, for messages and tables.
    pub fn scheme_list(&self) -> String {
        let written: Vec<String> = self.schemes.iter().map(|s| format!("{s}://")).collect();
        written.join(", ")
    }
}

/// Generates the closed enums and their dispatch from one table of kinds.
macro_rules! kinds {
    ($(
        $(#[$doc:meta])*
        $variant:ident($module:ident::$target:ident, $probe:ident) {
            name: $name:literal,
            noun: $noun:literal,
            tls: $tls:literal,
            login: $login:literal,
            token: $token:literal $(,)?
        }
    )*) => {
        /// A target to probe, of any supported kind.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Target {
            $( $(#[$doc])* $variant($module::$target), )*
        }

        /// A probe of any supported kind, built from a [`Target`].
        #[derive(Debug, Clone)]
        // Probes are built once per target and never moved in hot loops; boxing buys nothing.
        #[allow(clippy::large_enum_variant)]
        pub enum Probe {
            $( $(#[$doc])* $variant($module::$probe), )*
        }

        /// A kind of target: one per protocol module (`http+unix://` is HTTP).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Kind {
            $( $(#[$doc])* $variant, )*
        }

        impl Kind {
            /// Every kind, in the order of the docs' tables.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            /// What the command line needs to know of this kind.
            pub fn info(self) -> &'static KindInfo {
                match self {
                    $(Kind::$variant => &KindInfo {
                        name: $name,
                        noun: $noun,
                        schemes: $module::SCHEMES,
                        speaks_tls: $tls,
                        takes_login: $login,
                        takes_token: $token,
                    },)*
                }
            }
        }

        impl Target {
            fn parse_kind(kind: Kind, input: &str) -> Result<Target, TargetError> {
                match kind {
                    $(Kind::$variant => $module::$target::parse(input).map(Target::$variant),)*
                }
            }

            /// The kind of target.
            pub fn kind(&self) -> Kind {
                match self {
                    $(Target::$variant(_) => Kind::$variant,)*
                }
            }

            /// The host to connect to, as written (no IPv6 brackets); for `http+unix://`, the
            /// `Host` header's.
            pub fn host(&self) -> &str {
                match self {
                    $(Target::$variant(target) => target.host(),)*
                }
            }

            /// The port to connect to (the scheme's default when the URL has none).
            pub fn port(&self) -> u16 {
                match self {
                    $(Target::$variant(target) => target.port(),)*
                }
            }

            /// Whether attempts may use TLS, and so need the trust store.
            pub fn uses_tls(&self) -> bool {
                match self {
                    $(Target::$variant(target) => target.uses_tls(),)*
                }
            }
        }

        impl fmt::Display for Target {
            /// Safe to print: credentials were removed at parse time.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Target::$variant(target) => target.fmt(f),)*
                }
            }
        }

        impl Probe {
            /// The default probe for `target`: for HTTP, GET with `2xx` expected; for the
            /// others, their protocol's readiness check.
            pub fn new(target: Target) -> Self {
                match target {
                    $(Target::$variant(target) => Probe::$variant($module::$probe::new(target)),)*
                }
            }

            /// The kind of target probed.
            pub fn target_kind(&self) -> Kind {
                match self {
                    $(Probe::$variant(_) => Kind::$variant,)*
                }
            }
        }

        $(
            impl From<$module::$probe> for Probe {
                fn from(probe: $module::$probe) -> Self {
                    Probe::$variant(probe)
                }
            }
        )*

        impl Prober for Probe {
            async fn probe_once(&self, budget: &Deadline) -> ProbeResult {
                match self {
                    $(Probe::$variant(probe) => probe.probe_once(budget).await,)*
                }
            }

            fn describe(&self) -> String {
                match self {
                    $(Probe::$variant(probe) => probe.describe(),)*
                }
            }

            fn reuses_connections(&self) -> bool {
                match self {
                    $(Probe::$variant(probe) => probe.reuses_connections(),)*
                }
            }

            fn kind(&self) -> &'static str {
                self.target_kind().info().name
            }
        }

        impl Configure for Probe {
            fn set_addresses(&mut self, addresses: AddressOverrides) {
                match self {
                    $(Probe::$variant(probe) => probe.set_addresses(addresses),)*
                }
            }

            fn set_max_latency(&mut self, limit: Option<Duration>) {
                match self {
                    $(Probe::$variant(probe) => probe.set_max_latency(limit),)*
                }
            }

            fn set_tls(&mut self, config: &Arc<rustls::ClientConfig>) {
                match self {
                    $(Probe::$variant(probe) => probe.set_tls(config),)*
                }
            }

            fn set_login(&mut self, login: Login) {
                match self {
                    $(Probe::$variant(probe) => probe.set_login(login),)*
                }
            }

            fn set_token(&mut self, token: Secret) {
                match self {
                    $(Probe::$variant(probe) => probe.set_token(token),)*
                }
            }
        }
    };
}

kinds! {
    /// `http://`, `https://` and `http+unix://`: a request whose response must meet the
    /// conditions.
    Http(http::HttpTarget, HttpProbe) {
        name: "http", noun: "an HTTP target", tls: true, login: true, token: true,
    }
    /// `tcp://host:port`: healthy when a TCP connection is accepted.
    Tcp(tcp::TcpTarget, TcpProbe) {
        name: "tcp", noun: "a TCP target", tls: false, login: false, token: false,
    }
    /// `grpc://host:port[/service]` and `grpcs://…`: the standard gRPC health check.
    Grpc(grpc::GrpcTarget, GrpcProbe) {
        name: "grpc", noun: "a gRPC target", tls: true, login: true, token: true,
    }
    /// `postgres://` and `postgresql://`: accepting connections (pg_isready's rule), or with
    /// a password, logged in and `SELECT 1` answered.
    Postgres(postgres::PostgresTarget, PostgresProbe) {
        name: "postgres", noun: "a PostgreSQL target", tls: true, login: true, token: false,
    }
    /// `mysql://[user[:secret]@]host[:port][/db][?ssl-mode=…]` and `mariadb://…`: the server's
    /// handshake, or with a user a login and `SELECT 1`.
    Mysql(mysql::MysqlTarget, MysqlProbe) {
        name: "mysql", noun: "a MySQL target", tls: true, login: true, token: false,
    }
    /// `redis://[[user]:secret@]host[:port][/db][?role=master]` and `rediss://…`: `PING`
    /// (after `AUTH`), with `SELECT` and `ROLE` when asked.
    Redis(redis::RedisTarget, RedisProbe) {
        name: "redis", noun: "a Redis target", tls: true, login: true, token: false,
    }
    /// `amqp://[user[:secret]@]host[:port][/vhost]` and `amqps://…`: an AMQP 0-9-1 broker.
    Amqp(amqp::AmqpTarget, AmqpProbe) {
        name: "amqp", noun: "an AMQP broker", tls: true, login: true, token: false,
    }
    /// `mqtt://[user[:secret]@]host[:port]` and `mqtts://…`: an MQTT 3.1.1 broker.
    Mqtt(mqtt::MqttTarget, MqttProbe) {
        name: "mqtt", noun: "an MQTT broker", tls: true, login: true, token: false,
    }
    /// `nats://[user:secret@|token@]host[:port]` and `nats+tls://…`: the server's `INFO`,
    /// then `CONNECT` and `PING`.
    Nats(nats::NatsTarget, NatsProbe) {
        name: "nats", noun: "a NATS target", tls: true, login: true, token: true,
    }
}

impl Target {
    /// Parse a target of any kind: the scheme picks the protocol module that parses the rest.
    pub fn parse(input: &str) -> Result<Target, TargetError> {
        let trimmed = input.trim();
        // Guessing would send a piece of the password, as a host or a path, to the wrong host.
        if has_ambiguous_userinfo(trimmed) {
            return Err(TargetError::AmbiguousUserinfo {
                input: redact_input(trimmed),
            });
        }
        let Some((scheme, _)) = trimmed.split_once("://") else {
            // `localhost:8080/health`: the common slip is a missing `http://`.
            return Target::parse_kind(Kind::Http, trimmed);
        };
        let scheme = scheme.to_ascii_lowercase();
        match Kind::of_scheme(&scheme) {
            Some(kind) => Target::parse_kind(kind, trimmed),
            None => Err(TargetError::UnsupportedScheme {
                input: redact_input(trimmed),
                scheme: scheme.to_string(),
                supported: supported_schemes(),
            }),
        }
    }

    /// The HTTP target, if this is one.
    pub fn as_http(&self) -> Option<&HttpTarget> {
        match self {
            Target::Http(http) => Some(http),
            _ => None,
        }
    }
}

impl std::str::FromStr for Target {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::parse(s)
    }
}

impl Kind {
    /// The kind whose module owns `scheme` (lower case).
    pub fn of_scheme(scheme: &str) -> Option<Kind> {
        Kind::ALL
            .iter()
            .copied()
            .find(|kind| kind.info().schemes.contains(&scheme))
    }

    /// The stable word for the kind: `http`, `tcp`, `grpc`.
    pub fn as_str(self) -> &'static str {
        self.info().name
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// Tests and callers compare a kind with its word: `target.kind() == "tcp"`.
impl PartialEq<&str> for Kind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Every scheme stillup probes, for messages: `http://, https://, …, tcp:// or grpcs://`.
pub fn supported_schemes() -> String {
    let all: Vec<String> = Kind::ALL
        .iter()
        .flat_map(|kind| kind.info().schemes)
        .map(|scheme| format!("{scheme}://"))
        .collect();
    match all.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => all.concat(),
    }
}

impl Probe {
    /// The HTTP probe, for setting conditions and request options.
    pub fn as_http_mut(&mut self) -> Option<&mut HttpProbe> {
        match self {
            Probe::Http(http) => Some(http),
            _ => None,
        }
    }

    /// The gRPC probe, for setting metadata.
    pub fn as_grpc_mut(&mut self) -> Option<&mut GrpcProbe> {
        match self {
            Probe::Grpc(grpc) => Some(grpc),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_belongs_to_exactly_one_kind_and_parses_as_it() {
        let mut seen = std::collections::HashSet::new();
        for kind in Kind::ALL {
            let info = kind.info();
            assert!(!info.schemes.is_empty(), "{kind} has no scheme");
            for scheme in info.schemes {
                assert!(seen.insert(*scheme), "{scheme}:// belongs to two kinds");
                assert_eq!(Kind::of_scheme(scheme), Some(*kind));
                assert_eq!(
                    scheme.to_ascii_lowercase(),
                    *scheme,
                    "schemes are lower case"
                );
            }
        }
        assert_eq!(Kind::ALL.len(), Kind::ALL.iter().map(|k| k.as_str()).len());
    }

    #[test]
    fn an_unknown_scheme_is_refused_naming_every_supported_one() {
        let e = Target::parse("ftp://files.internal/").unwrap_err();
        let text = e.to_string();
        for kind in Kind::ALL {
            for scheme in kind.info().schemes {
                assert!(text.contains(&format!("{scheme}://")), "{text}");
            }
        }
        assert!(text.contains(" or "), "{text}");
        // Upper-case schemes are the same scheme.
        assert_eq!(Target::parse("TCP://db:5432").unwrap().kind(), Kind::Tcp);
    }

    #[test]
    fn a_probe_built_from_a_target_is_of_its_kind() {
        for (input, kind) in [
            ("http://127.0.0.1:8080/health", Kind::Http),
            ("tcp://127.0.0.1:5432", Kind::Tcp),
            ("grpcs://127.0.0.1:50051", Kind::Grpc),
        ] {
            let target = Target::parse(input).unwrap();
            assert_eq!(target.kind(), kind);
            assert_eq!(target.host(), "127.0.0.1");
            let probe = Probe::new(target);
            assert_eq!(probe.target_kind(), kind);
            assert_eq!(Prober::kind(&probe), kind.as_str());
        }
    }
}
