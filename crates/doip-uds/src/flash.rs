//! [`Flasher`] (and [`AsyncFlasher`], the same over an async client): the usual programming
//! sequence (UDS.md §6) as steps a caller can reorder or skip. Nothing is sent twice on its
//! own: the first failure stops the flash, naming the step, segment and block
//! ([`Error::Step`]); a request whose answer was lost is reported
//! ([`Error::maybe_delivered`]), never repeated.

use std::time::{Duration, Instant};

use crate::channel::{AsyncChannel, Channel};
use crate::client::{AsyncUdsClient, UdsClient, step};
use crate::error::{Error, Result};
use crate::image::Image;
use crate::security::KeyAlgorithm;
use crate::service::{CommunicationControlType, ResetType, RoutineControlType, SessionType};

/// The eraseMemory routine most ECUs implement (`31 01 FF00 ALFID address size`).
pub const ERASE_MEMORY: u16 = 0xFF00;
/// The checkProgrammingDependencies / check-memory routine (`31 01 FF01 …`).
pub const CHECK_MEMORY: u16 = 0xFF01;

/// One step of a flash.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// DiagnosticSessionControl.
    Session(SessionType),
    /// SecurityAccess at this level with the flasher's key algorithm.
    SecurityAccess(u8),
    /// ControlDTCSetting on (`true`) or off.
    DtcSetting(bool),
    /// CommunicationControl (control type, communication type).
    CommunicationControl(CommunicationControlType, u8),
    /// The erase routine for every segment: `31 01 RID ALFID address size`.
    Erase,
    /// RequestDownload, TransferData blocks, RequestTransferExit for every segment.
    Download,
    /// The check routine: `31 01 RID crc32` (CRC-32 of the image's data in address order);
    /// a status other than 0x00 fails ([`Error::CheckFailed`]).
    Check,
    /// ECUReset.
    Reset(ResetType),
}

impl Step {
    /// Its name in progress reports and errors.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Session(_) => "DiagnosticSessionControl",
            Self::SecurityAccess(_) => "SecurityAccess",
            Self::DtcSetting(_) => "ControlDTCSetting",
            Self::CommunicationControl(..) => "CommunicationControl",
            Self::Erase => "erase routine",
            Self::Download => "download",
            Self::Check => "check routine",
            Self::Reset(_) => "ECUReset",
        }
    }
}

/// Where a flash is, for a progress display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The step running.
    pub step: &'static str,
    /// The segment (0-based) of a per-segment step.
    pub segment: Option<usize>,
    /// Segments in the image.
    pub segments: usize,
    /// Image bytes downloaded so far.
    pub bytes_done: u64,
    /// Image bytes in all.
    pub bytes_total: u64,
    /// Since the flash started.
    pub elapsed: Duration,
}

/// What a finished flash did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlashReport {
    /// Bytes downloaded.
    pub bytes: u64,
    /// TransferData blocks sent.
    pub blocks: u64,
    /// Segments downloaded.
    pub segments: usize,
    /// The longest TransferData the ECU granted (last segment).
    pub max_block_length: u64,
    /// Start to end.
    pub elapsed: Duration,
}

/// [`Flasher`] and [`AsyncFlasher`], written once (as the two UDS clients are): `$async`
/// and `$aw` are empty for the blocking one, `async` and `.await` for the async one; `$send`
/// (and `$key`) is `+ Send` on the async one's callbacks, so that its future is `Send`.
macro_rules! flasher {
    (
        $(#[$meta:meta])*
        $name:ident: $client:ident<$channel:ident>,
        async: [$($async:tt)*],
        await: [$($aw:tt)*],
        key: $key:ty,
        send: [$($send:tt)*] $(,)?
    ) => {
        $(#[$meta])*
        pub struct $name<'a> {
            image: &'a Image,
            steps: Vec<Step>,
            erase_routine: u16,
            check_routine: u16,
            key: Option<&'a mut $key>,
            progress: Option<Box<dyn FnMut(&Progress) $($send)* + 'a>>,
        }

        impl std::fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("segments", &self.image.segments().len())
                    .field("steps", &self.steps)
                    .field("erase_routine", &self.erase_routine)
                    .field("check_routine", &self.check_routine)
                    .finish_non_exhaustive()
            }
        }

        impl<'a> $name<'a> {
            /// The usual sequence: programming session, erase, download, check, hard reset.
            #[must_use]
            pub fn new(image: &'a Image) -> Self {
                Self {
                    image,
                    steps: vec![
                        Step::Session(SessionType::Programming),
                        Step::Erase,
                        Step::Download,
                        Step::Check,
                        Step::Reset(ResetType::Hard),
                    ],
                    erase_routine: ERASE_MEMORY,
                    check_routine: CHECK_MEMORY,
                    key: None,
                    progress: None,
                }
            }

            /// Unlocks `level` with `key` right after the first session step (or first, without
            /// one).
            #[must_use]
            pub fn security(mut self, level: u8, key: &'a mut $key) -> Self {
                let session = self.steps.iter().position(|s| matches!(s, Step::Session(_)));
                let at = session.map_or(0, |i| i + 1);
                self.steps.insert(at, Step::SecurityAccess(level));
                self.key = Some(key);
                self
            }

            /// Replaces the steps (any order, any subset).
            #[must_use]
            pub fn steps(mut self, steps: Vec<Step>) -> Self {
                self.steps = steps;
                self
            }

            /// The steps as they will run.
            #[must_use]
            pub fn planned(&self) -> &[Step] {
                &self.steps
            }

            /// The erase routine identifier (0xFF00).
            #[must_use]
            pub const fn erase_routine(mut self, routine: u16) -> Self {
                self.erase_routine = routine;
                self
            }

            /// The check routine identifier (0xFF01).
            #[must_use]
            pub const fn check_routine(mut self, routine: u16) -> Self {
                self.check_routine = routine;
                self
            }

            /// Called at every step and after every TransferData block.
            #[must_use]
            pub fn on_progress(mut self, f: impl FnMut(&Progress) $($send)* + 'a) -> Self {
                self.progress = Some(Box::new(f));
                self
            }

            /// Runs the steps in order; stops at the first failure.
            ///
            /// # Errors
            /// [`Error::Step`] naming the step (segment, block) around the cause.
            pub $($async)* fn run<C: $channel>(
                mut self,
                uds: &mut $client<C>,
            ) -> Result<FlashReport> {
                let started = Instant::now();
                let segments = self.image.segments().len();
                let total = self.image.len();
                let mut report = FlashReport::default();
                let steps = std::mem::take(&mut self.steps);
                for s in &steps {
                    let name = s.name();
                    let mut tell = |segment, done| {
                        if let Some(f) = self.progress.as_mut() {
                            f(&Progress {
                                step: name,
                                segment,
                                segments,
                                bytes_done: done,
                                bytes_total: total,
                                elapsed: started.elapsed(),
                            });
                        }
                    };
                    tell(None, report.bytes);
                    let whole = |e| step(name, None, e);
                    match s {
                        Step::Session(session) => {
                            uds.session_control(*session) $($aw)*.map_err(whole)?;
                        }
                        Step::SecurityAccess(level) => {
                            let key = self.key.as_deref_mut().ok_or_else(|| {
                                whole(Error::InvalidRequest(
                                    "SecurityAccess step without a key algorithm".into(),
                                ))
                            })?;
                            uds.security_access(*level, key) $($aw)*.map_err(whole)?;
                        }
                        Step::DtcSetting(on) => {
                            uds.control_dtc_setting(*on) $($aw)*.map_err(whole)?;
                        }
                        Step::CommunicationControl(control, kind) => {
                            uds.communication_control(*control, *kind) $($aw)*.map_err(whole)?;
                        }
                        Step::Erase => {
                            for (i, seg) in self.image.segments().iter().enumerate() {
                                tell(Some(i), report.bytes);
                                let size = seg.data.len() as u64;
                                let failed = |e| at_segment(step(name, None, e), i);
                                let mut options = Vec::new();
                                uds.memory_format(seg.address, size)
                                    .encode(seg.address, size, &mut options)
                                    .map_err(failed)?;
                                uds.routine_control(
                                    RoutineControlType::Start,
                                    self.erase_routine,
                                    &options,
                                ) $($aw)*
                                .map_err(failed)?;
                            }
                        }
                        Step::Download => {
                            for (i, seg) in self.image.segments().iter().enumerate() {
                                let before = report.bytes;
                                let summary = uds
                                    .download(seg.address, &seg.data, &mut |sent| {
                                        tell(Some(i), before + sent);
                                    }) $($aw)*
                                    .map_err(|e| at_segment(e, i))?;
                                report.bytes += summary.bytes;
                                report.blocks += summary.blocks;
                                report.segments += 1;
                                report.max_block_length = summary.parameters.max_block_length;
                            }
                        }
                        Step::Check => {
                            let crc = self.image.crc32().to_be_bytes();
                            let status = uds
                                .routine_control(
                                    RoutineControlType::Start,
                                    self.check_routine,
                                    &crc,
                                ) $($aw)*
                                .map_err(whole)?;
                            if status.first().is_some_and(|s| *s != 0) {
                                return Err(whole(Error::CheckFailed {
                                    routine: self.check_routine,
                                    status,
                                }));
                            }
                        }
                        Step::Reset(reset) => {
                            uds.ecu_reset(*reset) $($aw)*.map_err(whole)?;
                        }
                    }
                }
                report.elapsed = started.elapsed();
                Ok(report)
            }
        }
    };
}

flasher! {
    /// Flashes an [`Image`] through a [`UdsClient`].
    ///
    /// ```no_run
    /// use doip_client::{Client, LogicalAddress};
    /// use doip_uds::{Flasher, Image, UdsClient, XorKey};
    ///
    /// let image = Image::load("app.hex".as_ref(), None, None)?;
    /// let client = Client::connect("192.0.2.10".parse().unwrap(), LogicalAddress(0x4011))?;
    /// let mut uds = UdsClient::new(client);
    /// let mut key = XorKey::from_u32(0x5A5A_A5A5);
    /// let report = Flasher::new(&image)
    ///     .security(1, &mut key)
    ///     .on_progress(|p| eprintln!("{} {}/{}", p.step, p.bytes_done, p.bytes_total))
    ///     .run(&mut uds)?;
    /// println!("{} bytes in {:?}", report.bytes, report.elapsed);
    /// # Ok::<(), doip_uds::Error>(())
    /// ```
    Flasher: UdsClient<Channel>,
    async: [],
    await: [],
    key: dyn KeyAlgorithm,
    send: [],
}

flasher! {
    /// [`Flasher`] over an [`AsyncUdsClient`]: the same steps, options and errors, `run` a
    /// future. Its key and progress callbacks are `Send`, so the future is too: a flashing
    /// station can flash several ECUs of one connection from spawned tasks.
    ///
    /// ```no_run
    /// # #[cfg(feature = "tokio")]
    /// # async fn demo() -> doip_uds::Result<()> {
    /// use doip_client::{LogicalAddress, tokio::Client};
    /// use doip_uds::{AsyncFlasher, AsyncUdsClient, Image, XorKey, tokio::EcuChannel};
    ///
    /// let image = Image::load("app.hex".as_ref(), None, None)?;
    /// let client = Client::connect("192.0.2.10".parse().unwrap(), LogicalAddress(0x4011)).await?;
    /// let mut uds = AsyncUdsClient::new(EcuChannel::new(client, LogicalAddress(0x4012)));
    /// let mut key = XorKey::from_u32(0x5A5A_A5A5);
    /// let report = AsyncFlasher::new(&image).security(1, &mut key).run(&mut uds).await?;
    /// println!("{} bytes in {:?}", report.bytes, report.elapsed);
    /// # Ok(())
    /// # }
    /// ```
    AsyncFlasher: AsyncUdsClient<AsyncChannel>,
    async: [async],
    await: [.await],
    key: dyn KeyAlgorithm + Send,
    send: [+ Send],
}

/// Puts the segment into a step error.
fn at_segment(e: Error, i: usize) -> Error {
    match e {
        Error::Step { step, block, source, .. } => {
            Error::Step { step, segment: Some(i), block, source }
        }
        other => other,
    }
}
