//! The table of requests: each one's stage, timers, and which received frame is its answer
//! (UDS.md §2).

use std::net::SocketAddr;
use std::time::Instant;

use doip_proto::{
    AliveCheckRequest, DiagnosticMessage, DiagnosticNackCode, Frame, LogicalAddress, Message,
};

use super::matching::{self, Verdict};
use super::{
    Deadline, Error, Event, Kind, Outcome, RequestId, Result, Session, SessionConfig, Transmit,
    TransportKind, UdsTiming,
};

/// ECUs whose answers one functional request collects; more are unsolicited.
const MAX_FUNCTIONAL_ANSWERS: usize = 256;

#[derive(Debug)]
enum Stage {
    /// Not handed out yet: waiting for the link, or for its turn.
    Waiting,
    /// Handed out; waiting for the diagnostic ACK. An answer that came first is kept.
    Ack { deadline: Deadline, early: Option<Frame<'static>> },
    /// Acknowledged; waiting for the final answer.
    Answer { deadline: Deadline },
    /// A functional request collecting answers (ACK first, then the window).
    Collect { acked: bool, deadline: Deadline, answers: Vec<(LogicalAddress, Vec<u8>)> },
    /// Waiting for a control answer (activation, alive check, UDP); `extended` once the
    /// deadline was moved (after activation answer 0x11, which moves it only once).
    Control { deadline: Deadline, extended: bool },
}

/// One unfinished request.
#[derive(Debug)]
#[allow(clippy::struct_excessive_bools)] // independent facts about one request
pub(super) struct Entry {
    pub(super) id: RequestId,
    pub(super) kind: Kind,
    stage: Stage,
    retry: bool,
    overall: Deadline,
    /// Done for its caller (it timed out, was cancelled, or was an ACK-only message) but
    /// still holding its ECU until then, or until its answer comes: what arrives for it is
    /// unsolicited, so that no later request takes a late answer for its own.
    ghost: Option<Deadline>,
    /// An [`Event::ResponsePending`] for it is queued and not yet taken.
    pub(super) pending_reported: bool,
    /// When the first "response pending" came.
    pending_since: Option<Instant>,
    /// Its message was provably not written to a connection that is ending: it waits for
    /// the next connection, not for this one.
    held: bool,
}

/// What a lost connection means for a request.
pub(super) enum LinkLost {
    /// Keep it for the next connection.
    Keep,
    /// Forget it silently (a ghost).
    Drop,
    /// Fail it; `true`: it may have reached the entity.
    Fail(bool),
    /// Finish it with what it has.
    Finish(Outcome),
}

impl Entry {
    pub(super) const fn new(id: RequestId, kind: Kind, retry: bool, overall: Deadline) -> Self {
        Self {
            id,
            kind,
            stage: Stage::Waiting,
            retry,
            overall,
            ghost: None,
            pending_reported: false,
            pending_since: None,
            held: false,
        }
    }

    pub(super) const fn is_waiting(&self) -> bool {
        matches!(self.stage, Stage::Waiting)
    }

    /// Whether it is done for its caller and only holds its ECU.
    pub(super) const fn is_ghost(&self) -> bool {
        self.ghost.is_some()
    }

    /// Whether it keeps a request of `kind` to `target` from going out: one request per ECU
    /// (a functional request is one to every ECU). ACK-only messages (doipclient's raw
    /// `send_diagnostic`) go out as doipclient sends them, waiting only for live requests.
    pub(super) fn blocks(&self, kind: &Kind) -> bool {
        let Some(mine) = self.target() else { return false };
        let theirs = match kind {
            Kind::Diagnostic { .. } if self.is_ghost() => return false,
            Kind::Uds { target, .. } | Kind::Diagnostic { target, .. } => *target,
            Kind::Functional { .. } => return true,
            _ => return false,
        };
        matches!(self.kind, Kind::Functional { .. }) || mine == theirs
    }

    /// Whether it may be handed out now (waiting, and not held for the next connection).
    pub(super) const fn may_start(&self) -> bool {
        self.is_waiting() && !self.held
    }

    /// Whether it travels on the TCP connection.
    pub(super) const fn needs_link(&self) -> bool {
        self.kind.needs_link()
    }

    /// The addressed ECU (or functional address) of a diagnostic request.
    pub(super) const fn target(&self) -> Option<LogicalAddress> {
        match &self.kind {
            Kind::Uds { target, .. }
            | Kind::Diagnostic { target, .. }
            | Kind::Functional { target, .. } => Some(*target),
            _ => None,
        }
    }

    fn payload(&self) -> &[u8] {
        match &self.kind {
            Kind::Uds { payload, .. }
            | Kind::Diagnostic { payload, .. }
            | Kind::Functional { payload, .. } => payload,
            _ => &[],
        }
    }

    pub(super) const fn is_done_when_sent(&self) -> bool {
        matches!(self.kind, Kind::Raw { .. })
    }

    pub(super) const fn awaits_activation(&self) -> bool {
        matches!((&self.kind, &self.stage), (Kind::Activation { .. }, Stage::Control { .. }))
    }

    pub(super) const fn awaits_alive_check(&self) -> bool {
        matches!((&self.kind, &self.stage), (Kind::AliveCheck, Stage::Control { .. }))
    }

    /// Whether `frame` from `from` is the UDP answer this request waits for.
    pub(super) fn awaits_datagram(
        &self,
        frame: &Frame<'_>,
        from: SocketAddr,
        udp_peer: SocketAddr,
    ) -> bool {
        matches!(
            (&self.kind, &self.stage),
            (Kind::Udp { to, expect, .. }, Stage::Control { .. })
                if *expect == frame.header.payload_type && to.unwrap_or(udp_peer).ip() == from.ip()
        )
    }

    /// Its current stage's deadline.
    fn stage_deadline(&self) -> Deadline {
        match &self.stage {
            Stage::Waiting => Deadline::NEVER,
            Stage::Ack { deadline, .. }
            | Stage::Answer { deadline }
            | Stage::Collect { deadline, .. }
            | Stage::Control { deadline, .. } => *deadline,
        }
    }

    /// The next moment something happens to it.
    pub(super) fn deadline(&self) -> Deadline {
        self.ghost.unwrap_or_else(|| self.stage_deadline().min(self.overall))
    }

    /// Moves a control request's deadline once (after activation answer 0x11: the final
    /// answer is due within the confirmation time of the first 0x11, however many follow).
    pub(super) fn extend_once(&mut self, to: Deadline) {
        if let Stage::Control { deadline, extended } = &mut self.stage
            && !*extended
        {
            *deadline = to;
            *extended = true;
        }
    }

    /// The caller gave it up: one not sent yet can go; one in flight holds its ECU until its
    /// answer is due, and `hold` more. Returns whether it can go.
    pub(super) fn cancel(&mut self, hold: std::time::Duration, now: Instant) -> bool {
        if self.is_waiting() {
            return true;
        }
        let due = self.stage_deadline();
        let until =
            if due == Deadline::NEVER { Deadline::after(now, hold) } else { due.plus(hold) };
        self.ghost = Some(self.ghost.map_or(until, |g| g.min(until)));
        false
    }

    /// Hands it out: what to transmit, and its first stage.
    pub(super) fn start(&mut self, now: Instant, cfg: &SessionConfig) -> Result<Option<Transmit>> {
        let tcp = |message: Message<'_>, id| -> Result<Transmit> {
            let bytes = message.to_bytes(cfg.version).map_err(doip_transport::Error::Encode)?;
            Ok(Transmit::Tcp { bytes, request: Some(id) })
        };
        let id = self.id;
        let ack = Deadline::after(now, cfg.ack_timeout);
        let (transmit, stage) = match &mut self.kind {
            Kind::Connect | Kind::Reconnect { .. } => return Ok(None),
            Kind::Uds { target, payload } | Kind::Diagnostic { target, payload } => {
                let message = DiagnosticMessage::new(cfg.tester, *target, &payload[..]);
                (tcp(message.into(), id)?, Stage::Ack { deadline: ack, early: None })
            }
            Kind::Functional { target, payload, .. } => {
                let message = DiagnosticMessage::new(cfg.tester, *target, &payload[..]);
                let stage = Stage::Collect { acked: false, deadline: ack, answers: Vec::new() };
                (tcp(message.into(), id)?, stage)
            }
            Kind::Activation { activation_type, oem } => {
                let request = super::link::activation_request(cfg, *activation_type, *oem);
                let deadline = Deadline::after(now, cfg.activation_timeout);
                (tcp(request.into(), id)?, Stage::Control { deadline, extended: false })
            }
            Kind::AliveCheck => {
                let deadline = Deadline::after(now, cfg.alive_check_timeout);
                (tcp(AliveCheckRequest.into(), id)?, Stage::Control { deadline, extended: false })
            }
            Kind::Udp { to, bytes, .. } => {
                let to = to.unwrap_or(cfg.udp_peer);
                let transmit =
                    Transmit::Udp { to, bytes: std::mem::take(bytes), request: Some(id) };
                let deadline = Deadline::after(now, cfg.udp_timeout);
                (transmit, Stage::Control { deadline, extended: false })
            }
            Kind::Raw { transport, bytes } => {
                let bytes = std::mem::take(bytes);
                let transmit = match transport {
                    TransportKind::Tcp => Transmit::Tcp { bytes, request: Some(id) },
                    TransportKind::Udp => {
                        Transmit::Udp { to: cfg.udp_peer, bytes, request: Some(id) }
                    }
                };
                (transmit, Stage::Control { deadline: Deadline::NEVER, extended: false })
            }
        };
        self.stage = stage;
        Ok(Some(transmit))
    }

    /// A new connection is up: a held request may go on it.
    pub(super) fn release(&mut self) {
        self.held = false;
    }

    /// Its message provably did not reach the entity: it waits again.
    pub(super) fn unsent(&mut self) {
        if self.needs_link() && !matches!(self.kind, Kind::Raw { .. }) {
            self.stage = Stage::Waiting;
            self.held = true;
        }
    }

    /// The connection ended under it.
    pub(super) fn on_link_lost(&mut self, reconnect: bool) -> LinkLost {
        if self.is_ghost() {
            return LinkLost::Drop;
        }
        self.held = false;
        match &mut self.stage {
            Stage::Waiting if reconnect && self.retry => LinkLost::Keep,
            Stage::Waiting => LinkLost::Fail(false),
            Stage::Ack { .. } | Stage::Answer { .. } => LinkLost::Fail(true),
            // The entity may close after answering a functional request: what came counts.
            Stage::Collect { answers, .. } if !answers.is_empty() => {
                LinkLost::Finish(Outcome::Answers(std::mem::take(answers)))
            }
            Stage::Collect { .. } => LinkLost::Fail(true),
            Stage::Control { .. } => LinkLost::Fail(false),
        }
    }

    /// What a timeout in its current stage waited for.
    fn awaited(&self) -> &'static str {
        match (&self.kind, &self.stage) {
            (Kind::Connect | Kind::Reconnect { .. }, _) => "routing activation",
            (_, Stage::Waiting) => "its turn to be sent",
            (_, Stage::Ack { .. } | Stage::Collect { acked: false, .. }) => "diagnostic ACK",
            (Kind::Activation { .. }, _) => "routing activation response",
            (Kind::AliveCheck, _) => "alive check response",
            (Kind::Udp { what, .. }, _) => what,
            _ => "UDS response",
        }
    }

    /// What a passed deadline means for it at `now`.
    pub(super) fn on_timeout(&mut self, now: Instant, cfg: &SessionConfig) -> Timeout {
        if let Some(until) = self.ghost {
            return if until.passed(now) { Timeout::Vanish } else { Timeout::Nothing };
        }
        let peer = match self.kind {
            Kind::Udp { to, .. } => to.unwrap_or(cfg.udp_peer),
            _ => cfg.peer,
        };
        let what = self.awaited();
        let timeout = Err(Error::Timeout { peer, what });
        // A physical request in flight keeps its ECU a little longer: its answer is late,
        // not lost, and must not be taken for the next request's.
        let in_flight = matches!(self.stage, Stage::Ack { .. } | Stage::Answer { .. });
        let linger = |result| {
            if in_flight { Timeout::Linger(result) } else { Timeout::Done(result) }
        };
        if self.overall.passed(now) {
            return linger(timeout);
        }
        let cap = self.pending_cap(cfg);
        let service = self.payload().first().copied().unwrap_or_default();
        let target = self.target();
        let pending_since = self.pending_since;
        match &mut self.stage {
            Stage::Ack { deadline, early } if deadline.passed(now) => match early.take() {
                Some(frame) => {
                    log::warn!("{peer}: no diagnostic ACK, but the answer came; taking it");
                    Timeout::Done(Ok(Outcome::Answer(user_data(frame))))
                }
                None => linger(timeout),
            },
            Stage::Answer { deadline } if deadline.passed(now) => {
                match (cap.passed(now), pending_since, target) {
                    (true, Some(since), Some(target)) => linger(Err(Error::PendingLimit {
                        target,
                        service,
                        waited: now.saturating_duration_since(since),
                    })),
                    _ => linger(timeout),
                }
            }
            Stage::Collect { acked, deadline, answers } if deadline.passed(now) => {
                if *acked || !answers.is_empty() {
                    Timeout::Done(Ok(Outcome::Answers(std::mem::take(answers))))
                } else {
                    Timeout::Done(timeout)
                }
            }
            Stage::Control { deadline, .. } if deadline.passed(now) => Timeout::Done(timeout),
            _ => Timeout::Nothing,
        }
    }

    /// Done for its caller; holds its ECU until `until` (or its answer).
    pub(super) fn haunt(&mut self, until: Deadline) {
        self.ghost = Some(until);
    }

    /// The moment "response pending" stops extending the wait.
    fn pending_cap(&self, cfg: &SessionConfig) -> Deadline {
        self.pending_since.map_or(Deadline::NEVER, |since| Deadline::after(since, cfg.max_pending))
    }

    /// The ACK arrived: done, or on to the next stage.
    fn acknowledged(&mut self, now: Instant, cfg: &SessionConfig) -> Acked {
        let suppressed = matching::suppresses_positive_response(self.payload());
        let cap = self.pending_cap(cfg);
        let timing = self.target().map_or_else(
            || UdsTiming { p2: cfg.p2, p2_star: cfg.p2_star },
            |ecu| cfg.uds_timing(ecu),
        );
        let wait = if self.pending_since.is_some() { timing.p2_star } else { timing.p2 };
        let answer_due = Deadline::after(now, wait).min(cap);
        match (&self.kind, &mut self.stage) {
            (Kind::Uds { .. }, Stage::Ack { early, .. }) => {
                if let Some(frame) = early.take() {
                    return Acked::Done(Outcome::Answer(user_data(frame)));
                }
                if suppressed {
                    return Acked::Done(Outcome::Acknowledged);
                }
                self.stage = Stage::Answer { deadline: answer_due };
                Acked::Wait
            }
            (Kind::Diagnostic { .. }, Stage::Ack { early, .. }) => {
                // The caller reads the answer itself (unsolicited); until it comes, the ECU is
                // held for the requests whose answers the session matches.
                if early.is_some() || suppressed {
                    return Acked::Done(Outcome::Acknowledged);
                }
                self.stage = Stage::Answer { deadline: answer_due };
                Acked::Haunt(Outcome::Acknowledged, answer_due.plus(cfg.late_answer_hold))
            }
            (Kind::Functional { window, .. }, Stage::Collect { acked, deadline, .. }) => {
                *acked = true;
                *deadline = Deadline::after(now, *window);
                Acked::Wait
            }
            _ => Acked::Done(Outcome::Acknowledged),
        }
    }

    /// Whether a diagnostic ACK/NACK from `source` with this copy of the message is ours.
    fn awaits_ack(&self, source: LogicalAddress, previous: &[u8]) -> bool {
        matches!(self.stage, Stage::Ack { .. } | Stage::Collect { acked: false, .. })
            && self.target() == Some(source)
            && matching::acknowledges(previous, self.payload())
    }

    /// How `data` from `source` bears on this request.
    fn verdict(&self, source: LogicalAddress, data: &[u8]) -> Verdict {
        let open = match (&self.kind, &self.stage) {
            (
                Kind::Uds { target, .. } | Kind::Diagnostic { target, .. },
                Stage::Ack { .. } | Stage::Answer { .. },
            ) => *target == source,
            (Kind::Functional { .. }, Stage::Collect { answers, .. }) => {
                answers.len() < MAX_FUNCTIONAL_ANSWERS && !answers.iter().any(|(e, _)| *e == source)
            }
            _ => false,
        };
        if open { matching::judge(self.payload(), data) } else { Verdict::Foreign }
    }
}

/// What a passed deadline did to a request.
pub(super) enum Timeout {
    /// Nothing is due yet.
    Nothing,
    /// Done with this result.
    Done(Result<Outcome>),
    /// Done for its caller with this result; it holds its ECU a little longer.
    Linger(Result<Outcome>),
    /// A ghost's time is up: it goes without a word.
    Vanish,
}

/// What an ACK did to its request.
enum Acked {
    /// Done.
    Done(Outcome),
    /// Done for its caller; it holds its ECU until then (or its answer).
    Haunt(Outcome, Deadline),
    /// On to the answer.
    Wait,
}

/// What an answer did to its request.
enum Applied {
    /// The request is done (and the frame is unsolicited after all, when given).
    Done(Result<Outcome>, Option<Frame<'static>>),
    /// Kept by the request, which goes on.
    Kept,
    /// Not the request's after all, or the request's but for the caller to read: unsolicited.
    Unsolicited(Frame<'static>),
}

/// The UDS bytes of a diagnostic message frame.
fn user_data(frame: Frame<'static>) -> Vec<u8> {
    match frame.message {
        Message::DiagnosticMessage(d) => d.user_data.into_owned(),
        _ => Vec::new(),
    }
}

impl Session {
    /// A diagnostic ACK (`nack: None`) or NACK from `source` to this tester; whether it was a
    /// request's.
    pub(super) fn on_ack(
        &mut self,
        now: Instant,
        source: LogicalAddress,
        previous: &[u8],
        nack: Option<DiagnosticNackCode>,
    ) -> bool {
        let Some(i) = self.entries.iter().position(|e| e.awaits_ack(source, previous)) else {
            return false;
        };
        let peer = self.config.peer;
        let e = &mut self.entries[i];
        let (result, haunt) = match nack {
            Some(code) => {
                // What came before the NACK is nobody's answer now.
                if let Stage::Ack { early: Some(frame), .. } =
                    std::mem::replace(&mut e.stage, Stage::Waiting)
                {
                    self.unsolicited(super::TransportKind::Tcp, peer, frame);
                }
                (Some(Err(Error::DiagnosticNack { peer, target: source, code })), None)
            }
            None => match e.acknowledged(now, &self.config) {
                Acked::Done(outcome) => (Some(Ok(outcome)), None),
                Acked::Haunt(outcome, until) => (Some(Ok(outcome)), Some(until)),
                Acked::Wait => (None, None),
            },
        };
        // A ghost's ACK or NACK is late: readable, and it ends nothing for a caller.
        let matched = !self.entries[i].is_ghost();
        let Some(result) = result else { return matched };
        if let Some(until) = haunt {
            let e = &mut self.entries[i];
            self.events.push_back(Event::Done { id: e.id, result });
            e.haunt(until);
            return matched;
        }
        let e = self.entries.remove(i);
        if let Stage::Collect { answers, .. } = &e.stage {
            for (ecu, data) in answers {
                log::debug!(
                    "{peer}: answer from {ecu} to a refused functional request: {data:02x?}"
                );
            }
        }
        self.finish(&e, result);
        matched
    }

    /// A diagnostic message to this tester; gives it back when it answers no request (or
    /// answers one whose caller reads answers itself).
    pub(super) fn on_answer(
        &mut self,
        now: Instant,
        frame: Frame<'static>,
    ) -> Option<Frame<'static>> {
        let Message::DiagnosticMessage(d) = &frame.message else { return Some(frame) };
        let source = d.source_address;
        // A physical request to that ECU first, then a functional one.
        let found = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i, e.verdict(source, &d.user_data)))
            .filter(|(_, v)| *v != Verdict::Foreign)
            .min_by_key(|(i, _)| (matches!(self.entries[*i].kind, Kind::Functional { .. }), *i));
        let Some((i, verdict)) = found else { return Some(frame) };
        match self.apply(now, i, verdict, source, frame) {
            Applied::Kept => None,
            Applied::Unsolicited(frame) => Some(frame),
            Applied::Done(result, frame) => {
                let e = self.entries.remove(i);
                self.finish(&e, result);
                frame
            }
        }
    }

    fn apply(
        &mut self,
        now: Instant,
        i: usize,
        verdict: Verdict,
        source: LogicalAddress,
        frame: Frame<'static>,
    ) -> Applied {
        let cfg = &self.config;
        let e = &mut self.entries[i];
        let service = e.payload().first().copied().unwrap_or_default();
        // A ghost's answers, and the answers to an ACK-only message, are the caller's to read.
        let readable = e.is_ghost() || matches!(e.kind, Kind::Diagnostic { .. });
        match verdict {
            Verdict::Pending => {
                let since = *e.pending_since.get_or_insert(now);
                let cap = Deadline::after(since, cfg.max_pending);
                if cap.passed(now) {
                    let waited = now.saturating_duration_since(since);
                    let limit = Err(Error::PendingLimit { target: source, service, waited });
                    return Applied::Done(limit, readable.then_some(frame));
                }
                let extended = Deadline::after(now, cfg.uds_timing(source).p2_star);
                match &mut e.stage {
                    Stage::Answer { deadline } => *deadline = extended.min(cap),
                    Stage::Collect { acked: true, deadline, .. } => {
                        *deadline = deadline.max(extended).min(cap.max(*deadline));
                    }
                    _ => {}
                }
                if let Some(until) = &mut e.ghost {
                    *until = until.max(extended.min(cap).plus(cfg.late_answer_hold));
                } else if !e.pending_reported {
                    e.pending_reported = true;
                    self.events.push_back(Event::ResponsePending { id: e.id, from: source });
                }
                if readable { Applied::Unsolicited(frame) } else { Applied::Kept }
            }
            Verdict::Final => match &mut e.stage {
                // The answer a ghost was holding its ECU for: it goes.
                Stage::Ack { .. } | Stage::Answer { .. } if e.ghost.is_some() => {
                    Applied::Done(Ok(Outcome::Acknowledged), Some(frame))
                }
                // An ACK-only message answered before its ACK: the caller reads the answer;
                // a copy tells the ACK that no answer is due any more.
                Stage::Ack { early, .. } if readable => {
                    *early = Some(frame.clone());
                    Applied::Unsolicited(frame)
                }
                Stage::Ack { early, .. } => {
                    if early.is_some() {
                        return Applied::Unsolicited(frame);
                    }
                    log::debug!("{}: answer from {source} before the ACK; kept", cfg.peer);
                    *early = Some(frame);
                    Applied::Kept
                }
                Stage::Answer { .. } => Applied::Done(Ok(Outcome::Answer(user_data(frame))), None),
                Stage::Collect { answers, .. } => {
                    let data = match &frame.message {
                        Message::DiagnosticMessage(d) => d.user_data.to_vec(),
                        _ => Vec::new(),
                    };
                    answers.push((source, data));
                    if readable { Applied::Unsolicited(frame) } else { Applied::Kept }
                }
                _ => Applied::Unsolicited(frame),
            },
            Verdict::Foreign => Applied::Unsolicited(frame),
        }
    }
}
