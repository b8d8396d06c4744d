//! MQTT 3.1.1 at the byte level, without I/O: the CONNECT a probe sends, the DISCONNECT that
//! ends it politely, and the decoding of the broker's first answer, which must be a CONNACK.
//!
//! The decoder is fed everything read so far and says whether more bytes are needed; it never
//! allocates from a length the server sent, so a hostile length prefix costs nothing.

/// CONNACK's fixed-header byte: packet type 2, flags 0.
const CONNACK: u8 = 0x20;
/// The protocol level of MQTT 3.1.1.
const LEVEL_3_1_1: u8 = 4;
/// A remaining length takes at most 4 bytes (7 bits each); a fifth would break the protocol.
const MAX_LENGTH_BYTES: usize = 4;
/// The longest CONNACK taken: 3.1.1 sends 2 bytes, an MQTT 5 broker a few more; a longer one is
/// broken framing, not something to wait for.
const MAX_CONNACK: usize = 4096;
/// What MQTT's two-byte length prefix of a string can say.
pub const MAX_STRING: usize = u16::MAX as usize;

/// DISCONNECT: packet type 14, no payload.
pub const DISCONNECT: [u8; 2] = [0xE0, 0x00];

/// The CONNECT packet: clean session, the given keep-alive, and the user name and password
/// flags when a login is given. `None` when a string is longer than MQTT can carry.
pub fn connect(
    client_id: &str,
    keep_alive_secs: u16,
    login: Option<(&str, Option<&str>)>,
) -> Option<Vec<u8>> {
    // Clean session: a probe leaves no state behind on the broker.
    let mut flags = 0x02;
    let mut body = Vec::with_capacity(64);
    put_string(&mut body, "MQTT")?;
    body.push(LEVEL_3_1_1);
    let flags_at = body.len();
    body.push(0);
    body.extend_from_slice(&keep_alive_secs.to_be_bytes());
    put_string(&mut body, client_id)?;
    if let Some((user, password)) = login {
        flags |= 0x80;
        put_string(&mut body, user)?;
        if let Some(password) = password {
            flags |= 0x40;
            put_string(&mut body, password)?;
        }
    }
    body[flags_at] = flags;
    let mut packet = vec![0x10];
    put_remaining_length(&mut packet, body.len())?;
    packet.extend_from_slice(&body);
    Some(packet)
}

fn put_string(out: &mut Vec<u8>, text: &str) -> Option<()> {
    let len = u16::try_from(text.len()).ok()?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    Some(())
}

fn put_remaining_length(out: &mut Vec<u8>, mut len: usize) -> Option<()> {
    for _ in 0..MAX_LENGTH_BYTES {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            return Some(());
        }
    }
    None
}

/// What the bytes read so far say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A CONNACK may still be arriving.
    Incomplete,
    /// A complete CONNACK with this return code.
    ConnAck(u8),
    /// The first byte cannot start a CONNACK: another protocol (or another MQTT packet).
    NotConnAck,
    /// A CONNACK whose framing is broken: what is wrong.
    Broken(String),
}

/// Decode the broker's first answer from everything read so far.
pub fn decode_connack(bytes: &[u8]) -> Answer {
    let Some(&first) = bytes.first() else {
        return Answer::Incomplete;
    };
    if first >> 4 != CONNACK >> 4 {
        return Answer::NotConnAck;
    }
    if first != CONNACK {
        return Answer::Broken(format!(
            "a CONNACK with reserved flags set (first byte 0x{first:02x})"
        ));
    }
    let mut length: usize = 0;
    let mut header = 1;
    loop {
        let Some(&byte) = bytes.get(header) else {
            return Answer::Incomplete;
        };
        length |= usize::from(byte & 0x7F) << (7 * (header - 1));
        header += 1;
        if byte & 0x80 == 0 {
            break;
        }
        if header > MAX_LENGTH_BYTES {
            return Answer::Broken(
                "a CONNACK whose remaining length runs past the 4 bytes MQTT allows".into(),
            );
        }
    }
    // MQTT 3.1.1 says 2. A longer one (an MQTT 5 broker adding properties) still starts with
    // the two bytes that matter, and nothing after them is read.
    if !(2..=MAX_CONNACK).contains(&length) {
        return Answer::Broken(format!(
            "a CONNACK of {length} bytes, where MQTT 3.1.1 sends 2"
        ));
    }
    match bytes.get(header + 1) {
        Some(&code) => Answer::ConnAck(code),
        None => Answer::Incomplete,
    }
}

/// What a CONNACK return code means for a readiness check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Connection accepted.
    Accepted,
    /// The broker asks for (other) credentials: ready without a login, `auth_failed` with one.
    LoginRefused,
    /// The broker does not speak MQTT 3.1.1.
    UnacceptableVersion,
    /// The broker refused the session for a reason of its own.
    Refused,
}

/// The verdict on a CONNACK return code, and its words.
pub fn judge(code: u8) -> (Verdict, &'static str) {
    match code {
        0 => (Verdict::Accepted, "connection accepted"),
        1 => (
            Verdict::UnacceptableVersion,
            "unacceptable protocol version",
        ),
        2 => (Verdict::Refused, "identifier rejected"),
        3 => (Verdict::Refused, "server unavailable"),
        4 => (Verdict::LoginRefused, "bad user name or password"),
        5 => (Verdict::LoginRefused, "not authorized"),
        // MQTT 5 reason codes, from a broker that answers a 3.1.1 client in its own dialect.
        0x86 => (Verdict::LoginRefused, "bad user name or password (MQTT 5)"),
        0x87 => (Verdict::LoginRefused, "not authorized (MQTT 5)"),
        0x8C => (Verdict::LoginRefused, "bad authentication method (MQTT 5)"),
        0x84 => (
            Verdict::UnacceptableVersion,
            "unsupported protocol version (MQTT 5)",
        ),
        _ => (Verdict::Refused, "a return code MQTT 3.1.1 does not define"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn connect_without_a_login_is_byte_exact() {
        let packet = connect("stillup0123456789abcdef", 10, None).unwrap();
        let mut expected = vec![
            0x10, 35, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10, 0, 23,
        ];
        expected.extend_from_slice(b"stillup0123456789abcdef");
        assert_eq!(packet, expected);
    }

    #[test]
    fn connect_with_a_login_sets_both_flags_and_appends_the_strings() {
        let packet = connect("c", 10, Some(("u", Some("pw")))).unwrap();
        assert_eq!(
            packet,
            [
                0x10, 20, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0, 10, 0, 1, b'c', 0, 1, b'u', 0,
                2, b'p', b'w'
            ]
        );
        let user_only = connect("c", 10, Some(("u", None))).unwrap();
        assert_eq!(user_only[9], 0x82);
    }

    #[test]
    fn long_packets_use_a_multi_byte_length_and_overlong_strings_are_refused() {
        let password = "p".repeat(300);
        let packet = connect("c", 10, Some(("u", Some(&password)))).unwrap();
        let body = packet.len() - 3;
        assert_eq!(packet[1], (body % 128) as u8 | 0x80);
        assert_eq!(packet[2], (body / 128) as u8);
        let huge = "p".repeat(MAX_STRING + 1);
        assert_eq!(connect("c", 10, Some(("u", Some(&huge)))), None);
    }

    #[test]
    fn a_connack_is_decoded_from_its_four_bytes_however_they_arrive() {
        let recorded = [0x20, 0x02, 0x00, 0x05];
        for cut in 0..recorded.len() {
            assert_eq!(decode_connack(&recorded[..cut]), Answer::Incomplete);
        }
        assert_eq!(decode_connack(&recorded), Answer::ConnAck(5));
        assert_eq!(decode_connack(&[0x20, 2, 1, 0]), Answer::ConnAck(0));
        // An MQTT 5 CONNACK with properties: the code is read, the rest ignored.
        assert_eq!(
            decode_connack(&[0x20, 0x83, 0x01, 0x00, 0x00]),
            Answer::ConnAck(0)
        );
    }

    #[test]
    fn hostile_or_foreign_first_bytes_are_told_apart() {
        assert_eq!(decode_connack(b"HTTP/1.1 400 Bad"), Answer::NotConnAck);
        assert_eq!(decode_connack(b"AMQP\x00\x00\x09\x01"), Answer::NotConnAck);
        assert_eq!(decode_connack(&[0xE0, 0x00]), Answer::NotConnAck);
        assert!(matches!(
            decode_connack(&[0x2F, 2, 0, 0]),
            Answer::Broken(_)
        ));
        assert!(matches!(
            decode_connack(&[0x20, 0, 0, 0]),
            Answer::Broken(_)
        ));
        assert!(matches!(decode_connack(&[0x20, 1, 0]), Answer::Broken(_)));
        // Four continuation bits in a row: a fifth length byte, which MQTT forbids.
        let overflow = [0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F];
        assert!(matches!(decode_connack(&overflow), Answer::Broken(_)));
        assert!(matches!(decode_connack(&overflow[..5]), Answer::Broken(_)));
        // The largest legal length is refused at once, never waited for or allocated.
        assert!(matches!(
            decode_connack(&[0x20, 0xFF, 0xFF, 0xFF, 0x7F]),
            Answer::Broken(_)
        ));
    }

    #[test]
    fn return_codes_are_judged() {
        assert_eq!(judge(0).0, Verdict::Accepted);
        assert_eq!(judge(1).0, Verdict::UnacceptableVersion);
        assert_eq!(judge(2).0, Verdict::Refused);
        assert_eq!(judge(3), (Verdict::Refused, "server unavailable"));
        assert_eq!(judge(4).0, Verdict::LoginRefused);
        assert_eq!(judge(5).0, Verdict::LoginRefused);
        assert_eq!(judge(0x87).0, Verdict::LoginRefused);
        assert_eq!(judge(200).0, Verdict::Refused);
    }

    proptest! {
        /// Whatever a broker sends: no panic, and a return code is only read from bytes that
        /// came (the fixed header and at least the two CONNACK bytes).
        #[test]
        fn arbitrary_bytes_never_panic_or_overrun(
            bytes in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            if let Answer::ConnAck(code) = decode_connack(&bytes) {
                prop_assert!(bytes.len() >= 4);
                let _ = judge(code);
            }
        }

        /// The recorded CONNACK with any byte changed is still judged, never a panic.
        #[test]
        fn the_recorded_connack_corrupted_never_panics(at in 0usize..4, flip in any::<u8>()) {
            let mut corrupted = [0x20, 0x02, 0x00, 0x05];
            corrupted[at] ^= flip;
            let _ = decode_connack(&corrupted);
        }

        /// A remaining length past the cap (up to the largest MQTT can say) is refused from
        /// the length bytes alone, never waited for.
        #[test]
        fn a_huge_length_is_refused_from_the_header(length in (MAX_CONNACK + 1)..268_435_456usize) {
            let mut header = vec![CONNACK];
            put_remaining_length(&mut header, length).unwrap();
            prop_assert!(matches!(decode_connack(&header), Answer::Broken(_)));
        }
    }
}
