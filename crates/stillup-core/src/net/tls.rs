//! TLS for probes: the rustls client configuration and a handshake that classifies its own
//! failures (untrusted, expired, wrong name… versus a server that does not speak TLS), in
//! words: no Rust debug text (`DnsName("…")`, `OtherError(…)`, UNIX seconds) reaches a message.
//! Which certificates are trusted is `trust.rs`'s concern.
//!
//! rustls reports certificate problems as a `rustls::Error` inside the `io::Error` that
//! tokio-rustls returns; we find it by walking `get_ref()` and `source()`, never by text.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use std::path::Path;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};
use thiserror::Error;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::deadline::Deadline;
use crate::failure::{human_duration, CertProblem, Failure};
use crate::net::cause::find_cause;
use crate::net::sniff::{Expect, Sniffed};
use crate::net::trust::{TrustStoreError, TrustVerifier};

/// How a probe's TLS is set up: which authorities it trusts, its own certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Accept any certificate (`--insecure`): the handshake still happens, trust does not.
    pub insecure: bool,
    /// PEM files of extra authorities to trust (`--cacert`), on top of the system's trust
    /// store; a server presenting exactly one of these certificates is trusted as it is.
    pub ca: Vec<Pem>,
    /// PEM certificate chain and private key for mutual TLS (`--cert`, `--key`).
    pub client_cert: Option<(Pem, Pem)>,
}

/// A PEM file as read by the caller — which bounds its size and the time spent reading, as
/// for every input — with its name for messages. Read once: the TLS layer never opens files.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pem {
    /// Where it came from, e.g. its path.
    pub name: String,
    /// Its contents.
    pub bytes: Vec<u8>,
}

impl Pem {
    /// Read the file at `path` (unbounded: the command line reads its own, bounded).
    pub fn read(path: &Path) -> Result<Pem, TlsConfigError> {
        let bytes = std::fs::read(path).map_err(|e| TlsConfigError::Read {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        Ok(Pem {
            name: path.display().to_string(),
            bytes,
        })
    }
}

// A key file is a secret: its bytes are never printed.
impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pem({:?}, {} bytes)", self.name, self.bytes.len())
    }
}

/// A TLS setting that cannot be used; raised before any request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TlsConfigError {
    /// A certificate or key file that cannot be read.
    #[error("cannot read {path}: {detail}")]
    Read {
        /// The file named.
        path: String,
        /// Why it failed (the operating system or parser's words).
        detail: String,
    },
    /// A `--cacert` or `--cert` file with no PEM certificate in it.
    #[error("{path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate {
        /// The file named.
        path: String,
    },
    /// A `--key` file with no usable private key.
    #[error("{path} holds no usable PEM private key: {detail}")]
    BadKey {
        /// The file named.
        path: String,
        /// Why the key was refused.
        detail: String,
    },
    /// A `--cacert` certificate that cannot serve as a trust anchor.
    #[error("the certificate in {path} cannot be trusted as an authority: {detail}")]
    BadAuthority {
        /// The file named.
        path: String,
        /// Why it was refused.
        detail: String,
    },
    /// A `--cert` and `--key` that do not belong together.
    #[error("the client certificate and key do not fit together: {detail}")]
    BadClientAuth {
        /// Why the pair was refused.
        detail: String,
    },
}

/// A client configuration trusting what the system trusts (the Mozilla roots bundled into
/// the binary where it has nothing, as in a bare container).
pub fn default_client_config() -> Arc<ClientConfig> {
    // Built once: ten thousand targets share one root store rather than copy it each.
    static DEFAULT: std::sync::OnceLock<Arc<ClientConfig>> = std::sync::OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            client_config(&TlsOptions::default()).expect("the default TLS options need no files")
        })
        .clone()
}

/// The client configuration for `options`.
pub fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut extra = Vec::new();
    let mut extra_roots = RootCertStore::empty();
    for pem in &options.ca {
        for cert in certificates(pem)? {
            extra_roots
                .add(cert.clone())
                .map_err(|e| TlsConfigError::BadAuthority {
                    path: pem.name.clone(),
                    detail: e.to_string(),
                })?;
            extra.push(cert);
        }
    }
    // The system's store is read on the first handshake, not here: runs without TLS
    // targets never touch it.
    let verifier = TrustVerifier::new(provider.clone(), extra, extra_roots);
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match &options.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert_pem, key_pem)) => {
            let chain = certificates(cert_pem)?;
            let key = PrivateKeyDer::from_pem_slice(&key_pem.bytes).map_err(|e| {
                TlsConfigError::BadKey {
                    path: key_pem.name.clone(),
                    detail: e.to_string(),
                }
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                TlsConfigError::BadClientAuth {
                    detail: match e {
                        // rustls words this one with a debug name (`KeyMismatch`).
                        rustls::Error::InconsistentKeys(_) => format!(
                            "the key in {} is not the key of the first certificate in {}",
                            key_pem.name, cert_pem.name
                        ),
                        other => other.to_string(),
                    },
                }
            })?
        }
    };
    if options.insecure {
        accept_any_certificate(&mut config);
    }
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The same trust and client certificate as `config`, offering only HTTP/2 in ALPN (gRPC
/// servers refuse a handshake that does not offer `h2`).
pub fn with_h2_alpn(config: &ClientConfig) -> Arc<ClientConfig> {
    let mut config = config.clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// The same trust and client certificate, offering HTTP/2 first and HTTP/1.1 as fallback.
pub fn with_h2_or_http1_alpn(config: &ClientConfig) -> Arc<ClientConfig> {
    let mut config = config.clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

fn certificates(pem: &Pem) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem.bytes).collect();
    let certs = certs.map_err(|e| TlsConfigError::Read {
        path: pem.name.clone(),
        detail: e.to_string(),
    })?;
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate {
            path: pem.name.clone(),
        });
    }
    Ok(certs)
}

/// Make `config` accept any server certificate: `--insecure`, and the modes of the database
/// clients that encrypt without verifying (libpq's `prefer` / `require`, MySQL's `PREFERRED` /
/// `REQUIRED`). Signatures are still checked, so the session is encrypted to whoever holds the
/// certificate's key; the client certificate and ALPN stay as they are.
pub fn accept_any_certificate(config: &mut ClientConfig) {
    let provider = config.crypto_provider().clone();
    config
        .dangerous()
        .set_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }));
}

/// Signatures are still checked (the handshake must be real TLS), but the certificate is not:
/// any issuer, name or date is accepted.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Perform the TLS handshake for `host` over `tcp` within the budget.
pub async fn handshake<S>(
    config: Arc<ClientConfig>,
    host: &str,
    tcp: S,
    budget: &Deadline,
) -> Result<TlsStream<S>, Failure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let server_name = match host.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(host.to_string()).map_err(|_| Failure::TlsHandshake {
            detail: format!("{host:?} is not a valid TLS server name"),
        })?,
    };
    let started = Instant::now();
    let connector = TlsConnector::from(config);
    match tokio::time::timeout(budget.remaining(), connector.connect(server_name, tcp)).await {
        Err(_) => Err(Failure::TlsHandshake {
            detail: format!(
                "no answer to the TLS ClientHello within {}",
                human_duration(started.elapsed())
            ),
        }),
        Ok(Err(e)) => Err(classify(&e)),
        Ok(Ok(stream)) => Ok(stream),
    }
}

/// [`handshake`], where a server that answers the ClientHello with another protocol (plain
/// HTTP, a banner) is `protocol_mismatch`, told by what it sent first, rather than a failed
/// handshake.
pub async fn handshake_or_mismatch<S>(
    config: Arc<ClientConfig>,
    host: &str,
    tcp: S,
    budget: &Deadline,
) -> Result<TlsStream<Sniffed<S>>, Failure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let tcp = Sniffed::new(tcp);
    let first = tcp.first_bytes();
    handshake(config, host, tcp, budget)
        .await
        .map_err(|failure| match failure {
            Failure::TlsHandshake { .. } => first.mismatch(Expect::Tls).unwrap_or(failure),
            other => other,
        })
}

/// Turn a handshake error into a failure, by the error's type.
pub fn classify(e: &io::Error) -> Failure {
    if let Some(tls) = find_cause::<rustls::Error>(e) {
        return classify_rustls(tls);
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => Failure::TlsHandshake {
            detail: "the server closed the connection during the handshake".into(),
        },
        io::ErrorKind::ConnectionReset => Failure::TlsHandshake {
            detail: "the server reset the connection during the handshake".into(),
        },
        _ => Failure::TlsHandshake {
            detail: e.to_string(),
        },
    }
}

/// Classify a rustls error, wherever it surfaced (handshake or, with TLS 1.3, first read).
pub(crate) fn classify_rustls(e: &rustls::Error) -> Failure {
    match e {
        rustls::Error::InvalidCertificate(cert) => {
            let reason = match cert {
                CertificateError::UnknownIssuer => CertProblem::UnknownIssuer,
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    CertProblem::Expired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    CertProblem::NotYetValid
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => CertProblem::WrongName,
                CertificateError::Revoked => CertProblem::Revoked,
                _ => CertProblem::Other,
            };
            Failure::TlsVerify {
                reason,
                detail: cert_detail(cert, UnixTime::now()),
            }
        }
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateHandshakeMessage { .. }
        | rustls::Error::InappropriateMessage { .. } => Failure::TlsHandshake {
            detail: "the server did not answer with TLS (plain HTTP on an https:// URL?)".into(),
        },
        rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA,
        ) => Failure::TlsHandshake {
            detail: "the server requires a client certificate it accepts (--cert and --key)".into(),
        },
        rustls::Error::AlertReceived(alert) => Failure::TlsHandshake {
            detail: format!("the server refused the handshake: {}", alert_text(*alert)),
        },
        rustls::Error::NoApplicationProtocol => Failure::TlsHandshake {
            detail: "no common application protocol (ALPN)".into(),
        },
        rustls::Error::PeerIncompatible(why) => Failure::TlsHandshake {
            detail: format!(
                "the server's TLS is incompatible with stillup's ({})",
                words(&format!("{why:?}"))
            ),
        },
        rustls::Error::PeerMisbehaved(why) => Failure::TlsHandshake {
            detail: format!(
                "the server broke the TLS protocol ({})",
                words(&format!("{why:?}"))
            ),
        },
        other => Failure::TlsHandshake {
            detail: other.to_string(),
        },
    }
}

/// What is wrong with a certificate, in words, for a failure message; `now` is when the
/// message is written (for "2 days ago").
fn cert_detail(e: &CertificateError, now: UnixTime) -> String {
    match e {
        CertificateError::UnknownIssuer => {
            "signed by an authority stillup does not trust (self-signed, a private CA, or an incomplete chain); trust a private CA or the server's own certificate with --cacert".into()
        }
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            let expected = expected.to_str();
            if presented.is_empty() {
                format!("it names no host in its subjectAltName (not {expected})")
            } else {
                format!("valid for {} (not {expected})", name_list(presented))
            }
        }
        CertificateError::NotValidForName => {
            "it is not valid for the host name connected to".into()
        }
        CertificateError::ExpiredContext { not_after, .. } => {
            let ago = now.as_secs().saturating_sub(not_after.as_secs());
            format!("expired on {} ({} ago)", utc(*not_after), roughly(ago))
        }
        CertificateError::Expired => "its validity period has ended".into(),
        CertificateError::NotValidYetContext { not_before, .. } => {
            let ahead = not_before.as_secs().saturating_sub(now.as_secs());
            format!(
                "valid only from {} (in {}); is this machine's clock right?",
                utc(*not_before),
                roughly(ahead)
            )
        }
        CertificateError::NotValidYet => {
            "its validity period has not begun; is this machine's clock right?".into()
        }
        CertificateError::Revoked => "revoked by its issuer".into(),
        CertificateError::BadEncoding => "the certificate is malformed (bad DER encoding)".into(),
        CertificateError::BadSignature => {
            "a signature in its chain does not verify (a forged or corrupted certificate)".into()
        }
        CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "signed with an algorithm stillup does not support".into()
        }
        CertificateError::UnhandledCriticalExtension => {
            "it has a critical extension stillup does not understand".into()
        }
        CertificateError::InvalidPurpose => {
            "it is not meant for TLS servers (extended key usage)".into()
        }
        // rustls words this one itself: "does not allow extended key usage for …".
        CertificateError::InvalidPurposeContext { .. } => e.to_string(),
        CertificateError::Other(other) => {
            if let Some(store) = other.0.downcast_ref::<TrustStoreError>() {
                format!("the system's trust store cannot be used: {store}")
            } else if let Some(webpki) = other.0.downcast_ref::<webpki::Error>() {
                webpki_detail(webpki).into()
            } else {
                other.to_string()
            }
        }
        _ => "the certificate verifier rejected it".into(),
    }
}

/// The webpki errors that rustls passes on only as `Other`.
fn webpki_detail(e: &webpki::Error) -> &'static str {
    use webpki::Error as W;
    match e {
        W::CaUsedAsEndEntity => {
            "the server presents a CA certificate (CA:TRUE) as its own; trust exactly that certificate with --cacert"
        }
        W::EndEntityUsedAsCa => {
            "its chain uses a server certificate (CA:FALSE) as an issuer"
        }
        W::PathLenConstraintViolated => "its chain is longer than an issuer allows (pathLenConstraint)",
        W::NameConstraintViolation => "its names are outside what an issuer allows (name constraints)",
        W::UnsupportedCertVersion => "it is not an X.509 v3 certificate",
        W::CertDistrusted => "its authority is distrusted",
        W::MaximumPathDepthExceeded
        | W::MaximumPathBuildCallsExceeded
        | W::MaximumSignatureChecksExceeded
        | W::MaximumNameConstraintComparisonsExceeded => {
            "its chain is too long or too tangled to verify"
        }
        _ => "it is malformed or uses a feature stillup does not support",
    }
}

/// Up to eight names, then how many more.
fn name_list(names: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut list = names
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        list.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    list
}

/// `2026-11-30 12:00:00 UTC`.
fn utc(t: UnixTime) -> String {
    // The last second a certificate can name (99991231235959Z); the formatter stops there.
    let secs = t.as_secs().min(253_402_300_799);
    let text =
        humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
            .to_string();
    // RFC 3339 `2026-11-30T12:00:00Z`, spelled for people.
    format!("{} {} UTC", &text[..10], &text[11..19])
}

/// A span in the largest unit that keeps it above one: "40 seconds", "3 hours", "2 days".
fn roughly(secs: u64) -> String {
    let (n, unit) = match secs {
        0..120 => (secs, "second"),
        120..7_200 => (secs / 60, "minute"),
        7_200..172_800 => (secs / 3_600, "hour"),
        _ => (secs / 86_400, "day"),
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// A TLS alert by its name in the TLS specification, e.g. "handshake failure (alert 40)".
fn alert_text(alert: AlertDescription) -> String {
    let code = u8::from(alert);
    let hint = match alert {
        AlertDescription::HandshakeFailure => " — no cipher suite or key exchange in common",
        AlertDescription::ProtocolVersion => " — it wants a TLS version stillup does not offer",
        AlertDescription::UnrecognisedName => " — it has no certificate for this host name (SNI)",
        AlertDescription::NoApplicationProtocol => " — no application protocol (ALPN) in common",
        _ => "",
    };
    format!("{} (alert {code}){hint}", words(&format!("{alert:?}")))
}

/// `NoCipherSuitesInCommon` → "no cipher suites in common": the name of a typed rustls
/// variant (alert, incompatibility) as words; its payload, if any, is dropped.
fn words(variant: &str) -> String {
    let name = variant.split(['(', ' ', '{']).next().unwrap_or(variant);
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push(' ');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        }
    }
    out
}

/// What monitoring reads of an established session: its version and when the first of the
/// server's certificates expires.
pub fn session_details(session: &rustls::ClientConnection) -> crate::probe::TlsDetails {
    let version = match session.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
        _ => "TLS",
    };
    let earliest_expiry = session
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .filter_map(|der| super::trust::CertFacts::read(der).map(|facts| facts.not_after))
        .min();
    crate::probe::TlsDetails {
        version,
        earliest_expiry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_causes_are_found_inside_io_errors() {
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::Expired),
        );
        assert!(matches!(
            classify(&e),
            Failure::TlsVerify {
                reason: CertProblem::Expired,
                ..
            }
        ));
    }

    #[test]
    fn plain_eof_is_a_handshake_failure() {
        let e = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(classify(&e).class(), "tls_handshake");
    }

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    /// 2026-11-30 12:00:00 UTC.
    const NOV_30: u64 = 1_796_040_000;

    #[test]
    fn an_expiry_is_a_date_and_how_long_ago_not_unix_seconds() {
        let e = CertificateError::ExpiredContext {
            time: at(NOV_30 + 2 * 86_400 + 60),
            not_after: at(NOV_30),
        };
        let text = cert_detail(&e, at(NOV_30 + 2 * 86_400 + 60));
        assert_eq!(text, "expired on 2026-11-30 12:00:00 UTC (2 days ago)");
    }

    #[test]
    fn a_start_date_in_the_future_is_a_date_and_a_hint_about_the_clock() {
        let e = CertificateError::NotValidYetContext {
            time: at(NOV_30 - 3 * 3_600),
            not_before: at(NOV_30),
        };
        let text = cert_detail(&e, at(NOV_30 - 3 * 3_600));
        assert!(
            text.starts_with("valid only from 2026-11-30 12:00:00 UTC (in 3 hours)"),
            "{text}"
        );
    }

    #[test]
    fn a_wrong_name_lists_the_names_the_certificate_is_valid_for() {
        let e = CertificateError::NotValidForNameContext {
            expected: ServerName::IpAddress(IpAddr::from([127, 0, 0, 1]).into()),
            presented: vec!["api.example".into(), "www.example".into()],
        };
        assert_eq!(
            cert_detail(&e, UnixTime::now()),
            "valid for api.example, www.example (not 127.0.0.1)"
        );
        let many: Vec<String> = (0..12).map(|i| format!("h{i}.example")).collect();
        let e = CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("api.example").unwrap(),
            presented: many,
        };
        let text = cert_detail(&e, UnixTime::now());
        assert!(
            text.ends_with("h7.example and 4 more (not api.example)"),
            "{text}"
        );
    }

    #[test]
    fn webpki_errors_wrapped_as_other_are_words_not_debug_text() {
        let e = CertificateError::Other(rustls::OtherError(Arc::new(
            webpki::Error::CaUsedAsEndEntity,
        )));
        let failure = classify_rustls(&rustls::Error::InvalidCertificate(e));
        let text = failure.to_string();
        assert!(text.contains("CA certificate (CA:TRUE)"), "{text}");
        for debug in ["OtherError", "Other(", "CaUsedAsEndEntity"] {
            assert!(!text.contains(debug), "{text}");
        }
    }

    #[test]
    fn an_unusable_trust_store_met_at_a_handshake_names_the_variable() {
        let store = TrustStoreError {
            variable: "SSL_CERT_FILE",
            value: "/etc/missing.pem".into(),
            problem: "cannot read it: No such file or directory".into(),
        };
        let e = CertificateError::Other(rustls::OtherError(Arc::new(store)));
        let text = cert_detail(&e, UnixTime::now());
        assert_eq!(
            text,
            "the system's trust store cannot be used: SSL_CERT_FILE=\"/etc/missing.pem\": cannot read it: No such file or directory"
        );
    }

    #[test]
    fn alerts_and_incompatibilities_are_named_in_words() {
        let alert = classify_rustls(&rustls::Error::AlertReceived(
            AlertDescription::HandshakeFailure,
        ));
        assert!(
            alert.to_string().contains("handshake failure (alert 40)"),
            "{alert}"
        );
        let peer = classify_rustls(&rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::NoCipherSuitesInCommon,
        ));
        assert!(
            peer.to_string().contains("no cipher suites in common"),
            "{peer}"
        );
    }

    #[test]
    fn spans_are_rounded_to_a_readable_unit() {
        assert_eq!(roughly(1), "1 second");
        assert_eq!(roughly(119), "119 seconds");
        assert_eq!(roughly(3_000), "50 minutes");
        assert_eq!(roughly(36_000), "10 hours");
        assert_eq!(roughly(40 * 86_400), "40 days");
    }

    #[test]
    fn the_last_date_a_certificate_can_name_is_formatted_without_panicking() {
        assert_eq!(utc(at(u64::MAX)), "9999-12-31 23:59:59 UTC");
    }
}
