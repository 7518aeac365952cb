//! `ecu_diagnostics`' UDS server running unchanged over DoIP, against the simulator.
#![cfg(feature = "ecu-diagnostics")]
#![allow(clippy::unwrap_used)] // test helpers fail loudly

use doip_client::{ClientBuilder, DoipChannel};
use doip_proto::LogicalAddress;
use doip_sim::{SimConfig, Simulator};
use ecu_diagnostics::DiagnosticServer;
use ecu_diagnostics::channel::IsoTPSettings;
use ecu_diagnostics::uds::{
    UDSCommand, UDSSessionType, UdsDiagnosticServer, UdsServerOptions, UdsVoidHandler,
};

#[test]
fn read_vin_and_change_session_through_ecu_diagnostics() {
    let sim = Simulator::new(&SimConfig::for_tests()).unwrap().spawn().unwrap();
    let client = ClientBuilder::new(sim.tcp.ip(), LogicalAddress(0x4011))
        .tcp_port(sim.tcp.port())
        .udp_port(sim.udp.port())
        .connect()
        .unwrap();
    let options = UdsServerOptions {
        send_id: 0x4011,
        recv_id: 0x4011,
        read_timeout_ms: 2000,
        write_timeout_ms: 2000,
        global_tp_id: 0,
        tester_present_interval_ms: 2000,
        tester_present_require_response: true,
    };
    let mut uds = UdsDiagnosticServer::new_over_iso_tp(
        options,
        DoipChannel::new(client),
        IsoTPSettings::default(),
        UdsVoidHandler,
    )
    .unwrap();
    let vin =
        uds.execute_command_with_response(UDSCommand::ReadDataByIdentifier, &[0xF1, 0x90]).unwrap();
    assert_eq!(vin, [&[0x62, 0xF1, 0x90][..], b"WDOIPRS0000000001"].concat());
    uds.set_session_mode(UDSSessionType::Extended).unwrap();
    let unknown =
        uds.execute_command_with_response(UDSCommand::ReadDataByIdentifier, &[0x12, 0x34]);
    assert!(unknown.is_err(), "a negative response (7F 22 31) is an error in ecu_diagnostics");
}
