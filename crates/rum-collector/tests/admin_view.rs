//! The built-in view is served by the admin listener only: `GET /` and `/index.html` there answer
//! the embedded `sdk/dist/view.html` with its content security policy; the same paths on the public
//! listener (the one browsers on the measured sites reach) are a 404.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rum_collector::{Collector, CollectorSettings, MetricsExposition};
use rum_transport::ChannelSink;

const VIEW_HTML: &[u8] = include_bytes!("../../../sdk/dist/view.html");

/// A response: status, header lines (names lowercase), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// `GET path` over a fresh connection (`Connection: close`, read to the end).
fn get(address: SocketAddr, path: &str) -> Answer {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("write the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn the_view_is_on_the_admin_listener_and_never_on_the_public_one() {
    let config = rum_config::load_str(
        "[collector]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n",
        "test.toml",
        Vec::<(String, String)>::new(),
    )
    .expect("config");
    let settings = CollectorSettings::from_config(&config).expect("settings");
    let (sink, _source) = ChannelSink::new(16);
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .build_recorder()
        .handle();
    let collector = Collector::bind(settings, Arc::new(sink), MetricsExposition::new(prometheus))
        .await
        .expect("bind");
    let public = collector.public_addr().expect("public address");
    let admin = collector.admin_addr().expect("admin address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(collector.run(async {
        let _ = stopped.await;
    }));

    let answers = tokio::task::spawn_blocking(move || {
        [
            get(admin, "/"),
            get(admin, "/index.html"),
            get(public, "/"),
            get(public, "/index.html"),
            get(admin, "/healthz"),
        ]
    })
    .await
    .expect("requests");
    let [root, index, public_root, public_index, health] = answers;

    for view in [&root, &index] {
        assert_eq!(view.status, 200);
        assert!(
            view.body == VIEW_HTML,
            "not the embedded sdk/dist/view.html"
        );
        assert_eq!(
            view.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(view.header("cache-control"), Some("no-cache"));
        let policy = view
            .header("content-security-policy")
            .expect("a content security policy");
        assert!(policy.contains("connect-src 'self'"), "{policy}");
        assert!(policy.contains("script-src 'sha256-"), "{policy}");
        assert!(!policy.contains("unsafe-"), "{policy}");
    }
    for page in [&public_root, &public_index] {
        assert_eq!(page.status, 404);
        assert!(page.header("content-security-policy").is_none());
        assert!(!String::from_utf8_lossy(&page.body).contains("<html"));
    }
    // The other admin endpoints answer as before.
    assert_eq!((health.status, &health.body[..]), (200, &b"ok\n"[..]));

    let _ = stop.send(());
    running.await.expect("the collector stops");
}
