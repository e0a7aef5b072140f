//! HTTP handling: Segment's ingestion paths, the live page and its data.

use super::print;
use super::stall::WriteStall;
use super::store::{self, Entry, Store};
use super::validate::{self, Violation, MAX_BATCH_BYTES};
use crate::redact::Redactor;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinSet;

type Resp = Response<BoxBody<Bytes, Infallible>>;

/// Largest refused body kept for display; bigger ones are cut.
const MAX_KEPT_BODY: usize = 16 * 1024;

/// How long a connection closed to make room may take to finish its request.
const EVICTION_GRACE: Duration = Duration::from_secs(1);

/// Largest read buffer of a connection (so also the largest request head).
const MAX_CONN_BUFFER: usize = 64 * 1024;

/// Most entries in one `/api/messages` answer, and about the most bytes.
const MAX_PAGE_ENTRIES: usize = 1000;
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// Entries a newly opened page gets before the live ones (older ones are on
/// `/api/messages`).
const STREAM_BACKLOG: usize = 1000;

/// Largest request body read off the wire (compressed or not).
const MAX_WIRE_BYTES: usize = 8 * 1024 * 1024;

const INDEX_HTML: &str = include_str!("page/index.html");
const APP_JS: &str = include_str!("page/app.js");
const APP_CSS: &str = include_str!("page/app.css");

pub(super) struct State {
    pub store: Arc<Store>,
    pub print: bool,
    pub expected_write_key: Option<String>,
    pub loopback_only: bool,
    /// The bound address (the only port and loopback name answered).
    pub addr: std::net::SocketAddr,
    pub utc_offset_minutes: i32,
    pub read_timeout: Duration,
    pub max_streams: usize,
}

/// Open connections, oldest first, each with a way to ask it to close.
#[derive(Default)]
struct Open {
    next_id: u64,
    conns: VecDeque<(u64, Arc<Notify>)>,
}

pub(super) async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    max_connections: usize,
    mut shutdown: oneshot::Receiver<()>,
) {
    let open = Arc::new(Mutex::new(Open::default()));
    let mut conns = JoinSet::new();
    // Below the process's file descriptor limit: idle connections are then
    // evicted before accept() runs out of descriptors and a real request
    // waits in the listen queue.
    let max_connections = max_connections.min(fd_room()).max(1);
    let evict_oldest = |open: &Mutex<Open>| {
        if let Some((_, oldest)) = open.lock().unwrap().conns.pop_front() {
            oldest.notify_one();
        }
    };
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Always accept (a full listen queue would lock the
                    // plugin out); at the cap the oldest connection goes.
                    let evict = Arc::new(Notify::new());
                    let id = {
                        let mut o = open.lock().unwrap();
                        if o.conns.len() >= max_connections {
                            if let Some((_, oldest)) = o.conns.pop_front() {
                                oldest.notify_one();
                            }
                        }
                        o.next_id += 1;
                        let id = o.next_id;
                        o.conns.push_back((id, evict.clone()));
                        id
                    };
                    let (state, open) = (state.clone(), open.clone());
                    conns.spawn(async move {
                        serve_connection(stream, state, evict).await;
                        open.lock().unwrap().conns.retain(|(i, _)| *i != id);
                    });
                }
                // Out of file descriptors (other parts of the process took
                // them): make room at the oldest connection, then retry.
                Err(e) => {
                    if out_of_fds(&e) {
                        evict_oldest(&open);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    conns.shutdown().await;
}

#[cfg(unix)]
fn out_of_fds(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

#[cfg(not(unix))]
fn out_of_fds(_: &std::io::Error) -> bool {
    true
}

#[cfg(not(unix))]
fn fd_room() -> usize {
    usize::MAX
}

/// Connections the file descriptor limit leaves room for: the soft limit,
/// less what the process has open now and a margin for what it opens later.
#[cfg(unix)]
fn fd_room() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0
        || lim.rlim_cur == libc::RLIM_INFINITY
    {
        return usize::MAX;
    }
    let in_use = std::fs::read_dir("/proc/self/fd").map_or(64, |d| d.count());
    (lim.rlim_cur as usize).saturating_sub(in_use + 32)
}

async fn serve_connection(stream: TcpStream, state: Arc<State>, evict: Arc<Notify>) {
    let timeout = state.read_timeout;
    let service = service_fn(move |req| handle(state.clone(), req));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        // Also closes an idle keep-alive connection after `timeout`.
        .header_read_timeout(timeout)
        // Request heads here are small; this bounds each connection's read
        // buffer (hyper's default is ~400 KB).
        .max_buf_size(MAX_CONN_BUFFER)
        // A client that stops reading a response is dropped after `timeout`.
        .serve_connection(TokioIo::new(WriteStall::new(stream, timeout)), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = evict.notified() => {
            // An idle connection closes at once; one with a request under
            // way (or half-sent) gets a moment to finish it.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(timeout.min(EVICTION_GRACE), conn).await;
        }
    }
}

fn full(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn json_resp(status: StatusCode, v: &Value) -> Resp {
    full(status, "application/json", v.to_string())
}

fn query_u64(req: &Request<Incoming>, name: &str) -> Option<u64> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        if k == name {
            v.parse().ok()
        } else {
            None
        }
    })
}

/// The `Host` values this collector answers on a loopback listener: its own
/// address, `localhost` and `[::1]`, each with the bound port (without the
/// port only on port 80). Anything else, `127.attacker.example` included, may
/// be a DNS-rebinding page and must not read or change the stored events.
fn host_allowed(state: &State, host: Option<&str>) -> bool {
    if !state.loopback_only {
        return true;
    }
    let Some(host) = host else { return false };
    let port = state.addr.port();
    let (name, host_port) = match host.rsplit_once(':') {
        Some((n, p)) if !p.contains(']') => (n, p.parse::<u16>().ok()),
        _ => (host, (port == 80).then_some(80)),
    };
    if host_port != Some(port) {
        return false;
    }
    let own = match state.addr.ip() {
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    name == own || name == "127.0.0.1" || name == "[::1]" || name.eq_ignore_ascii_case("localhost")
}

/// The API is for the debugger's own page: a request from any other web page
/// (it carries that page's `Origin`) is refused. Same-origin GETs and
/// EventSource send no `Origin`; Node, curl and the plugin send none either.
fn origin_allowed(host: Option<&str>, origin: Option<&str>) -> bool {
    match (origin, host) {
        (None, _) => true,
        (Some(o), Some(h)) => o
            .strip_prefix("http://")
            .is_some_and(|rest| rest.eq_ignore_ascii_case(h)),
        (Some(_), None) => false,
    }
}

/// What to open instead, for the refusal messages.
fn own_url(state: &State) -> String {
    format!("http://{}/", state.addr)
}

fn forbidden_host(state: &State, host: Option<&str>) -> String {
    format!(
        "forbidden: Host {} is not this debugger's address; open {} instead. \
         The debugger answers only requests addressed to its loopback address, \
         so that other web pages cannot read or delete your events.",
        host.map_or_else(|| "(none)".to_string(), |h| format!("{h:?}")),
        own_url(state)
    )
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> Option<&str> {
    req.headers()
        .get(name)
        .map(|h| h.to_str().unwrap_or("\u{fffd}"))
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let method = req.method().clone();
    let host = header_str(&req, header::HOST);
    let host_ok = host_allowed(&state, host);
    if let (Some(call), &Method::POST) = (path.strip_prefix("/v1/"), &method) {
        if !host_ok {
            // Recorded and printed, so a misaddressed plugin shows up.
            let message = forbidden_host(&state, host);
            return Ok(reject(
                &state,
                &path,
                StatusCode::FORBIDDEN,
                Violation::new("forbidden_host", message),
                Value::Null,
                &Redactor::for_debugger(),
            ));
        }
        return Ok(ingest(&state, call.to_string(), req).await);
    }
    if !host_ok {
        let message = forbidden_host(&state, host);
        return Ok(full(
            StatusCode::FORBIDDEN,
            "text/plain; charset=utf-8",
            message + "\n",
        ));
    }
    if path.starts_with("/v1/") {
        return Ok(json_resp(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"success": false, "code": "method_not_allowed", "message": "use POST"}),
        ));
    }
    let origin = header_str(&req, header::ORIGIN);
    if path.starts_with("/api/") && !origin_allowed(host, origin) {
        let message = format!(
            "forbidden: Origin {:?} is not this debugger's page; the API answers only {} \
             (so that other web pages cannot read or delete your events).\n",
            origin.unwrap_or_default(),
            own_url(&state)
        );
        return Ok(full(
            StatusCode::FORBIDDEN,
            "text/plain; charset=utf-8",
            message,
        ));
    }
    let resp = match (&method, path.as_str()) {
        (&Method::GET, "") | (&Method::GET, "/index.html") => {
            let mut r = full(StatusCode::OK, "text/html; charset=utf-8", INDEX_HTML);
            r.headers_mut().insert(
                "content-security-policy",
                HeaderValue::from_static(
                    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
                ),
            );
            r
        }
        (&Method::GET, "/app.js") => full(StatusCode::OK, "text/javascript; charset=utf-8", APP_JS),
        (&Method::GET, "/app.css") => full(StatusCode::OK, "text/css; charset=utf-8", APP_CSS),
        (&Method::GET, "/favicon.ico") => full(StatusCode::NO_CONTENT, "text/plain", ""),
        (&Method::GET, "/api/messages") => {
            let after = query_u64(&req, "after").unwrap_or(0);
            let limit = query_u64(&req, "limit").map_or(MAX_PAGE_ENTRIES, |l| {
                (l as usize).clamp(1, MAX_PAGE_ENTRIES)
            });
            let (entries, more) = state.store.entries_after(after, limit, MAX_PAGE_BYTES);
            let last = entries.last().map_or(after, |e| e.seq);
            let mut body = br#"{"entries":"#.to_vec();
            body.extend(store::json_array(entries.iter().map(|e| &e.json[..])));
            let dropped = state.store.stats().dropped;
            body.extend(format!(r#","last":{last},"more":{more},"dropped":{dropped}}}"#).bytes());
            full(StatusCode::OK, "application/json", body)
        }
        (&Method::DELETE, "/api/messages") => {
            state.store.clear();
            json_resp(StatusCode::OK, &json!({"success": true}))
        }
        (&Method::GET, "/api/stream") => {
            let after = req
                .headers()
                .get("last-event-id")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .or_else(|| query_u64(&req, "after"))
                .unwrap_or(0);
            sse(&state, after)
        }
        _ => full(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    };
    Ok(resp)
}

fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

fn reject(
    state: &State,
    path: &str,
    status: StatusCode,
    v: Violation,
    shown: Value,
    redactor: &Redactor,
) -> Resp {
    let message = redactor.text(&v.to_string()).into_owned();
    state
        .store
        .add_error(path, status.as_u16(), v.code, &message, shown);
    if state.print {
        let clock = print::clock_now(state.utc_offset_minutes);
        out(&print::error_line(
            &clock,
            path,
            status.as_u16(),
            v.code,
            &message,
        ));
    }
    let mut body = json!({"success": false, "code": v.code, "message": message});
    if let Some(i) = v.index {
        body["index"] = json!(i);
    }
    json_resp(status, &body)
}

/// The write key(s) a request carries in its header, and the one the debugger
/// was started with: none of them may be stored.
fn redactor_for(state: &State, auth: Option<&str>) -> Redactor {
    let mut r = Redactor::for_debugger();
    if let Some(auth) = auth {
        let credentials = auth.trim().split_once(' ').map_or(auth, |(_, c)| c);
        r.add_token(credentials);
        if let Ok(Some(key)) = validate::write_key_from_basic_auth(Some(auth)) {
            r.add_key(&key);
        }
    }
    if let Some(k) = &state.expected_write_key {
        r.add_key(k);
    }
    r
}

/// A refused body as the page shows it: parsed JSON when it is JSON, else
/// text, cut to 16 KB; its `writeKey` removed and every spelling of a key
/// replaced (the cut comes after, so no part of a key is left at the edge).
fn shown_body(body: &[u8], redactor: &mut Redactor) -> Value {
    // Any "writeKey" the body carries, even when it is not valid JSON.
    for k in validate::write_keys_in(body) {
        redactor.add_key(&k);
    }
    if body.len() <= MAX_KEPT_BODY {
        if let Ok(mut v) = validate::parse_json(body) {
            if let Some(o) = v.as_object_mut() {
                o.remove("writeKey");
            }
            redactor.value(&mut v);
            return v;
        }
    }
    let text = redactor.text(&String::from_utf8_lossy(body)).into_owned();
    if text.len() <= MAX_KEPT_BODY {
        return Value::String(text);
    }
    let mut cut = MAX_KEPT_BODY;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Value::String(format!("{}… ({} bytes in all)", &text[..cut], body.len()))
}

/// Reads at most `limit + 1` bytes of a gzip stream, so an oversized body is
/// refused without inflating all of it.
fn gunzip(raw: &[u8], limit: usize) -> Result<Vec<u8>, Violation> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(raw)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            Violation::new(
                "invalid_gzip",
                format!("the gzip body cannot be decoded: {e}"),
            )
        })?;
    Ok(out)
}

async fn ingest(state: &State, call: String, req: Request<Incoming>) -> Resp {
    let path = format!("/v1/{call}");
    if !(call == "batch" || call == "import" || validate::CALL_TYPES.contains(&call.as_str())) {
        return json_resp(
            StatusCode::NOT_FOUND,
            &json!({"success": false, "code": "not_found", "message": format!("no such endpoint: {path}")}),
        );
    }
    // JSON only: a web page can POST text/plain (or no type) to any address
    // without a CORS preflight; application/json needs one, which is refused.
    // Segment's libraries all send application/json.
    let content_type = header_str(&req, header::CONTENT_TYPE);
    let is_json = content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    });
    if !is_json {
        let got = content_type.map_or_else(
            || "no Content-Type".into(),
            |ct| format!("Content-Type {ct:?}"),
        );
        return reject(
            state,
            &path,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Violation::new(
                "unsupported_content_type",
                format!("{got} is not accepted: send the JSON body with \"Content-Type: application/json\", as Segment's libraries do"),
            ),
            Value::Null,
            &Redactor::for_debugger(),
        );
    }
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|h| h.to_str().unwrap_or("\u{0}").to_string());
    let mut redactor = redactor_for(state, auth.as_deref());
    let encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|h| h.to_str().ok())
        .map(|s| s.trim().to_ascii_lowercase());
    let read = Limited::new(req.into_body(), MAX_WIRE_BYTES).collect();
    let raw = match tokio::time::timeout(state.read_timeout, read).await {
        Ok(Ok(b)) => b.to_bytes(),
        Err(_) => {
            let secs = state.read_timeout.as_secs_f64();
            let mut r = reject(
                state,
                &path,
                StatusCode::REQUEST_TIMEOUT,
                Violation::new(
                    "read_timeout",
                    format!("the request body did not arrive within {secs} s"),
                ),
                Value::Null,
                &redactor,
            );
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
        Ok(Err(_)) => {
            return reject(
                state,
                &path,
                StatusCode::BAD_REQUEST,
                Violation::new("batch_too_large", "the request body exceeds 8 MB"),
                Value::Null,
                &redactor,
            )
        }
    };
    let body: Vec<u8> = match encoding.as_deref() {
        None | Some("") | Some("identity") => raw.to_vec(),
        Some("gzip") | Some("x-gzip") => match gunzip(&raw, MAX_BATCH_BYTES) {
            Ok(b) => b,
            Err(v) => {
                return reject(
                    state,
                    &path,
                    StatusCode::BAD_REQUEST,
                    v,
                    Value::Null,
                    &redactor,
                )
            }
        },
        Some(other) => {
            return reject(
                state,
                &path,
                StatusCode::BAD_REQUEST,
                Violation::new(
                    "unsupported_encoding",
                    format!("Content-Encoding {other:?} is not supported (Segment accepts gzip)"),
                ),
                Value::Null,
                &redactor,
            )
        }
    };
    let accepted = validate::write_key_from_basic_auth(auth.as_deref())
        .and_then(|key| validate::check_request(&call, &body, key))
        .and_then(|a| match &state.expected_write_key {
            Some(k) if *k != a.write_key => Err(Violation::new(
                "wrong_write_key",
                "the write key is not the one this debugger was started with (--write-key)",
            )),
            _ => Ok(a),
        });
    let accepted = match accepted {
        Ok(a) => a,
        Err(v) => {
            let shown = shown_body(&body, &mut redactor);
            return reject(state, &path, StatusCode::BAD_REQUEST, v, shown, &redactor);
        }
    };
    redactor.add_key(&accepted.write_key);
    for mut msg in accepted.messages {
        redactor.value(&mut msg);
        let (_, duplicate) = state.store.add_message(&path, &msg);
        if state.print {
            let clock = print::clock_now(state.utc_offset_minutes);
            out(&print::message_line(&clock, &msg, duplicate));
        }
    }
    json_resp(StatusCode::OK, &json!({"success": true}))
}

fn sse_frame(e: &Entry) -> Bytes {
    let mut f = format!("id: {}\ndata: ", e.seq).into_bytes();
    f.extend_from_slice(&e.json);
    f.extend_from_slice(b"\n\n");
    Bytes::from(f)
}

/// A text/event-stream body: the backlog, then live entries, with a comment
/// every 15 s so a closed page is noticed. Ends when the store drops this
/// subscriber for falling behind (the page reconnects with Last-Event-ID).
struct SseBody {
    first: Option<Bytes>,
    backlog: VecDeque<Entry>,
    rx: mpsc::Receiver<Entry>,
    ping: tokio::time::Interval,
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(b) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        if let Some(e) = self.backlog.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(sse_frame(&e)))));
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(e)) => Poll::Ready(Some(Ok(Frame::data(sse_frame(&e))))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.ping.poll_tick(cx) {
                Poll::Ready(_) => {
                    Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b": ping\n\n")))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

fn sse(state: &State, after: u64) -> Resp {
    let Some((backlog, rx)) = state
        .store
        .subscribe(after, STREAM_BACKLOG, state.max_streams)
    else {
        return json_resp(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"success": false, "code": "too_many_streams", "message": format!(
                "{} live pages are open already (the most this debugger serves): close one and reload",
                state.max_streams
            )}),
        );
    };
    let period = Duration::from_secs(15);
    let body = SseBody {
        first: Some(Bytes::from_static(b"retry: 1000\n\n")),
        backlog: backlog.into(),
        rx,
        ping: tokio::time::interval_at(tokio::time::Instant::now() + period, period),
    };
    let mut r = Response::new(body.boxed());
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_bodies_decode_and_stop_at_the_limit() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&vec![b'a'; 2_000_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert!(gz.len() < 10_000);
        assert_eq!(gunzip(&gz, 1000).unwrap().len(), 1001);
        assert_eq!(gunzip(b"not gzip", 1000).unwrap_err().code, "invalid_gzip");
    }
}
