//! The fuzzer plays a database or broker: the first byte picks a protocol's decoder, the rest
//! is what the server sent. Each decoder is driven as its probe drives it (frame after frame
//! until it asks for more), and must never panic, never take more bytes than it was given,
//! and never announce a need beyond its own cap (so a length prefix is never an allocation).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stillup_core::probe::{amqp, mqtt, mysql, nats, postgres, redis};

/// More frames than any handshake has: the loops below end on their own well before this, the
/// bound only keeps a decoder that stopped consuming from spinning.
const MAX_STEPS: usize = 10_000;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    match selector % 6 {
        0 => postgres_messages(input),
        1 => mysql_packets(input),
        2 => redis_replies(input),
        3 => amqp_frames(input),
        4 => mqtt_connack(input),
        _ => nats_lines(input),
    }
});

fn postgres_messages(input: &[u8]) {
    use postgres::wire::{decode, frame, Frame, ScramClient, MAX_MESSAGE};
    let mut at = 0;
    for step in 0..MAX_STEPS {
        let rest = &input[at..];
        match frame(rest, step == 0) {
            Ok(Frame::Need(n)) => {
                assert!(
                    n > rest.len(),
                    "asked for {n} bytes with {} in hand",
                    rest.len()
                );
                assert!(n <= MAX_MESSAGE + 1, "asked for {n} bytes, past the cap");
                break;
            }
            Ok(Frame::Whole { tag, body }) => {
                assert!(
                    body.start == 5 && body.end <= rest.len(),
                    "{body:?} of {}",
                    rest.len()
                );
                let _ = decode(tag, &rest[body.clone()]);
                at += body.end;
            }
            Err(_) => break,
        }
    }
    // The SCRAM messages are server bytes too; one iteration keeps PBKDF2 cheap.
    let client = ScramClient::new("", "abc");
    let _ = client.challenge(input);
    if let Ok(challenge) = client.challenge(b"r=abcd,s=AAAA,i=1") {
        let _ = client.finish(&challenge, "pw").verify(input);
    }
}

fn mysql_packets(input: &[u8]) {
    use mysql::wire::{
        cannot_be_greeting, take_packet, AuthReply, Greeting, ResultReader, HEADER_LEN, MAX_PAYLOAD,
    };
    let _ = cannot_be_greeting(input);
    let mut results = ResultReader::default();
    let mut at = 0;
    for step in 0..MAX_STEPS {
        let rest = &input[at..];
        match take_packet(rest) {
            Ok(Some((packet, used))) => {
                assert!(
                    used <= rest.len() && used >= HEADER_LEN,
                    "took {used} of {}",
                    rest.len()
                );
                assert_eq!(packet.payload.len(), used - HEADER_LEN);
                assert!(packet.payload.len() <= MAX_PAYLOAD);
                if step == 0 {
                    let _ = Greeting::decode(&packet.payload);
                }
                let _ = AuthReply::decode(&packet.payload);
                let _ = results.feed(&packet.payload);
                at += used;
            }
            Ok(None) | Err(_) => break,
        }
    }
    // The decoders on the raw bytes too, without the framing in front.
    let _ = Greeting::decode(input);
    let _ = AuthReply::decode(input);
    let _ = ResultReader::default().feed(input);
}

fn redis_replies(input: &[u8]) {
    use redis::wire::decode;
    let mut at = 0;
    for _ in 0..MAX_STEPS {
        let rest = &input[at..];
        match decode(rest) {
            Ok(Some((_, used))) => {
                assert!(
                    used > 0 && used <= rest.len(),
                    "took {used} of {}",
                    rest.len()
                );
                at += used;
            }
            Ok(None) | Err(_) => break,
        }
    }
}

fn amqp_frames(input: &[u8]) {
    use amqp::wire::{first_bytes, frame, header_version, method, offers_plain, Method, Step};
    let _ = first_bytes(input);
    let _ = header_version(input);
    let mut at = 0;
    for _ in 0..MAX_STEPS {
        let rest = &input[at..];
        match frame(rest) {
            Step::Frame(f) => {
                assert!(
                    f.len <= rest.len() && f.payload.end < f.len,
                    "{f:?} of {}",
                    rest.len()
                );
                if let Ok(Method::Start { mechanisms, .. }) = method(&rest[f.payload]) {
                    let _ = offers_plain(&mechanisms);
                }
                at += f.len;
            }
            Step::Incomplete | Step::Broken(_) => break,
        }
    }
    let _ = method(input);
}

fn mqtt_connack(input: &[u8]) {
    use mqtt::wire::{decode_connack, judge, Answer};
    if let Answer::ConnAck(code) = decode_connack(input) {
        let _ = judge(code);
    }
}

fn nats_lines(input: &[u8]) {
    use nats::wire::{can_start_info, decode};
    let _ = can_start_info(input);
    let mut at = 0;
    for _ in 0..MAX_STEPS {
        let rest = &input[at..];
        match decode(rest) {
            Ok(Some((_, used))) => {
                assert!(
                    used > 0 && used <= rest.len(),
                    "took {used} of {}",
                    rest.len()
                );
                at += used;
            }
            Ok(None) | Err(_) => break,
        }
    }
}
