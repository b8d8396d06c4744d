//! RESP2, the Redis wire protocol, as far as a readiness check needs it: commands encoded as
//! arrays of bulk strings, and replies decoded from bytes a server controls — every line,
//! length prefix, element count and nesting depth capped, so a hostile or broken server costs
//! a bounded buffer and an `invalid_response`, never an allocation it asked for. Sans-IO: the
//! caller feeds what it has read and asks again when told more is needed.

/// The longest simple-string, error or integer line accepted (a real one is a few dozen bytes).
pub const MAX_LINE: usize = 64 * 1024;
/// The longest bulk string accepted (`ROLE` and error texts are short).
pub const MAX_BULK: usize = 64 * 1024;
/// The most elements an array may announce (`ROLE` of a master lists its replicas).
pub const MAX_ELEMENTS: usize = 1024;
/// How deeply arrays may nest (`ROLE` nests two levels).
pub const MAX_DEPTH: usize = 4;

/// One decoded reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`, `+PONG`.
    Simple(String),
    /// `-CODE message`.
    Error(ServerError),
    /// `:42`.
    Integer(i64),
    /// `$3\r\nabc`, or `$-1` (null).
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n…`, or `*-1` (null).
    Array(Option<Vec<Reply>>),
}

/// An error reply: its code (the first word, upper case by convention) and the whole line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// What the code says, for the codes a readiness check tells apart.
    pub code: ErrorCode,
    /// The line after `-`, as sent (lossily decoded), e.g. `LOADING Redis is loading …`.
    pub line: String,
}

/// The error codes with a meaning of their own here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// `NOAUTH`: authentication required (or, in answer to `AUTH`, refused by old servers).
    NoAuth,
    /// `WRONGPASS`: the user or password is wrong (Redis 6+).
    WrongPass,
    /// `NOPERM`: the logged-in user may not run this command (ACL).
    NoPerm,
    /// `LOADING`: the dataset is still being loaded into memory.
    Loading,
    /// `BUSY`: a script or function is running past its time limit.
    Busy,
    /// `MASTERDOWN`: a replica whose link to its master is down and that serves no stale data.
    MasterDown,
    /// `ERR`: the generic code; what it means depends on the command it answers.
    Err,
    /// Any other code.
    Other,
}

impl ErrorCode {
    fn from_word(word: &str) -> ErrorCode {
        match word {
            "NOAUTH" => ErrorCode::NoAuth,
            "WRONGPASS" => ErrorCode::WrongPass,
            "NOPERM" => ErrorCode::NoPerm,
            "LOADING" => ErrorCode::Loading,
            "BUSY" => ErrorCode::Busy,
            "MASTERDOWN" => ErrorCode::MasterDown,
            "ERR" => ErrorCode::Err,
            _ => ErrorCode::Other,
        }
    }
}

/// Why bytes are not a well-formed reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A reply starts with a byte that starts no RESP2 type.
    #[error("a reply starts with byte {0:#04x}, which starts no RESP type")]
    NotResp(u8),
    /// No CRLF within [`MAX_LINE`] bytes.
    #[error("a reply line runs past {MAX_LINE} bytes without its CRLF")]
    LineTooLong,
    /// A length or count that is not a number (or out of range for one).
    #[error("the length {0:?} is not a number")]
    BadNumber(String),
    /// A bulk string longer than [`MAX_BULK`].
    #[error("a bulk string announces {0} bytes, more than the {MAX_BULK} accepted")]
    BulkTooLong(i64),
    /// An array with more than [`MAX_ELEMENTS`] elements.
    #[error("an array announces {0} elements, more than the {MAX_ELEMENTS} accepted")]
    TooManyElements(i64),
    /// Arrays nested deeper than [`MAX_DEPTH`].
    #[error("arrays nest deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A bulk string not followed by CRLF.
    #[error("a bulk string is not followed by CRLF")]
    MissingCrlf,
}

/// One command as RESP: an array of bulk strings (binary-safe, so a password may hold any byte).
pub fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Whether `byte` can start a RESP2 reply.
pub fn starts_reply(byte: u8) -> bool {
    matches!(byte, b'+' | b'-' | b':' | b'$' | b'*')
}

/// Decode one reply from the start of `buf`: `Ok(None)` when more bytes are needed, else the
/// reply and how many bytes it took.
pub fn decode(buf: &[u8]) -> Result<Option<(Reply, usize)>, WireError> {
    decode_at(buf, 0)
}

fn decode_at(buf: &[u8], depth: usize) -> Result<Option<(Reply, usize)>, WireError> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    if !starts_reply(kind) {
        return Err(WireError::NotResp(kind));
    }
    let Some((line, after_line)) = line(&buf[1..])? else {
        return Ok(None);
    };
    let after_line = after_line + 1;
    let text = || String::from_utf8_lossy(line).into_owned();
    match kind {
        b'+' => Ok(Some((Reply::Simple(text()), after_line))),
        b'-' => {
            let line = text();
            let word = line.split(' ').next().unwrap_or_default();
            let code = ErrorCode::from_word(word);
            Ok(Some((Reply::Error(ServerError { code, line }), after_line)))
        }
        b':' => Ok(Some((Reply::Integer(number(line)?), after_line))),
        b'$' => {
            let len = number(line)?;
            if len == -1 {
                return Ok(Some((Reply::Bulk(None), after_line)));
            }
            let size = usize::try_from(len).map_err(|_| WireError::BadNumber(text()))?;
            if size > MAX_BULK {
                return Err(WireError::BulkTooLong(len));
            }
            let end = after_line + size;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(WireError::MissingCrlf);
            }
            let data = buf[after_line..end].to_vec();
            Ok(Some((Reply::Bulk(Some(data)), end + 2)))
        }
        _ => {
            let count = number(line)?;
            if count == -1 {
                return Ok(Some((Reply::Array(None), after_line)));
            }
            let count = usize::try_from(count).map_err(|_| WireError::BadNumber(text()))?;
            if count > MAX_ELEMENTS {
                return Err(WireError::TooManyElements(count as i64));
            }
            if depth >= MAX_DEPTH {
                return Err(WireError::TooDeep);
            }
            let mut items = Vec::with_capacity(count.min(16));
            let mut at = after_line;
            for _ in 0..count {
                match decode_at(&buf[at..], depth + 1)? {
                    Some((item, used)) => {
                        items.push(item);
                        at += used;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(Some(items)), at)))
        }
    }
}

/// The line at the start of `buf` (without CRLF) and the offset just past its CRLF.
fn line(buf: &[u8]) -> Result<Option<(&[u8], usize)>, WireError> {
    let window = &buf[..buf.len().min(MAX_LINE + 2)];
    match window.windows(2).position(|pair| pair == b"\r\n") {
        Some(end) => Ok(Some((&buf[..end], end + 2))),
        None if buf.len() >= MAX_LINE + 2 => Err(WireError::LineTooLong),
        None => Ok(None),
    }
}

fn number(line: &[u8]) -> Result<i64, WireError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| WireError::BadNumber(String::from_utf8_lossy(line).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(bytes: &[u8]) -> Reply {
        let (reply, used) = decode(bytes).unwrap().unwrap();
        assert_eq!(used, bytes.len(), "{bytes:?}");
        reply
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(command(&[b"PING"]), b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            command(&[b"AUTH", b"p\r\nw"]),
            b"*2\r\n$4\r\nAUTH\r\n$4\r\np\r\nw\r\n"
        );
    }

    #[test]
    fn recorded_replies_decode() {
        assert_eq!(one(b"+PONG\r\n"), Reply::Simple("PONG".into()));
        assert_eq!(one(b":-3\r\n"), Reply::Integer(-3));
        assert_eq!(one(b"$-1\r\n"), Reply::Bulk(None));
        assert_eq!(one(b"$0\r\n\r\n"), Reply::Bulk(Some(vec![])));
        assert_eq!(one(b"*-1\r\n"), Reply::Array(None));
        let noauth = one(b"-NOAUTH Authentication required.\r\n");
        assert_eq!(
            noauth,
            Reply::Error(ServerError {
                code: ErrorCode::NoAuth,
                line: "NOAUTH Authentication required.".into()
            })
        );
        for (line, code) in [
            (&b"-LOADING Redis is loading the dataset in memory\r\n"[..], ErrorCode::Loading),
            (b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.\r\n", ErrorCode::Busy),
            (b"-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n", ErrorCode::MasterDown),
            (b"-WRONGPASS invalid username-password pair or user is disabled.\r\n", ErrorCode::WrongPass),
            (b"-ERR DB index is out of range\r\n", ErrorCode::Err),
            (b"-NOPERM this user has no permissions to run the 'role' command\r\n", ErrorCode::NoPerm),
            (b"-WEIRD x\r\n", ErrorCode::Other),
            (b"-\r\n", ErrorCode::Other),
        ] {
            match one(line) {
                Reply::Error(e) => assert_eq!(e.code, code, "{line:?}"),
                other => panic!("{other:?}"),
            }
        }
        // ROLE of a replica, as Redis 7.0 sends it.
        let role = b"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6380\r\n$7\r\nconnect\r\n:-1\r\n";
        assert_eq!(
            one(role),
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"slave".to_vec())),
                Reply::Bulk(Some(b"127.0.0.1".to_vec())),
                Reply::Integer(6380),
                Reply::Bulk(Some(b"connect".to_vec())),
                Reply::Integer(-1),
            ]))
        );
        // ROLE of a master: nested arrays.
        let master =
            b"*3\r\n$6\r\nmaster\r\n:0\r\n*1\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n6381\r\n$1\r\n0\r\n";
        assert!(matches!(one(master), Reply::Array(Some(v)) if v.len() == 3));
    }

    #[test]
    fn partial_replies_ask_for_more_and_leave_the_rest() {
        let whole = b"*2\r\n$5\r\nslave\r\n:1\r\n";
        for cut in 0..whole.len() {
            assert_eq!(decode(&whole[..cut]), Ok(None), "cut at {cut}");
        }
        let (_, used) = decode(b"+OK\r\n+PONG\r\n").unwrap().unwrap();
        assert_eq!(used, 5);
    }

    #[test]
    fn hostile_framing_is_refused_without_allocating() {
        assert_eq!(
            decode(b"$4294967296\r\n"),
            Err(WireError::BulkTooLong(4294967296))
        );
        assert!(matches!(
            decode(b"$99999999999999999999\r\n"),
            Err(WireError::BadNumber(_))
        ));
        assert!(matches!(decode(b"$-2\r\n"), Err(WireError::BadNumber(_))));
        assert!(matches!(decode(b"*abc\r\n"), Err(WireError::BadNumber(_))));
        assert_eq!(
            decode(b"*4294967296\r\n"),
            Err(WireError::TooManyElements(4294967296))
        );
        assert_eq!(decode(b"$3\r\nabcXY"), Err(WireError::MissingCrlf));
        assert_eq!(
            decode(b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"),
            Err(WireError::TooDeep)
        );
        assert_eq!(
            decode(b"HTTP/1.1 400 Bad Request\r\n"),
            Err(WireError::NotResp(b'H'))
        );
        let endless = vec![b'+'; MAX_LINE + 10];
        assert_eq!(decode(&endless), Err(WireError::LineTooLong));
        // Shorter than the cap and still without CRLF: wait for more.
        assert_eq!(decode(&endless[..1000]), Ok(None));
    }

    /// A replica's `ROLE` answer (Redis 7.0), as in `recorded_replies_decode`.
    const RECORDED_ROLE: &[u8] =
        b"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6380\r\n$7\r\nconnect\r\n:-1\r\n";

    proptest! {
        /// Whatever a server sends: no panic, and a reply never takes more bytes than given.
        #[test]
        fn arbitrary_bytes_never_panic_or_overrun(
            bytes in prop::collection::vec(any::<u8>(), 0..512),
        ) {
            if let Ok(Some((_, used))) = decode(&bytes) {
                prop_assert!(used > 0 && used <= bytes.len(), "{used}");
            }
        }

        /// The same, from bytes that look like RESP (type bytes, digits, CRLF), which reach
        /// the bulk and array paths far more often than uniform bytes.
        #[test]
        fn resp_like_bytes_never_panic_or_overrun(
            bytes in prop::collection::vec(prop::sample::select(&b"+-:$*0123456789\r\nx"[..]), 0..256),
        ) {
            if let Ok(Some((_, used))) = decode(&bytes) {
                prop_assert!(used > 0 && used <= bytes.len(), "{used}");
            }
        }

        /// The recorded `ROLE` answer cut anywhere asks for more; with any byte changed it
        /// still decodes within its bytes or is refused.
        #[test]
        fn a_recorded_reply_cut_or_corrupted_never_panics(
            at in 0..RECORDED_ROLE.len(),
            flip in any::<u8>(),
        ) {
            prop_assert_eq!(decode(&RECORDED_ROLE[..at]), Ok(None));
            let mut corrupted = RECORDED_ROLE.to_vec();
            corrupted[at] ^= flip;
            if let Ok(Some((_, used))) = decode(&corrupted) {
                prop_assert!(used <= corrupted.len());
            }
        }

        /// A bulk length or element count past its cap is refused from its line alone.
        #[test]
        fn huge_lengths_are_refused_from_the_line(len in (MAX_BULK as i64 + 1)..=i64::MAX) {
            prop_assert_eq!(
                decode(format!("${len}\r\n").as_bytes()),
                Err(WireError::BulkTooLong(len))
            );
            prop_assert_eq!(
                decode(format!("*{len}\r\n").as_bytes()),
                Err(WireError::TooManyElements(len))
            );
        }
    }
}
