//! Finding the typed cause of an error, wherever a library put it.
//!
//! Libraries wrap causes differently: rustls hides its error *inside* an `io::Error`
//! (reachable by `get_ref()`, not by `source()`), hyper chains an `io::Error` by `source()`.
//! Walking both ways lets each layer classify by type, never by message text. HTTP/2's typed
//! errors (h2's) are classified here for every probe that speaks HTTP/2.

use std::error::Error;
use std::io;

use crate::failure::Failure;

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

/// Classify a failed HTTP/2 exchange by h2's typed error; `place` says when ("before the
/// response headers"). A violation h2 detected in what the server sent is the server breaking
/// the protocol (`invalid_response`, naming the violation); a stream reset or GOAWAY the
/// server sent is the server ending the exchange (`reset`). Whether the server speaks HTTP/2
/// at all is decided before this, from its first bytes (see `sniff`).
pub fn http2_failure(h2: &h2::Error, place: &str) -> Failure {
    if let Some(io) = h2.get_io() {
        return socket_failure(io, place);
    }
    let reason = h2
        .reason()
        .map_or_else(|| "no reason".to_string(), |r| format!("{r:?}"));
    if h2.is_library() {
        // h2's own words add what it saw ("connection error detected: frame with invalid
        // size", debug data such as "too_many_continuations").
        return Failure::InvalidResponse {
            detail: format!("the server broke the HTTP/2 protocol: {reason} ({h2})"),
        };
    }
    if h2.is_reset() {
        return Failure::Reset {
            detail: format!("reset by the server {place} (HTTP/2 RST_STREAM {reason})"),
        };
    }
    if h2.is_go_away() {
        return Failure::Reset {
            detail: format!("closed by the server {place} (HTTP/2 GOAWAY {reason})"),
        };
    }
    Failure::InvalidResponse {
        detail: format!("HTTP/2 error {place}: {reason} ({h2})"),
    }
}

/// A socket error during an exchange: the server reset or closed the connection.
pub fn socket_failure(io: &io::Error, place: &str) -> Failure {
    Failure::Reset {
        detail: match io.kind() {
            io::ErrorKind::ConnectionReset => format!("reset by the server {place}"),
            io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => format!("closed by the server {place}"),
            _ => format!("broken {place}: {io}"),
        },
    }
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
