//! The bytes of one `grpc.health.v1.Health/Check` call, by hand: the 5-byte gRPC message
//! frame (compressed flag, 4-byte big-endian length) around the two protobuf messages
//! `HealthCheckRequest { string service = 1; }` and
//! `HealthCheckResponse { ServingStatus status = 1; }`, plus the `grpc-timeout` and
//! `grpc-message` header encodings. Pure functions only; the HTTP/2 exchange is `grpc.rs`'s.

use std::fmt;
use std::time::Duration;

/// Length of the frame header before every gRPC message.
pub const FRAME_HEADER: usize = 5;

/// Protobuf wire types this decoder can skip.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LENGTH_DELIMITED: u64 = 2;
const FIXED32: u64 = 5;

/// The `status` of a `HealthCheckResponse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServingStatus {
    /// 0, also what an absent field means (proto3 default).
    Unknown,
    /// 1: healthy.
    Serving,
    /// 2: the server (or service) says it is not serving.
    NotServing,
    /// The health service does not know the service asked about.
    ServiceUnknown,
    /// A value this client does not know; not SERVING all the same.
    Other(u64),
}

impl ServingStatus {
    fn from_wire(value: u64) -> ServingStatus {
        match value {
            0 => ServingStatus::Unknown,
            1 => ServingStatus::Serving,
            2 => ServingStatus::NotServing,
            3 => ServingStatus::ServiceUnknown,
            other => ServingStatus::Other(other),
        }
    }

    /// The name the proto file gives the value.
    pub fn name(self) -> String {
        match self {
            ServingStatus::Unknown => "UNKNOWN".into(),
            ServingStatus::Serving => "SERVING".into(),
            ServingStatus::NotServing => "NOT_SERVING".into(),
            ServingStatus::ServiceUnknown => "SERVICE_UNKNOWN".into(),
            ServingStatus::Other(value) => format!("status {value}"),
        }
    }
}

/// Why a response body is not one well-formed `HealthCheckResponse` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// grpc-status 0 but no message at all.
    NoMessage,
    /// Fewer bytes than the frame header, or than the length it declares.
    Truncated {
        /// The bytes expected: the length the frame header declares, or the header's own 5.
        declared: usize,
        /// The bytes there were.
        got: usize,
    },
    /// The compressed flag is set, though no compression was offered.
    Compressed {
        /// The flag byte received.
        flag: u8,
    },
    /// Bytes after the one message a unary call returns.
    Trailing {
        /// How many bytes follow the message.
        extra: usize,
    },
    /// More bytes than any `HealthCheckResponse` needs (declared or received).
    TooLarge {
        /// The size declared or received, in bytes.
        size: usize,
        /// The most this client accepts, in bytes.
        limit: usize,
    },
    /// The protobuf message does not parse.
    Protobuf(&'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::NoMessage => f.write_str("grpc-status 0 but no response message"),
            WireError::Truncated { declared, got } => write!(
                f,
                "the gRPC message is cut short ({got} of {declared} bytes)"
            ),
            WireError::Compressed { flag: 1 } => {
                f.write_str("the gRPC message is compressed, though no compression was offered")
            }
            WireError::Compressed { flag } => {
                write!(f, "the gRPC frame has an invalid compressed flag {flag}")
            }
            WireError::Trailing { extra } => write!(
                f,
                "{extra} bytes follow the one message a health check returns"
            ),
            WireError::TooLarge { size, limit } => write!(
                f,
                "the gRPC message is {size} bytes, more than the {limit} any HealthCheckResponse fits in"
            ),
            WireError::Protobuf(why) => {
                write!(f, "the HealthCheckResponse is not valid protobuf: {why}")
            }
        }
    }
}

/// The request body: one uncompressed frame holding `HealthCheckRequest { service }`.
pub fn encode_request(service: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(service.len() + 6);
    // proto3 leaves a field at its default value (here "") out.
    if !service.is_empty() {
        message.push(0x0a); // field 1, wire type 2 (length-delimited)
        put_varint(&mut message, service.len() as u64);
        message.extend_from_slice(service.as_bytes());
    }
    let mut frame = Vec::with_capacity(FRAME_HEADER + message.len());
    frame.push(0); // not compressed
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    frame
}

/// Check what has arrived of a response body so far, so that garbage or an oversized message
/// is refused without reading on: the flag byte, the declared length, the bytes received.
pub fn check_partial(body: &[u8], limit: usize) -> Result<(), WireError> {
    if let Some(&flag) = body.first() {
        if flag != 0 {
            return Err(WireError::Compressed { flag });
        }
    }
    let size = declared_length(body)
        .unwrap_or(0)
        .max(body.len().saturating_sub(FRAME_HEADER));
    if size > limit {
        return Err(WireError::TooLarge { size, limit });
    }
    Ok(())
}

/// The length a frame header at the start of `body` declares, once its 5 bytes are there.
pub fn declared_length(body: &[u8]) -> Option<usize> {
    let header: [u8; 4] = body.get(1..FRAME_HEADER)?.try_into().ok()?;
    Some(u32::from_be_bytes(header) as usize)
}

/// Decode the whole response body: exactly one uncompressed `HealthCheckResponse`.
pub fn decode_response(body: &[u8]) -> Result<ServingStatus, WireError> {
    if body.is_empty() {
        return Err(WireError::NoMessage);
    }
    let Some(declared) = declared_length(body) else {
        return Err(WireError::Truncated {
            declared: FRAME_HEADER,
            got: body.len(),
        });
    };
    if body[0] != 0 {
        return Err(WireError::Compressed { flag: body[0] });
    }
    let message = &body[FRAME_HEADER..];
    if message.len() < declared {
        return Err(WireError::Truncated {
            declared,
            got: message.len(),
        });
    }
    if message.len() > declared {
        return Err(WireError::Trailing {
            extra: message.len() - declared,
        });
    }
    decode_health_response(message)
}

/// `HealthCheckResponse`: field 1 (varint) is the status; other fields are skipped; the last
/// occurrence wins, as protobuf says.
fn decode_health_response(mut message: &[u8]) -> Result<ServingStatus, WireError> {
    let mut status = ServingStatus::Unknown;
    while !message.is_empty() {
        let key = take_varint(&mut message)?;
        let (field, wire_type) = (key >> 3, key & 7);
        if field == 0 {
            return Err(WireError::Protobuf("field number 0"));
        }
        match wire_type {
            VARINT => {
                let value = take_varint(&mut message)?;
                if field == 1 {
                    status = ServingStatus::from_wire(value);
                }
            }
            _ if field == 1 => return Err(WireError::Protobuf("status is not a varint")),
            FIXED64 => skip(&mut message, 8)?,
            FIXED32 => skip(&mut message, 4)?,
            LENGTH_DELIMITED => {
                let len = take_varint(&mut message)?;
                let len =
                    usize::try_from(len).map_err(|_| WireError::Protobuf("length too large"))?;
                skip(&mut message, len)?;
            }
            _ => return Err(WireError::Protobuf("unknown wire type")),
        }
    }
    Ok(status)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_varint(input: &mut &[u8]) -> Result<u64, WireError> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let Some((&byte, rest)) = input.split_first() else {
            return Err(WireError::Protobuf("a varint is cut short"));
        };
        *input = rest;
        let bits = u64::from(byte & 0x7f);
        if i == 9 && bits > 1 {
            return Err(WireError::Protobuf("a varint overflows 64 bits"));
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(WireError::Protobuf("a varint is longer than 10 bytes"))
}

fn skip(input: &mut &[u8], n: usize) -> Result<(), WireError> {
    if input.len() < n {
        return Err(WireError::Protobuf("a field is cut short"));
    }
    *input = &input[n..];
    Ok(())
}

/// `grpc-timeout`: at most 8 digits and a unit; milliseconds while they fit, else seconds.
pub fn encode_timeout(d: Duration) -> String {
    let ms = d.as_millis().max(1);
    if ms <= 99_999_999 {
        format!("{ms}m")
    } else {
        format!("{}S", (d.as_secs()).min(99_999_999))
    }
}

/// `grpc-message` is percent-encoded UTF-8.
pub fn decode_message(raw: &[u8]) -> String {
    percent_encoding::percent_decode(raw)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(message: &[u8]) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&(message.len() as u32).to_be_bytes());
        out.extend_from_slice(message);
        out
    }

    #[test]
    fn requests_are_one_frame_with_the_service_as_field_one() {
        assert_eq!(encode_request(""), [0, 0, 0, 0, 0]);
        assert_eq!(
            encode_request("a.B"),
            [0, 0, 0, 0, 5, 0x0a, 3, b'a', b'.', b'B']
        );
        // A name of 200 bytes needs a two-byte varint length: 200 = 0xc8 0x01.
        let long = "x".repeat(200);
        let bytes = encode_request(&long);
        assert_eq!(&bytes[..8], &[0, 0, 0, 0, 203, 0x0a, 0xc8, 0x01]);
        assert_eq!(bytes.len(), FRAME_HEADER + 203);
    }

    #[test]
    fn responses_decode_every_serving_status() {
        for (value, expected) in [
            (0, ServingStatus::Unknown),
            (1, ServingStatus::Serving),
            (2, ServingStatus::NotServing),
            (3, ServingStatus::ServiceUnknown),
            (9, ServingStatus::Other(9)),
        ] {
            assert_eq!(decode_response(&frame(&[0x08, value])), Ok(expected));
        }
        // proto3 leaves the default (UNKNOWN) out: an empty message.
        assert_eq!(decode_response(&frame(&[])), Ok(ServingStatus::Unknown));
    }

    #[test]
    fn unknown_fields_are_skipped_and_the_last_status_wins() {
        let message = [
            0x08, 0x02, // status NOT_SERVING
            0x12, 0x02, b'h', b'i', // field 2, "hi"
            0x19, 1, 2, 3, 4, 5, 6, 7, 8, // field 3, fixed64
            0x25, 1, 2, 3, 4, // field 4, fixed32
            0x28, 0x96, 0x01, // field 5, varint 150
            0x08, 0x01, // status SERVING
        ];
        assert_eq!(
            decode_response(&frame(&message)),
            Ok(ServingStatus::Serving)
        );
    }

    #[test]
    fn garbage_framing_is_named() {
        assert_eq!(decode_response(&[]), Err(WireError::NoMessage));
        assert!(matches!(
            decode_response(&[0, 0, 0]),
            Err(WireError::Truncated { .. })
        ));
        assert_eq!(
            decode_response(&[0, 0, 0, 0, 9, 0x08]),
            Err(WireError::Truncated {
                declared: 9,
                got: 1
            })
        );
        assert_eq!(
            decode_response(&[1, 0, 0, 0, 2, 0x08, 1]),
            Err(WireError::Compressed { flag: 1 })
        );
        let mut two = frame(&[0x08, 1]);
        two.extend(frame(&[0x08, 1]));
        assert_eq!(decode_response(&two), Err(WireError::Trailing { extra: 7 }));
        assert!(matches!(
            decode_response(&frame(&[0x08])),
            Err(WireError::Protobuf(_))
        ));
        assert!(matches!(
            decode_response(&frame(&[0x0a, 1, b'x'])),
            Err(WireError::Protobuf("status is not a varint"))
        ));
        assert!(matches!(
            decode_response(&frame(&[0x0f, 0])),
            Err(WireError::Protobuf(_))
        ));
        assert!(matches!(
            decode_response(&frame(&[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f
            ])),
            Err(WireError::Protobuf(_))
        ));
        // Text where a frame should be: "HTTP/1.1" reads as a compressed flag of 'H'.
        assert!(matches!(
            decode_response(b"HTTP/1.1 200 OK"),
            Err(WireError::Compressed { flag: b'H' })
        ));
    }

    #[test]
    fn varints_round_trip() {
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut bytes = Vec::new();
            put_varint(&mut bytes, value);
            let mut input = bytes.as_slice();
            assert_eq!(take_varint(&mut input), Ok(value));
            assert!(input.is_empty());
        }
    }

    #[test]
    fn timeouts_and_messages_use_the_grpc_encodings() {
        assert_eq!(encode_timeout(Duration::from_millis(2500)), "2500m");
        assert_eq!(encode_timeout(Duration::ZERO), "1m");
        assert_eq!(encode_timeout(Duration::from_secs(200_000)), "200000S");
        assert_eq!(
            decode_message(b"no%20such%20service%3A%20x"),
            "no such service: x"
        );
        assert_eq!(declared_length(&[0, 0, 1, 0, 0]), Some(65536));
        assert_eq!(declared_length(&[0, 0]), None);
    }

    #[test]
    fn partial_bodies_are_refused_early_when_they_cannot_be_a_health_response() {
        assert_eq!(check_partial(&[], 16), Ok(()));
        assert_eq!(check_partial(&[0, 0, 0], 16), Ok(()));
        assert_eq!(check_partial(&[0, 0, 0, 0, 16, 0x08], 16), Ok(()));
        assert_eq!(
            check_partial(&[0, 0, 0, 0, 17], 16),
            Err(WireError::TooLarge {
                size: 17,
                limit: 16
            })
        );
        assert_eq!(
            check_partial(b"<html>", 16),
            Err(WireError::Compressed { flag: b'<' })
        );
        let mut long = vec![0, 0, 0, 0, 2];
        long.resize(30, 0);
        assert_eq!(
            check_partial(&long, 16),
            Err(WireError::TooLarge {
                size: 25,
                limit: 16
            })
        );
    }
}
