//! AMQP 0-9-1 at the byte level, without I/O: the protocol header, the frames of the
//! connection handshake a probe sends (Start-Ok, Tune-Ok, Open, Close, Close-Ok), and the
//! decoding of the broker's frames and of the methods a probe needs to understand.
//!
//! Every length the server sends is checked against what is left of the bytes it came in, and
//! a frame longer than [`MAX_FRAME`] is refused before any of it is read: a 4 GB size costs
//! nothing.

/// What a client sends first: "AMQP", then protocol id 0 and version 0-9-1.
pub const PROTOCOL_HEADER: [u8; 8] = *b"AMQP\x00\x00\x09\x01";
/// The largest frame payload taken. A broker's Connection.Start is well under 1 KiB; nothing
/// in the handshake comes near this, so a longer one is broken framing.
pub const MAX_FRAME: u32 = 128 * 1024;
/// Frame header: type, channel, payload size.
const HEADER: usize = 7;
/// Every frame ends with this byte.
const FRAME_END: u8 = 0xCE;
/// A method frame.
pub const METHOD: u8 = 1;
/// A heartbeat frame.
pub const HEARTBEAT: u8 = 8;
/// The frame size both sides may use before Tune, and the least a broker may ask for.
const FRAME_MIN: u32 = 4096;
/// The connection class: every method of the handshake is one of its.
const CONNECTION: u16 = 10;

/// What the broker's first bytes say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstBytes {
    /// Not enough to tell yet.
    Incomplete,
    /// The start of a method or heartbeat frame: the broker accepted the protocol header.
    Frames,
    /// The broker answered with a protocol header of its own: it speaks another version.
    Header([u8; 8]),
    /// Neither: another protocol.
    Foreign,
}

/// Judge the broker's first bytes.
pub fn first_bytes(bytes: &[u8]) -> FirstBytes {
    match bytes.first() {
        None => FirstBytes::Incomplete,
        Some(&(METHOD | HEARTBEAT)) => FirstBytes::Frames,
        Some(_) => {
            let n = bytes.len().min(4);
            if bytes[..n] != b"AMQP"[..n] {
                FirstBytes::Foreign
            } else if let Some(header) = bytes.get(..8) {
                let mut copy = [0u8; 8];
                copy.copy_from_slice(header);
                FirstBytes::Header(copy)
            } else {
                FirstBytes::Incomplete
            }
        }
    }
}

/// The version a broker's protocol header names, in words.
pub fn header_version(header: &[u8]) -> String {
    match header.get(4..8) {
        Some([0, 0, 9, 1]) => "AMQP 0-9-1 (but it did not accept stillup's header)".into(),
        Some([0, 1, 0, 0]) => "AMQP 1.0".into(),
        Some([2, 1, 0, 0]) => "AMQP 1.0 over TLS".into(),
        Some([3, 1, 0, 0]) => "AMQP 1.0 with SASL".into(),
        Some([1, 1, major, minor]) => format!("AMQP {major}-{minor}"),
        Some([id, a, b, c]) => format!("AMQP protocol {id} version {a}.{b}.{c}"),
        _ => "another AMQP version".into(),
    }
}

/// One decoded frame: where its payload lies in the bytes given, and how many bytes it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Frame type: [`METHOD`], [`HEARTBEAT`], a content header or body.
    pub kind: u8,
    /// The channel; the handshake uses 0.
    pub channel: u16,
    /// Where the payload lies in the bytes given.
    pub payload: std::ops::Range<usize>,
    /// Bytes the whole frame took, frame-end included.
    pub len: usize,
}

/// A frame, more bytes needed, or broken framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// More bytes are needed (at most [`MAX_FRAME`] and the header more).
    Incomplete,
    /// A whole frame.
    Frame(Frame),
    /// What is wrong with the framing.
    Broken(String),
}

/// Decode the frame at the start of `bytes`.
pub fn frame(bytes: &[u8]) -> Step {
    let Some(header) = bytes.get(..HEADER) else {
        return Step::Incomplete;
    };
    let kind = header[0];
    let channel = u16::from_be_bytes([header[1], header[2]]);
    let size = u32::from_be_bytes([header[3], header[4], header[5], header[6]]);
    if size > MAX_FRAME {
        return Step::Broken(format!(
            "a frame of {size} bytes, more than the {MAX_FRAME} a handshake can need"
        ));
    }
    let end = HEADER + size as usize;
    match bytes.get(end) {
        None => Step::Incomplete,
        Some(&FRAME_END) => Step::Frame(Frame {
            kind,
            channel,
            payload: HEADER..end,
            len: end + 1,
        }),
        Some(&other) => Step::Broken(format!(
            "a frame ending in 0x{other:02x} instead of the frame-end byte 0xce"
        )),
    }
}

/// The connection methods a probe understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// Connection.Start: the broker's greeting.
    Start {
        /// The protocol version it speaks (0-9 for 0-9-1).
        version: (u8, u8),
        /// The authentication mechanisms it offers, space-separated (`PLAIN AMQPLAIN`).
        mechanisms: String,
    },
    /// Connection.Secure: a challenge PLAIN never needs.
    Secure,
    /// Connection.Tune: the broker's limits.
    Tune {
        /// Most channels (0: no limit).
        channel_max: u16,
        /// Largest frame (0: no limit).
        frame_max: u32,
        /// Heartbeat delay in seconds (0: none).
        heartbeat: u16,
    },
    /// Connection.Open-Ok: the virtual host is open.
    OpenOk,
    /// Connection.Close: the broker ends the connection, and says why.
    Close {
        /// The reply code (403 ACCESS_REFUSED, 530 NOT_ALLOWED, 320 CONNECTION_FORCED, …).
        code: u16,
        /// The broker's words.
        text: String,
    },
    /// Connection.Close-Ok: the broker agreed to close.
    CloseOk,
    /// Another method, of this class and number.
    Other(u16, u16),
}

/// Reads the fields of a method payload, refusing any length that runs past its end.
struct Fields<'a> {
    bytes: &'a [u8],
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if n > self.bytes.len() {
            return Err(format!(
                "{what} of {n} bytes runs past the end of its frame"
            ));
        }
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(taken)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, String> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn short_str(&mut self, what: &str) -> Result<&'a [u8], String> {
        let n = self.u8(what)?;
        self.take(usize::from(n), what)
    }

    fn long_str(&mut self, what: &str) -> Result<&'a [u8], String> {
        let n = self.u32(what)?;
        self.take(n as usize, what)
    }
}

/// Decode a method frame's payload.
pub fn method(payload: &[u8]) -> Result<Method, String> {
    let mut fields = Fields { bytes: payload };
    let class = fields.u16("a method's class")?;
    let id = fields.u16("a method's number")?;
    if class != CONNECTION {
        return Ok(Method::Other(class, id));
    }
    Ok(match id {
        10 => {
            let major = fields.u8("Connection.Start's version")?;
            let minor = fields.u8("Connection.Start's version")?;
            // The server properties are a field table; only its length matters here.
            fields.long_str("Connection.Start's server properties")?;
            let mechanisms = fields.long_str("Connection.Start's mechanisms")?;
            fields.long_str("Connection.Start's locales")?;
            Method::Start {
                version: (major, minor),
                mechanisms: String::from_utf8_lossy(mechanisms).into_owned(),
            }
        }
        20 => Method::Secure,
        30 => Method::Tune {
            channel_max: fields.u16("Connection.Tune's channel-max")?,
            frame_max: fields.u32("Connection.Tune's frame-max")?,
            heartbeat: fields.u16("Connection.Tune's heartbeat")?,
        },
        41 => Method::OpenOk,
        50 => {
            let code = fields.u16("Connection.Close's reply code")?;
            let text = fields.short_str("Connection.Close's reply text")?;
            Method::Close {
                code,
                text: String::from_utf8_lossy(text).into_owned(),
            }
        }
        51 => Method::CloseOk,
        other => Method::Other(class, other),
    })
}

/// Whether `mechanisms` (space-separated, as Connection.Start lists them) offers PLAIN.
pub fn offers_plain(mechanisms: &str) -> bool {
    mechanisms.split_ascii_whitespace().any(|m| m == "PLAIN")
}

/// A method frame of the connection class on channel 0.
pub(crate) fn method_frame(id: u16, args: &[u8]) -> Vec<u8> {
    let size = 4 + args.len();
    let mut frame = Vec::with_capacity(HEADER + size + 1);
    frame.push(METHOD);
    frame.extend_from_slice(&0u16.to_be_bytes());
    // The callers' arguments are bounded (short strings, a PLAIN response the URL carried).
    frame.extend_from_slice(&(size as u32).to_be_bytes());
    frame.extend_from_slice(&CONNECTION.to_be_bytes());
    frame.extend_from_slice(&id.to_be_bytes());
    frame.extend_from_slice(args);
    frame.push(FRAME_END);
    frame
}

pub(crate) fn put_short_str(out: &mut Vec<u8>, text: &[u8]) -> Option<()> {
    out.push(u8::try_from(text.len()).ok()?);
    out.extend_from_slice(text);
    Some(())
}

pub(crate) fn put_long_str(out: &mut Vec<u8>, text: &[u8]) -> Option<()> {
    out.extend_from_slice(&u32::try_from(text.len()).ok()?.to_be_bytes());
    out.extend_from_slice(text);
    Some(())
}

/// A field-table entry holding a long string.
fn put_str_field(out: &mut Vec<u8>, name: &str, value: &str) {
    let _ = put_short_str(out, name.as_bytes());
    out.push(b'S');
    let _ = put_long_str(out, value.as_bytes());
}

/// Connection.Start-Ok with PLAIN. `None` when the response cannot fit the frame size every
/// broker takes before Tune.
pub fn start_ok(user: &str, password: &str) -> Option<Vec<u8>> {
    let mut properties = Vec::new();
    put_str_field(&mut properties, "product", "stillup");
    put_str_field(&mut properties, "version", env!("CARGO_PKG_VERSION"));
    // Asks the broker (RabbitMQ) for a Connection.Close 403 on a refused login rather than a
    // bare close of the socket, so a wrong password is told from a crash.
    let mut capabilities = Vec::new();
    put_short_str(&mut capabilities, b"authentication_failure_close")?;
    capabilities.extend_from_slice(b"t\x01");
    put_short_str(&mut properties, b"capabilities")?;
    properties.push(b'F');
    put_long_str(&mut properties, &capabilities)?;

    let mut response = Vec::with_capacity(user.len() + password.len() + 2);
    response.push(0);
    response.extend_from_slice(user.as_bytes());
    response.push(0);
    response.extend_from_slice(password.as_bytes());

    let mut args = Vec::new();
    put_long_str(&mut args, &properties)?;
    put_short_str(&mut args, b"PLAIN")?;
    put_long_str(&mut args, &response)?;
    put_short_str(&mut args, b"en_US")?;
    let frame = method_frame(11, &args);
    (frame.len() <= FRAME_MIN as usize).then_some(frame)
}

/// Connection.Tune-Ok: the broker's channel limit echoed, its frame limit capped at
/// [`MAX_FRAME`], and no heartbeats (the connection lives for one check).
pub fn tune_ok(channel_max: u16, frame_max: u32) -> Vec<u8> {
    let frame_max = match frame_max {
        0 => MAX_FRAME,
        n => n.min(MAX_FRAME),
    };
    let mut args = Vec::with_capacity(8);
    args.extend_from_slice(&channel_max.to_be_bytes());
    args.extend_from_slice(&frame_max.to_be_bytes());
    args.extend_from_slice(&0u16.to_be_bytes());
    method_frame(31, &args)
}

/// Connection.Open of `vhost` (at most 255 bytes: the target's parser checks).
pub fn open(vhost: &str) -> Option<Vec<u8>> {
    let mut args = Vec::with_capacity(vhost.len() + 3);
    put_short_str(&mut args, vhost.as_bytes())?;
    // Reserved: capabilities (empty) and insist (false).
    args.extend_from_slice(&[0, 0]);
    Some(method_frame(40, &args))
}

/// Connection.Close with reply 200: the probe is done.
pub fn close() -> Vec<u8> {
    let mut args = Vec::new();
    args.extend_from_slice(&200u16.to_be_bytes());
    let _ = put_short_str(&mut args, b"stillup: check done");
    args.extend_from_slice(&[0, 0, 0, 0]);
    method_frame(50, &args)
}

/// Connection.Close-Ok, the answer to the broker's Close.
pub fn close_ok() -> Vec<u8> {
    method_frame(51, &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A Connection.Start as RabbitMQ 3.x sends it, server properties shortened to one entry.
    fn recorded_start() -> Vec<u8> {
        let mut args = vec![0, 9];
        let mut properties = Vec::new();
        put_str_field(&mut properties, "product", "RabbitMQ");
        put_long_str(&mut args, &properties).unwrap();
        put_long_str(&mut args, b"AMQPLAIN PLAIN").unwrap();
        put_long_str(&mut args, b"en_US").unwrap();
        method_frame(10, &args)
    }

    #[test]
    fn a_start_frame_is_decoded_however_it_arrives() {
        let bytes = recorded_start();
        assert_eq!(&bytes[..7], &[1, 0, 0, 0, 0, 0, 58]);
        for cut in 0..bytes.len() {
            assert_eq!(frame(&bytes[..cut]), Step::Incomplete, "{cut}");
        }
        let Step::Frame(f) = frame(&bytes) else {
            panic!("no frame")
        };
        assert_eq!((f.kind, f.channel, f.len), (METHOD, 0, bytes.len()));
        let start = method(&bytes[f.payload]).unwrap();
        let Method::Start {
            version,
            mechanisms,
        } = start
        else {
            panic!("{start:?}")
        };
        assert_eq!(version, (0, 9));
        assert!(offers_plain(&mechanisms));
        assert!(!offers_plain("AMQPLAIN EXTERNAL"));
    }

    #[test]
    fn hostile_frames_are_refused_without_reading_them() {
        let huge = [1, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF];
        assert!(matches!(frame(&huge), Step::Broken(e) if e.contains("4294967295")));
        let mut bad_end = recorded_start();
        *bad_end.last_mut().unwrap() = 0x00;
        assert!(matches!(frame(&bad_end), Step::Broken(e) if e.contains("0xce")));
        // A table length running past the frame.
        let payload = [0, 10, 0, 10, 0, 9, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2];
        assert!(method(&payload).unwrap_err().contains("server properties"));
        assert!(method(&[0, 10]).is_err());
        assert!(method(&[0, 10, 0, 50, 1]).is_err());
    }

    #[test]
    fn the_first_bytes_tell_frames_a_version_header_and_another_protocol_apart() {
        assert_eq!(first_bytes(b""), FirstBytes::Incomplete);
        assert_eq!(first_bytes(b"\x01\x00"), FirstBytes::Frames);
        assert_eq!(first_bytes(b"AMQ"), FirstBytes::Incomplete);
        assert_eq!(
            first_bytes(b"AMQP\x00\x01\x00\x00"),
            FirstBytes::Header(*b"AMQP\x00\x01\x00\x00")
        );
        assert_eq!(first_bytes(b"HTTP/1.1 400"), FirstBytes::Foreign);
        assert_eq!(first_bytes(b"AMX"), FirstBytes::Foreign);
        assert_eq!(header_version(b"AMQP\x00\x01\x00\x00"), "AMQP 1.0");
        assert_eq!(header_version(b"AMQP\x01\x01\x00\x09"), "AMQP 0-9");
    }

    #[test]
    fn tune_close_and_open_decode() {
        let tune = [0, 10, 0, 30, 0x07, 0xFF, 0, 2, 0, 0, 0, 60];
        assert_eq!(
            method(&tune),
            Ok(Method::Tune {
                channel_max: 2047,
                frame_max: 131072,
                heartbeat: 60
            })
        );
        let mut close = vec![0, 10, 0, 50, 1, 147, 14];
        close.extend_from_slice(b"ACCESS_REFUSED");
        close.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            method(&close),
            Ok(Method::Close {
                code: 403,
                text: "ACCESS_REFUSED".into()
            })
        );
        assert_eq!(method(&[0, 10, 0, 41, 0]), Ok(Method::OpenOk));
        assert_eq!(method(&[0, 20, 0, 10]), Ok(Method::Other(20, 10)));
    }

    #[test]
    fn the_client_frames_are_byte_exact() {
        assert_eq!(
            tune_ok(2047, 0),
            [1, 0, 0, 0, 0, 0, 12, 0, 10, 0, 31, 0x07, 0xFF, 0, 2, 0, 0, 0, 0, 0xCE]
        );
        assert_eq!(tune_ok(0, 4096)[13..17], [0, 0, 16, 0]);
        assert_eq!(
            open("/").unwrap(),
            [1, 0, 0, 0, 0, 0, 8, 0, 10, 0, 40, 1, b'/', 0, 0, 0xCE]
        );
        assert_eq!(close_ok(), [1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 51, 0xCE]);
        let close = close();
        assert_eq!(&close[7..13], &[0, 10, 0, 50, 0, 200]);
        let start_ok = start_ok("guest", "pw").unwrap();
        assert!(start_ok.ends_with(b"\x05PLAIN\x00\x00\x00\x09\x00guest\x00pw\x05en_US\xce"));
        let Step::Frame(f) = frame(&start_ok) else {
            panic!("not a frame")
        };
        assert_eq!(&start_ok[f.payload][..4], &[0, 10, 0, 11]);
        assert_eq!(super::start_ok("u", &"p".repeat(5000)), None);
    }

    proptest! {
        /// Whatever a broker sends: no panic, a frame never reaches past the bytes given, and
        /// the decoded mechanisms come from inside the payload.
        #[test]
        fn arbitrary_bytes_never_panic_or_overrun(
            bytes in prop::collection::vec(any::<u8>(), 0..512),
        ) {
            let _ = first_bytes(&bytes);
            let _ = header_version(&bytes);
            if let Step::Frame(f) = frame(&bytes) {
                prop_assert!(f.len <= bytes.len() && f.payload.end < f.len);
            }
            if let Ok(Method::Start { mechanisms, .. }) = method(&bytes) {
                prop_assert!(mechanisms.len() <= 3 * bytes.len());
            }
        }

        /// The recorded Connection.Start cut anywhere is incomplete; with any byte changed it
        /// still decodes or is refused, never panics.
        #[test]
        fn the_recorded_start_cut_or_corrupted_never_panics(
            at in 0usize..65,
            flip in any::<u8>(),
        ) {
            let bytes = recorded_start();
            let at = at % bytes.len();
            prop_assert_eq!(frame(&bytes[..at]), Step::Incomplete);
            let mut corrupted = bytes.clone();
            corrupted[at] ^= flip;
            if let Step::Frame(f) = frame(&corrupted) {
                prop_assert!(f.len <= corrupted.len());
                let _ = method(&corrupted[f.payload]);
            }
        }

        /// A frame size past the cap is refused from the 7-byte header alone.
        #[test]
        fn a_huge_size_is_refused_from_the_header(
            kind in any::<u8>(),
            size in (MAX_FRAME + 1)..=u32::MAX,
        ) {
            let mut header = vec![kind, 0, 0];
            header.extend_from_slice(&size.to_be_bytes());
            prop_assert!(matches!(frame(&header), Step::Broken(_)));
        }
    }
}
