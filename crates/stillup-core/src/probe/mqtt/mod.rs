//! `mqtt://[user[:secret]@]host[:port]` and `mqtts://…`: an MQTT 3.1.1 broker, ready when it
//! accepts a CONNECT.
//!
//! Each attempt connects with a clean session and a fresh random client identifier, so probes
//! never take over each other's session or a real client's (a broker disconnects the older of
//! two clients with the same identifier). The CONNACK decides: accepted is ready (and the probe
//! says DISCONNECT); `server unavailable` and `identifier rejected` are `server_unavailable`;
//! `bad user name or password` and `not authorized` are `auth_failed` when the target carries
//! credentials and READY when it does not (the broker answered and asks for a login: it
//! accepts connections). `unacceptable protocol version` is `protocol_mismatch`: the port is a
//! broker that does not speak MQTT 3.1.1, which waiting will not change.

pub mod wire;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use url::Url;

use crate::deadline::Deadline;
use crate::failure::{Failure, NotReadyReason};
use crate::login::Login;
use crate::net::overrides::AddressOverrides;
use crate::net::sniff;
use crate::net::tls;
use crate::probe::{Configure, ProbeResult, Prober};
use crate::redact::has_ambiguous_userinfo;
use crate::target::{authority, percent_decode, redact_input, TargetError};
use crate::timings::PhaseTimings;

use wire::{Answer, Verdict};

/// URL schemes this module owns.
pub const SCHEMES: &[&str] = &["mqtt", "mqtts"];

/// A well-formed target, for error messages.
const EXAMPLE: &str = "mqtt://user:secret@broker.internal:1883";
/// Who answers, in failures.
const SERVER: &str = "MQTT broker";
/// Asked for in the CONNECT; the probe disconnects long before it matters.
const KEEP_ALIVE_SECS: u16 = 10;
/// Bytes of the broker's first answer kept: a CONNACK is decided within 7, the rest is for
/// showing what another protocol sent.
const FIRST_BYTES: usize = 64;
/// How long the closing DISCONNECT may take; the verdict is already decided.
const GOODBYE: Duration = Duration::from_millis(500);

/// Characters escaped when a user name is shown in a URL: all but RFC 3986's unreserved ones.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// An MQTT broker: where it is, whether TLS is spoken from the start, and the login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttTarget {
    host: String,
    port: u16,
    tls: bool,
    login: Option<Login>,
}

impl MqttTarget {
    /// Parse `mqtt://[user[:secret]@]host[:port]` (default port 1883) or `mqtts://…` (8883).
    /// `input` is trimmed and its scheme is one of [`SCHEMES`] (any case).
    pub fn parse(input: &str) -> Result<MqttTarget, TargetError> {
        let trimmed = input.trim();
        let shown = || redact_input(trimmed);
        if has_ambiguous_userinfo(trimmed) {
            return Err(TargetError::AmbiguousUserinfo { input: shown() });
        }
        let url = Url::parse(trimmed).map_err(|e| TargetError::NotAUrl {
            input: shown(),
            reason: e.to_string(),
        })?;
        let tls = match url.scheme() {
            "mqtt" => false,
            "mqtts" => true,
            other => {
                return Err(TargetError::UnsupportedScheme {
                    input: shown(),
                    scheme: other.to_string(),
                    supported: crate::probe::supported_schemes(),
                })
            }
        };
        let malformed = |problem: String| TargetError::Malformed {
            input: shown(),
            problem,
            example: EXAMPLE,
        };
        let host = url.host_str().unwrap_or_default();
        if host.is_empty() {
            return Err(TargetError::MissingHost { input: shown() });
        }
        let port = match url.port() {
            Some(0) => return Err(TargetError::PortZero { input: shown() }),
            Some(port) => port,
            None if tls => 8883,
            None => 1883,
        };
        if !matches!(url.path(), "" | "/") {
            return Err(malformed(
                "has a path, but an MQTT target names only a broker (no topic)".into(),
            ));
        }
        if let Some((name, _)) = url.query_pairs().next() {
            return Err(malformed(format!(
                "has an unknown parameter {name:?} (MQTT targets take none)"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(malformed(
                "has a query or fragment, which MQTT targets cannot use".into(),
            ));
        }
        let user = percent_decode(url.username());
        let password = url.password().map(percent_decode);
        let login = match (user.is_empty(), password) {
            (true, None) => None,
            // CONNECT may carry a password only together with a user name.
            (true, Some(_)) => return Err(malformed(
                "has a password but no user name, and MQTT sends a password only with a user name"
                    .into(),
            )),
            (false, password) => Some(Login::new(user, password.as_deref())),
        };
        if let Some(login) = &login {
            if login.user.len() > wire::MAX_STRING || login.password().len() > wire::MAX_STRING {
                return Err(malformed(format!(
                    "has a user name or password longer than the {} bytes MQTT can send",
                    wire::MAX_STRING
                )));
            }
        }
        Ok(MqttTarget {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            tls,
            login,
        })
    }

    /// Host as written, without IPv6 brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to (1883, or 8883 for `mqtts://`, unless given).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether attempts use TLS (`mqtts://`).
    pub fn uses_tls(&self) -> bool {
        self.tls
    }

    /// The login in the URL, if any.
    pub fn login(&self) -> Option<&Login> {
        self.login.as_ref()
    }
}

impl fmt::Display for MqttTarget {
    /// The URL with the password shown as `<redacted>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", if self.tls { "mqtts" } else { "mqtt" })?;
        if let Some(login) = &self.login {
            write!(f, "{}", utf8_percent_encode(&login.user, USERINFO))?;
            if login.password.is_some() {
                f.write_str(":<redacted>")?;
            }
            f.write_str("@")?;
        }
        f.write_str(&authority(&self.host, self.port))
    }
}

/// Probe one MQTT broker with a CONNECT.
#[derive(Debug, Clone)]
pub struct MqttProbe {
    /// The broker.
    pub target: MqttTarget,
    /// `--resolve` / `--connect-to`: where to connect instead of where DNS points.
    pub addresses: AddressOverrides,
    /// `--max-latency`: the longest the whole exchange may take.
    pub max_latency: Option<Duration>,
    /// Trust and client certificate for `mqtts://`.
    pub tls: Arc<rustls::ClientConfig>,
    /// The login sent: the URL's, unless `--user` replaced it.
    pub login: Option<Login>,
}

impl MqttProbe {
    /// A probe of `target` with the system's trust store, no overrides and no latency limit.
    pub fn new(target: MqttTarget) -> MqttProbe {
        MqttProbe {
            login: target.login.clone(),
            target,
            addresses: AddressOverrides::default(),
            max_latency: None,
            tls: tls::default_client_config(),
        }
    }

    async fn attempt(
        &self,
        budget: &Deadline,
        timings: &mut PhaseTimings,
        remote: &mut Option<SocketAddr>,
    ) -> Result<(), Failure> {
        let host = self.target.host();
        let (tcp, addr) = self
            .addresses
            .connect(host, self.target.port(), budget, timings)
            .await?;
        *remote = Some(addr);
        if !self.target.tls {
            return self.exchange(tcp, budget, timings).await;
        }
        let tls_started = Instant::now();
        let stream = tls::handshake_or_mismatch(self.tls.clone(), host, tcp, budget).await?;
        timings.tls = Some(tls_started.elapsed());
        self.exchange(stream, budget, timings).await
    }

    /// CONNECT, then the broker's CONNACK judged.
    async fn exchange<S>(
        &self,
        mut stream: S,
        budget: &Deadline,
        timings: &mut PhaseTimings,
    ) -> Result<(), Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let login = self.login.as_ref().map(|login| {
            (
                login.user.as_str(),
                login.password.as_ref().map(|p| p.expose()),
            )
        });
        let Some(connect) = wire::connect(&client_id(), KEEP_ALIVE_SECS, login) else {
            return Err(Failure::NotReady {
                reason: NotReadyReason::AuthFailed,
                server: SERVER,
                said: format!(
                    "stillup cannot send a user name or password longer than {} bytes",
                    wire::MAX_STRING
                ),
            });
        };
        let sent = Instant::now();
        let no_answer = || Failure::ResponseTimeout {
            after: sent.elapsed(),
        };
        match tokio::time::timeout(budget.remaining(), stream.write_all(&connect)).await {
            Err(_) => return Err(no_answer()),
            Ok(Err(e)) => {
                return Err(Failure::Reset {
                    detail: format!("closed by the server before the CONNECT was sent ({e})"),
                })
            }
            Ok(Ok(())) => {}
        }
        let mut buf = [0u8; FIRST_BYTES];
        let mut filled = 0;
        let code = loop {
            let read = tokio::time::timeout(budget.remaining(), stream.read(&mut buf[filled..]));
            let n = match read.await {
                Err(_) => return Err(no_answer()),
                Ok(Err(e)) => {
                    return Err(Failure::Reset {
                        detail: format!("reset by the server before its CONNACK ({e})"),
                    })
                }
                Ok(Ok(0)) => {
                    return Err(Failure::Reset {
                        detail: if filled == 0 {
                            "closed by the server before its CONNACK".into()
                        } else {
                            "closed by the server in the middle of its CONNACK".into()
                        },
                    })
                }
                Ok(Ok(n)) => n,
            };
            if filled == 0 {
                timings.first_byte = Some(sent.elapsed());
            }
            filled += n;
            match wire::decode_connack(&buf[..filled]) {
                Answer::ConnAck(code) => break code,
                Answer::NotConnAck => {
                    return Err(sniff::other_protocol("an MQTT CONNACK", &buf[..filled]))
                }
                Answer::Broken(detail) => return Err(Failure::InvalidResponse { detail }),
                // Each read adds a byte and a CONNACK is decided within 7 of them, so this
                // only guards the buffer.
                Answer::Incomplete if filled == buf.len() => {
                    return Err(Failure::InvalidResponse {
                        detail: "a CONNACK that never ends".into(),
                    })
                }
                Answer::Incomplete => {}
            }
        };
        let (verdict, words) = wire::judge(code);
        let said = format!("CONNACK {code} {words}");
        match verdict {
            Verdict::Accepted => {
                // A polite goodbye, so the broker logs no "connection lost"; the verdict stands
                // whatever happens to it.
                let goodbye = async {
                    stream.write_all(&wire::DISCONNECT).await?;
                    stream.shutdown().await
                };
                let _ = tokio::time::timeout(budget.budget(GOODBYE), goodbye).await;
                Ok(())
            }
            Verdict::LoginRefused if self.login.is_none() => Ok(()),
            Verdict::LoginRefused => Err(Failure::NotReady {
                reason: NotReadyReason::AuthFailed,
                server: SERVER,
                said,
            }),
            Verdict::Refused => Err(Failure::NotReady {
                reason: NotReadyReason::Unavailable,
                server: SERVER,
                said,
            }),
            Verdict::UnacceptableVersion => Err(
                match sniff::other_protocol("a broker that speaks MQTT 3.1.1", &buf[..filled]) {
                    Failure::ProtocolMismatch {
                        expected, excerpt, ..
                    } => Failure::ProtocolMismatch {
                        expected,
                        spoken: Some(format!(
                        "an MQTT broker that refuses MQTT 3.1.1 ({said}); stillup speaks only 3.1.1"
                    )),
                        excerpt,
                    },
                    other => other,
                },
            ),
        }
    }
}

/// A fresh client identifier per attempt, so that two probes (or a probe and a real client)
/// never share one: a broker disconnects the older of two clients with the same identifier.
/// 23 alphanumeric characters, what every 3.1.1 broker must accept.
fn client_id() -> String {
    format!("stillup{:016x}", fastrand::u64(..))
}

impl Prober for MqttProbe {
    async fn probe_once(&self, budget: &Deadline) -> ProbeResult {
        let started = Instant::now();
        let (mut timings, mut remote) = (PhaseTimings::default(), None);
        let result = self.attempt(budget, &mut timings, &mut remote).await;
        ProbeResult::of_exchange(
            started,
            result,
            timings,
            remote,
            self.max_latency,
            "MQTT connect",
        )
    }

    fn describe(&self) -> String {
        self.target.to_string()
    }

    fn kind(&self) -> &'static str {
        "mqtt"
    }
}

impl Configure for MqttProbe {
    fn set_addresses(&mut self, addresses: AddressOverrides) {
        self.addresses = addresses;
    }

    fn set_max_latency(&mut self, limit: Option<Duration>) {
        self.max_latency = limit;
    }

    fn set_tls(&mut self, config: &Arc<rustls::ClientConfig>) {
        self.tls = Arc::clone(config);
    }

    fn set_login(&mut self, login: Login) {
        self.login = Some(login);
    }
}

#[cfg(test)]
mod tests;
