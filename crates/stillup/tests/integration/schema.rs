//! `--output json` writes one document that matches the committed schema, whatever the
//! outcome and whatever the failures on the way.

use std::time::Duration;

use super::support::*;

#[test]
fn a_healthy_wait_report_matches_the_schema() {
    let server = serve_json(r#"{"status":"healthy"}"#);
    let run = stillup([
        "wait",
        &server.url("/health"),
        "--timeout",
        "10s",
        "--output",
        "json",
    ]);
    run.assert_code(0);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(report["command"], "wait");
    assert_eq!(report["outcome"], "healthy");
}

#[test]
fn a_gave_up_wait_report_matches_the_schema() {
    let server = serve(Behavior::Respond(Reply::status(503)));
    let run = stillup([
        "wait",
        &server.url("/health"),
        "--timeout",
        "1s",
        "--interval",
        "200ms",
        "--output",
        "json",
    ]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(1) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(report["outcome"], "gave_up");
    assert_eq!(report["schema_version"], 5);
    assert_started_and_ended(&report);
    assert_eq!(report["success"], false);
    assert_eq!(target(&report, 0)["outcome"], "gave_up");
    assert_eq!(target(&report, 0)["timeline"]["end"], "gave_up");
    assert_eq!(target(&report, 0)["last_failure"]["class"], "http_status");
}

#[test]
fn check_reports_match_the_schema_healthy_or_not() {
    let healthy = serve(Behavior::Respond(Reply::text(200, "ok")));
    let run = check_json(&healthy.url("/health"), &[]);
    run.assert_code(0);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(report["command"], "check");

    let refusing = serve(Behavior::Refuse);
    let run = check_json(&refusing.url("/health"), &[]);
    run.assert_code(1);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(report["command"], "check");
    assert_eq!(target(&report, 0)["last_failure"]["class"], "refused");
}

#[test]
fn a_report_through_many_failure_classes_matches_the_schema() {
    let script = Script::new()
        .then_requests(1, Behavior::Respond(Reply::status(503)))
        .then_requests(1, Behavior::Reset)
        .then_requests(1, Behavior::Raw(b"HTTP/1.1 abc OK\r\n\r\n".to_vec()))
        .then_requests(1, Behavior::Respond(Reply::text(200, &"x".repeat(4096))))
        .then_requests(
            1,
            Behavior::Respond(Reply::json(200, r#"{"status":"degraded"}"#)),
        )
        .forever(Behavior::Respond(Reply::json(
            200,
            r#"{"status":"healthy"}"#,
        )));
    let server = ScriptedServer::spawn(script).unwrap();
    let run = stillup([
        "wait",
        &server.url("/health"),
        "--expect-json",
        "$.status == healthy",
        "--max-body",
        "1KiB",
        "--interval",
        "100ms",
        "--timeout",
        "20s",
        "--output",
        "json",
    ]);
    run.assert_code(0);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(
        classes(&report),
        [
            "http_status",
            "reset",
            "invalid_response",
            "body_too_large",
            "condition_failed",
            HEALTHY
        ],
        "{run}"
    );
}

#[test]
fn the_schema_rejects_a_report_with_a_missing_field_or_unknown_class() {
    let server = serve(Behavior::Respond(Reply::status(503)));
    let mut report = check_json(&server.url("/health"), &[]).json();
    assert_matches_schema(&report);
    let validator = report_schema();

    let mut missing = report.clone();
    missing.as_object_mut().unwrap().remove("outcome");
    assert!(!validator.is_valid(&missing));

    let mut no_kind = report.clone();
    no_kind["targets"][0]
        .as_object_mut()
        .unwrap()
        .remove("kind");
    assert!(!validator.is_valid(&no_kind));

    let mut v1 = report.clone();
    v1["schema_version"] = 1.into();
    assert!(!validator.is_valid(&v1));

    report["targets"][0]["attempts"][0]["class"] = "bad_vibes".into();
    assert!(!validator.is_valid(&report));
}

#[test]
fn every_failure_class_is_in_the_schema_and_the_readme() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../schema/report.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let listed: Vec<&str> = schema["$defs"]["class"]["enum"]
        .as_array()
        .expect("the schema lists the classes")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    let classes: Vec<&str> = stillup_core::FailureClass::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(listed, classes, "schema and FailureClass::ALL differ");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    for class in classes {
        assert!(
            readme.contains(&format!("| `{class}` |")),
            "the README's failure-class table misses {class}"
        );
    }
}

/// Both schemas list exactly the registry's kinds, so a new protocol cannot ship reports its
/// own schema rejects.
#[test]
fn every_kind_of_target_is_in_both_schemas() {
    let kinds: Vec<&str> = stillup_core::probe::Kind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    for (file, pointer) in [
        ("report.schema.json", "/$defs/target/properties/kind/enum"),
        ("watch.schema.json", "/$defs/target/properties/kind/enum"),
    ] {
        let path = format!("{}/../../schema/{file}", env!("CARGO_MANIFEST_DIR"));
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let listed: Vec<&str> = schema
            .pointer(pointer)
            .and_then(|v| v.as_array())
            .unwrap_or_else(|| panic!("{file} has no {pointer}"))
            .iter()
            .filter_map(|k| k.as_str())
            .collect();
        assert_eq!(listed, kinds, "{file} and Kind::ALL differ");
    }
}
