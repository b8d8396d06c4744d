//! TLS for probes: the rustls client configuration and a handshake that classifies its own
//! failures (untrusted, expired, wrong name… versus a server that does not speak TLS).
//!
//! rustls reports certificate problems as a `rustls::Error` inside the `io::Error` that
//! tokio-rustls returns; we find it by walking `get_ref()` and `source()`, never by text.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::deadline::Deadline;
use crate::failure::{human_duration, CertProblem, Failure};
use crate::net::cause::find_cause;

/// A client configuration trusting the Mozilla roots bundled into the binary, so stillup
/// works the same in a bare container without a CA bundle.
pub fn default_client_config() -> Arc<ClientConfig> {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    client_config_with_roots(roots)
}

/// A client configuration trusting exactly `roots`.
pub fn client_config_with_roots(roots: RootCertStore) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Perform the TLS handshake for `host` over `tcp` within the budget.
pub async fn handshake(
    config: Arc<ClientConfig>,
    host: &str,
    tcp: TcpStream,
    budget: &Deadline,
) -> Result<TlsStream<TcpStream>, Failure> {
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

fn classify_rustls(e: &rustls::Error) -> Failure {
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
                detail: cert_detail(cert),
            }
        }
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateHandshakeMessage { .. }
        | rustls::Error::InappropriateMessage { .. } => Failure::TlsHandshake {
            detail: "the server did not answer with TLS (plain HTTP on an https:// URL?)".into(),
        },
        rustls::Error::AlertReceived(alert) => Failure::TlsHandshake {
            detail: format!("the server sent alert {alert:?}"),
        },
        rustls::Error::NoApplicationProtocol => Failure::TlsHandshake {
            detail: "no common application protocol (ALPN)".into(),
        },
        other => Failure::TlsHandshake {
            detail: other.to_string(),
        },
    }
}

fn cert_detail(e: &CertificateError) -> String {
    match e {
        CertificateError::UnknownIssuer => {
            "signed by an authority stillup does not trust (self-signed, a private CA, or an incomplete chain)".into()
        }
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            let presented = if presented.is_empty() {
                "no names".to_string()
            } else {
                presented.join(", ")
            };
            format!(
                "wanted {}, certificate is for {presented}",
                expected.to_str()
            )
        }
        other => other.to_string(),
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
}
