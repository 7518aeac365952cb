//! The simulator's TLS port with a certificate generated in the test.
#![allow(clippy::unwrap_used)] // test helpers fail loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use doip_proto::{
    ActivationType, LogicalAddress, Message, RoutingActivationRequest,
    RoutingActivationResponseCode,
};
use doip_sim::{SimConfig, Simulator, TlsFiles};
use doip_transport::rustls::RootCertStore;
use doip_transport::{Blocking, ConnectOptions, TlsClient, tls};

#[test]
fn tls_required_activation_succeeds_over_tls() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["ecu.doip.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = std::env::temp_dir().join(format!("doip-sim-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();

    let mut config = SimConfig::for_tests();
    config.tls = Some(TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem"), port: 0 });
    config.routing.tls_required_types = vec![0xE0];
    let sim = Simulator::new(&config).unwrap().spawn().unwrap();
    let addr = sim.tls.unwrap();

    let mut roots = RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let options = ConnectOptions::default().tls(TlsClient {
        config: Arc::new(tls::client_config(roots).unwrap()),
        server_name: tls::server_name("ecu.doip.test").unwrap(),
    });
    let mut t = Blocking::new().unwrap();
    let h = t.connect(addr, options).unwrap();
    let request = RoutingActivationRequest::new(LogicalAddress(0x0E00))
        .with_activation_type(ActivationType::CentralSecurity);
    t.send(h, &request.into()).unwrap();
    let response = t.recv_frame(h, Instant::now() + Duration::from_secs(5)).unwrap();
    assert!(matches!(
        response.message,
        Message::RoutingActivationResponse(r) if r.response_code == RoutingActivationResponseCode::Success
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreadable_tls_files_are_a_clear_error() {
    let mut config = SimConfig::for_tests();
    config.tls = Some(TlsFiles {
        cert: "/nonexistent/cert.pem".into(),
        key: "/nonexistent/key.pem".into(),
        port: 0,
    });
    let err = Simulator::new(&config).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
}
