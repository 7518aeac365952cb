//! The timing parameters of ISO 13400-2 (PROTOCOL.md §5), for the layers that schedule them.

use std::time::Duration;

/// `A_DoIP_Ctrl`: how long a tester collects UDP answers after a request.
pub const A_DOIP_CTRL: Duration = Duration::from_secs(2);
/// `A_DoIP_Announce_Wait` (upper bound): an entity's random delay before announcing or answering.
pub const A_DOIP_ANNOUNCE_WAIT_MAX: Duration = Duration::from_millis(500);
/// `A_DoIP_Announce_Interval`: the gap between an entity's announcements.
pub const A_DOIP_ANNOUNCE_INTERVAL: Duration = Duration::from_millis(500);
/// `A_DoIP_Announce_Num`: how many announcements an entity sends.
pub const A_DOIP_ANNOUNCE_NUM: u32 = 3;
/// `A_DoIP_Diagnostic_Message`: a tester's wait for the diagnostic ACK/NACK.
pub const A_DOIP_DIAGNOSTIC_MESSAGE: Duration = Duration::from_secs(2);
/// `T_TCP_General_Inactivity`: an entity closes a socket idle this long.
pub const T_TCP_GENERAL_INACTIVITY: Duration = Duration::from_mins(5);
/// `T_TCP_Initial_Inactivity`: an entity closes a new socket without routing activation.
pub const T_TCP_INITIAL_INACTIVITY: Duration = Duration::from_secs(2);
/// `T_TCP_Alive_Check`: an entity's wait for an alive check response.
pub const T_TCP_ALIVE_CHECK: Duration = Duration::from_millis(500);
/// `A_Processing_Time`: generic processing/response time.
pub const A_PROCESSING_TIME: Duration = Duration::from_secs(2);
/// `A_Vehicle_Discovery_Timer`: after an announcement with sync status 0x10, wait then ask again.
pub const A_VEHICLE_DISCOVERY_TIMER: Duration = Duration::from_secs(5);
