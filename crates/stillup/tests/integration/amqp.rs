//! `amqp://` targets against the shared RabbitMQ (guest/guest): healthy without a login and
//! with guest's; a wrong password is `auth_failed`, never printed; an unknown vhost is
//! `server_unavailable` with the broker's words.

use std::time::Duration;

use stillup_testkit::services;

use super::support::*;

#[test]
fn the_shared_rabbitmq_is_healthy_without_and_with_a_login() {
    let Some(addr) = services::running(services::RABBITMQ, "amqp::the_shared_rabbitmq_is_healthy")
    else {
        return;
    };
    let url = format!("amqp://{addr}");
    let run = check_json(&url, &[]);
    run.assert_code(0)
        .assert_within(Duration::from_secs(3) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    let only = target(&report, 0);
    assert_eq!(only["target"], url.as_str());
    assert_eq!(only["kind"], "amqp");
    assert_eq!(classes(&report), [HEALTHY], "{run}");

    let run = check_json(&format!("amqp://guest:guest@{addr}/"), &[]);
    run.assert_code(0);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), [HEALTHY], "{run}");
    assert!(
        !target(&report, 0)["target"]
            .as_str()
            .unwrap()
            .contains(":guest@"),
        "{run}"
    );

    let run = stillup(["check", &url, "--user", "guest:guest"]);
    run.assert_code(0);
}

#[test]
fn a_wrong_password_is_auth_failed_and_never_printed() {
    let Some(addr) = services::running(services::RABBITMQ, "amqp::a_wrong_password") else {
        return;
    };
    let secret = "amqp-wr0ng-secret-xyz";
    let url = format!("amqp://guest:{secret}@{addr}");
    let run = check_json(&url, &[]);
    run.assert_code(1);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), ["auth_failed"], "{run}");
    assert!(last_message(&report).contains("403"), "{run}");
    let human = stillup(["check", &url]);
    human.assert_code(1);
    for output in [&run.stdout, &run.stderr, &human.stdout, &human.stderr] {
        assert!(!output.contains(secret), "the password leaked:\n{output}");
    }

    let user = format!("guest:{secret}");
    let run = check_json(&format!("amqp://{addr}"), &["--user", &user]);
    run.assert_code(1);
    assert_eq!(classes(&run.json()), ["auth_failed"], "{run}");
    assert!(
        !run.stdout.contains(secret) && !run.stderr.contains(secret),
        "{run}"
    );
}

#[test]
fn an_unknown_vhost_is_server_unavailable_with_the_brokers_words() {
    let Some(addr) = services::running(services::RABBITMQ, "amqp::an_unknown_vhost") else {
        return;
    };
    let run = check_json(&format!("amqp://guest:guest@{addr}/no_such_vhost"), &[]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(classes(&report), ["server_unavailable"], "{run}");
    let message = last_message(&report);
    assert!(
        message.contains("530") && message.contains("no_such_vhost"),
        "{run}"
    );
}

#[test]
fn http_on_an_amqp_port_is_protocol_mismatch_and_http_options_are_refused() {
    let http = serve(Behavior::Banner(
        b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
    ));
    let url = format!("amqp://{}", http.addr());
    let run = check_json(&url, &[]);
    run.assert_code(1);
    assert_eq!(classes(&run.json()), ["protocol_mismatch"], "{run}");
    assert!(
        last_message(&run.json()).contains("Connection.Start"),
        "{run}"
    );

    let run = stillup(["check", &url, "--expect-status", "200"]);
    run.assert_code(2);
    assert!(run.stderr.contains("does not apply"), "{run}");
    let run = stillup(["check", "amqp://127.0.0.1:5672/a/b"]);
    run.assert_code(2);
    assert!(run.stderr.contains("%2F"), "{run}");
}
