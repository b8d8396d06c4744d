//! `stillup demo`: the whole story on a scripted local service, no network needed.
//!
//! The service refuses connections for ~2s, answers 503 for ~2s, then 200 with
//! `{"status":"degraded"}` for ~2s, then `{"status":"healthy"}` — and stillup waits on it
//! with a JSON condition, exactly as a user would.

use std::time::Duration;

use stillup_core::condition::JsonCondition;
use stillup_core::{Backoff, HttpProbe, HttpTarget, Require, WaitPolicy};
use stillup_testkit::{Behavior, Reply, Script, ScriptedServer};

use super::args::DemoArgs;
use super::config::{presentation_for, RunConfig, UsageError};
use super::input::Origins;

const PHASE: Duration = Duration::from_secs(2);

/// Start the scripted service and build the run that waits on it.
pub async fn start(args: &DemoArgs) -> std::io::Result<(ScriptedServer, RunConfig)> {
    let script = Script::new()
        .then_for(PHASE, Behavior::Refuse)
        .then_for(PHASE, Behavior::Respond(Reply::text(503, "starting up\n")))
        .then_for(
            PHASE,
            Behavior::Respond(Reply::json(
                200,
                r#"{"status":"degraded","db":"connecting"}"#,
            )),
        )
        .forever(Behavior::Respond(Reply::json(
            200,
            r#"{"status":"healthy","db":"ok"}"#,
        )));
    let server = ScriptedServer::start(script).await?;
    let config = run_config(&server.url("/health"), args).map_err(std::io::Error::other)?;
    Ok((server, config))
}

fn run_config(url: &str, args: &DemoArgs) -> Result<RunConfig, UsageError> {
    let target = HttpTarget::parse(url).map_err(|e| UsageError::from_parts("URL", url, e))?;
    let mut probe = HttpProbe::new(target);
    let condition = r#"$.status == "healthy""#;
    probe.conditions.json.push(
        JsonCondition::parse(condition)
            .map_err(|e| UsageError::from_parts("--expect-json", condition, e))?,
    );
    Ok(RunConfig {
        command: "wait",
        probes: vec![probe.into()],
        names: vec![None],
        require: Require::All,
        exec: Vec::new(),
        policy: WaitPolicy {
            timeout: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(1),
            backoff: Backoff {
                interval: Duration::from_millis(500),
                ..Backoff::default()
            },
            ..WaitPolicy::default()
        },
        presentation: presentation_for(&args.output),
        files: super::output_file::files(
            &args.output.output_file,
            &Origins::default(),
            None,
            super::options::Command::Wait,
        )?,
    })
}

/// What the demo tells a newcomer before it starts.
pub fn intro(url: &str) -> String {
    format!(
        "demo: a scripted service at {url} refuses connections for 2s, answers 503 for 2s,\n      \
         then 200 {{\"status\":\"degraded\"}} for 2s, then 200 {{\"status\":\"healthy\"}}.\n      \
         Running: stillup wait {url} --interval 500ms --timeout 30s --expect-json '$.status == \"healthy\"'\n"
    )
}
