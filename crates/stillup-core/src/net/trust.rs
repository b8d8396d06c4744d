//! Which certificates a probe trusts, and the verifier that applies that trust.
//!
//! Trusted are the system's store, read as OpenSSL reads it (`SSL_CERT_FILE` and
//! `SSL_CERT_DIR` when set, else the platform's bundle), or the Mozilla roots built into the
//! binary where the system has none (a bare container); and every `--cacert` file on top of
//! that. The store is read once per process, on first need, with size limits.
//!
//! A server that presents exactly a certificate we trust is accepted as that certificate —
//! still checked for its dates and for the name connected to — as curl and Python do through
//! OpenSSL's partial chains: `--cacert server.pem` (a self-signed `openssl req -x509`
//! certificate, CA:TRUE, or the server's own leaf) means "this is the server's certificate".
//! Everything else goes to rustls' WebPKI verifier. Turning failures into words is left to
//! `tls.rs`; this module only makes sure the errors it returns carry typed, readable parts.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use thiserror::Error;

/// The variable naming one PEM bundle, as OpenSSL reads it.
pub const CERT_FILE_VARIABLE: &str = "SSL_CERT_FILE";
/// The variable naming directories of PEM files (`:`-separated), as OpenSSL reads it.
pub const CERT_DIR_VARIABLE: &str = "SSL_CERT_DIR";

/// Far above any real bundle (Debian's holds 150 roots in 220 KB), far below a mistake such
/// as `/dev/zero` or a disk image that would be read for minutes.
const MAX_STORE_BYTES: u64 = 32 << 20;
/// Entries looked at in one `SSL_CERT_DIR` directory before giving up on it.
const MAX_DIR_ENTRIES: usize = 20_000;

/// `SSL_CERT_FILE` or `SSL_CERT_DIR` names something stillup cannot trust from.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{variable}={value:?}: {problem}")]
pub struct TrustStoreError {
    /// `SSL_CERT_FILE` or `SSL_CERT_DIR`.
    pub variable: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong with it (missing, unreadable, no certificate in it, …).
    pub problem: String,
}

/// Where the trusted authorities (before `--cacert`) came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustSource {
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR`.
    Variables,
    /// The platform's store (on Linux, the bundle and directory OpenSSL is built to use).
    System,
    /// The Mozilla roots built into the binary: the system has none.
    Bundled,
}

/// The system's trust, read once per process.
#[derive(Debug)]
pub struct SystemTrust {
    /// Where the trusted authorities came from.
    pub source: TrustSource,
    roots: RootCertStore,
    /// The certificates as read, for exact matches; empty for the built-in roots.
    pinned: std::collections::HashSet<CertificateDer<'static>>,
    verifier: OnceLock<Arc<WebPkiServerVerifier>>,
}

/// The system's trust store, read on first call; every later call (any target, any attempt)
/// gets the same one. An unusable `SSL_CERT_FILE` / `SSL_CERT_DIR` is an error, never a
/// silent fallback: the operator set it for a reason.
pub fn system_trust() -> Result<&'static SystemTrust, &'static TrustStoreError> {
    static STORE: OnceLock<Result<SystemTrust, TrustStoreError>> = OnceLock::new();
    STORE.get_or_init(load_system_trust).as_ref()
}

fn load_system_trust() -> Result<SystemTrust, TrustStoreError> {
    let file = env::var_os(CERT_FILE_VARIABLE);
    let dirs = env::var_os(CERT_DIR_VARIABLE);
    // Blamed when the variables yield no authority: the file if set, else the directories.
    let blamed = match (&file, &dirs) {
        (Some(file), _) => (CERT_FILE_VARIABLE, file),
        (None, Some(dirs)) => (CERT_DIR_VARIABLE, dirs),
        (None, None) => return Ok(platform_trust()),
    };
    let mut certs = Vec::new();
    if let Some(file) = &file {
        certs.extend(read_cert_file(file)?);
    }
    if let Some(dirs) = &dirs {
        certs.extend(read_cert_dirs(dirs)?);
    }
    let mut roots = RootCertStore::empty();
    let (_, unusable) = roots.add_parsable_certificates(certs.iter().cloned());
    // The variables are the operator's: not one usable authority is a mistake, not "none".
    if roots.is_empty() {
        let (variable, value) = blamed;
        let problem = if unusable > 0 {
            format!("none of its {unusable} certificate(s) can be used as an authority")
        } else {
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----); unset it or name a CA bundle"
                .to_string()
        };
        return Err(TrustStoreError {
            variable,
            value: value.to_string_lossy().into_owned(),
            problem,
        });
    }
    Ok(SystemTrust {
        source: TrustSource::Variables,
        roots,
        pinned: certs.into_iter().collect(),
        verifier: OnceLock::new(),
    })
}

/// The platform's store; the built-in roots where it has none. A store that the
/// distribution manages may hold a few odd files: what parses is what it trusts.
fn platform_trust() -> SystemTrust {
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(loaded.certs.iter().cloned());
    if roots.is_empty() {
        return SystemTrust {
            source: TrustSource::Bundled,
            roots: RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            pinned: Default::default(),
            verifier: OnceLock::new(),
        };
    }
    SystemTrust {
        source: TrustSource::System,
        roots,
        pinned: loaded.certs.into_iter().collect(),
        verifier: OnceLock::new(),
    }
}

fn read_cert_file(value: &OsString) -> Result<Vec<CertificateDer<'static>>, TrustStoreError> {
    let fail = |problem: String| TrustStoreError {
        variable: CERT_FILE_VARIABLE,
        value: value.to_string_lossy().into_owned(),
        problem,
    };
    if value.is_empty() {
        return Err(fail(
            "is set but empty; unset it or name a CA bundle".into(),
        ));
    }
    let path = Path::new(value);
    // Checked before reading: a FIFO, a device or a huge file would hold the run unbounded.
    let meta = fs::metadata(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    if !meta.is_file() {
        return Err(fail("is not a regular file; name a PEM CA bundle".into()));
    }
    if meta.len() > MAX_STORE_BYTES {
        return Err(fail(format!(
            "is {} MiB, more than a CA bundle can be (limit {} MiB)",
            meta.len() >> 20,
            MAX_STORE_BYTES >> 20
        )));
    }
    let loaded = rustls_native_certs::load_certs_from_paths(Some(path), None);
    if let Some(e) = loaded.errors.first() {
        return Err(fail(format!("cannot read it: {e}")));
    }
    Ok(loaded.certs)
}

fn read_cert_dirs(value: &OsString) -> Result<Vec<CertificateDer<'static>>, TrustStoreError> {
    let fail = |problem: String| TrustStoreError {
        variable: CERT_DIR_VARIABLE,
        value: value.to_string_lossy().into_owned(),
        problem,
    };
    let dirs: Vec<PathBuf> = env::split_paths(value)
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    if dirs.is_empty() {
        return Err(fail(
            "is set but empty; unset it or name a directory of PEM files".into(),
        ));
    }
    let mut certs = Vec::new();
    for dir in &dirs {
        let shown = dir.display();
        // Only regular files are read (the crate skips the rest); their total is bounded.
        let entries = fs::read_dir(dir).map_err(|e| fail(format!("cannot read {shown}: {e}")))?;
        let mut total = 0u64;
        for (n, entry) in entries.enumerate() {
            if n >= MAX_DIR_ENTRIES {
                return Err(fail(format!(
                    "{shown} has more than {MAX_DIR_ENTRIES} entries"
                )));
            }
            let Ok(entry) = entry else { continue };
            if let Ok(meta) = fs::metadata(entry.path()) {
                if meta.is_file() {
                    total = total.saturating_add(meta.len());
                }
            }
        }
        if total > MAX_STORE_BYTES {
            return Err(fail(format!(
                "the files in {shown} add up to more than {} MiB",
                MAX_STORE_BYTES >> 20
            )));
        }
        // A directory may hold a stray unreadable file, as OpenSSL's hashed directories do;
        // what matters is that some certificate was found, checked by the caller.
        let loaded = rustls_native_certs::load_certs_from_paths(None, Some(dir));
        certs.extend(loaded.certs);
    }
    Ok(certs)
}

/// Verifies server certificates against the system's trust, then `--cacert`'s.
///
/// The system's verifier is built once per process and shared by every configuration (a
/// config file with a thousand `[targets.NAME]` tables does not copy the store a thousand
/// times); each configuration adds only a small verifier of its own `--cacert` authorities.
#[derive(Debug)]
pub struct TrustVerifier {
    provider: Arc<CryptoProvider>,
    /// Certificates of `--cacert`, trusted as they are too.
    extra: std::collections::HashSet<CertificateDer<'static>>,
    /// `--cacert` as authorities; `None` without `--cacert`.
    extra_verifier: Option<Arc<WebPkiServerVerifier>>,
}

impl TrustVerifier {
    /// `extra` must already have been checked to be usable as authorities (`extra_roots`).
    pub fn new(
        provider: Arc<CryptoProvider>,
        extra: Vec<CertificateDer<'static>>,
        extra_roots: RootCertStore,
    ) -> TrustVerifier {
        // Building fails only without roots (then there is nothing to build) or with a bad
        // revocation list (there are none).
        let extra_verifier = (!extra_roots.is_empty()).then(|| {
            WebPkiServerVerifier::builder_with_provider(Arc::new(extra_roots), provider.clone())
                .build()
                .expect("non-empty roots and no CRLs")
        });
        TrustVerifier {
            provider,
            extra: extra.into_iter().collect(),
            extra_verifier,
        }
    }
}

impl SystemTrust {
    /// The verifier of the system's roots, built on first use and then shared.
    fn verifier(&self) -> &Arc<WebPkiServerVerifier> {
        self.verifier.get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            // Never empty (the built-in roots stand in), no CRLs: building cannot fail.
            WebPkiServerVerifier::builder_with_provider(Arc::new(self.roots.clone()), provider)
                .build()
                .expect("the system's trust is never empty and has no CRLs")
        })
    }
}

impl ServerCertVerifier for TrustVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let system = system_trust().map_err(|e| {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                e.clone(),
            ))))
        })?;
        if self.extra.contains(end_entity) || system.pinned.contains(end_entity) {
            let facts = CertFacts::read(end_entity);
            return verify_pinned(end_entity, facts.as_ref(), server_name, now)
                .map(|()| ServerCertVerified::assertion())
                .map_err(rustls::Error::InvalidCertificate);
        }
        let by_system = system.verifier().verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        // Only "no trusted issuer" leaves room for --cacert: an expired certificate or a
        // wrong name is as wrong under any authority.
        let verdict = match (by_system, &self.extra_verifier) {
            (
                Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)),
                Some(extra),
            ) => {
                extra.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            (verdict, _) => verdict,
        };
        // The certificate is parsed a second time only when it failed, for the message.
        verdict.map_err(|e| readable(e, CertFacts::read(end_entity).as_ref()))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Whoever the certificate is trusted by, the server must prove it holds its key.
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

/// A certificate trusted as it is: only its dates and its names are checked.
fn verify_pinned(
    end_entity: &CertificateDer<'_>,
    facts: Option<&CertFacts>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), CertificateError> {
    let facts = facts.ok_or(CertificateError::BadEncoding)?;
    if now.as_secs() < facts.not_before {
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before: unix_time(facts.not_before),
        });
    }
    if now.as_secs() > facts.not_after {
        return Err(CertificateError::ExpiredContext {
            time: now,
            not_after: unix_time(facts.not_after),
        });
    }
    // The same name rules as for any certificate (wildcards, IP addresses only in SANs).
    let cert =
        webpki::EndEntityCert::try_from(end_entity).map_err(|_| CertificateError::BadEncoding)?;
    match cert.verify_is_valid_for_subject_name(server_name) {
        Ok(()) => Ok(()),
        Err(webpki::Error::CertNotValidForName(context)) => {
            Err(CertificateError::NotValidForNameContext {
                expected: context.expected,
                presented: facts.names.clone(),
            })
        }
        Err(e) => Err(CertificateError::Other(OtherError(Arc::new(e)))),
    }
}

/// The verifier's error with its parts made readable: the names a certificate is valid for
/// as plain names (webpki gives them as `DnsName("…")`), and a self-signed CA certificate
/// that nobody trusts reported as untrusted rather than as a misused CA.
fn readable(e: rustls::Error, facts: Option<&CertFacts>) -> rustls::Error {
    let rustls::Error::InvalidCertificate(cert) = e else {
        return e;
    };
    let cert = match (cert, facts) {
        (CertificateError::NotValidForNameContext { expected, .. }, Some(facts)) => {
            CertificateError::NotValidForNameContext {
                expected,
                presented: facts.names.clone(),
            }
        }
        (CertificateError::Other(other), Some(facts))
            if facts.self_signed
                && matches!(
                    other.0.downcast_ref::<webpki::Error>(),
                    Some(webpki::Error::CaUsedAsEndEntity)
                ) =>
        {
            CertificateError::UnknownIssuer
        }
        (cert, _) => cert,
    };
    rustls::Error::InvalidCertificate(cert)
}

fn unix_time(secs: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(secs))
}

/// What a failure message needs to know about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertFacts {
    /// DNS names and IP addresses of its subjectAltName, as written.
    pub names: Vec<String>,
    pub not_before: u64,
    pub not_after: u64,
    /// Issuer and subject are the same name.
    pub self_signed: bool,
}

impl CertFacts {
    pub(crate) fn read(der: &CertificateDer<'_>) -> Option<CertFacts> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => names.push(dns.to_string()),
                    GeneralName::IPAddress(bytes) => {
                        let ip = match bytes.len() {
                            4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                            16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                            _ => None,
                        };
                        if let Some(ip) = ip {
                            names.push(ip.to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        let validity = cert.validity();
        let clamp = |t: i64| u64::try_from(t).unwrap_or(0);
        Some(CertFacts {
            names,
            not_before: clamp(validity.not_before.timestamp()),
            not_after: clamp(validity.not_after.timestamp()),
            self_signed: cert.issuer().as_raw() == cert.subject().as_raw(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(names: &[&str], is_ca: bool, window: (i64, i64)) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        if is_ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(window.0);
        params.not_after = now + time::Duration::days(window.1);
        params.self_signed(&key).unwrap().der().clone()
    }

    fn name(text: &str) -> ServerName<'static> {
        ServerName::try_from(text.to_string()).unwrap()
    }

    #[test]
    fn the_system_store_is_read_once_per_process() {
        let address = |r: Result<&'static SystemTrust, &'static TrustStoreError>| match r {
            Ok(trust) => trust as *const SystemTrust as usize,
            Err(e) => e as *const TrustStoreError as usize,
        };
        assert_eq!(address(system_trust()), address(system_trust()));
    }

    #[test]
    fn certificate_facts_list_dns_names_and_ip_addresses_as_written() {
        let der = cert(&["api.example", "127.0.0.1", "::1"], false, (-1, 30));
        let facts = CertFacts::read(&der).unwrap();
        assert_eq!(facts.names, ["api.example", "127.0.0.1", "::1"]);
        assert!(facts.self_signed);
        assert!(facts.not_before < facts.not_after);
    }

    #[test]
    fn a_pinned_certificate_is_checked_for_its_dates_and_its_name() {
        let now = UnixTime::now();
        let good = cert(&["127.0.0.1"], true, (-1, 30));
        let facts = CertFacts::read(&good);
        assert_eq!(
            verify_pinned(&good, facts.as_ref(), &name("127.0.0.1"), now),
            Ok(())
        );
        let expired = cert(&["127.0.0.1"], true, (-30, -2));
        assert!(matches!(
            verify_pinned(
                &expired,
                CertFacts::read(&expired).as_ref(),
                &name("127.0.0.1"),
                now
            ),
            Err(CertificateError::ExpiredContext { .. })
        ));
        let early = cert(&["127.0.0.1"], true, (2, 30));
        assert!(matches!(
            verify_pinned(
                &early,
                CertFacts::read(&early).as_ref(),
                &name("127.0.0.1"),
                now
            ),
            Err(CertificateError::NotValidYetContext { .. })
        ));
        match verify_pinned(&good, facts.as_ref(), &name("api.example"), now) {
            Err(CertificateError::NotValidForNameContext { presented, .. }) => {
                assert_eq!(presented, ["127.0.0.1"])
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn webpki_names_are_replaced_by_the_names_as_written() {
        let der = cert(&["api.example", "::1"], false, (-1, 30));
        let e = rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: name("127.0.0.1"),
            presented: vec![r#"DnsName("api.example")"#.into(), "IpAddress(0::1)".into()],
        });
        match readable(e, CertFacts::read(&der).as_ref()) {
            rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                presented,
                ..
            }) => assert_eq!(presented, ["api.example", "::1"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_untrusted_self_signed_ca_certificate_is_untrusted_not_a_misused_ca() {
        let der = cert(&["127.0.0.1"], true, (-1, 30));
        let e = rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
            webpki::Error::CaUsedAsEndEntity,
        ))));
        assert_eq!(
            readable(e, CertFacts::read(&der).as_ref()),
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
        );
    }
}
