//! `mqtt://` targets: the shared Mosquitto is healthy; a broker refusing the login is
//! `auth_failed` with credentials (URL or `--user`) and healthy without; passwords never appear
//! in human or JSON output.

use std::time::Duration;

use stillup_testkit::services;

use super::support::*;

/// A broker that answers every CONNECT with CONNACK 4 (bad user name or password).
fn refusing_broker() -> ScriptedServer {
    serve(Behavior::Banner(vec![0x20, 2, 0, 4]))
}

#[test]
fn the_shared_mosquitto_is_healthy() {
    let Some(addr) =
        services::running(services::MOSQUITTO, "mqtt::the_shared_mosquitto_is_healthy")
    else {
        return;
    };
    let url = format!("mqtt://{addr}");
    let run = check_json(&url, &[]);
    run.assert_code(0)
        .assert_within(Duration::from_secs(3) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    let only = target(&report, 0);
    assert_eq!(only["target"], url.as_str());
    assert_eq!(only["kind"], "mqtt");
    assert_eq!(classes(&report), [HEALTHY], "{run}");
    assert_eq!(attempts_of(only)[0]["remote"], addr.to_string());

    let run = stillup(["check", &url]);
    run.assert_code(0);
    assert!(run.stderr.contains(&url), "{run}");
}

#[test]
fn a_refused_login_is_auth_failed_and_the_password_is_never_printed() {
    let broker = refusing_broker();
    let addr = broker.addr();
    let secret = "mqtt-pa55word-xyz";
    let with_login = format!("mqtt://alice:{secret}@{addr}");
    let run = check_json(&with_login, &[]);
    run.assert_code(1);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), ["auth_failed"], "{run}");
    assert!(last_message(&report).contains("CONNACK 4"), "{run}");
    let human = stillup(["check", &with_login]);
    human.assert_code(1);
    for output in [&run.stdout, &run.stderr, &human.stdout, &human.stderr] {
        assert!(!output.contains(secret), "the password leaked:\n{output}");
    }
    assert!(
        human.stderr.contains("auth") || human.stderr.contains("login"),
        "{human}"
    );

    // The same login from --user.
    let url = format!("mqtt://{addr}");
    let user = format!("alice:{secret}");
    let run = check_json(&url, &["--user", &user]);
    run.assert_code(1);
    assert_eq!(classes(&run.json()), ["auth_failed"], "{run}");
    assert!(
        !run.stdout.contains(secret) && !run.stderr.contains(secret),
        "{run}"
    );

    // Without credentials the broker accepts connections: it answered and asks for a login.
    let run = check_json(&url, &[]);
    run.assert_code(0);
    assert_eq!(classes(&run.json()), [HEALTHY], "{run}");
}

#[test]
fn http_on_an_mqtt_port_is_protocol_mismatch_and_bearer_is_refused() {
    let http = serve(Behavior::Banner(
        b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
    ));
    let url = format!("mqtt://{}", http.addr());
    let run = check_json(&url, &[]);
    run.assert_code(1);
    assert_eq!(classes(&run.json()), ["protocol_mismatch"], "{run}");
    assert!(
        last_message(&run.json()).contains("an HTTP server"),
        "{run}"
    );

    let run = stillup(["check", &url, "--bearer", "tok"]);
    run.assert_code(2);
    assert!(run.stderr.contains("does not apply"), "{run}");
}
