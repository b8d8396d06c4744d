//! `ScriptedServer`: an in-process HTTP/1.1 server on 127.0.0.1 that misbehaves on a schedule —
//! refuses, hangs, trickles, resets, answers 503 and then 200 — so that `stillup demo` and the
//! tests can show what stillup does against each kind of failure. It owns the socket work and the
//! timeline of phases; it writes every byte by hand (no HTTP library on this side) so it can break
//! the protocol exactly as asked. Judging how the client reacted is left to the tests.
//!
//! Each request gets its own connection (`Connection: close`), which keeps scripts deterministic:
//! the behaviour applied is the one of the phase in force when that connection's request head has
//! been read.

#[cfg(unix)]
pub mod pg_instance;
#[cfg(unix)]
pub mod prometheus;
pub mod services;

use std::fmt;
use std::future::{pending, poll_fn};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, Notify};
use tokio_rustls::TlsAcceptor;

/// Largest request head read before answering 431.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body read (and discarded) before acting.
const MAX_BODY: usize = 1024 * 1024;
/// So a client that stalls mid-handshake does not pin a task for the server's whole life.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Size of each chunk of an endless body.
const ENDLESS_CHUNK: usize = 16 * 1024;
/// Pause before trying again when the port cannot be listened on at once.
const REBIND_RETRY: Duration = Duration::from_millis(20);
/// How long a closed connection keeps draining what the client still sends.
const LINGERING_CLOSE: Duration = Duration::from_millis(500);
/// Pause between the partial body and the reset, so the client sees the head first.
const RESET_GRACE: Duration = Duration::from_millis(50);
/// How long the background runtime of [`ScriptedServer::spawn`] may take to shut down.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

/// An HTTP/1.1 server on `127.0.0.1:<ephemeral port>` that follows a [`Script`].
///
/// Dropping it stops everything: the port is closed at once (a connect right after the drop is
/// refused), and the tasks — with any connection they hold — end the next time the runtime polls
/// them. With [`ScriptedServer::spawn`] the drop also shuts that runtime down and joins its
/// thread, so everything has ended when the drop returns.
pub struct ScriptedServer {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    /// Start on the current tokio runtime (must be called inside one).
    ///
    /// The port is bound, and already refusing if the script opens with [`Behavior::Refuse`],
    /// by the time this returns.
    pub async fn start(script: Script) -> io::Result<ScriptedServer> {
        let (stop, stop_rx) = watch::channel(false);
        let tls = script.tls.is_some();
        let (addr, shared) = launch(script, stop_rx)?;
        Ok(ScriptedServer {
            addr,
            tls,
            shared,
            stop,
            thread: None,
        })
    }

    /// Start on a dedicated background thread with its own tokio runtime — for blocking tests
    /// that then run the binary with `assert_cmd`.
    pub fn spawn(script: Script) -> io::Result<ScriptedServer> {
        let (stop, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let tls = script.tls.is_some();
        let thread = std::thread::Builder::new()
            .name("scripted-server".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                let mut stopped = stop_rx.clone();
                runtime.block_on(async move {
                    let launched = launch(script, stop_rx);
                    let running = launched.is_ok();
                    let _ = ready_tx.send(launched);
                    if running {
                        // Err means the sender is gone: stop as well.
                        let _ = stopped.wait_for(|stop| *stop).await;
                    }
                });
                // Drops every connection task; bounded so drop() can never wait forever.
                runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
            })?;
        match ready_rx.recv() {
            Ok(Ok((addr, shared))) => Ok(ScriptedServer {
                addr,
                tls,
                shared,
                stop,
                thread: Some(thread),
            }),
            Ok(Err(err)) => {
                let _ = thread.join();
                Err(err)
            }
            Err(_) => {
                let _ = thread.join();
                Err(io::Error::other(
                    "scripted server thread ended before it started listening",
                ))
            }
        }
    }

    /// The listening address, `127.0.0.1:PORT`; the same for the server's whole life, even across
    /// [`Behavior::Refuse`] phases.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT/path` (`https://` when the script has TLS). A missing leading `/`
    /// is added.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("{scheme}://{}{slash}{path}", self.addr)
    }

    /// Number of complete request heads read so far.
    pub fn requests(&self) -> usize {
        lock(&self.shared.state).requests
    }

    /// Number of accepted TCP connections, including those whose TLS handshake failed and those
    /// that never sent a request.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Every request head read so far, in the order they were read.
    pub fn request_log(&self) -> Vec<SeenRequest> {
        lock(&self.shared.state).log.clone()
    }
}

impl fmt::Debug for ScriptedServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedServer")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .field("requests", &self.requests())
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        // Close the port here rather than when the accept task next runs, so that a connect
        // right after the drop is refused.
        self.shared.shut_port();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The timeline a [`ScriptedServer`] follows: phases back to back, each with a [`Behavior`].
///
/// An empty script answers `200 OK` forever. The last phase lasts forever, whatever its length
/// says; phases after [`Script::forever`] are never reached.
#[derive(Debug, Clone, Default)]
pub struct Script {
    phases: Vec<Phase>,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Script {
    /// An empty script.
    pub fn new() -> Script {
        Script::default()
    }

    /// Append a phase lasting `d` of wall time (measured from the server's start, phases back to
    /// back; after a phase counted in requests, from the moment its count was reached).
    pub fn then_for(mut self, d: Duration, behavior: Behavior) -> Script {
        self.phases.push(Phase {
            span: Span::For(d),
            behavior,
        });
        self
    }

    /// Append a phase lasting `n` requests (counted as request heads read).
    ///
    /// A [`Behavior::Silent`] phase never reads a head, so it counts accepted connections instead.
    ///
    /// # Panics
    /// With [`Behavior::Refuse`]: nothing is read while refusing, so use [`Script::then_for`].
    pub fn then_requests(mut self, n: usize, behavior: Behavior) -> Script {
        assert!(
            !matches!(behavior, Behavior::Refuse),
            "Behavior::Refuse cannot last a number of requests (none arrive while refusing); use Script::then_for"
        );
        self.phases.push(Phase {
            span: Span::Requests(n),
            behavior,
        });
        self
    }

    /// Final phase, forever.
    pub fn forever(mut self, behavior: Behavior) -> Script {
        self.phases.push(Phase {
            span: Span::Forever,
            behavior,
        });
        self
    }

    /// Serve TLS with this config: every connection does the handshake first, then the phase's
    /// behaviour on the TLS stream ([`Behavior::Silent`] skips the handshake).
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Script {
        self.tls = Some(config);
        self
    }
}

/// What the server does with a connection.
///
/// Unless a variant says otherwise, the request head (and up to 1 MiB of body) is read first,
/// and response heads carry `Content-Length` and `Connection: close`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Behavior {
    /// Nothing listens on the port: clients get "connection refused". Connections already open
    /// are dropped when a Refuse phase starts.
    Refuse,
    /// Accept, read the request, never answer; the connection is held until the server is
    /// dropped.
    Hang,
    /// Accept and never even read — for TLS, a listener that never answers the ClientHello.
    /// The connection is held until the server is dropped.
    Silent,
    /// A normal response.
    Respond(Reply),
    /// Send the response head one byte at a time — the first at once, then one every `every` —
    /// then the body.
    TrickleHead {
        /// The response to send.
        reply: Reply,
        /// Pause between two bytes of the head.
        every: Duration,
    },
    /// Send the head at once (with the `Content-Length` of the full body), then the body one byte
    /// every `every`, the first after one pause.
    TrickleBody {
        /// The response to send.
        reply: Reply,
        /// Pause before each byte of the body.
        every: Duration,
    },
    /// A response with a chunked body that never ends: 16 KiB chunks until the client goes
    /// away.
    EndlessBody {
        /// Status code of the response.
        status: u16,
    },
    /// Read the request, then reset the connection (RST).
    Reset,
    /// Send a head with `Content-Length: content_length` and `sent` bytes of body, then RST.
    ResetMidBody {
        /// Announced body length.
        content_length: usize,
        /// Body bytes actually sent.
        sent: usize,
    },
    /// Send a head with `Content-Length: content_length` and `sent` bytes of body, then close
    /// cleanly (FIN; TLS `close_notify`).
    ShortBody {
        /// Announced body length.
        content_length: usize,
        /// Body bytes actually sent.
        sent: usize,
    },
    /// Read the request and close without writing anything (EOF before the head).
    CloseBeforeHead,
    /// Write these exact bytes after reading the request, then close.
    Raw(Vec<u8>),
    /// Speak first, as SSH, SMTP or MySQL do: write these bytes on accept (before TLS, before
    /// reading anything), then read and discard whatever the client sends, holding the
    /// connection until the client closes it or the server is dropped.
    Banner(Vec<u8>),
    /// A redirect with `Location:` set to `location`, written as given (relative or absolute).
    Redirect {
        /// Status code, e.g. 301, 302, 307 or 308.
        status: u16,
        /// Value of the `Location` header.
        location: String,
    },
    /// 302 to the same path with `?hop=N+1` (N from the request's `hop`, else 0): an endless
    /// chain of distinct URLs.
    RedirectChain,
    /// 302 alternating between `/a` and `/b` (`/a` → `/b`, anything else → `/a`).
    RedirectLoop,
}

/// A response for [`Behavior::Respond`] and the trickling behaviours.
///
/// `Content-Length` and `Connection: close` are added when writing unless `headers` already has
/// them (set them yourself to lie on purpose).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code; the reason phrase is the standard one, or `Unknown`.
    pub status: u16,
    /// Headers in the order they are written.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// An empty body (`Content-Length: 0`).
    pub fn status(code: u16) -> Reply {
        Reply {
            status: code,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `text/plain` body.
    pub fn text(code: u16, body: &str) -> Reply {
        Reply {
            body: body.as_bytes().to_vec(),
            ..Reply::status(code).header("Content-Type", "text/plain; charset=utf-8")
        }
    }

    /// An `application/json` body.
    pub fn json(code: u16, body: &str) -> Reply {
        Reply {
            body: body.as_bytes().to_vec(),
            ..Reply::status(code).header("Content-Type", "application/json")
        }
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn head(&self) -> Vec<u8> {
        response_head(self.status, &self.headers, Some(self.body.len()))
    }
}

/// A request head as the server read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target, e.g. `/health?hop=1`.
    pub target: String,
    /// Headers in the order they came, names as sent.
    pub headers: Vec<(String, String)>,
}

impl SeenRequest {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
struct Phase {
    span: Span,
    behavior: Behavior,
}

#[derive(Debug, Clone, Copy)]
enum Span {
    For(Duration),
    Requests(usize),
    Forever,
}

/// Where the script is: which phase, since when, and how many requests it has counted.
struct Progress {
    index: usize,
    started: Instant,
    served: usize,
}

impl Progress {
    /// Move past every phase that has ended by `now`; true if the phase changed.
    fn settle(&mut self, phases: &[Phase], now: Instant) -> bool {
        let mut advanced = false;
        // The last phase never ends.
        while self.index + 1 < phases.len() {
            let next_start = match phases[self.index].span {
                Span::For(d) => match self.started.checked_add(d) {
                    // Back to back: the next phase starts when this one was due to end.
                    Some(end) if end <= now => end,
                    _ => break,
                },
                Span::Requests(n) if self.served >= n => now,
                Span::Requests(_) | Span::Forever => break,
            };
            self.index += 1;
            self.started = next_start;
            self.served = 0;
            advanced = true;
        }
        advanced
    }

    /// Count one unit of the current phase; true if that moved the script on.
    fn count(&mut self, phases: &[Phase], now: Instant) -> bool {
        self.served += 1;
        self.settle(phases, now)
    }

    fn behavior<'a>(&self, phases: &'a [Phase]) -> &'a Behavior {
        &phases[self.index].behavior
    }

    /// When the current phase ends by the clock, if it does.
    fn deadline(&self, phases: &[Phase]) -> Option<Instant> {
        match phases[self.index].span {
            Span::For(d) if self.index + 1 < phases.len() => self.started.checked_add(d),
            _ => None,
        }
    }
}

struct State {
    progress: Progress,
    requests: usize,
    log: Vec<SeenRequest>,
}

/// The port: listening, reserved (bound but not listening, so connects are refused and no other
/// socket can be given the port), or closed.
enum Port {
    Listening(TcpListener),
    Reserved(TcpSocket),
    Closed,
}

struct PortSlot {
    port: Port,
    stopped: bool,
}

/// What the handle, the accept task and the connection tasks share.
struct Shared {
    phases: Vec<Phase>,
    state: Mutex<State>,
    connections: AtomicUsize,
    port: Mutex<PortSlot>,
    /// A request count moved the script on; the accept task may have to open or close the port.
    advanced: Notify,
}

/// A panic elsewhere must not turn every later lock into a panic too.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn settle(&self, now: Instant) -> (bool, Option<Instant>) {
        let mut state = lock(&self.state);
        state.progress.settle(&self.phases, now);
        (
            matches!(state.progress.behavior(&self.phases), Behavior::Refuse),
            state.progress.deadline(&self.phases),
        )
    }

    /// The behaviour at accept time. A Silent or Banner connection never sends a head we read,
    /// so it is counted here instead.
    fn on_accept(&self) -> Behavior {
        let now = Instant::now();
        let mut state = lock(&self.state);
        state.progress.settle(&self.phases, now);
        let behavior = state.progress.behavior(&self.phases).clone();
        let unread = matches!(behavior, Behavior::Silent | Behavior::Banner(_));
        if unread && state.progress.count(&self.phases, now) {
            self.advanced.notify_one();
        }
        behavior
    }

    /// Log a request head and return the behaviour of the phase it fell in.
    fn on_request(&self, request: SeenRequest) -> Behavior {
        let now = Instant::now();
        let mut state = lock(&self.state);
        state.progress.settle(&self.phases, now);
        let behavior = state.progress.behavior(&self.phases).clone();
        state.requests += 1;
        state.log.push(request);
        if state.progress.count(&self.phases, now) {
            self.advanced.notify_one();
        }
        behavior
    }

    fn is_listening(&self) -> bool {
        matches!(lock(&self.port).port, Port::Listening(_))
    }

    /// Stop listening, keeping the port reserved; true if it was listening.
    fn refuse(&self, addr: SocketAddr) -> bool {
        let mut slot = lock(&self.port);
        if !matches!(slot.port, Port::Listening(_)) {
            return false;
        }
        // The listener must be closed before the same port can be bound again.
        slot.port = Port::Closed;
        if !slot.stopped {
            if let Ok(socket) = reserve(addr) {
                slot.port = Port::Reserved(socket);
            }
        }
        true
    }

    /// Listen on the port again (a no-op if listening or stopped).
    fn listen(&self, addr: SocketAddr) -> io::Result<()> {
        let mut slot = lock(&self.port);
        if slot.stopped {
            slot.port = Port::Closed;
            return Ok(());
        }
        let socket = match std::mem::replace(&mut slot.port, Port::Closed) {
            Port::Listening(listener) => {
                slot.port = Port::Listening(listener);
                return Ok(());
            }
            Port::Reserved(socket) => socket,
            Port::Closed => reserve(addr)?,
        };
        slot.port = Port::Listening(socket.listen(1024)?);
        Ok(())
    }

    fn shut_port(&self) {
        let mut slot = lock(&self.port);
        slot.stopped = true;
        slot.port = Port::Closed;
    }

    async fn accept(&self) -> io::Result<TcpStream> {
        poll_fn(|cx| match &lock(&self.port).port {
            Port::Listening(listener) => listener.poll_accept(cx).map_ok(|(tcp, _)| tcp),
            // Only while stopping or refusing; the accept task wakes for those on other branches.
            Port::Reserved(_) | Port::Closed => Poll::Pending,
        })
        .await
    }
}

/// A socket bound to `addr` but not listening.
fn reserve(addr: SocketAddr) -> io::Result<TcpSocket> {
    let socket = TcpSocket::new_v4()?;
    // So the port can be taken again despite connections of ours still on it (TIME_WAIT).
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket)
}

/// Bind, then spawn the accept task on the current runtime.
fn launch(script: Script, stop: watch::Receiver<bool>) -> io::Result<(SocketAddr, Arc<Shared>)> {
    let started = Instant::now();
    let Script { mut phases, tls } = script;
    if phases.is_empty() {
        phases.push(Phase {
            span: Span::Forever,
            behavior: Behavior::Respond(Reply::status(200)),
        });
    }
    let socket = reserve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    let addr = socket.local_addr()?;
    let shared = Arc::new(Shared {
        phases,
        state: Mutex::new(State {
            progress: Progress {
                index: 0,
                started,
                served: 0,
            },
            requests: 0,
            log: Vec::new(),
        }),
        connections: AtomicUsize::new(0),
        port: Mutex::new(PortSlot {
            port: Port::Reserved(socket),
            stopped: false,
        }),
        advanced: Notify::new(),
    });
    // A script that opens with Refuse must refuse the very first connect, so the port is only
    // opened here, before `start` returns, when it should be.
    if !shared.settle(Instant::now()).0 {
        shared.listen(addr)?;
    }
    tokio::spawn(accept_loop(
        Arc::clone(&shared),
        addr,
        tls.map(TlsAcceptor::from),
        stop,
    ));
    Ok((addr, shared))
}

enum Wake {
    Stop,
    Tick,
    Accepted(io::Result<TcpStream>),
}

/// Opens and closes the port as phases change, and hands each connection to its own task.
async fn accept_loop(
    shared: Arc<Shared>,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    // Bumped when a Refuse phase starts; connection tasks of an older epoch end, and all of them
    // end when this task does (the sender is dropped).
    let (epoch, _) = watch::channel(0u64);
    loop {
        let now = Instant::now();
        let (refusing, mut wake_at) = shared.settle(now);
        if refusing {
            if shared.refuse(addr) {
                epoch.send_modify(|e| *e += 1);
            }
        } else if shared.listen(addr).is_err() {
            wake_at = Some(wake_at.map_or(now + REBIND_RETRY, |at| at.min(now + REBIND_RETRY)));
        }
        let listening = shared.is_listening();
        let wake = tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => Wake::Stop,
            () = shared.advanced.notified() => Wake::Tick,
            () = sleep_until(wake_at) => Wake::Tick,
            accepted = shared.accept(), if listening => Wake::Accepted(accepted),
        };
        match wake {
            Wake::Stop => break,
            Wake::Tick => {}
            Wake::Accepted(Ok(tcp)) => {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let mine = *epoch.borrow();
                tokio::spawn(connection(
                    tcp,
                    Arc::clone(&shared),
                    tls.clone(),
                    epoch.subscribe(),
                    mine,
                ));
            }
            // E.g. out of file descriptors: pause rather than spin.
            Wake::Accepted(Err(_)) => tokio::time::sleep(REBIND_RETRY).await,
        }
    }
    shared.shut_port();
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => pending().await,
    }
}

/// One connection, from accept to close; ends early when a Refuse phase starts or the server
/// stops.
async fn connection(
    tcp: TcpStream,
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    mut epoch: watch::Receiver<u64>,
    mine: u64,
) {
    let work = async {
        match shared.on_accept() {
            // Accepted in the instant before the port closed: refuse as closely as we can.
            Behavior::Refuse => return reset(tcp),
            Behavior::Silent => return pending().await,
            Behavior::Banner(bytes) => return banner(tcp, &bytes).await,
            _ => {}
        }
        let _ = tcp.set_nodelay(true);
        match tls {
            None => serve(tcp, &shared).await,
            Some(acceptor) => {
                let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
                // A failed handshake (e.g. the client rejected the certificate) just ends here.
                if let Ok(Ok(stream)) = handshake.await {
                    serve(stream, &shared).await;
                }
            }
        }
    };
    tokio::select! {
        () = work => {}
        // Err: the accept task is gone, so the server has stopped.
        _ = epoch.wait_for(|e| *e != mine) => {}
    }
}

/// A plain or TLS stream that can also reach its TCP socket (for resets).
trait Transport: AsyncRead + AsyncWrite + Unpin + Send {
    fn tcp(&self) -> &TcpStream;
}

impl Transport for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Transport for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

async fn serve<S: Transport>(mut stream: S, shared: &Shared) {
    let Some((request, body_left)) = read_request(&mut stream).await else {
        return;
    };
    let target = request.target.clone();
    let behavior = shared.on_request(request);
    if !matches!(behavior, Behavior::Refuse | Behavior::Reset) {
        discard(&mut stream, body_left).await;
    }
    match perform(&mut stream, behavior, &target).await {
        Ok(Ending::Close) => close(stream).await,
        Ok(Ending::Reset) => reset(stream),
        Ok(Ending::Hold) => pending().await,
        // The client went away mid-write: dropping is all there is left to do.
        Err(_) => {}
    }
}

/// Read a request head; returns it with how many body bytes are still to be read and discarded.
/// None when the client closed first or the head was too large (answered with 431).
async fn read_request<S: Transport>(stream: &mut S) -> Option<(SeenRequest, usize)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if buf.len() > MAX_HEAD {
            let head = response_head(431, &[], Some(0));
            if stream.write_all(&head).await.is_ok() {
                close_ref(stream).await;
            }
            return None;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let request = parse_head(&String::from_utf8_lossy(&buf[..end]));
    let already = buf.len() - (end + 4);
    let body_left = request
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_BODY)
        .saturating_sub(already);
    Some((request, body_left))
}

/// Lenient on purpose: whatever arrived is logged and answered as scripted.
fn parse_head(head: &str) -> SeenRequest {
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or("").split_whitespace();
    let method = request_line.next().unwrap_or("").to_string();
    let target = request_line.next().unwrap_or("").to_string();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    SeenRequest {
        method,
        target,
        headers,
    }
}

async fn discard<S: Transport>(stream: &mut S, mut left: usize) {
    let mut sink = [0u8; 8192];
    while left > 0 {
        let want = left.min(sink.len());
        match stream.read(&mut sink[..want]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => left -= n,
        }
    }
}

/// How a connection ends once the behaviour has written what it writes.
enum Ending {
    Close,
    Reset,
    Hold,
}

async fn perform<S: Transport>(
    stream: &mut S,
    behavior: Behavior,
    target: &str,
) -> io::Result<Ending> {
    Ok(match behavior {
        Behavior::Refuse | Behavior::Reset => Ending::Reset,
        // Silent or Banner here means the phase changed between accept and the head: hold all
        // the same.
        Behavior::Hang | Behavior::Silent | Behavior::Banner(_) => Ending::Hold,
        Behavior::Respond(reply) => {
            let mut bytes = reply.head();
            bytes.extend_from_slice(&reply.body);
            stream.write_all(&bytes).await?;
            Ending::Close
        }
        Behavior::TrickleHead { reply, every } => {
            trickle(stream, &reply.head(), every, false).await?;
            stream.write_all(&reply.body).await?;
            Ending::Close
        }
        Behavior::TrickleBody { reply, every } => {
            stream.write_all(&reply.head()).await?;
            stream.flush().await?;
            trickle(stream, &reply.body, every, true).await?;
            Ending::Close
        }
        Behavior::EndlessBody { status } => {
            let headers = [("Transfer-Encoding".to_string(), "chunked".to_string())];
            stream
                .write_all(&response_head(status, &headers, None))
                .await?;
            let mut chunk = format!("{ENDLESS_CHUNK:x}\r\n").into_bytes();
            chunk.resize(chunk.len() + ENDLESS_CHUNK, b'x');
            chunk.extend_from_slice(b"\r\n");
            // Ends only with a write error, i.e. when the client goes away (or the server stops).
            loop {
                stream.write_all(&chunk).await?;
            }
        }
        Behavior::ResetMidBody {
            content_length,
            sent,
        } => {
            let mut bytes = response_head(200, &[], Some(content_length));
            bytes.resize(bytes.len() + sent, b'x');
            stream.write_all(&bytes).await?;
            stream.flush().await?;
            // A reset discards unsent data; give the head and partial body time to arrive.
            tokio::time::sleep(RESET_GRACE).await;
            Ending::Reset
        }
        Behavior::ShortBody {
            content_length,
            sent,
        } => {
            let mut bytes = response_head(200, &[], Some(content_length));
            bytes.resize(bytes.len() + sent, b'x');
            stream.write_all(&bytes).await?;
            Ending::Close
        }
        Behavior::CloseBeforeHead => Ending::Close,
        Behavior::Raw(bytes) => {
            stream.write_all(&bytes).await?;
            Ending::Close
        }
        Behavior::Redirect { status, location } => {
            stream.write_all(&redirect(status, &location)).await?;
            Ending::Close
        }
        Behavior::RedirectChain => {
            stream.write_all(&redirect(302, &next_hop(target))).await?;
            Ending::Close
        }
        Behavior::RedirectLoop => {
            let path = target.split_once('?').map_or(target, |(path, _)| path);
            let location = if path == "/a" { "/b" } else { "/a" };
            stream.write_all(&redirect(302, location)).await?;
            Ending::Close
        }
    })
}

/// Write the banner, then swallow what the client sends until it closes.
async fn banner(mut tcp: TcpStream, bytes: &[u8]) {
    if tcp.write_all(bytes).await.is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    while let Ok(1..) = tcp.read(&mut sink).await {}
}

/// Write `bytes` one at a time, `every` apart (and once before the first if `pause_first`).
async fn trickle<S: Transport>(
    stream: &mut S,
    bytes: &[u8],
    every: Duration,
    pause_first: bool,
) -> io::Result<()> {
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 || pause_first {
            tokio::time::sleep(every).await;
        }
        stream.write_all(std::slice::from_ref(byte)).await?;
        // TLS buffers records; each byte must actually leave now.
        stream.flush().await?;
    }
    Ok(())
}

fn redirect(status: u16, location: &str) -> Vec<u8> {
    response_head(
        status,
        &[("Location".to_string(), location.to_string())],
        Some(0),
    )
}

/// `/path?hop=3` → `/path?hop=4`; no hop counts as 0.
fn next_hop(target: &str) -> String {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let hop = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("hop="))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    format!("{path}?hop={}", hop.saturating_add(1))
}

/// Status line and headers, adding `Content-Length` (when given) and `Connection: close` unless
/// the caller set them.
fn response_head(
    status: u16,
    headers: &[(String, String)],
    content_length: Option<usize>,
) -> Vec<u8> {
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(len) = content_length {
        if !has("content-length") {
            head.push_str(&format!("Content-Length: {len}\r\n"));
        }
    }
    if !has("connection") {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
        .unwrap_or("Unknown")
}

/// Flush and send FIN (TLS: `close_notify` first), then drain briefly, so that bytes the client
/// still sends are not answered with an RST that could beat our response to it.
async fn close<S: Transport>(mut stream: S) {
    close_ref(&mut stream).await;
}

async fn close_ref<S: Transport>(stream: &mut S) {
    if stream.flush().await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let drain = async { while let Ok(1..) = stream.read(&mut sink).await {} };
    let _ = tokio::time::timeout(LINGERING_CLOSE, drain).await;
}

/// Drop with `SO_LINGER` 0, so the kernel sends RST instead of FIN: "connection reset by peer".
fn reset<S: Transport>(stream: S) {
    // Zero linger is the one linger setting that does not block on close.
    let _ = stream.tcp().set_zero_linger();
    drop(stream);
}

/// An HTTP/1.1 server that keeps connections open and answers every request on them:
/// 503 to the first `unhealthy` requests (counted over all connections), 200 after. Counts
/// connections and requests, for tests of connection reuse. Plain threads, one per
/// connection; they end when the client closes or after 5 s of silence.
#[derive(Debug)]
pub struct KeepAliveServer {
    port: u16,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

/// Connections a [`KeepAliveServer`] accepts before it stops listening.
const KEEP_ALIVE_MAX_CONNECTIONS: usize = 500;
/// Requests answered on one connection of a [`KeepAliveServer`].
const KEEP_ALIVE_MAX_REQUESTS: usize = 10_000;

impl KeepAliveServer {
    /// Listen on 127.0.0.1, port 0: 503 to the first `unhealthy` requests, 200 after.
    pub fn start(unhealthy: usize) -> io::Result<KeepAliveServer> {
        KeepAliveServer::closing_after(unhealthy, KEEP_ALIVE_MAX_REQUESTS)
    }

    /// Like [`KeepAliveServer::start`], but each connection is closed after `per_connection`
    /// requests without the last response saying so (as a server that times idle
    /// connections out, or restarts, does to a client that pooled them).
    pub fn closing_after(unhealthy: usize, per_connection: usize) -> io::Result<KeepAliveServer> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (accepted, answered) = (connections.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().take(KEEP_ALIVE_MAX_CONNECTIONS) {
                let Ok(stream) = stream else { continue };
                accepted.fetch_add(1, Ordering::SeqCst);
                let answered = answered.clone();
                std::thread::spawn(move || {
                    let _ = answer_on(stream, &answered, unhealthy, per_connection);
                });
            }
        });
        Ok(KeepAliveServer {
            port,
            connections,
            requests,
        })
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Request heads read so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Answer request after request on one connection of a [`KeepAliveServer`].
fn answer_on(
    stream: std::net::TcpStream,
    answered: &AtomicUsize,
    unhealthy: usize,
    per_connection: usize,
) -> io::Result<()> {
    use std::io::{BufRead, Write};
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = std::io::BufReader::new(stream);
    let mut line = String::new();
    for _ in 0..per_connection {
        // One request head: lines up to the empty one.
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
        }
        let answer: &[u8] = if answered.fetch_add(1, Ordering::SeqCst) < unhealthy {
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 8\r\n\r\nstarting"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        };
        writer.write_all(answer)?;
    }
    Ok(())
}

/// How a [`HostileH2Server`] breaks HTTP/2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum H2Violation {
    /// A connection-level WINDOW_UPDATE with an increment of 0 (RFC 9113 §6.9: a connection
    /// error, PROTOCOL_ERROR).
    WindowUpdateZero,
    /// A SETTINGS frame with SETTINGS_MAX_FRAME_SIZE below the minimum of 16384.
    BadSettings,
    /// The response's HEADERS frame, then CONTINUATION frames that never end the header block.
    ContinuationFlood,
    /// A well-formed gRPC response (SERVING) whose `grpc-status` trailer holds a control
    /// character.
    ControlCharInGrpcStatus,
}

/// A server on 127.0.0.1 that speaks just enough HTTP/2 (frames written by hand, no HTTP/2
/// library on this side) to break it in one chosen way, on every connection. Plain threads, one
/// per connection; a connection ends when the client closes it or after 5 s of silence. As
/// with [`KeepAliveServer`], the listener stays open until the process ends (or 200
/// connections were accepted).
#[derive(Debug)]
pub struct HostileH2Server {
    port: u16,
    connections: Arc<AtomicUsize>,
}

/// Connections a [`HostileH2Server`] accepts before it stops listening.
const HOSTILE_H2_MAX_CONNECTIONS: usize = 200;
/// CONTINUATION frames sent by [`H2Violation::ContinuationFlood`]: far above what any client
/// should accept for one header block.
const CONTINUATION_FLOOD: usize = 1000;

impl HostileH2Server {
    /// Listen on 127.0.0.1, port 0, breaking HTTP/2 as `violation` says on every connection.
    pub fn start(violation: H2Violation) -> io::Result<HostileH2Server> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(HOSTILE_H2_MAX_CONNECTIONS) {
                let Ok(stream) = stream else { continue };
                accepted.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let _ = break_h2(stream, violation);
                });
            }
        });
        Ok(HostileH2Server { port, connections })
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// HTTP/2 frame types and flags used by [`HostileH2Server`].
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// One frame: 3-byte length, type, flags, 4-byte stream id, payload.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("a small frame");
    let mut frame = len.to_be_bytes()[1..].to_vec();
    frame.extend_from_slice(&[kind, flags]);
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// An HPACK "literal header field without indexing — new name", short raw strings only.
fn hpack_literal(name: &str, value: &[u8]) -> Vec<u8> {
    let mut field = vec![0x00, u8::try_from(name.len()).expect("a short name")];
    field.extend_from_slice(name.as_bytes());
    field.push(u8::try_from(value.len()).expect("a short value"));
    field.extend_from_slice(value);
    field
}

/// Read frames until the client's request HEADERS arrives; its stream id.
fn await_request<R: io::Read>(mut reader: R) -> io::Result<u32> {
    loop {
        let mut head = [0u8; 9];
        reader.read_exact(&mut head)?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        io::copy(
            &mut <&mut R as io::Read>::take(&mut reader, len as u64),
            &mut io::sink(),
        )?;
        if head[3] == HEADERS {
            return Ok(u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff);
        }
    }
}

fn break_h2(stream: std::net::TcpStream, violation: H2Violation) -> io::Result<()> {
    use std::io::{Read, Write};
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = stream;
    let mut preface = [0u8; 24];
    reader.read_exact(&mut preface)?;
    let empty_settings = h2_frame(SETTINGS, 0, 0, &[]);
    match violation {
        H2Violation::BadSettings => {
            // SETTINGS_MAX_FRAME_SIZE (0x5) = 100.
            let setting = [0, 5, 0, 0, 0, 100];
            writer.write_all(&h2_frame(SETTINGS, 0, 0, &setting))?;
        }
        H2Violation::WindowUpdateZero => {
            let mut bytes = empty_settings;
            bytes.extend(h2_frame(WINDOW_UPDATE, 0, 0, &[0, 0, 0, 0]));
            writer.write_all(&bytes)?;
        }
        H2Violation::ContinuationFlood => {
            writer.write_all(&empty_settings)?;
            let id = await_request(&mut reader)?;
            // :status 200 (static table index 8), and no END_HEADERS, ever.
            let mut bytes = h2_frame(HEADERS, 0, id, &[0x88]);
            for _ in 0..CONTINUATION_FLOOD {
                bytes.extend(h2_frame(
                    CONTINUATION,
                    0,
                    id,
                    &hpack_literal("x-flood", b"1"),
                ));
            }
            writer.write_all(&bytes)?;
        }
        H2Violation::ControlCharInGrpcStatus => {
            writer.write_all(&empty_settings)?;
            let id = await_request(&mut reader)?;
            let mut head = vec![0x88];
            head.extend(hpack_literal("content-type", b"application/grpc"));
            let mut bytes = h2_frame(HEADERS, END_HEADERS, id, &head);
            // HealthCheckResponse { status: SERVING } in its 5-byte gRPC frame.
            bytes.extend(h2_frame(DATA, 0, id, &[0, 0, 0, 0, 2, 0x08, 0x01]));
            let trailers = hpack_literal("grpc-status", b"0\x1b[2J");
            bytes.extend(h2_frame(HEADERS, END_HEADERS | END_STREAM, id, &trailers));
            writer.write_all(&bytes)?;
        }
    }
    // Hold the connection, swallowing the client's frames, until it closes.
    let mut sink = [0u8; 4096];
    while let Ok(1..) = reader.read(&mut sink) {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Generous bound for anything a test waits on.
    const PATIENCE: Duration = Duration::from_secs(10);

    async fn exchange(addr: SocketAddr, path: &str) -> io::Result<Vec<u8>> {
        let mut tcp = TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: t\r\n\r\n");
        tcp.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut response))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        Ok(response)
    }

    async fn get(addr: SocketAddr, path: &str) -> String {
        String::from_utf8(exchange(addr, path).await.unwrap()).unwrap()
    }

    fn location(response: &str) -> &str {
        response
            .lines()
            .find_map(|line| line.strip_prefix("Location: "))
            .unwrap()
    }

    /// Connect until it works; at most `PATIENCE`.
    async fn connect_eventually(addr: SocketAddr) -> TcpStream {
        tokio::time::timeout(PATIENCE, async {
            for _ in 0..1000 {
                if let Ok(tcp) = TcpStream::connect(addr).await {
                    return tcp;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("never connected to {addr}");
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn refuse_then_serve_gives_connection_refused_then_200() {
        let script = Script::new()
            .then_for(Duration::from_millis(300), Behavior::Refuse)
            .forever(Behavior::Respond(Reply::text(200, "ok")));
        let server = ScriptedServer::start(script).await.unwrap();
        let err = TcpStream::connect(server.addr()).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);

        let mut tcp = connect_eventually(server.addr()).await;
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut response = Vec::new();
        tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut response))
            .await
            .unwrap()
            .unwrap();
        let response = String::from_utf8(response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.contains("Content-Length: 2\r\n"), "{response}");
        assert!(response.contains("Connection: close\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\nok"), "{response}");
        assert_eq!(server.requests(), 1);
    }

    #[tokio::test]
    async fn serve_refuse_serve_keeps_the_same_port_and_drops_held_connections() {
        let script = Script::new()
            .then_for(Duration::from_millis(300), Behavior::Hang)
            .then_for(Duration::from_millis(300), Behavior::Refuse)
            .forever(Behavior::Respond(Reply::status(204)));
        let server = ScriptedServer::start(script).await.unwrap();
        let mut held = TcpStream::connect(server.addr()).await.unwrap();
        held.write_all(b"GET /held HTTP/1.1\r\n\r\n").await.unwrap();
        // Hang answers nothing; the Refuse phase then drops the connection.
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(PATIENCE, held.read(&mut buf))
            .await
            .unwrap();
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        let err = TcpStream::connect(server.addr()).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);

        drop(connect_eventually(server.addr()).await);
        let response = get(server.addr(), "/after").await;
        assert!(
            response.starts_with("HTTP/1.1 204 No Content\r\n"),
            "{response}"
        );
    }

    #[tokio::test]
    async fn refuse_can_start_when_a_request_count_is_reached() {
        let script = Script::new()
            .then_requests(1, Behavior::Respond(Reply::status(503)))
            .then_for(Duration::from_secs(30), Behavior::Refuse);
        let server = ScriptedServer::start(script).await.unwrap();
        assert!(get(server.addr(), "/").await.starts_with("HTTP/1.1 503 "));
        let refused = tokio::time::timeout(PATIENCE, async {
            for _ in 0..1000 {
                match TcpStream::connect(server.addr()).await {
                    Err(err) => return err.kind(),
                    Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
            panic!("the port never closed");
        })
        .await
        .unwrap();
        assert_eq!(refused, io::ErrorKind::ConnectionRefused);
    }

    #[tokio::test]
    async fn request_count_phases_advance_when_the_count_is_reached() {
        let script = Script::new()
            .then_requests(2, Behavior::Respond(Reply::status(503)))
            .then_requests(
                1,
                Behavior::Respond(Reply::json(200, r#"{"status":"degraded"}"#)),
            )
            .forever(Behavior::Respond(Reply::status(200)));
        let server = ScriptedServer::start(script).await.unwrap();
        let mut lines = Vec::new();
        for i in 0..4 {
            let response = get(server.addr(), &format!("/health?n={i}")).await;
            lines.push(response.lines().next().unwrap().to_string());
        }
        assert_eq!(
            lines,
            [
                "HTTP/1.1 503 Service Unavailable",
                "HTTP/1.1 503 Service Unavailable",
                "HTTP/1.1 200 OK",
                "HTTP/1.1 200 OK",
            ]
        );
        assert_eq!(server.requests(), 4);
        assert_eq!(server.connections(), 4);
        let log = server.request_log();
        assert_eq!(log.len(), 4);
        assert_eq!(log[0].method, "GET");
        assert_eq!(log[3].target, "/health?n=3");
        assert_eq!(log[0].header("user-agent"), Some("t"));
    }

    #[tokio::test]
    async fn a_request_body_is_read_before_answering() {
        let server = ScriptedServer::start(Script::new()).await.unwrap();
        let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
        tcp.write_all(b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
            .await
            .unwrap();
        let mut response = Vec::new();
        tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut response))
            .await
            .unwrap()
            .unwrap();
        assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert_eq!(server.request_log()[0].method, "POST");
    }

    #[tokio::test]
    async fn reset_gives_connection_reset_on_read() {
        let server = ScriptedServer::start(Script::new().forever(Behavior::Reset))
            .await
            .unwrap();
        let err = exchange(server.addr(), "/").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(server.requests(), 1);
    }

    #[tokio::test]
    async fn reset_mid_body_sends_the_head_then_resets() {
        let behavior = Behavior::ResetMidBody {
            content_length: 100,
            sent: 10,
        };
        let server = ScriptedServer::start(Script::new().forever(behavior))
            .await
            .unwrap();
        let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let end = tokio::time::timeout(PATIENCE, async {
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) => return Ok(()),
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(err) => return Err(err),
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(end.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
        let got = String::from_utf8(got).unwrap();
        assert!(got.contains("Content-Length: 100\r\n"), "{got}");
        assert!(got.ends_with("\r\n\r\nxxxxxxxxxx"), "{got}");
    }

    #[tokio::test]
    async fn short_body_closes_cleanly_before_the_announced_length() {
        let behavior = Behavior::ShortBody {
            content_length: 50,
            sent: 3,
        };
        let server = ScriptedServer::start(Script::new().forever(behavior))
            .await
            .unwrap();
        let response = get(server.addr(), "/").await;
        assert!(response.contains("Content-Length: 50\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\nxxx"), "{response}");
    }

    #[tokio::test]
    async fn close_before_head_and_raw_write_exactly_what_they_say() {
        let script = Script::new()
            .then_requests(1, Behavior::CloseBeforeHead)
            .forever(Behavior::Raw(b"SSH-2.0-nope\r\n".to_vec()));
        let server = ScriptedServer::start(script).await.unwrap();
        assert_eq!(exchange(server.addr(), "/").await.unwrap(), b"");
        assert_eq!(
            exchange(server.addr(), "/").await.unwrap(),
            b"SSH-2.0-nope\r\n"
        );
    }

    #[tokio::test]
    async fn endless_body_keeps_sending_past_one_mebibyte() {
        let server =
            ScriptedServer::start(Script::new().forever(Behavior::EndlessBody { status: 200 }))
                .await
                .unwrap();
        let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut first = Vec::new();
        let mut total = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        tokio::time::timeout(PATIENCE, async {
            while total < 2 * 1024 * 1024 {
                let n = tcp.read(&mut buf).await.unwrap();
                assert_ne!(n, 0, "endless body ended after {total} bytes");
                if first.len() < 256 {
                    first.extend_from_slice(&buf[..n.min(256)]);
                }
                total += n;
            }
        })
        .await
        .unwrap();
        let first = String::from_utf8_lossy(&first);
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
        assert!(first.contains("Transfer-Encoding: chunked\r\n"), "{first}");
        assert!(!first.contains("Content-Length"), "{first}");
    }

    #[tokio::test]
    async fn redirects_chain_and_loop_and_point_where_told() {
        let script = Script::new()
            .then_requests(
                1,
                Behavior::Redirect {
                    status: 308,
                    location: "http://example.invalid/x".into(),
                },
            )
            .then_requests(2, Behavior::RedirectChain)
            .forever(Behavior::RedirectLoop);
        let server = ScriptedServer::start(script).await.unwrap();
        let addr = server.addr();

        let response = get(addr, "/").await;
        assert!(response.starts_with("HTTP/1.1 308 Permanent Redirect\r\n"));
        assert_eq!(location(&response), "http://example.invalid/x");

        let response = get(addr, "/start").await;
        assert!(response.starts_with("HTTP/1.1 302 Found\r\n"));
        assert_eq!(location(&response), "/start?hop=1");
        assert_eq!(location(&get(addr, "/start?hop=1").await), "/start?hop=2");

        assert_eq!(location(&get(addr, "/x").await), "/a");
        assert_eq!(location(&get(addr, "/a").await), "/b");
        assert_eq!(location(&get(addr, "/b?q=1").await), "/a");
    }

    #[tokio::test]
    async fn trickle_head_takes_a_pause_per_byte() {
        let every = Duration::from_millis(2);
        let reply = Reply::status(200);
        let head_len = reply.head().len();
        let server =
            ScriptedServer::start(Script::new().forever(Behavior::TrickleHead { reply, every }))
                .await
                .unwrap();
        let started = Instant::now();
        let response = get(server.addr(), "/").await;
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(started.elapsed() >= every * (head_len as u32 - 1));
    }

    #[tokio::test]
    async fn hang_and_silent_answer_nothing_until_dropped() {
        let script = Script::new()
            .then_requests(1, Behavior::Silent)
            .forever(Behavior::Hang);
        let server = ScriptedServer::start(script).await.unwrap();
        let mut silent = TcpStream::connect(server.addr()).await.unwrap();
        let mut hung = connect_eventually(server.addr()).await;
        hung.write_all(b"GET /hang HTTP/1.1\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 16];
        let wait = Duration::from_millis(200);
        assert!(tokio::time::timeout(wait, hung.read(&mut buf))
            .await
            .is_err());
        assert!(tokio::time::timeout(wait, silent.read(&mut buf))
            .await
            .is_err());
        assert_eq!(server.connections(), 2);
        assert_eq!(server.requests(), 1);

        drop(server);
        for stream in [&mut hung, &mut silent] {
            let read = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
                .await
                .unwrap();
            assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        }
    }

    #[tokio::test]
    async fn drop_closes_the_port() {
        let server = ScriptedServer::start(Script::new()).await.unwrap();
        let addr = server.addr();
        assert!(get(addr, "/").await.starts_with("HTTP/1.1 200 OK"));
        drop(server);
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn spawn_serves_blocking_clients_and_drop_joins() {
        use std::io::{Read, Write};
        let server =
            ScriptedServer::spawn(Script::new().forever(Behavior::Respond(Reply::text(503, "no"))))
                .unwrap();
        assert_eq!(
            server.url("health"),
            format!("http://{}/health", server.addr())
        );
        let mut tcp = std::net::TcpStream::connect(server.addr()).unwrap();
        tcp.set_read_timeout(Some(PATIENCE)).unwrap();
        tcp.write_all(b"GET /health HTTP/1.1\r\n\r\n").unwrap();
        let mut response = String::new();
        tcp.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        let addr = server.addr();
        drop(server);
        let err = std::net::TcpStream::connect(addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[test]
    #[should_panic(expected = "Refuse cannot last a number of requests")]
    fn refuse_by_request_count_is_a_programming_error() {
        let _ = Script::new().then_requests(1, Behavior::Refuse);
    }

    #[test]
    fn unknown_status_gets_an_unknown_reason() {
        assert!(response_head(599, &[], Some(0)).starts_with(b"HTTP/1.1 599 Unknown\r\n"));
    }

    mod tls {
        use super::*;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

        fn configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
            let cert: CertificateDer<'static> = certified.cert.der().clone();
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                certified.signing_key.serialize_der(),
            ));
            let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.clone()], key)
                .unwrap();
            let mut roots = rustls::RootCertStore::empty();
            roots.add(cert).unwrap();
            let client = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            (Arc::new(server), Arc::new(client))
        }

        #[tokio::test]
        async fn tls_handshakes_then_answers_and_silent_never_answers_the_hello() {
            let (server_config, client_config) = configs();
            let script = Script::new()
                .then_requests(1, Behavior::Silent)
                .forever(Behavior::Respond(Reply::text(200, "secure")))
                .tls(server_config);
            let server = ScriptedServer::start(script).await.unwrap();
            assert!(server.url("/h").starts_with("https://127.0.0.1:"));
            let connector = tokio_rustls::TlsConnector::from(client_config);
            let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());

            let tcp = TcpStream::connect(server.addr()).await.unwrap();
            let stalled = tokio::time::timeout(
                Duration::from_millis(300),
                connector.connect(name.clone(), tcp),
            )
            .await;
            assert!(
                stalled.is_err(),
                "the Silent phase answered the ClientHello"
            );

            let tcp = TcpStream::connect(server.addr()).await.unwrap();
            let mut tls = tokio::time::timeout(PATIENCE, connector.connect(name, tcp))
                .await
                .unwrap()
                .unwrap();
            tls.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
            let mut response = Vec::new();
            tokio::time::timeout(PATIENCE, tls.read_to_end(&mut response))
                .await
                .unwrap()
                .unwrap();
            let response = String::from_utf8(response).unwrap();
            assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
            assert!(response.ends_with("secure"), "{response}");
            assert_eq!(server.connections(), 2);
            assert_eq!(server.requests(), 1);
        }

        #[tokio::test]
        async fn a_rejected_certificate_just_ends_that_connection() {
            let (server_config, trusting) = configs();
            let (_, distrusting) = configs();
            let server = ScriptedServer::start(Script::new().tls(server_config))
                .await
                .unwrap();
            let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());

            let tcp = TcpStream::connect(server.addr()).await.unwrap();
            let connector = tokio_rustls::TlsConnector::from(distrusting);
            let rejected = tokio::time::timeout(PATIENCE, connector.connect(name.clone(), tcp))
                .await
                .unwrap();
            assert!(rejected.is_err());

            let tcp = TcpStream::connect(server.addr()).await.unwrap();
            let connector = tokio_rustls::TlsConnector::from(trusting);
            let accepted = tokio::time::timeout(PATIENCE, connector.connect(name, tcp))
                .await
                .unwrap();
            assert!(accepted.is_ok());
            assert_eq!(server.connections(), 2);
        }
    }
}
