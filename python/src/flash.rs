//! `Client.flash`: doip-uds's [`Flasher`] over the Python client's connection: an image
//! (Intel HEX, S-record or binary, from a file or bytes) programmed into one ECU, with a
//! Python progress callback and a key algorithm given as an XOR constant or a Python function.

use std::path::PathBuf;

use doip_client::LogicalAddress;
use doip_uds::{
    EcuChannel, FlashReport, Flasher, Image, ImageFormat, KeyAlgorithm, Progress, ResetType,
    SessionType, Step, UdsClient, XorKey,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// The flash's settings, from the dict `doip_rs.DoIPClient.flash` builds.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub(crate) struct FlashOptions {
    /// The image file.
    path: Option<PathBuf>,
    /// The image bytes (Intel HEX or S-record text, or binary with `address`).
    data: Option<Vec<u8>>,
    /// `"hex"`, `"srec"`, `"bin"`, or `None` (from the file name or the text).
    format: Option<String>,
    /// Where a binary image goes.
    address: Option<u64>,
    /// The ECU (the client's when `None`).
    pub(crate) target: Option<i64>,
    /// DiagnosticSessionControl first (0: none).
    session: u8,
    /// `SecurityAccess` level (the odd `requestSeed` sub-function), with `key`.
    security_level: Option<u8>,
    /// An int (XOR constant, 4 bytes) or a callable `(level, seed) -> key`.
    key: Option<Py<PyAny>>,
    /// The erase routine (`None`: no erase step).
    erase_routine: Option<u16>,
    /// The check routine (`None`: no check step).
    check_routine: Option<u16>,
    /// ECUReset (hard) at the end.
    reset: bool,
}

/// The key algorithm a Python value stands for.
enum Key {
    Xor(XorKey),
    Python(Py<PyAny>),
}

impl KeyAlgorithm for Key {
    fn key(
        &mut self,
        level: u8,
        seed: &[u8],
    ) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
        match self {
            Self::Xor(x) => x.key(level, seed),
            Self::Python(f) => Python::attach(|py| {
                let key = f.call1(py, (level, PyBytes::new(py, seed)))?;
                crate::convert::bytes_of(key.bind(py))
            })
            .map_err(|e| e.to_string().into()),
        }
    }
}

/// A flash ready to run.
pub(crate) struct Plan {
    image: Image,
    steps: Vec<Step>,
    erase: Option<u16>,
    check: Option<u16>,
    security: Option<(u8, Py<PyAny>)>,
}

impl FlashOptions {
    /// Loads the image and lays out the steps.
    pub(crate) fn plan(self) -> PyResult<Plan> {
        let format = match self.format.as_deref() {
            None => None,
            Some("hex" | "ihex") => Some(ImageFormat::IntelHex),
            Some("srec" | "s19" | "mot") => Some(ImageFormat::SRecord),
            Some("bin") => Some(ImageFormat::Binary),
            Some(other) => {
                return Err(PyValueError::new_err(format!(
                    "image format must be 'hex', 'srec' or 'bin', not {other:?}"
                )));
            }
        };
        let bad = |e: doip_uds::ImageError| PyValueError::new_err(e.to_string());
        let image = match (self.path, self.data) {
            (Some(path), None) => Image::load(&path, format, self.address).map_err(bad)?,
            (None, Some(data)) => match format {
                Some(ImageFormat::IntelHex) => {
                    Image::parse_intel_hex(&String::from_utf8_lossy(&data)).map_err(bad)?
                }
                Some(ImageFormat::SRecord) => {
                    Image::parse_srec(&String::from_utf8_lossy(&data)).map_err(bad)?
                }
                _ => {
                    let address = self
                        .address
                        .ok_or_else(|| PyValueError::new_err("a binary image needs an address"))?;
                    Image::from_binary(address, data).map_err(bad)?
                }
            },
            _ => return Err(PyValueError::new_err("give the image as a path or as bytes")),
        };
        let mut steps = Vec::new();
        if self.session != 0 {
            steps.push(Step::Session(SessionType::from(self.session)));
        }
        if self.erase_routine.is_some() {
            steps.push(Step::Erase);
        }
        steps.push(Step::Download);
        if self.check_routine.is_some() {
            steps.push(Step::Check);
        }
        if self.reset {
            steps.push(Step::Reset(ResetType::Hard));
        }
        let security = match (self.security_level, self.key) {
            (Some(level), Some(key)) => Some((level, key)),
            (None, None) => None,
            _ => {
                return Err(PyValueError::new_err("security_level and security_key go together"));
            }
        };
        Ok(Plan { image, steps, erase: self.erase_routine, check: self.check_routine, security })
    }
}

/// Runs `plan` on `client` against `target`, calling `progress(dict)` as it goes.
pub(crate) fn run(
    client: &mut doip_client::Client,
    target: LogicalAddress,
    plan: &Plan,
    progress: Option<&Py<PyAny>>,
) -> doip_uds::Result<FlashReport> {
    let mut key = plan.security.as_ref().map(|(_, k)| {
        Python::attach(|py| match k.bind(py).extract::<u32>() {
            Ok(constant) => Key::Xor(XorKey::from_u32(constant)),
            Err(_) => Key::Python(k.clone_ref(py)),
        })
    });
    let mut uds = UdsClient::new(EcuChannel::new(client, target));
    let mut flasher = Flasher::new(&plan.image).steps(plan.steps.clone());
    if let Some(id) = plan.erase {
        flasher = flasher.erase_routine(id);
    }
    if let Some(id) = plan.check {
        flasher = flasher.check_routine(id);
    }
    if let (Some((level, _)), Some(key)) = (&plan.security, key.as_mut()) {
        flasher = flasher.security(*level, key);
    }
    if let Some(callback) = progress {
        flasher = flasher.on_progress(move |p: &Progress| {
            Python::attach(|py| {
                let shown = progress_dict(py, p).and_then(|d| callback.call1(py, (d,)));
                if let Err(e) = shown {
                    // A failing callback must not stop a flash half-way: it is reported.
                    e.write_unraisable(py, Some(callback.bind(py)));
                }
            });
        });
    }
    flasher.run(&mut uds)
}

fn progress_dict<'py>(py: Python<'py>, p: &Progress) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("step", p.step)?;
    d.set_item("segment", p.segment)?;
    d.set_item("segments", p.segments)?;
    d.set_item("bytes_done", p.bytes_done)?;
    d.set_item("bytes_total", p.bytes_total)?;
    d.set_item("elapsed", p.elapsed.as_secs_f64())?;
    Ok(d)
}

/// The report as a dict.
pub(crate) fn report<'py>(py: Python<'py>, r: &FlashReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("bytes", r.bytes)?;
    d.set_item("blocks", r.blocks)?;
    d.set_item("segments", r.segments)?;
    d.set_item("max_block_length", r.max_block_length)?;
    d.set_item("elapsed", r.elapsed.as_secs_f64())?;
    Ok(d)
}
