//! The NATS client protocol, as far as a readiness check needs it: the server's `INFO {json}`
//! greeting, the client's `CONNECT {json}` and `PING`, and the server's `PONG`, `+OK` and
//! `-ERR '…'` lines. Sans-IO; every line is capped at [`MAX_LINE`] bytes, so an endless line
//! costs a bounded buffer and an `invalid_response`.

use serde::Deserialize;

/// The longest line accepted. An `INFO` lists the cluster's URLs and can run to a few KiB.
pub const MAX_LINE: usize = 64 * 1024;

/// What the server says about itself in `INFO` (the fields a readiness check uses).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Info {
    /// The server's name (its id unless configured).
    pub server_name: String,
    /// The server's version.
    pub version: String,
    /// Whether a client must log in.
    pub auth_required: bool,
    /// Whether the connection must turn to TLS before `CONNECT`.
    pub tls_required: bool,
    /// Whether the connection may turn to TLS.
    pub tls_available: bool,
}

/// One line from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLine {
    /// `INFO {…}`.
    Info(Info),
    /// `PING`: the server checks on us.
    Ping,
    /// `PONG`: the answer to our `PING`, hence to everything sent before it.
    Pong,
    /// `+OK` (only sent in verbose mode).
    Ok,
    /// `-ERR '…'`.
    Err(ServerError),
    /// Any other operation (`MSG`, `HMSG`, …), by name, which a readiness check does not expect.
    Other(String),
}

/// An `-ERR` line: what it means, and the message as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// What the message says, for the messages a readiness check tells apart.
    pub kind: ErrorKind,
    /// The message between the quotes, e.g. `Authorization Violation`.
    pub message: String,
}

/// The `-ERR` messages with a meaning of their own here. NATS errors carry no code: the
/// message, a fixed string in the server's source, is the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `Authorization Violation`: the login was refused (or none was given and one is needed).
    AuthorizationViolation,
    /// `User Authentication Expired` / `… Revoked`, `Account Authentication Expired`.
    AuthenticationExpired,
    /// `maximum connections exceeded`.
    MaxConnections,
    /// Any other message.
    Other,
}

impl ErrorKind {
    fn from_message(message: &str) -> ErrorKind {
        let is = |known: &str| message.eq_ignore_ascii_case(known);
        if is("Authorization Violation") {
            ErrorKind::AuthorizationViolation
        } else if is("User Authentication Expired")
            || is("User Authentication Revoked")
            || is("Account Authentication Expired")
        {
            ErrorKind::AuthenticationExpired
        } else if is("maximum connections exceeded") {
            ErrorKind::MaxConnections
        } else {
            ErrorKind::Other
        }
    }
}

/// Why bytes are not a NATS line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// No line end within [`MAX_LINE`] bytes.
    #[error("a line runs past {MAX_LINE} bytes without its CRLF")]
    LineTooLong,
    /// `INFO` with a payload that is not the JSON object it must be.
    #[error("the INFO line's JSON does not parse: {0}")]
    BadInfo(String),
}

/// Whether `bytes`, the first the server sent, can begin `INFO ` (NATS's greeting).
pub fn can_start_info(bytes: &[u8]) -> bool {
    let n = bytes.len().min(5);
    bytes[..n].eq_ignore_ascii_case(&b"INFO "[..n])
}

/// Decode one line from the start of `buf`: `Ok(None)` when more bytes are needed, else the
/// line and how many bytes it took.
pub fn decode(buf: &[u8]) -> Result<Option<(ServerLine, usize)>, WireError> {
    let window = &buf[..buf.len().min(MAX_LINE + 1)];
    let Some(end) = window.iter().position(|&b| b == b'\n') else {
        return if buf.len() > MAX_LINE {
            Err(WireError::LineTooLong)
        } else {
            Ok(None)
        };
    };
    let line = &buf[..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    let (op, rest) = text
        .split_once([' ', '\t'])
        .map_or((text, ""), |(op, rest)| (op, rest.trim()));
    let decoded = match op.to_ascii_uppercase().as_str() {
        // serde would take an array for a struct too; INFO's payload is an object.
        "INFO" if !rest.starts_with('{') => {
            return Err(WireError::BadInfo("it is not a JSON object".into()))
        }
        "INFO" => ServerLine::Info(
            serde_json::from_str::<Info>(rest).map_err(|e| WireError::BadInfo(e.to_string()))?,
        ),
        "PING" => ServerLine::Ping,
        "PONG" => ServerLine::Pong,
        "+OK" => ServerLine::Ok,
        "-ERR" => {
            let message = rest
                .strip_prefix('\'')
                .and_then(|r| r.strip_suffix('\''))
                .unwrap_or(rest)
                .trim()
                .to_string();
            let kind = ErrorKind::from_message(&message);
            ServerLine::Err(ServerError { kind, message })
        }
        other => ServerLine::Other(other.chars().take(16).collect()),
    };
    Ok(Some((decoded, end + 1)))
}

/// What the client logs in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// Nothing: an anonymous connection.
    None,
    /// A user name, and its password if there is one.
    User(&'a str, Option<&'a str>),
    /// A token (`auth_token`).
    Token(&'a str),
}

/// `CONNECT {…}\r\nPING\r\n`: log in (quietly: `verbose` off) and ask for a `PONG`, which the
/// server sends only once it has accepted the `CONNECT`.
pub fn connect(credentials: Credentials<'_>, tls: bool) -> Vec<u8> {
    let mut options = serde_json::json!({
        "verbose": false,
        "pedantic": false,
        "tls_required": tls,
        "name": "stillup",
        "lang": "rust",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": 0,
    });
    match credentials {
        Credentials::None => {}
        Credentials::User(user, password) => {
            options["user"] = user.into();
            if let Some(password) = password {
                options["pass"] = password.into();
            }
        }
        Credentials::Token(token) => options["auth_token"] = token.into(),
    }
    format!("CONNECT {options}\r\nPING\r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(bytes: &[u8]) -> ServerLine {
        let (line, used) = decode(bytes).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        line
    }

    #[test]
    fn a_recorded_info_line_decodes() {
        // nats-server 2.9.10 with --user/--pass, as sent.
        let info = br#"INFO {"server_id":"NBQ4","server_name":"NBQ4","version":"2.9.10","proto":1,"go":"go1.19.8","host":"127.0.0.1","port":4333,"headers":true,"auth_required":true,"max_payload":1048576,"client_id":5,"client_ip":"127.0.0.1"} "#;
        let line = [&info[..], b"\r\n"].concat();
        match one(&line) {
            ServerLine::Info(info) => {
                assert_eq!(info.version, "2.9.10");
                assert!(info.auth_required && !info.tls_required && !info.tls_available);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode(b"INFO {\"tls_required\":tru\r\n"),
            Err(WireError::BadInfo(_))
        ));
        assert!(matches!(decode(b"INFO []\r\n"), Err(WireError::BadInfo(_))));
        assert!(matches!(decode(b"INFO\r\n"), Err(WireError::BadInfo(_))));
    }

    #[test]
    fn other_lines_decode() {
        assert_eq!(one(b"PONG\r\n"), ServerLine::Pong);
        assert_eq!(one(b"ping\r\n"), ServerLine::Ping);
        assert_eq!(one(b"+OK\r\n"), ServerLine::Ok);
        assert_eq!(one(b"MSG a 1 0\r\n"), ServerLine::Other("MSG".into()));
        for (line, kind, message) in [
            (
                &b"-ERR 'Authorization Violation'\r\n"[..],
                ErrorKind::AuthorizationViolation,
                "Authorization Violation",
            ),
            (
                b"-ERR 'maximum connections exceeded'\r\n",
                ErrorKind::MaxConnections,
                "maximum connections exceeded",
            ),
            (
                b"-ERR 'User Authentication Expired'\r\n",
                ErrorKind::AuthenticationExpired,
                "User Authentication Expired",
            ),
            (
                b"-ERR 'Unknown Protocol Operation'\r\n",
                ErrorKind::Other,
                "Unknown Protocol Operation",
            ),
            (b"-ERR\r\n", ErrorKind::Other, ""),
        ] {
            assert_eq!(
                one(line),
                ServerLine::Err(ServerError {
                    kind,
                    message: message.into()
                })
            );
        }
    }

    #[test]
    fn lines_are_capped_and_partial_lines_wait() {
        assert_eq!(decode(b"INFO {\"a\":"), Ok(None));
        let endless = [b"INFO {".to_vec(), vec![b' '; MAX_LINE + 10]].concat();
        assert_eq!(decode(&endless), Err(WireError::LineTooLong));
        let (_, used) = decode(b"+OK\r\nPONG\r\n").unwrap().unwrap();
        assert_eq!(used, 5);
    }

    #[test]
    fn only_info_can_start_the_conversation() {
        assert!(can_start_info(b"INFO {"));
        assert!(can_start_info(b"IN"));
        assert!(can_start_info(b"info "));
        assert!(!can_start_info(b"HTTP/1.1 400"));
        assert!(!can_start_info(b"-ERR 'x'"));
        assert!(!can_start_info(b"INFOX"));
    }

    #[test]
    fn connect_carries_the_credentials_as_json() {
        let text = |c| String::from_utf8(connect(c, false)).unwrap();
        let anonymous = text(Credentials::None);
        assert!(anonymous.starts_with("CONNECT {") && anonymous.ends_with("}\r\nPING\r\n"));
        assert!(!anonymous.contains("user") && !anonymous.contains("auth_token"));
        let user = text(Credentials::User("u\"x", Some("p\r\nPUB")));
        assert!(user.contains(r#""user":"u\"x""#), "{user}");
        // Escaped: a password cannot inject a protocol line.
        assert!(user.contains(r#""pass":"p\r\nPUB""#), "{user}");
        assert_eq!(user.matches("\r\n").count(), 2);
        let token = text(Credentials::Token("t0k"));
        assert!(token.contains(r#""auth_token":"t0k""#), "{token}");
    }

    /// An `INFO` line as nats-server 2.9.10 sends it (shortened).
    const RECORDED_INFO: &[u8] =
        b"INFO {\"server_id\":\"NBQ4\",\"version\":\"2.9.10\",\"auth_required\":true} \r\n";

    proptest! {
        /// Whatever a server sends: no panic, and a line never takes more bytes than given.
        #[test]
        fn arbitrary_bytes_never_panic_or_overrun(
            bytes in prop::collection::vec(any::<u8>(), 0..512),
        ) {
            let _ = can_start_info(&bytes);
            match decode(&bytes) {
                Ok(Some((ServerLine::Other(op), used))) => {
                    prop_assert!(used > 0 && used <= bytes.len());
                    prop_assert!(op.chars().count() <= 16);
                }
                Ok(Some((_, used))) => prop_assert!(used > 0 && used <= bytes.len()),
                _ => {}
            }
        }

        /// The recorded `INFO` cut before its line end asks for more; with any byte changed
        /// it still decodes or is refused, never panics.
        #[test]
        fn the_recorded_info_cut_or_corrupted_never_panics(
            at in 0..RECORDED_INFO.len() - 1,
            flip in any::<u8>(),
        ) {
            prop_assert_eq!(decode(&RECORDED_INFO[..at]), Ok(None));
            let mut corrupted = RECORDED_INFO.to_vec();
            corrupted[at] ^= flip;
            if let Ok(Some((_, used))) = decode(&corrupted) {
                prop_assert!(used <= corrupted.len());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        /// A line without an end is refused once it passes the cap, whatever it holds.
        #[test]
        fn an_endless_line_is_refused_past_the_cap(fill in any::<u8>(), extra in 1usize..1024) {
            let fill = if fill == b'\n' { b' ' } else { fill };
            let endless = vec![fill; MAX_LINE + extra];
            prop_assert_eq!(decode(&endless), Err(WireError::LineTooLong));
        }
    }
}
