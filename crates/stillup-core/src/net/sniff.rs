//! What the server said first, and whether it can be the protocol the target's scheme speaks.
//!
//! A port that speaks another protocol (an SSH, SMTP or MySQL banner, plain HTTP on a TLS port,
//! HTTP/1 on an HTTP/2 port) makes the client libraries fail along whichever error path wins a
//! race: the same server would be `reset` on one attempt and `invalid_response` on the next.
//! So the verdict is taken from the bytes themselves: [`Sniffed`] wraps a stream and keeps the
//! first bytes read from it, and [`FirstBytes::mismatch`] says whether they cannot start what
//! was expected. Only when they can does the library's error decide the class.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::failure::Failure;

/// Bytes kept of what the server sent first: enough to recognise a banner.
const KEEP: usize = 64;
/// Bytes of those shown in a message (each may be escaped to 4 characters).
const SHOWN: usize = 48;

/// What the target's scheme expects the server's first bytes to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A status line, `HTTP/1.x …` (leading empty lines are tolerated, as by HTTP parsers).
    Http1,
    /// The server's connection preface: a SETTINGS frame on stream 0.
    Http2,
    /// A TLS record: a handshake message, or an alert.
    Tls,
}

impl Expect {
    fn describe(self) -> &'static str {
        match self {
            Expect::Http1 => "an HTTP/1 response",
            Expect::Http2 => "an HTTP/2 SETTINGS frame",
            Expect::Tls => "a TLS handshake",
        }
    }

    /// Whether `bytes` (possibly only the start of what was sent) cannot begin this protocol.
    fn refuted_by(self, bytes: &[u8]) -> bool {
        match self {
            Expect::Http1 => {
                let start = bytes
                    .iter()
                    .position(|b| !matches!(b, b'\r' | b'\n'))
                    .map_or(&[][..], |i| &bytes[i..]);
                let n = start.len().min(5);
                n > 0 && start[..n] != b"HTTP/"[..n]
            }
            // A SETTINGS frame is at most 16 KiB long (so its first length byte is 0) and has
            // type 4.
            Expect::Http2 => {
                bytes.first().is_some_and(|&b| b != 0) || bytes.get(3).is_some_and(|&t| t != 4)
            }
            // Content type 22 (handshake) or 21 (alert), then major version 3.
            Expect::Tls => {
                bytes.first().is_some_and(|&b| b != 0x16 && b != 0x15)
                    || bytes.get(1).is_some_and(|&v| v != 3)
            }
        }
    }
}

/// The first bytes read from a [`Sniffed`] stream, shared with whoever must judge a failure
/// after the stream itself has gone into a client library.
#[derive(Debug, Default)]
pub struct FirstBytes(Mutex<Vec<u8>>);

impl FirstBytes {
    fn record(&self, bytes: &[u8]) -> bool {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let room = KEEP.saturating_sub(kept.len());
        kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        kept.len() >= KEEP
    }

    /// What was kept so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `protocol_mismatch` when what the server sent first cannot start `expected`; `None`
    /// when it can, or when nothing came.
    pub fn mismatch(&self, expected: Expect) -> Option<Failure> {
        mismatch(expected, &self.bytes())
    }
}

/// `protocol_mismatch` when `bytes` cannot start `expected`.
pub fn mismatch(expected: Expect, bytes: &[u8]) -> Option<Failure> {
    if !expected.refuted_by(bytes) {
        return None;
    }
    Some(Failure::ProtocolMismatch {
        expected: expected.describe().to_string(),
        spoken: spoken(expected, bytes).map(str::to_string),
        excerpt: excerpt(bytes),
    })
}

/// `protocol_mismatch` for a protocol stillup decodes itself (a database's or a broker's
/// greeting): `expected` says what should have come, e.g. `a PostgreSQL message`; `bytes` are
/// what came first. The caller's decoder has already decided the bytes cannot be it.
pub fn other_protocol(expected: &str, bytes: &[u8]) -> Failure {
    Failure::ProtocolMismatch {
        expected: expected.to_string(),
        spoken: spoken_to_a_client(bytes).map(str::to_string),
        excerpt: excerpt(bytes),
    }
}

/// Who seems to be answering a database or broker client, when the bytes are a well-known
/// protocol's.
fn spoken_to_a_client(bytes: &[u8]) -> Option<&'static str> {
    let text = |prefix: &[u8]| bytes.starts_with(prefix);
    Some(if text(b"HTTP/") {
        "an HTTP server"
    } else if matches!(bytes, [0x15 | 0x16, 3, ..]) {
        "a TLS server: use the scheme's TLS form"
    } else if text(b"SSH-") {
        "an SSH server"
    } else if text(b"INFO {") {
        "a NATS server"
    } else if text(b"-ERR") || text(b"-NOAUTH") || text(b"+PONG") {
        "a Redis server"
    } else if text(b"AMQP") {
        "an AMQP broker"
    } else if matches!(bytes, [_, _, _, 0, 10, ..]) {
        "a MySQL server"
    } else if text(b"220") {
        "an SMTP or FTP server"
    } else {
        return None;
    })
}

/// Who seems to be answering, and what to try, for protocols recognisable by their first bytes.
fn spoken(expected: Expect, bytes: &[u8]) -> Option<&'static str> {
    let text = |prefix: &[u8]| bytes.starts_with(prefix);
    Some(if text(b"SSH-") {
        "an SSH server"
    } else if text(b"HTTP/") {
        match expected {
            Expect::Tls => "plain HTTP: use http://",
            _ => "an HTTP/1 server: drop --http2, or is this the right port for gRPC?",
        }
    } else if matches!(bytes, [0x15 | 0x16, 3, ..]) {
        "a TLS server: use https:// or grpcs://"
    } else if matches!(bytes, [0, _, _, 4, ..]) {
        "an HTTP/2 server: try --http2"
    } else if text(b"220") {
        "an SMTP or FTP server"
    } else if text(b"+OK") {
        "a POP3 server"
    } else if text(b"* OK") {
        "an IMAP server"
    } else if text(b"AMQP") {
        "an AMQP broker"
    } else if matches!(bytes, [_, _, _, 0, 10, ..]) {
        // A MySQL handshake packet: 3-byte length, sequence 0, protocol version 10.
        "a MySQL server"
    } else {
        return None;
    })
}

/// The first bytes as text a terminal can show: printable ASCII as is, everything else
/// escaped (`\r`, `\n`, `\x1b`), at most [`SHOWN`] bytes, then `…`.
// Until the one sanitizer of principle 3 exists, this is where server bytes are made safe.
fn excerpt(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(SHOWN)];
    let mut text = shown.escape_ascii().to_string();
    if bytes.len() > SHOWN {
        text.push('…');
    }
    text
}

/// A stream that keeps a copy of the first bytes read from it in a shared [`FirstBytes`].
#[derive(Debug)]
pub struct Sniffed<S> {
    inner: S,
    first: Arc<FirstBytes>,
    full: bool,
}

impl<S> Sniffed<S> {
    /// Wrap `inner`; nothing is kept until the first read.
    pub fn new(inner: S) -> Sniffed<S> {
        Sniffed {
            inner,
            first: Arc::default(),
            full: false,
        }
    }

    /// The bytes kept, readable after the stream has been handed on.
    pub fn first_bytes(&self) -> Arc<FirstBytes> {
        Arc::clone(&self.first)
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream, unwrapped (the bytes kept stay readable via [`Self::first_bytes`]).
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Sniffed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if !self.full && buf.filled().len() > before {
            self.full = self.first.record(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Sniffed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(expected: Expect, bytes: &[u8]) -> Option<&'static str> {
        mismatch(expected, bytes).map(|f| f.class().as_str())
    }

    #[test]
    fn only_bytes_that_cannot_start_the_protocol_are_a_mismatch() {
        for ok in [
            &b""[..],
            b"H",
            b"HTTP",
            b"HTTP/1.1 200 OK\r\n",
            b"\r\nHTTP/1.0 500 x",
        ] {
            assert_eq!(class(Expect::Http1, ok), None, "{ok:?}");
        }
        for bad in [
            &b"SSH-2.0-x\r\n"[..],
            b"NOT HTTP",
            b"http/1.1 200",
            b"\x00\x00",
        ] {
            assert_eq!(
                class(Expect::Http1, bad),
                Some("protocol_mismatch"),
                "{bad:?}"
            );
        }
        let settings = [0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100];
        assert_eq!(class(Expect::Http2, &settings), None);
        assert_eq!(class(Expect::Http2, &settings[..2]), None);
        assert!(class(Expect::Http2, b"HTTP/1.1 400 Bad Request").is_some());
        assert!(class(Expect::Http2, &[0, 0, 8, 7]).is_some());
        assert_eq!(class(Expect::Tls, &[0x16, 3, 3, 0, 10]), None);
        assert_eq!(class(Expect::Tls, &[0x15, 3]), None);
        assert!(class(Expect::Tls, b"SSH-2.0-x").is_some());
        assert!(class(Expect::Tls, &[0x16, 0x40]).is_some());
    }

    #[test]
    fn the_message_shows_the_escaped_bytes_and_who_seems_to_answer() {
        let failure = mismatch(Expect::Http1, b"SSH-2.0-OpenSSH_9.6\r\n").unwrap();
        let text = failure.to_string();
        assert!(text.contains(r"SSH-2.0-OpenSSH_9.6\r\n"), "{text}");
        assert!(text.contains("an SSH server"), "{text}");
        let failure = mismatch(Expect::Tls, b"HTTP/1.1 400 Bad Request\r\n\r\n").unwrap();
        assert!(failure.to_string().contains("use http://"), "{failure}");
        let failure = mismatch(Expect::Http1, &[0x16, 3, 1, 0, 5]).unwrap();
        assert!(failure.to_string().contains("https://"), "{failure}");
        let mysql = [74, 0, 0, 0, 10, b'8', b'.', b'0'];
        let failure = mismatch(Expect::Http1, &mysql).unwrap();
        assert!(failure.to_string().contains("MySQL"), "{failure}");
    }

    #[test]
    fn control_characters_are_escaped_and_the_excerpt_is_capped() {
        let hostile = b"\x1b[2J\x1b]0;owned\x07\x9b31m\r\nok";
        let text = excerpt(hostile);
        assert!(!text.chars().any(|c| c.is_control()), "{text:?}");
        assert!(text.starts_with(r"\x1b[2J"), "{text}");
        let long = excerpt(&[b'x'; 100]);
        assert_eq!(long, format!("{}…", "x".repeat(SHOWN)));
        let worst = excerpt(&[0xff; KEEP]);
        assert!(worst.chars().count() <= 200, "{worst}");
    }

    #[tokio::test]
    async fn a_sniffed_stream_keeps_the_first_bytes_and_passes_everything_on() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut server) = tokio::io::duplex(1024);
        let mut sniffed = Sniffed::new(client);
        let first = sniffed.first_bytes();
        let sent: Vec<u8> = (0..200u8).collect();
        server.write_all(&sent).await.unwrap();
        drop(server);
        let mut got = Vec::new();
        sniffed.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, sent);
        assert_eq!(first.bytes(), &sent[..KEEP]);
    }
}
