//! Finding the typed cause of an error, wherever a library put it.
//!
//! Libraries wrap causes differently: rustls hides its error *inside* an `io::Error`
//! (reachable by `get_ref()`, not by `source()`), hyper chains an `io::Error` by `source()`.
//! Walking both ways lets each layer classify by type, never by message text.

use std::error::Error;
use std::io;

/// The first error of type `T` in `err`'s chain, looking inside `io::Error`s too.
pub fn find_cause<'a, T: Error + 'static>(err: &'a (dyn Error + 'static)) -> Option<&'a T> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            if let Some(found) = find_cause::<T>(inner) {
                return Some(found);
            }
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] io::Error);

    #[test]
    fn finds_a_cause_inside_an_io_error_behind_a_source() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        let wrapped = Outer(io::Error::new(io::ErrorKind::InvalidData, tls));
        let found = find_cause::<rustls::Error>(&wrapped);
        assert!(matches!(found, Some(rustls::Error::InvalidCertificate(_))));
        assert!(find_cause::<std::fmt::Error>(&wrapped).is_none());
    }

    #[test]
    fn finds_the_io_error_itself() {
        let wrapped = Outer(io::Error::from(io::ErrorKind::ConnectionReset));
        let io = find_cause::<io::Error>(&wrapped).unwrap();
        assert_eq!(io.kind(), io::ErrorKind::ConnectionReset);
    }
}
