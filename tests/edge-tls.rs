//! TLS listeners through `rt::serve`, with a self-signed certificate made by
//! the `openssl` CLI (the tests skip, saying so, when it is absent).

#[path = "edge-support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use support::*;
use switchyard::rt::{Options, RtError, TlsError};
use switchyard::sip::transport::Transport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{IpAddr, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

const T: Duration = Duration::from_secs(5);

/// Writes `cert.pem` and `key.pem` for 127.0.0.1 into `dir`; `None` when
/// `openssl` is not installed.
fn self_signed(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-days", "2", "-subj", "/CN=switchyard-edge-test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => Some((cert, key)),
        Ok(s) => panic!("openssl failed: {s}"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED: the `openssl` CLI is not installed; TLS edge test not run");
            None
        }
        Err(e) => panic!("cannot run openssl: {e}"),
    }
}

fn client(cert: &Path) -> TlsConnector {
    let pem = std::fs::read(cert).unwrap();
    let mut roots = RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_echo_and_ping() {
    let dir = tempfile::tempdir().unwrap();
    let Some((cert, key)) = self_signed(dir.path()) else {
        return;
    };
    let mut cfg = config(dir.path());
    cfg.server.tls = vec!["127.0.0.1:0".parse().unwrap()];
    cfg.server.tls_cert = Some(cert.clone());
    cfg.server.tls_key = Some(key);
    let edge = start(cfg).await;
    let addr = edge.ready.tls[0];

    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::IpAddress(IpAddr::from(std::net::IpAddr::from([127, 0, 0, 1])));
    let mut s = tokio::time::timeout(T, client(&cert).connect(name, tcp))
        .await
        .unwrap()
        .unwrap();

    let (a, b) = (sip("OPTIONS", "over tls"), sip("MESSAGE", "second"));
    let both = [a.clone(), b.clone()].concat();
    s.write_all(&both).await.unwrap();
    s.flush().await.unwrap();
    let mut got = vec![0u8; both.len()];
    tokio::time::timeout(T, s.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, both);

    s.write_all(b"\r\n\r\n").await.unwrap();
    s.flush().await.unwrap();
    let mut pong = [0u8; 2];
    tokio::time::timeout(T, s.read_exact(&mut pong))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&pong, b"\r\n");

    {
        let seen = edge.seen.lock().unwrap();
        assert_eq!(seen.inputs.len(), 2);
        assert!(
            seen.inputs
                .iter()
                .all(|(p, _)| p.transport == Transport::Tls && p.conn.is_some())
        );
        assert_eq!(seen.inputs[0].1, a);
    }

    // A client that does not finish the handshake is closed and reported.
    let mut junk = TcpStream::connect(addr).await.unwrap();
    junk.write_all(b"OPTIONS sip:plain@text SIP/2.0\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(T, junk.read(&mut buf)).await.unwrap() {
            Ok(0) | Err(_) => break,
            Ok(_) => {} // a TLS alert
        }
    }
    eventually(5, || edge.seen.lock().unwrap().closed.len() == 1).await;

    drop(s);
    eventually(5, || edge.seen.lock().unwrap().closed.len() == 2).await;
    edge.ready.control.stop().await;
    edge.finished(5).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.server.tls = vec!["127.0.0.1:0".parse().unwrap()];
    cfg.server.tls_cert = Some(dir.path().join("missing-cert.pem"));
    cfg.server.tls_key = Some(dir.path().join("missing-key.pem"));
    let err = switchyard::rt::serve(
        &cfg,
        |b| TestCore::new(Default::default(), b, true),
        Options::default().signals(false),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RtError::Tls(TlsError::Read { .. })), "{err}");
    assert!(err.to_string().contains("missing-cert.pem"), "{err}");

    // A key that does not parse.
    if let Some((cert, _)) = self_signed(dir.path()) {
        let bad_key = dir.path().join("bad-key.pem");
        std::fs::write(&bad_key, "-----BEGIN NOTHING-----\n-----END NOTHING-----\n").unwrap();
        cfg.server.tls_cert = Some(cert);
        cfg.server.tls_key = Some(bad_key);
        let err = switchyard::rt::serve(
            &cfg,
            |b| TestCore::new(Default::default(), b, true),
            Options::default().signals(false),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, RtError::Tls(TlsError::NoPrivateKey { .. })),
            "{err}"
        );
        assert!(err.to_string().contains("bad-key.pem"), "{err}");
    }
}
