//! TLS for probes: the rustls client configuration and a handshake that classifies its own
//! failures (untrusted, expired, wrong name… versus a server that does not speak TLS).
//!
//! rustls reports certificate problems as a `rustls::Error` inside the `io::Error` that
//! tokio-rustls returns; we find it by walking `get_ref()` and `source()`, never by text.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use std::path::{Path, PathBuf};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use thiserror::Error;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::deadline::Deadline;
use crate::failure::{human_duration, CertProblem, Failure};
use crate::net::cause::find_cause;

/// How a probe's TLS is set up: which authorities it trusts, its own certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Accept any certificate (`--insecure`): the handshake still happens, trust does not.
    pub insecure: bool,
    /// PEM files of extra authorities to trust (`--cacert`), on top of the bundled roots.
    pub ca_files: Vec<PathBuf>,
    /// PEM certificate chain and private key for mutual TLS (`--cert`, `--key`).
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// A TLS setting that cannot be used; raised before any request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TlsConfigError {
    #[error("cannot read {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("{path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: String },
    #[error("{path} holds no usable PEM private key: {detail}")]
    BadKey { path: String, detail: String },
    #[error("the certificate in {path} cannot be trusted as an authority: {detail}")]
    BadAuthority { path: String, detail: String },
    #[error("the client certificate and key do not fit together: {detail}")]
    BadClientAuth { detail: String },
}

/// A client configuration trusting the Mozilla roots bundled into the binary, so stillup
/// works the same in a bare container without a CA bundle.
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
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for path in &options.ca_files {
        for cert in read_certificates(path)? {
            roots.add(cert).map_err(|e| TlsConfigError::BadAuthority {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?;
        }
    }
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots);
    let mut config = match &options.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert_path, key_path)) => {
            let chain = read_certificates(cert_path)?;
            let key =
                PrivateKeyDer::from_pem_file(key_path).map_err(|e| TlsConfigError::BadKey {
                    path: key_path.display().to_string(),
                    detail: e.to_string(),
                })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                TlsConfigError::BadClientAuth {
                    detail: e.to_string(),
                }
            })?
        }
    };
    if options.insecure {
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }));
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

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let shown = path.display().to_string();
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsConfigError::Read {
            path: shown.clone(),
            detail: e.to_string(),
        })?
        .collect();
    let certs = certs.map_err(|e| TlsConfigError::Read {
        path: shown.clone(),
        detail: e.to_string(),
    })?;
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate { path: shown });
    }
    Ok(certs)
}

/// `--insecure`: signatures are still checked (the handshake must be real TLS), but the
/// certificate is not: any issuer, name or date is accepted.
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
                detail: cert_detail(cert),
            }
        }
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateHandshakeMessage { .. }
        | rustls::Error::InappropriateMessage { .. } => Failure::TlsHandshake {
            detail: "the server did not answer with TLS (plain HTTP on an https:// URL?)".into(),
        },
        rustls::Error::AlertReceived(
            rustls::AlertDescription::CertificateRequired
            | rustls::AlertDescription::BadCertificate
            | rustls::AlertDescription::UnknownCA,
        ) => Failure::TlsHandshake {
            detail: "the server requires a client certificate it accepts (--cert and --key)".into(),
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
            "signed by an authority stillup does not trust (self-signed, a private CA, or an incomplete chain); trust a private CA with --cacert".into()
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
