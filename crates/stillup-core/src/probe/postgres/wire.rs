//! The bytes of the PostgreSQL frontend/backend protocol (version 3.0) that a readiness probe
//! needs: what the client sends (SSLRequest, StartupMessage, password and SASL answers, a
//! simple query, Terminate), what the server answers (decoded from untrusted bytes, every
//! length capped), and the MD5 and SCRAM-SHA-256 password computations. Sans-IO: `mod.rs`
//! moves the bytes.
//!
//! SCRAM is written here over `ring` (already linked for TLS) rather than taken from the
//! `postgres-protocol` crate: the client side is ~100 lines checked against RFC 7677's test
//! vector, and the crate would bring its own SHA-2, HMAC, RNG and stringprep stacks.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

/// The longest message accepted from a server. Startup answers are a few hundred bytes; the
/// one-row answer of the check query is tiny. A longer length is broken framing, never an
/// allocation.
pub const MAX_MESSAGE: usize = 1024 * 1024;

/// `SSLRequest`'s request code: 1234 in the high 16 bits, 5679 in the low.
const SSL_REQUEST_CODE: u32 = 80_877_103;
/// Protocol 3.0.
const PROTOCOL_3_0: u32 = 3 << 16;

/// The 8 bytes asking the server whether it will speak TLS; it answers one byte, `S` or `N`.
pub fn ssl_request() -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&8u32.to_be_bytes());
    out[4..].copy_from_slice(&SSL_REQUEST_CODE.to_be_bytes());
    out
}

/// The StartupMessage: protocol 3.0 and the session's parameters (`user`, then `database`
/// and `application_name` when given). Names and values may not hold a NUL byte; the target's
/// parser refuses them.
pub fn startup_message(user: &str, database: Option<&str>, application_name: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(64);
    body.extend_from_slice(&PROTOCOL_3_0.to_be_bytes());
    let mut param = |name: &str, value: &str| {
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    };
    param("user", user);
    if let Some(database) = database {
        param("database", database);
    }
    param("application_name", application_name);
    body.push(0);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&len_prefix(body.len() + 4));
    out.extend_from_slice(&body);
    out
}

/// A tagged frontend message: the tag byte, the length (itself included), the body.
fn tagged(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(tag);
    out.extend_from_slice(&len_prefix(body.len() + 4));
    out.extend_from_slice(body);
    out
}

fn len_prefix(len: usize) -> [u8; 4] {
    // Every message built here is far below 2 GiB: the parts are a URL's and stillup's own.
    u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes()
}

/// `PasswordMessage` with a cleartext or MD5 password (NUL-terminated).
pub fn password_message(password: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(password.len() + 1);
    body.extend_from_slice(password.as_bytes());
    body.push(0);
    tagged(b'p', &body)
}

/// `SASLInitialResponse`: the chosen mechanism and the client-first message.
pub fn sasl_initial_response(mechanism: &str, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(mechanism.len() + data.len() + 5);
    body.extend_from_slice(mechanism.as_bytes());
    body.push(0);
    body.extend_from_slice(&len_prefix(data.len()));
    body.extend_from_slice(data);
    tagged(b'p', &body)
}

/// `SASLResponse`: the client-final message.
pub fn sasl_response(data: &[u8]) -> Vec<u8> {
    tagged(b'p', data)
}

/// A simple `Query`.
pub fn query(sql: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(sql.len() + 1);
    body.extend_from_slice(sql.as_bytes());
    body.push(0);
    tagged(b'Q', &body)
}

/// `Terminate`: the polite goodbye.
pub fn terminate() -> [u8; 5] {
    [b'X', 0, 0, 0, 4]
}

/// Why bytes from the server cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The first byte cannot start any message a PostgreSQL server sends at this point: another
    /// protocol answers.
    NotPostgres,
    /// The right protocol, broken framing or contents.
    Invalid(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NotPostgres => f.write_str("not a PostgreSQL message"),
            DecodeError::Invalid(detail) => f.write_str(detail),
        }
    }
}

fn invalid(detail: impl Into<String>) -> DecodeError {
    DecodeError::Invalid(detail.into())
}

/// Message types a server may send to this client, in any order the protocol allows.
const BACKEND_TAGS: &[u8] = b"RENSKZTDCIvA";
/// Message types that can answer a StartupMessage first: an authentication request, an error,
/// a notice, or a protocol-version negotiation.
const FIRST_TAGS: &[u8] = b"RENv";

/// Where the next message starts and ends in `buf`: `Ok(None)` when more bytes are needed
/// (`needed` says at least how many in total), the tag and the body's range when a whole
/// message is there. `first`: nothing was decoded on this connection yet (only the tags that
/// can answer a StartupMessage are accepted, so another protocol's bytes are told apart).
pub fn frame(buf: &[u8], first: bool) -> Result<Frame, DecodeError> {
    let Some(&tag) = buf.first() else {
        return Ok(Frame::Need(5));
    };
    let allowed = if first { FIRST_TAGS } else { BACKEND_TAGS };
    if !allowed.contains(&tag) {
        return Err(if first || !tag.is_ascii_alphanumeric() {
            DecodeError::NotPostgres
        } else {
            invalid(format!("a message of unknown type {:?}", char::from(tag)))
        });
    }
    let Some(len) = buf.get(1..5) else {
        return Ok(Frame::Need(5));
    };
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if len < 4 {
        return Err(invalid(format!(
            "a {:?} message with length {len}, shorter than its length field",
            char::from(tag)
        )));
    }
    if len > MAX_MESSAGE {
        return Err(invalid(format!(
            "a {:?} message announcing {len} bytes, more than the {MAX_MESSAGE} accepted",
            char::from(tag)
        )));
    }
    let end = 1 + len;
    if buf.len() < end {
        return Ok(Frame::Need(end));
    }
    Ok(Frame::Whole { tag, body: 5..end })
}

/// What [`frame`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// At least this many bytes in all are needed before a message can be taken.
    Need(usize),
    /// A whole message: its tag, and where its body lies in the buffer (it ends the message).
    Whole {
        /// The message type byte.
        tag: u8,
        /// The body's byte range in the buffer.
        body: std::ops::Range<usize>,
    },
}

/// A decoded server message (only what the probe looks at is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `R`: an authentication request, or that authentication succeeded.
    Auth(AuthRequest),
    /// `E`: the server refuses; the connection ends after it.
    Error(ErrorFields),
    /// `N`: a warning or notice; the exchange goes on.
    Notice(ErrorFields),
    /// `S`: a run-time parameter's value.
    ParameterStatus {
        /// The parameter's name, e.g. `in_hot_standby`.
        name: String,
        /// Its value, e.g. `off`.
        value: String,
    },
    /// `Z`: ready for a query; the transaction status byte (`I`, `T` or `E`).
    ReadyForQuery(u8),
    /// `D`: one row; the first column's text (`None` when NULL or no column).
    DataRow(Option<String>),
    /// `C`: a command completed; its tag, e.g. `SELECT 1`.
    CommandComplete(String),
    /// `K`, `T`, `I`, `A`, `v`: read and passed over.
    Other(u8),
}

/// What an `R` message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRequest {
    /// Logged in.
    Ok,
    /// A cleartext password.
    Cleartext,
    /// An MD5-hashed password, with this salt.
    Md5([u8; 4]),
    /// SASL, with these mechanisms.
    Sasl(Vec<String>),
    /// The server's next SASL message.
    SaslContinue(Vec<u8>),
    /// The server's last SASL message.
    SaslFinal(Vec<u8>),
    /// Another method (Kerberos, GSSAPI, SSPI, SCM credentials): its code.
    Other(u32),
}

impl AuthRequest {
    /// The method's name, for messages.
    pub fn method(&self) -> String {
        match self {
            AuthRequest::Ok => "none (trust)".into(),
            AuthRequest::Cleartext => "password".into(),
            AuthRequest::Md5(_) => "md5".into(),
            AuthRequest::Sasl(mechanisms) => format!("SASL ({})", mechanisms.join(", ")),
            AuthRequest::SaslContinue(_) | AuthRequest::SaslFinal(_) => "SASL".into(),
            AuthRequest::Other(2) => "Kerberos V5".into(),
            AuthRequest::Other(6) => "SCM credentials".into(),
            AuthRequest::Other(7 | 8) => "GSSAPI".into(),
            AuthRequest::Other(9) => "SSPI".into(),
            AuthRequest::Other(code) => format!("method {code}"),
        }
    }
}

/// The fields of an ErrorResponse or NoticeResponse that the probe uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFields {
    /// `V` (never localized) or else `S`: `FATAL`, `ERROR`, `WARNING`, ….
    pub severity: String,
    /// `C`: the SQLSTATE, e.g. `57P03`.
    pub code: String,
    /// `M`: the primary message.
    pub message: String,
    /// `D`: the detail, when sent.
    pub detail: Option<String>,
}

impl ErrorFields {
    /// `CODE message`, as a log line would show it.
    pub fn said(&self) -> String {
        format!("{} {}", self.code, self.message)
    }
}

/// Decode one whole message's body.
pub fn decode(tag: u8, body: &[u8]) -> Result<Backend, DecodeError> {
    let mut r = Reader { rest: body };
    let message = match tag {
        b'R' => Backend::Auth(decode_auth(&mut r)?),
        b'E' => Backend::Error(decode_fields(&mut r)?),
        b'N' => Backend::Notice(decode_fields(&mut r)?),
        b'S' => Backend::ParameterStatus {
            name: r.cstring("ParameterStatus")?,
            value: r.cstring("ParameterStatus")?,
        },
        b'Z' => {
            let status = r.take(1, "ReadyForQuery")?[0];
            Backend::ReadyForQuery(status)
        }
        b'D' => Backend::DataRow(decode_first_column(&mut r)?),
        b'C' => Backend::CommandComplete(r.cstring("CommandComplete")?),
        other => Backend::Other(other),
    };
    Ok(message)
}

fn decode_auth(r: &mut Reader<'_>) -> Result<AuthRequest, DecodeError> {
    let code = r.u32("an authentication request")?;
    Ok(match code {
        0 => AuthRequest::Ok,
        3 => AuthRequest::Cleartext,
        5 => {
            let salt = r.take(4, "an MD5 authentication request")?;
            AuthRequest::Md5([salt[0], salt[1], salt[2], salt[3]])
        }
        10 => {
            let mut mechanisms = Vec::new();
            loop {
                let name = r.cstring("the SASL mechanism list")?;
                if name.is_empty() {
                    break;
                }
                mechanisms.push(name);
            }
            AuthRequest::Sasl(mechanisms)
        }
        11 => AuthRequest::SaslContinue(r.rest.to_vec()),
        12 => AuthRequest::SaslFinal(r.rest.to_vec()),
        other => AuthRequest::Other(other),
    })
}

fn decode_fields(r: &mut Reader<'_>) -> Result<ErrorFields, DecodeError> {
    let mut fields = ErrorFields::default();
    let mut localized_severity = String::new();
    loop {
        let kind = r.take(1, "an error's fields")?[0];
        if kind == 0 {
            break;
        }
        let value = r.cstring("an error field")?;
        match kind {
            b'S' => localized_severity = value,
            b'V' => fields.severity = value,
            b'C' => fields.code = value,
            b'M' => fields.message = value,
            b'D' => fields.detail = Some(value),
            _ => {}
        }
    }
    if fields.severity.is_empty() {
        fields.severity = localized_severity;
    }
    // Every server since 7.4 sends a SQLSTATE of five characters; the class is decided by it.
    if fields.code.len() != 5 || !fields.code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(invalid(format!(
            "an error without a valid SQLSTATE code ({:?}): {}",
            fields.code, fields.message
        )));
    }
    Ok(fields)
}

fn decode_first_column(r: &mut Reader<'_>) -> Result<Option<String>, DecodeError> {
    let count = r.take(2, "a DataRow")?;
    if u16::from_be_bytes([count[0], count[1]]) == 0 {
        return Ok(None);
    }
    let len = r.u32("a DataRow column")?;
    if len == u32::MAX {
        return Ok(None);
    }
    let value = r.take(len as usize, "a DataRow column")?;
    Ok(Some(String::from_utf8_lossy(value).into_owned()))
}

/// Reads a message body, every read bounded by what is left.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(invalid(format!("{what} ends early")));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn cstring(&mut self, what: &str) -> Result<String, DecodeError> {
        let Some(nul) = self.rest.iter().position(|&b| b == 0) else {
            return Err(invalid(format!(
                "{what} has a string without its ending NUL"
            )));
        };
        let text = String::from_utf8_lossy(&self.rest[..nul]).into_owned();
        self.rest = &self.rest[nul + 1..];
        Ok(text)
    }
}

/// The answer to an MD5 request: `"md5" + md5hex(md5hex(password + user) + salt)`.
pub fn md5_password(user: &str, password: &str, salt: [u8; 4]) -> String {
    use md5::{Digest, Md5};
    let inner = hex(&Md5::new()
        .chain_update(password.as_bytes())
        .chain_update(user.as_bytes())
        .finalize());
    let outer = Md5::new()
        .chain_update(inner.as_bytes())
        .chain_update(salt)
        .finalize();
    format!("md5{}", hex(&outer))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The mechanism the SCRAM client speaks (the `-PLUS` variant binds to the TLS channel, which
/// would need the server certificate's hash; it is not needed for a readiness check).
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

/// The most PBKDF2 iterations accepted from a server. PostgreSQL uses 4096 by default; a
/// hostile server asking for billions must not keep a CPU busy for minutes.
pub const MAX_SCRAM_ITERATIONS: u32 = 1_000_000;

/// The client side of one SCRAM-SHA-256 exchange (RFC 5802, RFC 7677), without channel
/// binding (`n,,`). PostgreSQL takes the user name from the StartupMessage and ignores the
/// one in SCRAM, so [`ScramClient::new`] is given `""` there, as libpq does.
///
/// The password is used as given: SASLprep (RFC 4013) is not applied. For passwords of
/// printable ASCII it changes nothing; a password that SASLprep would normalize differently
/// is refused as a failed login.
#[derive(Debug)]
pub struct ScramClient {
    client_first_bare: String,
    nonce: String,
}

/// The server's first message, checked, and what the client answers.
pub struct ScramFinal {
    /// The client-final message to send.
    pub message: String,
    /// The `v=` the server must answer with.
    expected_server_signature: Vec<u8>,
}

/// What PBKDF2 needs, taken from the server-first message; computing it may take a while.
#[derive(Debug)]
pub struct ScramChallenge {
    server_first: String,
    full_nonce: String,
    salt: Vec<u8>,
    iterations: u32,
}

impl ScramChallenge {
    /// The iteration count the server asked for.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }
}

impl ScramClient {
    /// Start an exchange as `user` with a client nonce (printable ASCII without `,`).
    pub fn new(user: &str, nonce: &str) -> ScramClient {
        let user = user.replace('=', "=3D").replace(',', "=2C");
        ScramClient {
            client_first_bare: format!("n={user},r={nonce}"),
            nonce: nonce.to_string(),
        }
    }

    /// A fresh exchange with 18 random bytes of nonce (base64), as libpq uses.
    pub fn with_random_nonce(user: &str) -> Result<ScramClient, DecodeError> {
        use ring::rand::SecureRandom;
        let mut raw = [0u8; 18];
        ring::rand::SystemRandom::new()
            .fill(&mut raw)
            .map_err(|_| invalid("no random bytes for the SCRAM nonce"))?;
        Ok(ScramClient::new(user, &BASE64.encode(raw)))
    }

    /// The client-first message: no channel binding, then the bare part.
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// Check the server-first message (`r=…,s=…,i=…`).
    pub fn challenge(&self, server_first: &[u8]) -> Result<ScramChallenge, DecodeError> {
        let text = std::str::from_utf8(server_first)
            .map_err(|_| invalid("the SCRAM server-first message is not UTF-8"))?;
        let mut attrs = text.split(',');
        let full_nonce = attr(attrs.next(), 'r', text)?;
        let salt = attr(attrs.next(), 's', text)?;
        let iterations = attr(attrs.next(), 'i', text)?;
        if !full_nonce.starts_with(&self.nonce) || full_nonce.len() == self.nonce.len() {
            return Err(invalid(
                "the SCRAM server nonce does not extend the client's",
            ));
        }
        let salt = BASE64
            .decode(salt)
            .map_err(|_| invalid("the SCRAM salt is not base64"))?;
        let iterations: u32 = iterations.parse().map_err(|_| {
            invalid(format!(
                "the SCRAM iteration count {iterations:?} is not a number"
            ))
        })?;
        if iterations == 0 || iterations > MAX_SCRAM_ITERATIONS {
            return Err(invalid(format!(
                "the server asks for {iterations} SCRAM iterations (accepted: 1 to {MAX_SCRAM_ITERATIONS})"
            )));
        }
        Ok(ScramChallenge {
            server_first: text.to_string(),
            full_nonce: full_nonce.to_string(),
            salt,
            iterations,
        })
    }

    /// Compute the proof (PBKDF2: as slow as the server's iteration count makes it).
    pub fn finish(&self, challenge: &ScramChallenge, password: &str) -> ScramFinal {
        use ring::{digest, hmac, pbkdf2};
        let mut salted = [0u8; 32];
        let iterations =
            std::num::NonZeroU32::new(challenge.iterations).unwrap_or(std::num::NonZeroU32::MIN);
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            &challenge.salt,
            password.as_bytes(),
            &mut salted,
        );
        let salted_key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
        let client_key = hmac::sign(&salted_key, b"Client Key");
        let stored_key = digest::digest(&digest::SHA256, client_key.as_ref());
        let without_proof = format!("c=biws,r={}", challenge.full_nonce);
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, challenge.server_first, without_proof
        );
        let client_signature = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, stored_key.as_ref()),
            auth_message.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(client_signature.as_ref())
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac::sign(&salted_key, b"Server Key");
        let server_signature = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, server_key.as_ref()),
            auth_message.as_bytes(),
        );
        ScramFinal {
            message: format!("{without_proof},p={}", BASE64.encode(proof)),
            expected_server_signature: server_signature.as_ref().to_vec(),
        }
    }
}

impl fmt::Debug for ScramFinal {
    /// The proof stands for the password in this exchange: not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScramFinal(<redacted>)")
    }
}

impl ScramFinal {
    /// Check the server-final message: `v=` with the server's signature (proof that it knows
    /// the password too), or `e=` with its refusal.
    pub fn verify(&self, server_final: &[u8]) -> Result<(), DecodeError> {
        let text = String::from_utf8_lossy(server_final);
        if let Some(error) = text.strip_prefix("e=") {
            return Err(invalid(format!("the server ended SCRAM with {error:?}")));
        }
        let signature = attr(text.split(',').next(), 'v', &text)?;
        let signature = BASE64
            .decode(signature)
            .map_err(|_| invalid("the SCRAM server signature is not base64"))?;
        if signature != self.expected_server_signature {
            return Err(invalid(
                "the SCRAM server signature is wrong: the server does not know the password",
            ));
        }
        Ok(())
    }
}

fn attr<'a>(part: Option<&'a str>, name: char, whole: &str) -> Result<&'a str, DecodeError> {
    part.and_then(|p| p.strip_prefix(name))
        .and_then(|p| p.strip_prefix('='))
        .ok_or_else(|| {
            invalid(format!(
                "the SCRAM message {:?} lacks its {name}= attribute",
                cap(whole)
            ))
        })
}

fn cap(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Recorded from PostgreSQL 15 while starting up.
    const STARTING_UP: &[u8] = b"E\0\0\0hSFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0Fpostmaster.c\0L2413\0RProcessStartupPacket\0\0";

    /// Decode the one whole message at the start of `bytes`.
    fn one(bytes: &[u8], first: bool) -> Result<Backend, DecodeError> {
        match frame(bytes, first)? {
            Frame::Whole { tag, body } => {
                assert_eq!(body.end, bytes.len(), "one message exactly");
                decode(tag, &bytes[body])
            }
            Frame::Need(n) => panic!("incomplete: {n} bytes needed"),
        }
    }

    #[test]
    fn the_client_messages_are_byte_exact() {
        assert_eq!(ssl_request(), [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
        assert_eq!(
            startup_message("postgres", Some("test"), "stillup"),
            b"\0\0\0\x3e\0\x03\0\0user\0postgres\0database\0test\0application_name\0stillup\0\0"
        );
        assert_eq!(
            startup_message("u", None, "a"),
            b"\0\0\0\x23\0\x03\0\0user\0u\0application_name\0a\0\0"
        );
        assert_eq!(password_message("pw"), b"p\0\0\0\x07pw\0");
        assert_eq!(
            sasl_initial_response("SCRAM-SHA-256", b"n,,n=,r=x"),
            b"p\0\0\0\x1fSCRAM-SHA-256\0\0\0\0\x09n,,n=,r=x"
        );
        assert_eq!(query("SELECT 1"), b"Q\0\0\0\x0dSELECT 1\0");
        assert_eq!(terminate(), *b"X\0\0\0\x04");
    }

    #[test]
    fn error_responses_give_severity_code_message_and_detail() {
        let Backend::Error(fields) = one(STARTING_UP, true).unwrap() else {
            panic!("an error")
        };
        assert_eq!(fields.severity, "FATAL");
        assert_eq!(fields.code, "57P03");
        assert_eq!(fields.message, "the database system is starting up");
        assert_eq!(fields.detail, None);
        assert_eq!(fields.said(), "57P03 the database system is starting up");
        // The standby's answer, with a detail.
        let bytes = b"E\0\0\0\x6bSFATAL\0VFATAL\0C57P03\0Mthe database system is not accepting connections\0DHot standby mode is disabled.\0\0";
        assert_eq!(bytes.len() - 1, 0x6b);
        let Backend::Error(fields) = one(bytes, true).unwrap() else {
            panic!("an error")
        };
        assert_eq!(
            fields.detail.as_deref(),
            Some("Hot standby mode is disabled.")
        );
        assert_eq!(
            fields.said(),
            "57P03 the database system is not accepting connections"
        );
    }

    #[test]
    fn localized_severity_is_kept_when_no_other_is_sent() {
        let bytes = b"E\0\0\0\x1dSFATAL\0C53300\0Mtoo many\0\0";
        let Backend::Error(fields) = one(bytes, true).unwrap() else {
            panic!("an error")
        };
        assert_eq!(
            (fields.severity.as_str(), fields.code.as_str()),
            ("FATAL", "53300")
        );
    }

    #[test]
    fn errors_without_a_sqlstate_or_their_nul_are_invalid() {
        assert!(matches!(
            one(b"E\0\0\0\x0cMhello\0\0", true),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            one(b"E\0\0\0\x0cC57P03\0M", true),
            Err(DecodeError::Invalid(_))
        ));
    }

    #[test]
    fn authentication_requests_decode() {
        assert_eq!(
            one(b"R\0\0\0\x08\0\0\0\0", true).unwrap(),
            Backend::Auth(AuthRequest::Ok)
        );
        assert_eq!(
            one(b"R\0\0\0\x08\0\0\0\x03", true).unwrap(),
            Backend::Auth(AuthRequest::Cleartext)
        );
        assert_eq!(
            one(b"R\0\0\0\x0c\0\0\0\x05\x01\x02\x03\x04", true).unwrap(),
            Backend::Auth(AuthRequest::Md5([1, 2, 3, 4]))
        );
        assert_eq!(
            one(b"R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0", true).unwrap(),
            Backend::Auth(AuthRequest::Sasl(vec!["SCRAM-SHA-256".into()]))
        );
        assert_eq!(
            one(b"R\0\0\0\x0b\0\0\0\x0br=x", false).unwrap(),
            Backend::Auth(AuthRequest::SaslContinue(b"r=x".to_vec()))
        );
        assert_eq!(
            one(b"R\0\0\0\x08\0\0\0\x07", true).unwrap(),
            Backend::Auth(AuthRequest::Other(7))
        );
        assert!(matches!(
            one(b"R\0\0\0\x0a\0\0\0\x05\x01\x02", true),
            Err(DecodeError::Invalid(_))
        ));
        // A SASL list without its final empty name.
        assert!(matches!(
            one(b"R\0\0\0\x0b\0\0\0\x0aSCR", true),
            Err(DecodeError::Invalid(_))
        ));
    }

    #[test]
    fn session_messages_decode() {
        assert_eq!(
            one(b"S\0\0\0\x17in_hot_standby\0off\0", false).unwrap(),
            Backend::ParameterStatus {
                name: "in_hot_standby".into(),
                value: "off".into()
            }
        );
        assert_eq!(
            one(b"Z\0\0\0\x05I", false).unwrap(),
            Backend::ReadyForQuery(b'I')
        );
        assert_eq!(
            one(b"D\0\0\0\x0b\0\x01\0\0\0\x011", false).unwrap(),
            Backend::DataRow(Some("1".into()))
        );
        assert_eq!(
            one(b"D\0\0\0\x0a\0\x01\xff\xff\xff\xff", false).unwrap(),
            Backend::DataRow(None)
        );
        assert!(matches!(
            one(b"D\0\0\0\x0a\0\x01\x7f\xff\xff\xff", false),
            Err(DecodeError::Invalid(_))
        ));
        assert_eq!(
            one(b"C\0\0\0\x0dSELECT 1\0", false).unwrap(),
            Backend::CommandComplete("SELECT 1".into())
        );
        assert_eq!(
            one(b"K\0\0\0\x0c\0\0\0\x01\0\0\0\x02", false).unwrap(),
            Backend::Other(b'K')
        );
    }

    #[test]
    fn framing_is_capped_and_other_protocols_are_told_apart() {
        assert_eq!(frame(b"", true), Ok(Frame::Need(5)));
        assert_eq!(frame(b"R\0\0", true), Ok(Frame::Need(5)));
        assert_eq!(frame(b"R\0\0\0\x08\0", true), Ok(Frame::Need(9)));
        // 4 GB announced: refused from the header alone.
        assert!(matches!(
            frame(b"E\xff\xff\xff\xff", true),
            Err(DecodeError::Invalid(detail)) if detail.contains("4294967295")
        ));
        assert!(matches!(
            frame(b"R\0\0\0\x02", true),
            Err(DecodeError::Invalid(_))
        ));
        assert_eq!(
            frame(b"HTTP/1.1 400 Bad Request", true),
            Err(DecodeError::NotPostgres)
        );
        assert_eq!(
            frame(b"SSH-2.0-OpenSSH", true),
            Err(DecodeError::NotPostgres)
        );
        // After the startup answer, session messages are fine; unknown letters are broken
        // framing of the right protocol.
        assert!(matches!(
            frame(b"Z\0\0\0\x05I", false),
            Ok(Frame::Whole { tag: b'Z', .. })
        ));
        assert!(matches!(
            frame(b"q\0\0\0\x04", false),
            Err(DecodeError::Invalid(_))
        ));
    }

    #[test]
    fn md5_answers_match_what_libpq_computes() {
        // The digest against RFC 1321's test suite, then the answer to salt 01020304, as
        // computed by Python's hashlib from the same definition.
        use md5::{Digest, Md5};
        assert_eq!(
            hex(&Md5::digest(b"abc")),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            md5_password("postgres", "pencil", [1, 2, 3, 4]),
            "md5dba33b405438ce4ca5423846a9bffead"
        );
    }

    #[test]
    fn scram_matches_the_rfc_7677_example() {
        let client = ScramClient::new("user", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(client.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let challenge = client
            .challenge(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap();
        assert_eq!(challenge.iterations(), 4096);
        let last = client.finish(&challenge, "pencil");
        assert_eq!(
            last.message,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        last.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert!(last
            .verify(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .is_err());
        assert!(last.verify(b"e=invalid-proof").is_err());
    }

    #[test]
    fn scram_refuses_hostile_server_first_messages() {
        let client = ScramClient::new("", "abc");
        for bad in [
            &b"r=xyz,s=AAAA,i=4096"[..],
            b"r=abc,s=AAAA,i=4096",
            b"r=abcd,s=AAAA,i=0",
            b"r=abcd,s=AAAA,i=4294967295",
            b"r=abcd,s=!!,i=4096",
            b"r=abcd,i=4096",
            b"\xff",
        ] {
            assert!(
                client.challenge(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let random = ScramClient::with_random_nonce("").unwrap();
        assert!(random.client_first().starts_with("n,,n=,r="));
        assert_eq!(random.client_first().len(), "n,,n=,r=".len() + 24);
    }

    proptest! {
        /// Whatever a server sends: no panic, a frame never reaches past the bytes given, and a
        /// request for more never exceeds the 1 MiB cap.
        #[test]
        fn arbitrary_bytes_never_panic_or_overrun(
            bytes in prop::collection::vec(any::<u8>(), 0..512),
            first in any::<bool>(),
        ) {
            match frame(&bytes, first) {
                Ok(Frame::Need(n)) => {
                    prop_assert!(n > bytes.len() && n <= MAX_MESSAGE + 1, "{n}");
                }
                Ok(Frame::Whole { tag, body }) => {
                    prop_assert!(body.start == 5 && body.end <= bytes.len());
                    let _ = decode(tag, &bytes[body]);
                }
                Err(_) => {}
            }
            for &tag in BACKEND_TAGS {
                let _ = decode(tag, &bytes);
            }
            let client = ScramClient::new("", "abc");
            let _ = client.challenge(&bytes);
        }

        /// A recorded message cut anywhere asks for more; with any byte changed it still
        /// decodes or is refused, never panics.
        #[test]
        fn a_recorded_message_cut_or_corrupted_never_panics(
            cut in 0..STARTING_UP.len(),
            flip in any::<u8>(),
        ) {
            let cut_short = frame(&STARTING_UP[..cut], true);
            prop_assert!(matches!(cut_short, Ok(Frame::Need(n)) if n > cut), "{cut_short:?}");
            let mut corrupted = STARTING_UP.to_vec();
            corrupted[cut] ^= flip;
            if let Ok(Frame::Whole { tag, body }) = frame(&corrupted, true) {
                prop_assert!(body.end <= corrupted.len());
                let _ = decode(tag, &corrupted[body]);
            }
        }

        /// A length past the cap is refused from the 5-byte header alone: nothing is waited
        /// for or allocated.
        #[test]
        fn a_huge_length_is_refused_from_the_header(
            tag in prop::sample::select(BACKEND_TAGS),
            len in (MAX_MESSAGE as u32 + 1)..=u32::MAX,
        ) {
            let mut header = vec![tag];
            header.extend_from_slice(&len.to_be_bytes());
            prop_assert!(matches!(frame(&header, false), Err(DecodeError::Invalid(_))));
        }
    }
}
