//! Servers that break the protocol: resets, early closes, short bodies, garbage, oversized
//! heads, broken chunked framing. Each is classified (`reset`, `invalid_response`, or
//! `protocol_mismatch` for bytes that are not HTTP at all), never a crash or a hang.

use std::time::Duration;

use super::support::*;

#[track_caller]
fn check_class(behavior: Behavior, class: &str) -> serde_json::Value {
    let server = serve(behavior);
    let run = check_json(&server.url("/health"), &["--attempt-timeout", "3s"]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(3) + SLACK);
    let report = run.json();
    assert_eq!(classes(&report), [class], "{run}");
    report
}

#[test]
fn a_reset_after_the_request_fails_as_reset() {
    check_class(Behavior::Reset, "reset");
}

#[test]
fn a_close_before_the_response_head_fails_as_reset() {
    check_class(Behavior::CloseBeforeHead, "reset");
}

#[test]
fn a_body_shorter_than_its_content_length_fails_as_reset() {
    check_class(
        Behavior::ShortBody {
            content_length: 50,
            sent: 3,
        },
        "reset",
    );
}

#[test]
fn a_failure_after_the_response_head_still_reports_its_status() {
    let cases = [
        (
            Behavior::ShortBody {
                content_length: 50,
                sent: 3,
            },
            "reset",
        ),
        (
            Behavior::Respond(Reply::text(503, &"x".repeat(4096))),
            "body_too_large",
        ),
    ];
    for (behavior, class) in cases {
        let server = serve(behavior);
        let run = check_json(&server.url("/health"), &["--max-body", "1KiB"]);
        let report = run.json();
        assert_eq!(classes(&report), [class], "{run}");
        assert!(
            target(&report, 0)["attempts"][0]["status"].is_u64(),
            "the response head arrived, so its status belongs in the report\n{run}"
        );
    }
}

#[test]
fn a_reset_in_the_middle_of_the_body_fails_as_reset() {
    check_class(
        Behavior::ResetMidBody {
            content_length: 100,
            sent: 10,
        },
        "reset",
    );
}

#[test]
fn bytes_that_cannot_start_an_http_response_fail_as_protocol_mismatch() {
    let report = check_class(
        Behavior::Raw(b"NOT HTTP AT ALL\r\n\r\n".to_vec()),
        "protocol_mismatch",
    );
    assert!(
        last_message(&report).contains(r"NOT HTTP AT ALL\r\n"),
        "{report:#}"
    );
}

#[test]
fn a_malformed_status_line_fails_as_invalid_response() {
    check_class(
        Behavior::Raw(b"HTTP/1.1 abc OK\r\n\r\n".to_vec()),
        "invalid_response",
    );
}

/// A chunked response head, for bodies written by hand.
const CHUNKED: &str = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";

#[test]
fn a_chunk_size_that_overflows_fails_as_invalid_response() {
    let raw = format!("{CHUNKED}fffffffffffffffffff\r\nxx\r\n0\r\n\r\n");
    let report = check_class(Behavior::Raw(raw.into_bytes()), "invalid_response");
    assert!(last_message(&report).contains("chunk"), "{report:#}");
    assert_eq!(target(&report, 0)["attempts"][0]["status"], 200);
}

#[test]
fn a_200_kb_trailer_fails_as_invalid_response() {
    let raw = format!(
        "{CHUNKED}2\r\nok\r\n0\r\nX-Trailer: {}\r\n\r\n",
        "t".repeat(200_000)
    );
    let report = check_class(Behavior::Raw(raw.into_bytes()), "invalid_response");
    assert!(last_message(&report).contains("trailer"), "{report:#}");
}

#[test]
fn a_500_kb_header_line_fails_as_invalid_response() {
    let reply = Reply::status(200).header("X-Huge", &"a".repeat(500_000));
    check_class(Behavior::Respond(reply), "invalid_response");
}

#[test]
fn more_than_100_headers_fail_as_invalid_response() {
    let reply = (0..150).fold(Reply::status(200), |reply, i| {
        reply.header(&format!("X-Header-{i}"), "v")
    });
    check_class(Behavior::Respond(reply), "invalid_response");
}

#[test]
fn a_hundred_headers_or_fewer_are_fine() {
    let reply = (0..90).fold(Reply::status(200), |reply, i| {
        reply.header(&format!("X-Header-{i}"), "v")
    });
    let server = serve(Behavior::Respond(reply));
    check_json(&server.url("/health"), &[]).assert_code(0);
}
