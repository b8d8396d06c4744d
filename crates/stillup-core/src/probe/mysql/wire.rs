//! The bytes of the MySQL client/server protocol that a readiness check needs, without I/O:
//! packet framing (3-byte length, sequence id), the server's initial handshake (protocol 10)
//! and ERR packets, the client's SSLRequest and HandshakeResponse41, the two password
//! scrambles (`mysql_native_password`, `caching_sha2_password`), the server's answers during
//! authentication, and the result set of `SELECT 1`.
//!
//! Everything here reads bytes a server controls: every length is checked before it is used,
//! nothing allocates more than [`MAX_PAYLOAD`], and malformed input is a [`DecodeError`], never
//! a panic.

use std::fmt;

use ring::digest;

use crate::failure::NotReadyReason;

/// Largest packet payload accepted. A greeting, an authentication exchange and the result of
/// `SELECT 1` are a few hundred bytes; a claim past this is broken framing, not something to
/// allocate for.
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// The packet header: a 3-byte little-endian payload length, then the sequence id.
pub const HEADER_LEN: usize = 4;
/// The only handshake protocol version spoken since MySQL 3.21.
pub const PROTOCOL_VERSION: u8 = 10;
/// Server text kept in a failure (`said`).
const MAX_SAID: usize = 200;
/// Columns accepted in the answer to `SELECT 1` (it has one).
const MAX_COLUMNS: u64 = 64;
/// Rows accepted in the answer to `SELECT 1` (it has one).
const MAX_ROWS: usize = 64;

/// Capability flags (the subset this client reads or sets).
pub mod caps {
    /// New, more secure passwords (always set by 4.1+ clients).
    pub const LONG_PASSWORD: u32 = 0x0000_0001;
    /// More column flags in column definitions.
    pub const LONG_FLAG: u32 = 0x0000_0004;
    /// The HandshakeResponse names a database.
    pub const CONNECT_WITH_DB: u32 = 0x0000_0008;
    /// The 4.1 protocol (every server since 2004).
    pub const PROTOCOL_41: u32 = 0x0000_0200;
    /// TLS: the server offers it; the client asks for it with an SSLRequest.
    pub const SSL: u32 = 0x0000_0800;
    /// Transaction status in OK packets.
    pub const TRANSACTIONS: u32 = 0x0000_2000;
    /// 4.1 authentication (a length-prefixed auth response).
    pub const SECURE_CONNECTION: u32 = 0x0000_8000;
    /// Authentication plugins, named in the handshake and switchable.
    pub const PLUGIN_AUTH: u32 = 0x0008_0000;
}

/// `COM_QUIT`: end the session.
pub const COM_QUIT: u8 = 0x01;
/// `COM_QUERY`: run a statement.
pub const COM_QUERY: u8 = 0x03;
/// The character set sent in the HandshakeResponse: `utf8_general_ci`, known to every server.
pub const CHARSET_UTF8: u8 = 33;
/// The largest packet the client says it accepts.
const CLIENT_MAX_PACKET: u32 = 16 * 1024 * 1024;

/// One packet: its sequence id and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The sequence id (0 for the first packet of each command; the server's greeting is 0).
    pub seq: u8,
    /// The payload, at most [`MAX_PAYLOAD`] bytes.
    pub payload: Vec<u8>,
}

/// A packet header claiming more than [`MAX_PAYLOAD`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// The payload length the header claimed.
    pub claimed: usize,
}

/// Split one whole packet off the front of `buf`: `Ok(None)` while more bytes are needed, with
/// the packet and the bytes it took once it is complete.
pub fn take_packet(buf: &[u8]) -> Result<Option<(Packet, usize)>, TooLarge> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let claimed =
        usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if claimed > MAX_PAYLOAD {
        return Err(TooLarge { claimed });
    }
    let end = HEADER_LEN + claimed;
    Ok(buf.get(HEADER_LEN..end).map(|payload| {
        (
            Packet {
                seq: header[3],
                payload: payload.to_vec(),
            },
            end,
        )
    }))
}

/// `payload` framed as packet `seq`. The payloads this client sends are small.
pub fn frame(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .to_le_bytes();
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&[len[0], len[1], len[2], seq]);
    out.extend_from_slice(payload);
    out
}

/// Whether what a server sent first cannot start a MySQL greeting: a first packet has
/// sequence id 0 and starts with protocol version 10 (a handshake) or 0xff (an ERR packet
/// refusing the connection). `false` while too few bytes have come to tell.
pub fn cannot_be_greeting(first: &[u8]) -> bool {
    let empty_packet = first.len() >= 3 && first[..3] == [0, 0, 0];
    let seq_not_zero = first.get(3).is_some_and(|&seq| seq != 0);
    let not_handshake = first
        .get(4)
        .is_some_and(|&b| b != PROTOCOL_VERSION && b != 0xff);
    empty_packet || seq_not_zero || not_handshake
}

/// A payload that breaks the protocol: what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads a payload front to back; every read checks the length first.
struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { bytes, what }
    }

    fn short(&self, field: &str) -> DecodeError {
        DecodeError(format!("{} is cut short before its {field}", self.what))
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(self.short(field));
        }
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(taken)
    }

    fn u8(&mut self, field: &str) -> Result<u8, DecodeError> {
        Ok(self.take(1, field)?[0])
    }

    fn u16(&mut self, field: &str) -> Result<u16, DecodeError> {
        let b = self.take(2, field)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, field: &str) -> Result<u32, DecodeError> {
        let b = self.take(4, field)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Bytes up to a NUL (consumed, not returned).
    fn until_nul(&mut self, field: &str) -> Result<&'a [u8], DecodeError> {
        let end = self
            .bytes
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| self.short(field))?;
        let taken = &self.bytes[..end];
        self.bytes = &self.bytes[end + 1..];
        Ok(taken)
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// A length-encoded integer; `None` for the NULL marker (0xfb).
    fn lenenc(&mut self, field: &str) -> Result<Option<u64>, DecodeError> {
        let first = self.u8(field)?;
        let wide = |bytes: &[u8]| {
            let mut le = [0u8; 8];
            le[..bytes.len()].copy_from_slice(bytes);
            u64::from_le_bytes(le)
        };
        Ok(Some(match first {
            0..=0xfa => u64::from(first),
            0xfb => return Ok(None),
            0xfc => wide(self.take(2, field)?),
            0xfd => wide(self.take(3, field)?),
            0xfe => wide(self.take(8, field)?),
            0xff => {
                return Err(DecodeError(format!(
                    "{} has an invalid length prefix 0xff for its {field}",
                    self.what
                )))
            }
        }))
    }
}

/// Server text as a capped string (servers send UTF-8 or Latin-1; either reads well enough).
fn text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(MAX_SAID) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

/// The server's initial handshake (protocol version 10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The server's version string, e.g. `8.0.36` or `5.5.5-10.11.6-MariaDB` (capped).
    pub server_version: String,
    /// The connection (thread) id.
    pub connection_id: u32,
    /// The scramble (nonce) both password plugins hash with, usually 20 bytes.
    pub nonce: Vec<u8>,
    /// What the server offers (the low and high 16 bits joined).
    pub capabilities: u32,
    /// The authentication plugin the server expects first, when it names one.
    pub auth_plugin: Option<String>,
}

impl Handshake {
    /// Decode the payload of a first packet whose first byte is [`PROTOCOL_VERSION`].
    pub fn decode(payload: &[u8]) -> Result<Handshake, DecodeError> {
        let mut r = Reader::new(payload, "the server's handshake");
        let version = r.u8("protocol version")?;
        if version != PROTOCOL_VERSION {
            return Err(DecodeError(format!(
                "the server's handshake has protocol version {version}, not {PROTOCOL_VERSION}"
            )));
        }
        let server_version = text(r.until_nul("server version")?);
        let connection_id = r.u32("connection id")?;
        let mut nonce = r.take(8, "scramble")?.to_vec();
        r.u8("filler")?;
        let low = r.u16("capability flags")?;
        let mut capabilities = u32::from(low);
        let mut auth_plugin = None;
        // A pre-4.1 server stops here; later fields are optional on the wire.
        if !r.is_empty() {
            r.u8("character set")?;
            r.u16("status flags")?;
            let high = r.u16("upper capability flags")?;
            capabilities |= u32::from(high) << 16;
            let auth_data_len = usize::from(r.u8("scramble length")?);
            // Six reserved bytes, then four that MariaDB uses for its own capabilities.
            r.take(10, "reserved bytes")?;
            if capabilities & caps::SECURE_CONNECTION != 0 {
                // The rest of the scramble: at least 13 bytes, the last one a NUL.
                let len = auth_data_len.saturating_sub(8).max(13);
                let part = r.take(len, "second part of the scramble")?;
                let part = part.strip_suffix(&[0]).unwrap_or(part);
                nonce.extend_from_slice(part);
            }
            if capabilities & caps::PLUGIN_AUTH != 0 {
                // Some servers omit the final NUL.
                let rest = r.rest();
                let name = rest.split(|&b| b == 0).next().unwrap_or(rest);
                auth_plugin = Some(text(name));
            }
        }
        Ok(Handshake {
            server_version,
            connection_id,
            nonce,
            capabilities,
            auth_plugin,
        })
    }

    /// Whether the server offers `capability`.
    pub fn offers(&self, capability: u32) -> bool {
        self.capabilities & capability != 0
    }

    /// `MariaDB` when the version string says so, else `MySQL`.
    pub fn server_name(&self) -> &'static str {
        if self.server_version.contains("MariaDB") {
            "MariaDB"
        } else {
            "MySQL"
        }
    }
}

/// An ERR packet: the server's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrPacket {
    /// The error code, e.g. 1045 (access denied).
    pub code: u16,
    /// The SQLSTATE, when the packet carries one (not before the handshake).
    pub sql_state: Option<String>,
    /// The message (capped).
    pub message: String,
}

impl ErrPacket {
    /// Decode a payload starting with 0xff.
    pub fn decode(payload: &[u8]) -> Result<ErrPacket, DecodeError> {
        let mut r = Reader::new(payload, "the server's ERR packet");
        if r.u8("header")? != 0xff {
            return Err(DecodeError("not an ERR packet".into()));
        }
        let code = r.u16("error code")?;
        // With the 4.1 protocol, `#` and a 5-character SQLSTATE come first; an error sent in
        // place of the greeting has none, as the client's capabilities are not known yet.
        let sql_state = match r.bytes {
            [b'#', state @ ..] if state.len() >= 5 => {
                r.take(1, "SQLSTATE marker")?;
                Some(text(r.take(5, "SQLSTATE")?))
            }
            _ => None,
        };
        let message = text(r.rest());
        Ok(ErrPacket {
            code,
            sql_state,
            message,
        })
    }

    /// What the server said, for a failure: `1040 Too many connections`.
    pub fn said(&self) -> String {
        format!("{} {}", self.code, self.message)
    }

    /// Which not-ready class the server's code means.
    ///
    /// Codes not listed are `server_unavailable`: the server answered in its protocol and
    /// turned the session down, for a reason waiting may or may not fix.
    pub fn reason(&self) -> NotReadyReason {
        match self.code {
            // ER_CON_COUNT_ERROR, ER_TOO_MANY_USER_CONNECTIONS, ER_USER_LIMIT_REACHED.
            1040 | 1203 | 1226 => NotReadyReason::TooManyConnections,
            // ER_HOST_IS_BLOCKED (too many connection errors), ER_HOST_NOT_PRIVILEGED.
            1129 | 1130 => NotReadyReason::HostBlocked,
            // ER_BAD_DB_ERROR.
            1049 => NotReadyReason::UnknownDatabase,
            // ER_SERVER_SHUTDOWN: going down (or not up yet).
            1053 => NotReadyReason::Starting,
            // ER_DBACCESS_DENIED_ERROR, ER_ACCESS_DENIED_ERROR, ER_NOT_SUPPORTED_AUTH_MODE,
            // ER_ACCESS_DENIED_NO_PASSWORD_ERROR, ER_MUST_CHANGE_PASSWORD_LOGIN, a locked
            // account (MySQL 3118, MariaDB 4151).
            1044 | 1045 | 1251 | 1698 | 1862 | 3118 | 4151 => NotReadyReason::AuthFailed,
            _ => NotReadyReason::Unavailable,
        }
    }
}

/// What the server sent first: its handshake, or an ERR packet refusing the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Greeting {
    /// The initial handshake: the server accepts connections.
    Handshake(Handshake),
    /// The server refused the connection before any handshake (too many connections, a
    /// blocked host).
    Refused(ErrPacket),
}

impl Greeting {
    /// Decode the first packet's payload (its first bytes already judged by
    /// [`cannot_be_greeting`]).
    pub fn decode(payload: &[u8]) -> Result<Greeting, DecodeError> {
        match payload.first() {
            Some(0xff) => ErrPacket::decode(payload).map(Greeting::Refused),
            _ => Handshake::decode(payload).map(Greeting::Handshake),
        }
    }
}

/// The SSLRequest payload: the first 32 bytes of a HandshakeResponse41, after which the client
/// starts the TLS handshake.
pub fn ssl_request(capabilities: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(&(capabilities | caps::SSL).to_le_bytes());
    out.extend_from_slice(&CLIENT_MAX_PACKET.to_le_bytes());
    out.push(CHARSET_UTF8);
    out.extend_from_slice(&[0; 23]);
    out
}

/// The client's HandshakeResponse41.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse<'a> {
    /// The capabilities the client uses (a subset of the server's).
    pub capabilities: u32,
    /// The user to log in as.
    pub user: &'a str,
    /// The scrambled password (at most 255 bytes).
    pub auth_response: &'a [u8],
    /// The database to use, sent when [`caps::CONNECT_WITH_DB`] is set.
    pub database: Option<&'a str>,
    /// The plugin `auth_response` was computed for.
    pub plugin: Plugin,
}

impl HandshakeResponse<'_> {
    /// The payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = ssl_request(self.capabilities);
        // Only an SSLRequest carries the SSL bit alone; here it mirrors the session's state.
        out[..4].copy_from_slice(&self.capabilities.to_le_bytes());
        out.extend_from_slice(self.user.as_bytes());
        out.push(0);
        let auth = &self.auth_response[..self.auth_response.len().min(255)];
        out.push(u8::try_from(auth.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(auth);
        if let Some(database) = self.database {
            if self.capabilities & caps::CONNECT_WITH_DB != 0 {
                out.extend_from_slice(database.as_bytes());
                out.push(0);
            }
        }
        if self.capabilities & caps::PLUGIN_AUTH != 0 {
            out.extend_from_slice(self.plugin.name().as_bytes());
            out.push(0);
        }
        out
    }
}

/// A password plugin this client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plugin {
    /// `mysql_native_password`: SHA-1 based, MariaDB's and older MySQL's default.
    NativePassword,
    /// `caching_sha2_password`: SHA-256 based, MySQL 8's default.
    CachingSha2,
}

impl Plugin {
    /// The plugin named `name`, if this client speaks it.
    pub fn from_name(name: &str) -> Option<Plugin> {
        match name {
            "mysql_native_password" => Some(Plugin::NativePassword),
            "caching_sha2_password" => Some(Plugin::CachingSha2),
            _ => None,
        }
    }

    /// The plugin's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Plugin::NativePassword => "mysql_native_password",
            Plugin::CachingSha2 => "caching_sha2_password",
        }
    }

    /// The auth response for `password` and the server's `nonce`: empty for an empty
    /// password, as the servers expect.
    pub fn scramble(self, password: &str, nonce: &[u8]) -> Vec<u8> {
        if password.is_empty() {
            return Vec::new();
        }
        match self {
            Plugin::NativePassword => native_password(password.as_bytes(), nonce).to_vec(),
            Plugin::CachingSha2 => caching_sha2(password.as_bytes(), nonce).to_vec(),
        }
    }
}

fn xor<const N: usize>(mut a: [u8; N], b: &[u8]) -> [u8; N] {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
    a
}

fn hash<const N: usize>(algorithm: &'static digest::Algorithm, parts: &[&[u8]]) -> [u8; N] {
    let mut context = digest::Context::new(algorithm);
    for part in parts {
        context.update(part);
    }
    let mut out = [0u8; N];
    let done = context.finish();
    out.copy_from_slice(&done.as_ref()[..N]);
    out
}

/// `mysql_native_password`: `SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password)))`.
pub fn native_password(password: &[u8], nonce: &[u8]) -> [u8; 20] {
    let sha1 = &digest::SHA1_FOR_LEGACY_USE_ONLY;
    let once: [u8; 20] = hash(sha1, &[password]);
    let twice: [u8; 20] = hash(sha1, &[&once]);
    let mask: [u8; 20] = hash(sha1, &[nonce, &twice]);
    xor(once, &mask)
}

/// `caching_sha2_password`'s fast path:
/// `SHA256(password) XOR SHA256(SHA256(SHA256(password)) + nonce)`.
pub fn caching_sha2(password: &[u8], nonce: &[u8]) -> [u8; 32] {
    let sha256 = &digest::SHA256;
    let once: [u8; 32] = hash(sha256, &[password]);
    let twice: [u8; 32] = hash(sha256, &[&once]);
    let mask: [u8; 32] = hash(sha256, &[&twice, nonce]);
    xor(once, &mask)
}

/// The server's answer during authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthReply {
    /// OK: logged in.
    Ok,
    /// ERR: the login (or the database) was refused.
    Err(ErrPacket),
    /// AuthSwitchRequest: answer for this plugin and nonce instead.
    Switch {
        /// The plugin asked for (capped).
        plugin: String,
        /// Its nonce.
        nonce: Vec<u8>,
    },
    /// The pre-4.1 "old password" switch, which this client does not speak.
    OldPasswordSwitch,
    /// AuthMoreData: plugin-specific bytes (`caching_sha2_password`'s 3 = fast auth succeeded,
    /// 4 = full authentication needed).
    MoreData(Vec<u8>),
}

/// `caching_sha2_password`: the scramble matched the server's cache; an OK follows.
pub const FAST_AUTH_SUCCESS: u8 = 0x03;
/// `caching_sha2_password`: the server needs the password itself (its cache is cold).
pub const PERFORM_FULL_AUTH: u8 = 0x04;

impl AuthReply {
    /// Decode a packet the server sent after the client's HandshakeResponse or auth data.
    pub fn decode(payload: &[u8]) -> Result<AuthReply, DecodeError> {
        match payload.first() {
            Some(0x00) => Ok(AuthReply::Ok),
            Some(0xff) => ErrPacket::decode(payload).map(AuthReply::Err),
            Some(0xfe) if payload.len() == 1 => Ok(AuthReply::OldPasswordSwitch),
            Some(0xfe) => {
                let mut r = Reader::new(&payload[1..], "the server's AuthSwitchRequest");
                let plugin = text(r.until_nul("plugin name")?);
                let nonce = r.rest();
                let nonce = nonce.strip_suffix(&[0]).unwrap_or(nonce).to_vec();
                Ok(AuthReply::Switch { plugin, nonce })
            }
            Some(0x01) => Ok(AuthReply::MoreData(payload[1..].to_vec())),
            Some(other) => Err(DecodeError(format!(
                "the server answered the login with a packet of type 0x{other:02x}, not OK, \
                 ERR or an authentication request"
            ))),
            None => Err(DecodeError(
                "the server answered the login with an empty packet".into(),
            )),
        }
    }
}

/// The payload of `COM_QUERY sql`.
pub fn query(sql: &str) -> Vec<u8> {
    let mut out = vec![COM_QUERY];
    out.extend_from_slice(sql.as_bytes());
    out
}

/// Where reading a query's answer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResultState {
    /// The first packet: a column count, OK or ERR.
    Start,
    /// Column definitions still to come.
    Columns(u64),
    /// The EOF after the column definitions.
    ColumnsEnd,
    /// Rows, until an EOF (or ERR).
    Rows(usize),
    /// The answer is complete.
    Done,
}

/// What one more packet of a query's answer meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryStep {
    /// More packets follow.
    More,
    /// The answer is complete: the query ran.
    Done,
    /// The query failed.
    Failed(ErrPacket),
}

/// Follows the packets of a text-protocol answer (the client does not set
/// `CLIENT_DEPRECATE_EOF`, so column definitions and rows each end with an EOF packet).
#[derive(Debug, Clone)]
pub struct ResultReader {
    state: ResultState,
}

impl Default for ResultReader {
    fn default() -> Self {
        ResultReader {
            state: ResultState::Start,
        }
    }
}

fn is_eof(payload: &[u8]) -> bool {
    payload.first() == Some(&0xfe) && payload.len() < 9
}

impl ResultReader {
    /// Take the next packet's payload.
    pub fn feed(&mut self, payload: &[u8]) -> Result<QueryStep, DecodeError> {
        if payload.first() == Some(&0xff) && self.state != ResultState::Done {
            self.state = ResultState::Done;
            return ErrPacket::decode(payload).map(QueryStep::Failed);
        }
        let (next, step) = match self.state {
            ResultState::Start => match payload.first() {
                Some(0x00) => (ResultState::Done, QueryStep::Done),
                Some(0xfb) => {
                    return Err(DecodeError(
                        "the server asked for a local file in answer to SELECT 1".into(),
                    ))
                }
                _ => {
                    let mut r = Reader::new(payload, "the result set's column count");
                    match r.lenenc("column count")? {
                        Some(n @ 1..=MAX_COLUMNS) => (ResultState::Columns(n), QueryStep::More),
                        other => {
                            return Err(DecodeError(format!(
                                "the result set claims {} columns",
                                other.map_or("NULL".to_string(), |n| n.to_string())
                            )))
                        }
                    }
                }
            },
            ResultState::Columns(left) => {
                if is_eof(payload) {
                    return Err(DecodeError(
                        "the result set ended before its column definitions".into(),
                    ));
                }
                let next = match left {
                    1 => ResultState::ColumnsEnd,
                    n => ResultState::Columns(n - 1),
                };
                (next, QueryStep::More)
            }
            ResultState::ColumnsEnd => {
                if !is_eof(payload) {
                    return Err(DecodeError(
                        "the result set has no EOF after its column definitions".into(),
                    ));
                }
                (ResultState::Rows(0), QueryStep::More)
            }
            ResultState::Rows(_) if is_eof(payload) => (ResultState::Done, QueryStep::Done),
            ResultState::Rows(n) if n >= MAX_ROWS => {
                return Err(DecodeError(format!(
                    "the result of SELECT 1 has more than {MAX_ROWS} rows"
                )))
            }
            ResultState::Rows(n) => (ResultState::Rows(n + 1), QueryStep::More),
            ResultState::Done => {
                return Err(DecodeError(
                    "the server sent more after the query's answer".into(),
                ))
            }
        };
        self.state = next;
        Ok(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The greeting of the machine's MariaDB 10.11 (127.0.0.1:3306), recorded with a Python
    /// one-liner reading the first packet of a fresh connection.
    const MARIADB_GREETING: &str = "640000000a352e352e352d31302e31312e31392d4d6172696144422d302b\
        64656231327531000e0000004e324b663f46216f00fef72d0200ff81150000000000001d000000314441597c\
        27476f7c427134006d7973716c5f6e61746976655f70617373776f726400";

    fn unhex(hex: &str) -> Vec<u8> {
        let hex: String = hex.chars().filter(|c| !c.is_whitespace()).collect();
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_recorded_mariadb_greeting_decodes() {
        let bytes = unhex(MARIADB_GREETING);
        assert!(!cannot_be_greeting(&bytes));
        let (packet, used) = take_packet(&bytes).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(packet.seq, 0);
        let Greeting::Handshake(h) = Greeting::decode(&packet.payload).unwrap() else {
            panic!("a handshake");
        };
        assert_eq!(h.server_version, "5.5.5-10.11.19-MariaDB-0+deb12u1");
        assert_eq!(h.server_name(), "MariaDB");
        assert_eq!(h.connection_id, 14);
        assert_eq!(h.nonce, b"N2Kf?F!o1DAY|'Go|Bq4");
        assert_eq!(h.auth_plugin.as_deref(), Some("mysql_native_password"));
        assert!(h.offers(caps::PROTOCOL_41) && h.offers(caps::PLUGIN_AUTH));
        assert!(!h.offers(caps::SSL), "this server has TLS disabled");
    }

    #[test]
    fn every_cut_of_the_greeting_is_incomplete_or_an_error_never_a_panic() {
        let bytes = unhex(MARIADB_GREETING);
        for cut in 0..bytes.len() {
            assert_eq!(take_packet(&bytes[..cut]), Ok(None), "cut at {cut}");
            assert!(!cannot_be_greeting(&bytes[..cut]));
        }
        let payload = &bytes[HEADER_LEN..];
        for cut in 0..payload.len() - 1 {
            // A cut after the capability flags is a pre-4.1 greeting, which decodes.
            let _ = Greeting::decode(&payload[..cut]);
        }
        assert!(Greeting::decode(&payload[..10]).is_err());
    }

    #[test]
    fn framing_caps_lengths_and_splits_packets() {
        assert_eq!(
            take_packet(&[0xff, 0xff, 0xff, 0, 10]),
            Err(TooLarge { claimed: 0xff_ffff })
        );
        assert_eq!(
            take_packet(&[0x01, 0x00, 0x01, 0, 10]),
            Err(TooLarge { claimed: 65537 })
        );
        let two = [frame(1, b"ab"), frame(2, b"c")].concat();
        assert_eq!(two, [2, 0, 0, 1, b'a', b'b', 1, 0, 0, 2, b'c']);
        let (first, used) = take_packet(&two).unwrap().unwrap();
        assert_eq!(
            (first.seq, first.payload.as_slice(), used),
            (1, &b"ab"[..], 6)
        );
        let (second, _) = take_packet(&two[used..]).unwrap().unwrap();
        assert_eq!((second.seq, second.payload.as_slice()), (2, &b"c"[..]));
    }

    #[test]
    fn other_protocols_cannot_be_a_greeting() {
        for other in [
            &b"HTTP/1.1 400 Bad Request\r\n"[..],
            b"SSH-2.0-OpenSSH_9.6\r\n",
            b"-ERR unknown command\r\n",
            b"\x00\x00\x00\x00",
            b"\x10\x00\x00\x00\x09old",
        ] {
            assert!(cannot_be_greeting(other), "{other:?}");
        }
        assert!(!cannot_be_greeting(b"\x10\x00\x00\x00\x0a"));
        assert!(!cannot_be_greeting(b"\x17\x00\x00\x00\xff"));
        assert!(!cannot_be_greeting(b"\x10\x00"));
    }

    #[test]
    fn err_packets_before_the_handshake_decode_to_their_class() {
        // What MySQL sends in place of the greeting when max_connections is reached.
        let too_many = [&[0xff, 0x10, 0x04][..], b"Too many connections"].concat();
        let Greeting::Refused(err) = Greeting::decode(&too_many).unwrap() else {
            panic!("an ERR");
        };
        assert_eq!(err.code, 1040);
        assert_eq!(err.sql_state, None);
        assert_eq!(err.said(), "1040 Too many connections");
        assert_eq!(err.reason(), NotReadyReason::TooManyConnections);

        let blocked = [
            &[0xff, 0x69, 0x04][..],
            b"Host '10.0.0.7' is blocked because of many connection errors; unblock with \
              'mariadb-admin flush-hosts'",
        ]
        .concat();
        let err = ErrPacket::decode(&blocked).unwrap();
        assert_eq!(err.code, 1129);
        assert_eq!(err.reason(), NotReadyReason::HostBlocked);

        // After a HandshakeResponse, errors carry a SQLSTATE.
        let denied = [
            &[0xff, 0x15, 0x04, b'#'][..],
            b"28000Access denied for user 'root'@'localhost' (using password: YES)",
        ]
        .concat();
        let err = ErrPacket::decode(&denied).unwrap();
        assert_eq!(err.code, 1045);
        assert_eq!(err.sql_state.as_deref(), Some("28000"));
        assert!(err.message.starts_with("Access denied"), "{err:?}");
        assert_eq!(err.reason(), NotReadyReason::AuthFailed);
        let unknown_db = [&[0xff, 0x19, 0x04][..], b"#42000Unknown database 'x'"].concat();
        let err = ErrPacket::decode(&unknown_db).unwrap();
        assert_eq!(err.reason(), NotReadyReason::UnknownDatabase);
        assert_eq!(err.said(), "1049 Unknown database 'x'");
        let other = ErrPacket::decode(&[0xff, 0x01, 0x10, b'?']).unwrap();
        assert_eq!(other.reason(), NotReadyReason::Unavailable);
        assert!(ErrPacket::decode(&[0xff, 0x10]).is_err());
        let long = [&[0xff, 0x10, 0x04][..], &[b'x'; 5000]].concat();
        assert!(ErrPacket::decode(&long).unwrap().message.chars().count() <= MAX_SAID + 1);
    }

    #[test]
    fn scrambles_match_known_vectors() {
        // Computed independently with Python's hashlib for the nonce 1..=20.
        let nonce: Vec<u8> = (1..=20).collect();
        assert_eq!(
            hex(&native_password(b"secret", &nonce)),
            "b32bb3a583e1340c0a1108d58b1be49781ad8c2f"
        );
        assert_eq!(
            hex(&caching_sha2(b"secret", &nonce)),
            "746ebe205d56a0707acb3e796e834e0dd7b1d61743b26bd5202c7a623230c7c9"
        );
        assert!(Plugin::NativePassword.scramble("", &nonce).is_empty());
        assert!(Plugin::CachingSha2.scramble("", &nonce).is_empty());
        assert_eq!(Plugin::CachingSha2.scramble("secret", &nonce).len(), 32);
    }

    #[test]
    fn the_handshake_response_is_laid_out_as_the_protocol_says() {
        let capabilities =
            caps::PROTOCOL_41 | caps::SECURE_CONNECTION | caps::PLUGIN_AUTH | caps::CONNECT_WITH_DB;
        let response = HandshakeResponse {
            capabilities,
            user: "app",
            auth_response: &[0xaa; 20],
            database: Some("shop"),
            plugin: Plugin::NativePassword,
        }
        .encode();
        assert_eq!(&response[..4], &capabilities.to_le_bytes());
        assert_eq!(&response[4..8], &(16u32 << 20).to_le_bytes());
        assert_eq!(response[8], CHARSET_UTF8);
        assert_eq!(&response[9..32], &[0; 23]);
        let rest = &response[32..];
        assert_eq!(&rest[..4], b"app\0");
        assert_eq!(rest[4], 20);
        assert_eq!(&rest[5..25], &[0xaa; 20]);
        assert_eq!(&rest[25..], b"shop\0mysql_native_password\0");
        let ssl = ssl_request(caps::PROTOCOL_41);
        assert_eq!(ssl.len(), 32);
        assert_eq!(&ssl[..4], &(caps::PROTOCOL_41 | caps::SSL).to_le_bytes());
    }

    #[test]
    fn authentication_replies_decode() {
        assert_eq!(AuthReply::decode(&[0, 0, 0, 2, 0, 0, 0]), Ok(AuthReply::Ok));
        let switch = [&[0xfe][..], b"caching_sha2_password\0", &[7; 20], &[0]].concat();
        assert_eq!(
            AuthReply::decode(&switch),
            Ok(AuthReply::Switch {
                plugin: "caching_sha2_password".into(),
                nonce: vec![7; 20],
            })
        );
        assert_eq!(AuthReply::decode(&[0xfe]), Ok(AuthReply::OldPasswordSwitch));
        assert_eq!(
            AuthReply::decode(&[0x01, FAST_AUTH_SUCCESS]),
            Ok(AuthReply::MoreData(vec![FAST_AUTH_SUCCESS]))
        );
        assert!(AuthReply::decode(&[]).is_err());
        assert!(AuthReply::decode(&[0x42]).is_err());
        assert!(AuthReply::decode(&[0xfe, b'x']).is_err());
    }

    #[test]
    fn the_answer_to_select_1_is_followed_to_its_end() {
        let eof = [0xfe, 0, 0, 2, 0];
        let column =
            b"\x03def\x00\x00\x00\x011\x00\x0c\x3f\x00\x01\x00\x00\x00\x08\x81\x00\x00\x00\x00";
        let mut reader = ResultReader::default();
        for packet in [&[1][..], column, &eof, b"\x011"] {
            assert_eq!(reader.feed(packet), Ok(QueryStep::More));
        }
        assert_eq!(reader.feed(&eof), Ok(QueryStep::Done));
        assert!(reader.feed(&eof).is_err());

        let mut reader = ResultReader::default();
        assert_eq!(reader.feed(&[0, 0, 0, 2, 0, 0, 0]), Ok(QueryStep::Done));
        let mut reader = ResultReader::default();
        let failed = reader.feed(b"\xff\x7a\x04#42000You have an error");
        assert!(matches!(failed, Ok(QueryStep::Failed(e)) if e.code == 1146));
        let mut reader = ResultReader::default();
        assert!(reader
            .feed(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])
            .is_err());
        let mut reader = ResultReader::default();
        assert!(reader.feed(&[0xfb]).is_err());
        let mut reader = ResultReader::default();
        reader.feed(&[1]).unwrap();
        assert!(reader.feed(&eof).is_err(), "EOF in place of a column");
        let mut reader = ResultReader::default();
        for packet in [&[1][..], column, &eof] {
            reader.feed(packet).unwrap();
        }
        let endless: Vec<_> = (0..=MAX_ROWS).map(|_| reader.feed(b"\x011")).collect();
        assert!(endless.last().unwrap().is_err());
    }

    proptest! {
        /// Whatever a server sends: no panic, a packet never reaches past the bytes given nor
        /// past 64 KiB, and server text stays capped.
        #[test]
        fn arbitrary_bytes_never_panic_or_overrun(
            bytes in prop::collection::vec(any::<u8>(), 0..512),
        ) {
            let _ = cannot_be_greeting(&bytes);
            if let Ok(Some((packet, used))) = take_packet(&bytes) {
                prop_assert!(used <= bytes.len() && used == HEADER_LEN + packet.payload.len());
                prop_assert!(packet.payload.len() <= MAX_PAYLOAD);
            }
            match Greeting::decode(&bytes) {
                Ok(Greeting::Handshake(h)) => {
                    prop_assert!(h.server_version.chars().count() <= MAX_SAID + 1);
                    prop_assert!(h.nonce.len() <= bytes.len());
                }
                Ok(Greeting::Refused(err)) => {
                    prop_assert!(err.message.chars().count() <= MAX_SAID + 1);
                }
                Err(_) => {}
            }
            if let Ok(AuthReply::Switch { plugin, nonce }) = AuthReply::decode(&bytes) {
                prop_assert!(plugin.chars().count() <= MAX_SAID + 1 && nonce.len() < bytes.len());
            }
            let mut reader = ResultReader::default();
            for chunk in bytes.chunks(7) {
                if reader.feed(chunk).is_err() {
                    break;
                }
            }
        }

        /// The recorded MariaDB greeting cut anywhere asks for more; with any byte changed it
        /// still decodes or is refused, never panics.
        #[test]
        fn the_recorded_greeting_cut_or_corrupted_never_panics(
            at in 0usize..106,
            flip in any::<u8>(),
        ) {
            let bytes = unhex(MARIADB_GREETING);
            let at = at % bytes.len();
            prop_assert_eq!(take_packet(&bytes[..at]), Ok(None));
            let mut corrupted = bytes.clone();
            corrupted[at] ^= flip;
            let _ = cannot_be_greeting(&corrupted);
            if let Ok(Some((packet, used))) = take_packet(&corrupted) {
                prop_assert!(used <= corrupted.len());
                let _ = Greeting::decode(&packet.payload);
            }
            let _ = Greeting::decode(&corrupted[HEADER_LEN..]);
        }

        /// A header claiming more than 64 KiB is refused from its 4 bytes alone.
        #[test]
        fn a_huge_length_is_refused_from_the_header(
            claimed in (MAX_PAYLOAD + 1)..=0xff_ffff,
            seq in any::<u8>(),
        ) {
            let le = (claimed as u32).to_le_bytes();
            prop_assert_eq!(
                take_packet(&[le[0], le[1], le[2], seq]),
                Err(TooLarge { claimed })
            );
        }
    }
}
