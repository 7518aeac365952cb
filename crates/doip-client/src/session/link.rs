//! The connection's life: dialing, routing activation (ISO 13400-2 §6, PROTOCOL.md §3), being
//! up, and reconnecting within a window.

use std::time::{Duration, Instant};

use doip_proto::{
    ActivationType, Frame, Message, RoutingActivationRequest, RoutingActivationResponse,
    RoutingActivationResponseCode as Code,
};

use super::{
    Deadline, Error, Event, Kind, Outcome, Request, Result, Session, SessionConfig, Transmit,
};

/// Pause between dial attempts inside a reconnect window.
const REDIAL_PAUSE: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No connection.
    Down,
    /// A [`Transmit::Connect`] was handed out.
    Dialing,
    /// Connected; the activation request is out, its answer due by `deadline` (after the
    /// first 0x11, `confirming`: the confirmation time, however many 0x11 follow).
    Activating { deadline: Deadline, confirming: bool },
    /// Connected without routing activation (activation disabled).
    Open,
    /// Routing active.
    Active,
    /// Closed by the caller; nothing more.
    Closed,
}

/// The connection's state.
#[derive(Debug)]
pub(super) struct Link {
    state: State,
    /// While down: when to dial next (never: no dial wanted).
    dial_at: Deadline,
    /// While a reconnect is allowed to retry: until when a failed dial is retried.
    retry_until: Option<Deadline>,
    /// Whether the next dial speaks TLS (sticky once the entity asked for it).
    pub(super) tls: bool,
    /// Whether it was ever up: only then may a request reconnect it on its own.
    ever_up: bool,
    /// Whether coming up counts as a reconnect.
    reconnecting: bool,
    /// The last successful activation answer.
    pub(super) activation: Option<RoutingActivationResponse>,
}

impl Link {
    pub(super) const fn new(tls: bool) -> Self {
        Self {
            state: State::Down,
            dial_at: Deadline::NEVER,
            retry_until: None,
            tls,
            ever_up: false,
            reconnecting: false,
            activation: None,
        }
    }

    /// A socket exists (activating, open or active).
    pub(super) const fn is_up(&self) -> bool {
        matches!(self.state, State::Activating { .. } | State::Open | State::Active)
    }

    pub(super) const fn is_connected(&self) -> bool {
        self.is_up()
    }

    pub(super) fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Requests may flow.
    pub(super) const fn is_ready(&self) -> bool {
        matches!(self.state, State::Open | State::Active)
    }

    pub(super) const fn is_activating(&self) -> bool {
        matches!(self.state, State::Activating { .. })
    }

    pub(super) const fn is_dialing(&self) -> bool {
        matches!(self.state, State::Dialing)
    }

    /// The link's own next deadline.
    pub(super) const fn deadline(&self) -> Deadline {
        match self.state {
            State::Down => self.dial_at,
            State::Activating { deadline, .. } => deadline,
            _ => Deadline::NEVER,
        }
    }

    /// Whether a dial is due now; if so the link is dialing from here on.
    pub(super) fn dial_due(&mut self, now: Instant) -> bool {
        if self.state == State::Down && self.dial_at.passed(now) {
            self.state = State::Dialing;
            self.dial_at = Deadline::NEVER;
            true
        } else {
            false
        }
    }

    /// Whether a dial is due or under way.
    const fn dial_wanted(&self) -> bool {
        matches!(self.state, State::Dialing) || self.dial_at.instant().is_some()
    }

    fn activating(&mut self, deadline: Deadline) {
        self.state = State::Activating { deadline, confirming: false };
    }

    /// Routing waits for a confirmation in the vehicle: the final answer is due by
    /// `deadline`, counted from the first 0x11 only.
    fn confirming(&mut self, deadline: Deadline) {
        if let State::Activating { confirming: false, .. } = self.state {
            self.state = State::Activating { deadline, confirming: true };
        }
    }

    pub(super) fn activation_timed_out(&self, now: Instant) -> bool {
        matches!(self.state, State::Activating { deadline, .. } if deadline.passed(now))
    }

    /// Whether a failed dial may be retried now.
    pub(super) fn may_redial(&self, now: Instant) -> bool {
        self.retry_until.is_some_and(|until| !until.passed(now))
    }

    pub(super) fn redial_soon(&mut self, now: Instant) {
        self.state = State::Down;
        self.dial_at = Deadline::after(now, REDIAL_PAUSE);
    }

    /// Down, nothing wanted.
    pub(super) fn down(&mut self) {
        self.state = State::Down;
        self.dial_at = Deadline::NEVER;
        self.retry_until = None;
        self.reconnecting = false;
    }

    /// Down, dialing again after `delay` and retrying for `window` after that.
    pub(super) fn reconnect_after(&mut self, now: Instant, delay: Duration, window: Duration) {
        self.state = State::Down;
        self.dial_at = Deadline::after(now, delay);
        self.retry_until = Some(Deadline::after(now, delay.saturating_add(window)));
        self.reconnecting = true;
    }

    pub(super) fn close(&mut self) {
        self.down();
        self.state = State::Closed;
    }

    /// Routing is active (or the link is open without activation). Returns whether this
    /// ends a reconnect.
    fn ready(&mut self, activation: Option<RoutingActivationResponse>) -> bool {
        self.state = if activation.is_some() { State::Active } else { State::Open };
        if activation.is_some() {
            self.activation = activation;
        }
        self.ever_up = true;
        self.retry_until = None;
        std::mem::take(&mut self.reconnecting)
    }
}

impl Session {
    /// Makes sure the link will be there for `request`, or says why it cannot be.
    pub(super) fn prepare_link(&mut self, now: Instant, request: &Request) -> Result<()> {
        let peer = self.config.peer;
        if self.link.state == State::Closed {
            return Err(Error::Closed { peer });
        }
        if let Kind::Reconnect { close_delay } = request.kind {
            if self.link.is_up() || self.link.is_dialing() {
                self.transmits.push_back(Transmit::Close);
                // What is in flight may have reached the entity; it is not resent.
                let cause = || doip_transport::Error::NotConnected { peer };
                self.fail_where(
                    |e| e.needs_link() && !e.is_waiting(),
                    |e| match e.target() {
                        Some(target) => {
                            Error::MaybeDelivered { peer, target, cause: Box::new(cause()) }
                        }
                        None => Error::Transport(cause()),
                    },
                );
            }
            self.link.reconnect_after(now, close_delay, self.config.reconnect_window);
            return Ok(());
        }
        if self.link.state != State::Down || self.link.dial_wanted() {
            return Ok(());
        }
        if matches!(request.kind, Kind::Connect) || !self.link.ever_up {
            // The first connection is dialed by the first request that needs it.
            self.link.dial_at = Deadline::at(now);
        } else if self.config.auto_reconnect && request.retry && self.link.ever_up {
            log::info!("{peer}: connection gone; reconnecting");
            self.link.reconnect_after(now, Duration::ZERO, self.config.reconnect_window);
        } else {
            return Err(Error::Transport(doip_transport::Error::NotConnected { peer }));
        }
        Ok(())
    }

    /// The connection is up: activate routing, or be ready at once without activation.
    pub(super) fn connected(&mut self, now: Instant) {
        let Some(activation_type) = self.config.activation else {
            self.link_ready(None);
            return;
        };
        let request = activation_request(&self.config, activation_type, None);
        match Message::from(request).to_bytes(self.config.version) {
            Ok(bytes) => {
                self.transmits.push_back(Transmit::Tcp { bytes, request: None });
                self.link.activating(Deadline::after(now, self.config.activation_timeout));
            }
            Err(e) => {
                let peer = self.config.peer;
                self.fail_link(|| Error::Transport(doip_transport::Error::Encode(e.clone())));
                log::warn!("{peer}: activation request not encodable");
            }
        }
    }

    /// Routing is active (or open): every Connect/Reconnect is done, waiting requests go.
    fn link_ready(&mut self, activation: Option<RoutingActivationResponse>) {
        if self.link.ready(activation) {
            self.counters.reconnects += 1;
            log::info!("{}: reconnected", self.config.peer);
        }
        let mut done = Vec::new();
        self.entries.retain_mut(|e| {
            e.release();
            let link_request = matches!(e.kind, Kind::Connect | Kind::Reconnect { .. });
            if link_request {
                done.push((e.is_ghost(), e.id));
            }
            !link_request
        });
        for (ghost, id) in done {
            if !ghost {
                let result = Ok(Outcome::Connected(activation));
                self.events.push_back(Event::Done { id, result });
            }
        }
    }

    /// The link failed for good: close it and fail everything that needs it.
    pub(super) fn fail_link(&mut self, error: impl Fn() -> Error) {
        if self.link.is_up() {
            self.transmits.push_back(Transmit::Close);
        }
        self.link.down();
        self.fail_where(super::requests::Entry::needs_link, |_| error());
    }

    /// A routing activation response naming this tester.
    pub(super) fn on_activation(
        &mut self,
        now: Instant,
        response: RoutingActivationResponse,
        frame: Frame<'static>,
    ) -> Option<Frame<'static>> {
        let peer = self.config.peer;
        let code = response.response_code;
        if self.link.is_activating() {
            match code {
                Code::Success => self.link_ready(Some(response)),
                Code::ConfirmationRequired => {
                    log::info!("{peer}: routing activation waits for confirmation in the vehicle");
                    self.link.confirming(Deadline::after(now, self.config.confirmation_timeout));
                }
                Code::TlsRequired if self.config.tls_fallback && !self.link.tls => {
                    log::info!("{peer}: the entity requires TLS; reconnecting over TLS");
                    self.transmits.push_back(Transmit::Close);
                    self.link.tls = true;
                    self.link.state = State::Down;
                    self.link.dial_at = Deadline::at(now);
                }
                code => self.fail_link(|| Error::ActivationDenied { peer, code, response }),
            }
            return None;
        }
        let Some(i) = self.entries.iter().position(super::requests::Entry::awaits_activation)
        else {
            return Some(frame);
        };
        match code {
            Code::Success => {
                if self.link.is_up() {
                    self.link.state = State::Active;
                    self.link.activation = Some(response);
                }
                let e = self.entries.remove(i);
                self.finish(&e, Ok(Outcome::Activation(response)));
            }
            Code::ConfirmationRequired => {
                self.entries[i].extend_once(Deadline::after(now, self.config.confirmation_timeout));
            }
            code => {
                let e = self.entries.remove(i);
                self.finish(&e, Err(Error::ActivationDenied { peer, code, response }));
            }
        }
        None
    }
}

/// This tester's routing activation request of `activation_type`, with `oem` or else the
/// configured OEM bytes.
pub(super) fn activation_request(
    config: &SessionConfig,
    activation_type: ActivationType,
    oem: Option<[u8; 4]>,
) -> RoutingActivationRequest {
    let mut request =
        RoutingActivationRequest::new(config.tester).with_activation_type(activation_type);
    request.oem_specific = oem.or(config.oem_specific);
    request
}
