//! The exporter's HTTP side: accepting connections within bounds (header size, header read
//! time, connections at once), routing, and `/probe` itself — module, target, allow-list,
//! budget, one attempt, the page. A request stillup cannot serve because of itself
//! (saturated, out of descriptors, a probe that overran) is answered with a 5xx, so that
//! Prometheus marks the scrape failed (`up == 0`) instead of blaming the target.

use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use stillup_core::deadline::Deadline;
use stillup_core::net::overrides::{Family, FamilyPreference, ResolveRule};
use stillup_core::redact::redact_url;
use stillup_core::sanitize::{display_safe, sanitize};
use stillup_core::Prober;

use super::allow::{AllowList, Verdict};
use super::log::Log;
use super::metrics::{probe_page, ProbeRecord, Refusal, Stats};
use super::module::{IpProtocol, Modules, DEFAULT_MODULE};
use super::{page, ModuleSources};
use crate::cli::openmetrics::Flavor;

/// Connections served at once; more are closed as they come.
const MAX_CONNECTIONS: usize = 4096;
/// Most bytes of a request's head (request line and headers).
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// A client must send its request head within this.
const HEAD_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest `target` accepted.
const MAX_TARGET_BYTES: usize = 4096;
/// Taken from Prometheus' scrape timeout, so the answer reaches it in time (blackbox
/// subtracts the same by default).
const SCRAPE_MARGIN: Duration = Duration::from_millis(500);
/// How far past its budget a probe may run before the exporter calls it its own failure.
const OVERRUN_GRACE: Duration = Duration::from_millis(250);

/// What every request reads.
#[derive(Debug)]
pub struct State {
    pub modules: RwLock<Arc<Modules>>,
    pub sources: ModuleSources,
    pub allow: AllowList,
    pub slots: Arc<Semaphore>,
    pub max_concurrent: usize,
    pub stats: Stats,
    pub log: Log,
}

impl State {
    fn modules(&self) -> Arc<Modules> {
        self.modules
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Accept and serve connections until the listener fails for good.
pub async fn serve(listener: TcpListener, state: Arc<State>) {
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, most likely: wait for some to free up.
                state.log.event(&format!("cannot accept a connection: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(request, &state).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_READ_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// A one-line plain-text answer.
fn line(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    respond(
        status,
        "text/plain; charset=utf-8",
        format!("{}\n", sanitize(text)),
    )
}

async fn route(request: Request<Incoming>, state: &Arc<State>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    let method = request.method();
    let readable = method == Method::GET || method == Method::HEAD;
    match path {
        "/probe" if readable => probe(&request, state).await,
        "/metrics" if readable => {
            let flavor = accepted(&request);
            let body = state.stats.page(flavor, state.log.dropped());
            respond(StatusCode::OK, flavor.content_type(), body)
        }
        "/" if readable => respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            page::index(&state.modules(), &state.stats.recent(), &state.allow),
        ),
        "/-/healthy" | "/-/ready" if readable => line(StatusCode::OK, "Healthy"),
        "/-/reload" if method == Method::POST || method == Method::PUT => {
            match reload(state).await {
                Ok(count) => line(StatusCode::OK, &format!("reloaded: {count} modules")),
                Err(e) => line(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("reload failed, the old config stays: {e}"),
                ),
            }
        }
        "/probe" | "/metrics" | "/" | "/-/healthy" | "/-/ready" | "/-/reload" => {
            line(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => line(
            StatusCode::NOT_FOUND,
            "not found: the exporter serves /probe, /metrics, /, /-/healthy and /-/reload",
        ),
    }
}

/// Read the modules again; the old ones stay when the new ones are bad.
pub async fn reload(state: &Arc<State>) -> Result<usize, String> {
    let sources = state.sources.clone();
    let loaded = tokio::task::spawn_blocking(move || sources.load())
        .await
        .map_err(|e| format!("the reload stopped: {e}"))?;
    match loaded {
        Ok(modules) => {
            let count = modules.iter().count();
            *state
                .modules
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(modules);
            state.stats.reloaded(true);
            state
                .log
                .event(&format!("config reloaded: {count} modules"));
            Ok(count)
        }
        Err(e) => {
            state.stats.reloaded(false);
            let message = e.to_string();
            state.log.event(&format!(
                "config reload failed, the old config stays: {message}"
            ));
            Err(message)
        }
    }
}

fn accepted(request: &Request<Incoming>) -> Flavor {
    Flavor::negotiate(
        request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    )
}

/// The query's parameters that matter.
struct ProbeQuery {
    target: Option<String>,
    module: String,
    debug: bool,
}

fn query(request: &Request<Incoming>) -> ProbeQuery {
    let mut parsed = ProbeQuery {
        target: None,
        module: DEFAULT_MODULE.to_string(),
        debug: false,
    };
    let raw = request.uri().query().unwrap_or_default();
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        match &*key {
            "target" => parsed.target = Some(value.into_owned()),
            "module" if !value.is_empty() => parsed.module = value.into_owned(),
            "debug" => parsed.debug = value == "true",
            _ => {}
        }
    }
    parsed
}

/// The budget of a probe: the smaller of the module's timeout and Prometheus' scrape timeout
/// minus a margin for the answer's way back; a module without a timeout of its own gets what
/// the scrape allows, or `default` when the request has no scrape timeout.
fn budget(
    module_timeout: Option<Duration>,
    default: Duration,
    request: &Request<Incoming>,
) -> Duration {
    let scrape = request
        .headers()
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok()?.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)));
    match scrape {
        // Never below half the scrape timeout: a 0.6 s scrape still gets a 0.3 s probe.
        Some(scrape) => {
            let usable = scrape.saturating_sub(SCRAPE_MARGIN).max(scrape / 2);
            module_timeout.map_or(usable, |own| own.min(usable))
        }
        None => module_timeout.unwrap_or(default),
    }
}

async fn probe(request: &Request<Incoming>, state: &Arc<State>) -> Response<Full<Bytes>> {
    let refuse = |why: Refusal, status: StatusCode, text: &str| {
        state.stats.refused(why);
        line(status, text)
    };
    let query = query(request);
    let Some(raw) = query.target.filter(|t| !t.trim().is_empty()) else {
        return refuse(
            Refusal::BadRequest,
            StatusCode::BAD_REQUEST,
            "target parameter is missing: /probe?target=URL[&module=NAME]",
        );
    };
    if raw.len() > MAX_TARGET_BYTES {
        return refuse(
            Refusal::BadRequest,
            StatusCode::BAD_REQUEST,
            &format!("target is longer than {MAX_TARGET_BYTES} bytes"),
        );
    }
    let modules = state.modules();
    let Some(module) = modules.get(&query.module) else {
        return refuse(
            Refusal::BadRequest,
            StatusCode::BAD_REQUEST,
            &format!(
                "unknown module {:?}; this exporter has {}",
                query.module,
                modules.names().join(", ")
            ),
        );
    };
    let target = match module.target(&raw) {
        Ok(target) => target,
        Err(reason) => return refuse(Refusal::BadRequest, StatusCode::BAD_REQUEST, &reason),
    };
    let shown = redact_url(&target.to_string());
    let budget = budget(module.timeout, module.recipe.attempt_timeout(), request);
    let started = Instant::now();
    let at = SystemTime::now();
    // Stillup's own limit: a 503 now, not a probe that waits for a slot and misses the scrape.
    let Ok(_slot) = state.slots.clone().try_acquire_owned() else {
        return refuse(
            Refusal::Saturated,
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "saturated: {} probes in flight (--max-concurrent); not probed",
                state.max_concurrent
            ),
        );
    };
    let deadline = Deadline::after(budget);
    let pin = match allowed(state, &target, &deadline).await {
        Ok(pin) => pin,
        Err(reason) => return refuse(Refusal::Forbidden, StatusCode::FORBIDDEN, &reason),
    };
    let family = module.ip.map(|ip| FamilyPreference {
        preferred: match ip.preferred {
            IpProtocol::Ip4 => Family::V4,
            IpProtocol::Ip6 => Family::V6,
        },
        fallback: ip.fallback,
    });
    let pinned = pin.as_ref().map(|(rule, _)| rule.clone());
    let probe = match module.recipe.probe(target.clone(), pinned, family) {
        Ok(probe) => probe,
        Err(e) => {
            return refuse(
                Refusal::Internal,
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot probe {shown} with module {}: {e}", module.name),
            )
        }
    };
    let _in_flight = state.stats.start_probe();
    let outer = budget.saturating_sub(started.elapsed()) + OVERRUN_GRACE;
    let Ok(mut result) = tokio::time::timeout(outer, probe.probe_once(&deadline)).await else {
        return refuse(
            Refusal::Internal,
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("the probe of {shown} overran its {budget:?} budget: stillup's fault, not the target's"),
        );
    };
    // The lookup the allow-list needed is the probe's DNS phase.
    if let Some((_, lookup)) = pin {
        result.timings.dns = lookup;
    }
    result.timings.total = started.elapsed();
    if let Err(failure) = &result.result {
        if failure.is_inconclusive() {
            let message = display_safe(failure);
            state.log.event(&format!(
                "could not probe {shown} (module {}): {}",
                module.name,
                message.as_str()
            ));
            return refuse(
                Refusal::Internal,
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("stillup could not probe, no verdict: {}", message.as_str()),
            );
        }
    }
    let record = ProbeRecord {
        module: module.name.clone(),
        target: shown,
        kind: target.kind(),
        result,
        at,
        budget,
    };
    state.stats.record(&record);
    if let Err(failure) = &record.result.result {
        state.log.probe(&format!(
            "probe failed: module={} target={} class={}: {} ({:.3}s)",
            record.module,
            record.target,
            failure.class().as_str(),
            display_safe(failure).as_str(),
            record.result.timings.total.as_secs_f64()
        ));
    }
    let flavor = accepted(request);
    if query.debug {
        let body = page::debug(&record, &module, &probe_page(&record, Flavor::Prometheus));
        return respond(StatusCode::OK, "text/plain; charset=utf-8", body);
    }
    respond(
        StatusCode::OK,
        flavor.content_type(),
        probe_page(&record, flavor),
    )
}

/// Whether `--allow-target` lets the probe reach `target`; for a name allowed by its
/// addresses, the rule that pins the probe to them and how long the lookup took.
async fn allowed(
    state: &State,
    target: &stillup_core::Target,
    deadline: &Deadline,
) -> Result<Option<(ResolveRule, Option<Duration>)>, String> {
    if state.allow.is_open() {
        return Ok(None);
    }
    let shown = redact_url(&target.to_string());
    if target
        .as_http()
        .is_some_and(|http| http.socket_path().is_some())
    {
        return Err(format!(
            "{shown}: unix sockets are not reachable when --allow-target is set"
        ));
    }
    let host = target.host();
    match state.allow.judge_host(host) {
        Verdict::Allowed => Ok(None),
        Verdict::Refused => Err(format!("{shown}: {host} is not allowed by --allow-target")),
        Verdict::ResolveFirst => {
            let port = target.port();
            let (addresses, lookup) = stillup_core::net::connect::resolve(host, port, deadline)
                .await
                .map_err(|failure| {
                    format!(
                        "{shown}: cannot check {host} against --allow-target: {}",
                        display_safe(&failure).as_str()
                    )
                })?;
            if let Some(outside) = addresses
                .iter()
                .find(|a| !state.allow.allows_address(a.ip()))
            {
                return Err(format!(
                    "{shown}: {host} resolves to {}, which --allow-target does not allow",
                    outside.ip()
                ));
            }
            let ips = addresses.iter().map(|a| a.ip()).collect();
            Ok(Some((ResolveRule::new(host, port, ips), lookup)))
        }
    }
}
