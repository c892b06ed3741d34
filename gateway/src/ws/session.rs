//! One WebSocket connection: protocol state machine, subscriptions, and the writer.
//!
//! The reader loop owns the protocol state; each operation runs in its own task that pushes
//! results into the socket's [`Outbox`]; one writer task drains the outbox into the socket.
//! Nothing a subscription does ever waits for the network, so one slow socket delays nobody.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Request;
use async_graphql::parser::types::OperationType;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chrono::Utc;
use finpulse_graph::{Caller, FinpulseSchema, Principal};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::delivery::{Active, Operation, OperationHandle, Operations, coalesce_key, finish, push};
use super::outbox::{Outbox, Outgoing, Pushed};
use super::protocol::{self, ClientMessage, OperationPayload, Protocol};
use super::shared::{ShareKey, SharedSubscriptions, is_request_error};
use super::{SocketLimits, SocketPlaces};
use crate::auth::Authenticator;
use crate::config::WebSocketConfig;
use crate::http::identity::Identity;
use crate::metrics::GatewayMetrics;
use crate::operation::Preparer;

/// Close codes this server uses.
pub mod close {
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// The client could not keep up with undroppable messages, or sent messages faster than
    /// its rate.
    pub const SLOW_CONSUMER: u16 = 1008;
    /// Policy: the same code, for a client that sends too fast or holds too many sockets.
    pub const POLICY: u16 = 1008;
    /// A message larger than the limit.
    pub const TOO_BIG: u16 = 1009;
    /// Invalid message.
    pub const BAD_REQUEST: u16 = 4400;
    /// Subscribe before the connection was acknowledged.
    pub const UNAUTHORIZED: u16 = 4401;
    /// Credentials refused or expired.
    pub const FORBIDDEN: u16 = 4403;
    /// No `connection_init` in time.
    pub const INIT_TIMEOUT: u16 = 4408;
    /// An operation id already in use.
    pub const DUPLICATE_ID: u16 = 4409;
    /// A second `connection_init`.
    pub const TOO_MANY_INITS: u16 = 4429;
}

/// What every socket shares.
#[derive(Clone)]
pub struct SocketContext {
    /// The schema operations run against.
    pub schema: FinpulseSchema,
    /// Verifies tokens in `connection_init`.
    pub auth: Arc<Authenticator>,
    /// Socket metrics.
    pub metrics: GatewayMetrics,
    /// Limits and timeouts.
    pub config: WebSocketConfig,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Shared executions of public subscriptions.
    pub shared: SharedSubscriptions,
    /// Checks documents against the query limits.
    pub preparer: Preparer,
    /// Open sockets per address and per user.
    pub places: SocketLimits,
    /// Message rate of one socket.
    pub message_quota: governor::Quota,
}

enum Control {
    Continue,
    /// A protocol close: what is queued (an error, a `connection_error`) goes out first.
    Close(u16, String),
    /// Close at once, dropping what is queued: shutdown, an expired credential.
    CloseNow(u16, String),
}

struct Session {
    protocol: Protocol,
    context: Arc<SocketContext>,
    outbox: Outbox,
    /// Set when the socket must go (a subscription overflowed the outbox).
    doomed: CancellationToken,
    principal: Principal,
    init_received: bool,
    acknowledged: bool,
    operations: Operations,
    next_operation: u64,
    /// The client's address, for the caller its work is charged to.
    peer: Option<IpAddr>,
    /// This socket's places in the per-address and per-user counts.
    places: SocketPlaces,
}

/// Serves one upgraded socket until either side ends it.
pub async fn serve(
    socket: WebSocket,
    protocol: Protocol,
    header_principal: Option<Principal>,
    peer: Option<IpAddr>,
    places: SocketPlaces,
    context: Arc<SocketContext>,
) {
    let metrics = context.metrics.clone();
    metrics.connections.inc();
    let (sink, mut stream) = socket.split();
    let outbox = Outbox::new(context.config.outbound_queue);
    let writer = tokio::spawn(write_frames(sink, outbox.clone(), metrics.clone()));
    let init_timeout = Duration::from_secs_f64(context.config.connection_init_timeout_secs);
    let keepalive_every = Duration::from_secs_f64(context.config.keepalive_secs.max(1.0));
    let incoming = governor::DefaultDirectRateLimiter::direct(context.message_quota);
    let mut session = Session {
        protocol,
        outbox: outbox.clone(),
        doomed: CancellationToken::new(),
        principal: header_principal.unwrap_or_else(Principal::anonymous),
        init_received: false,
        acknowledged: false,
        operations: Arc::default(),
        next_operation: 0,
        peer,
        places,
        context,
    };
    let init_deadline = tokio::time::sleep(init_timeout);
    tokio::pin!(init_deadline);
    let mut keepalive = tokio::time::interval_at(
        tokio::time::Instant::now() + keepalive_every,
        keepalive_every,
    );
    // Anything the client sends (a pong included) shows it is there; two pings unanswered and
    // it is taken for gone, whichever protocol it speaks.
    let mut last_heard = tokio::time::Instant::now();
    let shutdown = session.context.shutdown.clone();
    let doomed = session.doomed.clone();
    loop {
        let expiry = session.expiry();
        let control = tokio::select! {
            _ = shutdown.cancelled() => Control::CloseNow(close::GOING_AWAY, "server shutting down".into()),
            _ = doomed.cancelled() => break,
            _ = &mut init_deadline, if !session.init_received => {
                Control::Close(close::INIT_TIMEOUT, "Connection initialisation timeout".into())
            }
            _ = tokio::time::sleep(expiry.unwrap_or(Duration::MAX)), if expiry.is_some() => {
                Control::CloseNow(close::FORBIDDEN, "Forbidden: token expired".into())
            }
            _ = keepalive.tick() => {
                if last_heard.elapsed() > keepalive_every * 2 {
                    metrics.keepalive_timeouts.inc();
                    Control::CloseNow(close::GOING_AWAY, "no pong: connection presumed dead".into())
                } else {
                    outbox.ping();
                    if session.acknowledged && protocol == Protocol::LegacyWs {
                        session.send(protocol::keep_alive());
                    }
                    Control::Continue
                }
            }
            frame = stream.next() => {
                last_heard = tokio::time::Instant::now();
                let counted = matches!(frame, Some(Ok(Message::Text(_) | Message::Binary(_))));
                if counted && incoming.check().is_err() {
                    metrics.rate_limited.with_label_values(&["socket_messages"]).inc();
                    Control::Close(close::POLICY, "too many messages: slow down".into())
                } else {
                    match frame {
                        Some(Ok(Message::Text(text))) => session.handle(text.as_str()).await,
                        Some(Ok(Message::Binary(_))) => Control::Close(close::BAD_REQUEST, "Invalid message received: binary frames are not supported".into()),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Control::Continue,
                        Some(Ok(Message::Close(_))) | None => break,
                        Some(Err(e)) if is_too_big(&e) => Control::CloseNow(
                            close::TOO_BIG,
                            format!("message too big: at most {} bytes", super::MAX_MESSAGE_BYTES),
                        ),
                        Some(Err(e)) => {
                            debug!(error = %e, "websocket read failed");
                            break;
                        }
                    }
                }
            },
        };
        match control {
            Control::Continue => {}
            Control::Close(code, reason) => {
                debug!(code, %reason, "closing websocket");
                outbox.close_after_queued(code, reason);
                break;
            }
            Control::CloseNow(code, reason) => {
                debug!(code, %reason, "closing websocket");
                outbox.close(code, reason);
                break;
            }
        }
    }
    session.stop_all();
    // Frees the socket's places in the per-address and per-user counts.
    drop(session);
    // Give the writer a moment to deliver the close frame; a peer that reads nothing does not
    // get to hold the task.
    let abort = writer.abort_handle();
    if tokio::time::timeout(Duration::from_secs(2), writer)
        .await
        .is_err()
    {
        abort.abort();
    }
    metrics.connections.dec();
}

/// True for the read error of a message or frame over the size limit.
fn is_too_big(error: &axum::Error) -> bool {
    use std::error::Error as _;
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(tungstenite::Error::Capacity(_)) = cause.downcast_ref::<tungstenite::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

async fn write_frames(
    mut sink: SplitSink<WebSocket, Message>,
    outbox: Outbox,
    metrics: GatewayMetrics,
) {
    while let Some(frame) = outbox.next().await {
        match frame {
            Outgoing::Text(text) => {
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            Outgoing::Ping => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
            Outgoing::Close(code, reason) => {
                metrics.closes.with_label_values(&[&code.to_string()]).inc();
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
        }
    }
    let _ = sink.close().await;
}

fn token_from_payload(payload: &serde_json::Map<String, Value>) -> Option<Result<String, ()>> {
    for key in ["Authorization", "authorization"] {
        if let Some(value) = payload.get(key) {
            return Some(value.as_str().map(str::to_owned).ok_or(()));
        }
    }
    for key in ["token", "authToken", "accessToken"] {
        if let Some(value) = payload.get(key) {
            return Some(value.as_str().map(|t| format!("Bearer {t}")).ok_or(()));
        }
    }
    if let Some(headers) = payload.get("headers").and_then(Value::as_object) {
        return token_from_payload(headers);
    }
    None
}

impl Session {
    fn send(&self, text: String) {
        self.context
            .metrics
            .messages_sent
            .with_label_values(&["protocol"])
            .inc();
        if self.outbox.push(text) == Pushed::Overflow {
            self.context.metrics.slow_disconnects.inc();
            self.outbox
                .close(close::SLOW_CONSUMER, "slow consumer: outbound queue full");
            self.doomed.cancel();
        }
    }

    /// Time left on the credential, if it expires.
    fn expiry(&self) -> Option<Duration> {
        let expires_at = self.principal.expires_at?;
        Some((expires_at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
    }

    async fn handle(&mut self, text: &str) -> Control {
        let message = match protocol::parse(self.protocol, text) {
            Ok(message) => message,
            Err(reason) => return Control::Close(close::BAD_REQUEST, truncate(reason)),
        };
        match message {
            ClientMessage::ConnectionInit(payload) => self.init(payload).await,
            ClientMessage::Ping(payload) => {
                self.send(protocol::pong(payload));
                Control::Continue
            }
            ClientMessage::Pong => Control::Continue,
            ClientMessage::Subscribe { id, payload } => self.subscribe(id, payload),
            ClientMessage::Complete { id } => {
                let removed = self.operations.lock().remove(&id);
                if let Some((_, handle)) = removed {
                    handle.stop();
                    if self.protocol == Protocol::LegacyWs {
                        self.send(protocol::complete(&id));
                    }
                }
                Control::Continue
            }
            ClientMessage::Terminate => Control::Close(1000, "terminated".into()),
        }
    }

    // Verifying a token may fetch an identity provider's rotated keys (bounded by its
    // timeout), so this awaits; the socket reads nothing else meanwhile, as a client that has
    // not been acknowledged may send nothing but pings.
    async fn init(&mut self, payload: Option<serde_json::Map<String, Value>>) -> Control {
        if self.init_received {
            return Control::Close(
                close::TOO_MANY_INITS,
                "Too many initialisation requests".into(),
            );
        }
        self.init_received = true;
        let token = payload.as_ref().and_then(token_from_payload);
        if token.is_some() {
            let identity = Identity::of(
                &self.context.auth,
                token.as_ref().map(|t| t.as_deref().map_err(|_| ())),
            )
            .await;
            match identity {
                Identity::Anonymous => {}
                Identity::User(principal) => {
                    if let (false, Some(user)) = (self.places.has_user(), &principal.subject) {
                        match self.context.places.take_user(user.clone()) {
                            Ok(place) => self.places.set_user(place),
                            Err(limit) => {
                                self.context
                                    .metrics
                                    .rate_limited
                                    .with_label_values(&[limit])
                                    .inc();
                                return Control::Close(
                                    close::POLICY,
                                    "too many open sockets for this user".into(),
                                );
                            }
                        }
                    }
                    self.principal = principal
                }
                Identity::Refused(reason) => {
                    info!(%reason, "websocket connection_init refused");
                    if self.protocol == Protocol::LegacyWs {
                        self.send(protocol::connection_error(&reason));
                    }
                    return Control::Close(close::FORBIDDEN, "Forbidden".into());
                }
            }
        }
        self.acknowledged = true;
        self.send(protocol::ack());
        if self.protocol == Protocol::LegacyWs {
            self.send(protocol::keep_alive());
        }
        Control::Continue
    }

    fn subscribe(&mut self, id: String, payload: OperationPayload) -> Control {
        if !self.acknowledged {
            return Control::Close(close::UNAUTHORIZED, "Unauthorized".into());
        }
        let mut operations = self.operations.lock();
        if operations.contains_key(&id) {
            return Control::Close(
                close::DUPLICATE_ID,
                truncate(format!("Subscriber for {id} already exists")),
            );
        }
        if operations.len() >= self.context.config.max_subscriptions {
            drop(operations);
            let errors = serde_json::json!([{
                "message": format!("at most {} operations per connection", self.context.config.max_subscriptions),
                "extensions": {"code": "RATE_LIMITED"}
            }]);
            self.send(protocol::error(self.protocol, &id, &errors));
            return Control::Continue;
        }
        self.next_operation += 1;
        let operation = Operation {
            id: id.clone(),
            generation: self.next_operation,
            protocol: self.protocol,
            coalesce_by: None,
            outbox: self.outbox.clone(),
            metrics: self.context.metrics.clone(),
            sent_next: self
                .context
                .metrics
                .messages_sent
                .with_label_values(&["next"]),
            sent_control: self
                .context
                .metrics
                .messages_sent
                .with_label_values(&["control"]),
            operations: self.operations.clone(),
            doomed: self.doomed.clone(),
        };
        // The id is taken at once (a duplicate is refused above), the document is checked off
        // the reader loop: a `complete` meanwhile aborts the task.
        let task = tokio::spawn(start_operation(
            operation,
            payload,
            self.principal.clone(),
            Caller::of(&self.principal, self.peer),
            self.context.clone(),
        ));
        operations.insert(
            id,
            (
                self.next_operation,
                OperationHandle::Task(task.abort_handle()),
            ),
        );
        Control::Continue
    }

    fn stop_all(&self) {
        let all: Vec<_> = self.operations.lock().drain().collect();
        for (_, (_, handle)) in all {
            handle.stop();
        }
    }
}

/// Close reasons must fit a control frame (123 bytes).
fn truncate(mut reason: String) -> String {
    if reason.len() > 120 {
        let mut end = 120;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

/// Checks the document against the query limits, then runs it: as a member of the shared
/// execution when it is a public subscription, in this task otherwise.
async fn start_operation(
    mut op: Operation,
    payload: OperationPayload,
    principal: Principal,
    caller: Caller,
    context: Arc<SocketContext>,
) {
    let key = ShareKey::new(
        &payload.query,
        payload.operation_name.as_deref(),
        payload.variables.as_ref(),
    );
    let prepared = match context
        .preparer
        .prepare(payload.query, payload.operation_name, payload.variables)
        .await
    {
        Ok(prepared) => prepared,
        Err(error) => {
            let errors = serde_json::to_value([error]).unwrap_or(Value::Null);
            push(
                &op,
                protocol::error(op.protocol, &op.id, &errors),
                false,
                None,
            );
            finish(&op, true);
            return;
        }
    };
    // Queries and mutations over a socket run alone; a subscription as its fields declare.
    let policy = match &prepared.operation {
        Some(info) if info.kind == OperationType::Subscription => {
            finpulse_graph::policy::operation_policy(&info.root_fields)
        }
        _ => finpulse_graph::policy::OperationPolicy::PRIVATE,
    };
    op.coalesce_by = policy.coalesce_by;
    let shareable = policy.shared;
    let request = prepared.request.data(principal).data(caller);
    if !shareable {
        run_operation(op, context.schema.clone(), request).await;
        return;
    }
    let operations = op.operations.clone();
    let (id, generation) = (op.id.clone(), op.generation);
    let membership = context.shared.join(key, request, op);
    let mut operations = operations.lock();
    // Still wanted (no `complete` came meanwhile): the membership replaces this task as what
    // stops the operation. Otherwise dropping it leaves at once.
    if let Some(entry) = operations.get_mut(&id).filter(|(g, _)| *g == generation) {
        entry.1 = OperationHandle::Shared(membership);
    } else {
        drop(operations);
        drop(membership);
    }
}

/// Runs an operation for this socket alone (queries, mutations, per-user subscriptions).
async fn run_operation(op: Operation, schema: FinpulseSchema, request: Request) {
    let _active = Active::start(&op.metrics);
    let mut results = schema.execute_stream(request);
    let mut first = true;
    let mut failed = false;
    while let Some(response) = results.next().await {
        if first && is_request_error(&response) {
            let errors = serde_json::to_value(&response.errors).unwrap_or(Value::Null);
            push(
                &op,
                protocol::error(op.protocol, &op.id, &errors),
                false,
                None,
            );
            failed = true;
            break;
        }
        first = false;
        let value = match serde_json::to_value(&response) {
            Ok(value) => value,
            Err(e) => {
                warn!(error = %e, "failed to encode a result");
                continue;
            }
        };
        let key = coalesce_key(&op, response.errors.is_empty(), &value);
        let text = protocol::next(op.protocol, &op.id, &value);
        if !push(&op, text, true, key) {
            return;
        }
    }
    finish(&op, failed);
}
