//! Network processors against real sockets over 127.0.0.1: ListenTCP (newline and
//! length-prefixed framing, batching, back pressure, malformed input), ListenUDP,
//! ListenSyslog (RFC 5424, RFC 3164, invalid; UDP and TCP), PutTCP and PutUDP.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use sluice_engine::provenance::EventType;
use sluice_engine::testing::TestRunner;
use sluice_processors::registry;

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run_until(r: &mut TestRunner, mut done: impl FnMut(&mut TestRunner) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(r) {
        assert!(Instant::now() < deadline, "condition not reached in time");
        r.run(1).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn contents(r: &mut TestRunner, rel: &str) -> Vec<String> {
    r.output(rel).iter().map(TestRunner::content).collect()
}

fn listener(ty: &str, port: u16) -> TestRunner {
    let mut r = TestRunner::new(registry(), ty);
    r.set_property("Port", &port.to_string()).set_property("Local Network Interface", "127.0.0.1");
    r
}

fn connect(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("cannot connect: {e}"),
        }
    }
}

/// Whether a read result says the peer closed the connection (not a read timeout).
fn closed(res: &std::io::Result<usize>) -> bool {
    match res {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

#[test]
fn listen_tcp_newline_messages_become_flowfiles() {
    let port = free_tcp_port();
    let mut r = listener("ListenTCP", port);
    r.run(1).unwrap();
    let mut s = connect(port);
    s.write_all(b"one\ntwo\n\nthree\n").unwrap();
    run_until(&mut r, |r| r.count("success") == 3);
    assert_eq!(contents(&mut r, "success"), vec!["one", "two", "three"]);
    let ff = &r.output("success")[0];
    assert_eq!(ff.attr("tcp.sender"), Some("127.0.0.1"));
    assert_eq!(ff.attr("tcp.port"), Some(port.to_string().as_str()));
    let ev = r.events();
    assert!(ev.iter().all(|e| e.event_type == EventType::Receive));
    assert_eq!(ev[0].transit_uri.as_deref(), Some(format!("tcp://127.0.0.1:{port}").as_str()));
    // The last message of a connection needs no delimiter.
    s.write_all(b"four").unwrap();
    drop(s);
    run_until(&mut r, |r| r.count("success") == 4);
    assert_eq!(contents(&mut r, "success")[3], "four");
}

#[test]
fn listen_tcp_batches_messages_per_sender() {
    let port = free_tcp_port();
    let mut r = listener("ListenTCP", port);
    r.set_property("Max Batch Size", "100").set_property("Batching Message Delimiter", "|");
    r.run(1).unwrap();
    let mut s = connect(port);
    for i in 0..50 {
        writeln!(s, "m{i}").unwrap();
    }
    s.flush().unwrap();
    let total = |r: &mut TestRunner| contents(r, "success").iter().map(|c| c.split('|').count()).sum::<usize>();
    run_until(&mut r, |r| total(r) == 50);
    let joined = contents(&mut r, "success").join("|");
    let expected: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    assert_eq!(joined, expected.join("|"));
    assert!(r.count("success") < 50, "messages were batched");
}

#[test]
fn listen_tcp_length_prefixed_framing_and_malformed_input() {
    let port = free_tcp_port();
    let mut r = listener("ListenTCP", port);
    r.set_property("Message Framing", "Length Prefixed")
        .set_property("Max Message Size", "1 KB")
        .set_property("Max Number of TCP Connections", "4");
    r.run(1).unwrap();
    let mut s = connect(port);
    for m in ["hello", "multi\nline", ""] {
        s.write_all(&(m.len() as u32).to_be_bytes()).unwrap();
        s.write_all(m.as_bytes()).unwrap();
    }
    run_until(&mut r, |r| r.count("success") == 3);
    assert_eq!(contents(&mut r, "success"), vec!["hello", "multi\nline", ""]);
    // A length beyond the maximum closes the connection; nothing more is made of it.
    s.write_all(&(1_000_000u32).to_be_bytes()).unwrap();
    s.write_all(b"garbage").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1];
    let res = s.read(&mut buf);
    assert!(closed(&res), "the server closes a connection with a malformed frame: {res:?}");
    r.run(3).unwrap();
    assert_eq!(r.count("success"), 3);
    // Other connections are unaffected.
    let mut s2 = connect(port);
    s2.write_all(&3u32.to_be_bytes()).unwrap();
    s2.write_all(b"new").unwrap();
    run_until(&mut r, |r| r.count("success") == 4);
}

#[test]
fn listen_tcp_full_queue_stops_reading_then_delivers_everything() {
    let port = free_tcp_port();
    let mut r = listener("ListenTCP", port);
    r.set_property("Max Size of Message Queue", "10").set_property("Max Size of Socket Buffer", "4 KB");
    r.run(1).unwrap();
    let mut s = connect(port);
    s.set_nonblocking(true).unwrap();
    let line = [b'x'; 99];
    let mut sent_lines = 0usize;
    let mut blocked = false;
    let mut rest = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    // Without triggers the queue fills, the server stops reading, the socket buffers fill,
    // and the sender's writes block: back pressure, not loss.
    while Instant::now() < deadline && sent_lines < 200_000 {
        let mut msg = line.to_vec();
        msg.push(b'\n');
        match s.write(&msg) {
            Ok(n) if n == msg.len() => sent_lines += 1,
            Ok(n) => {
                // A partial line: the rest can only go once the server reads again.
                rest = msg[n..].to_vec();
                sent_lines += 1;
                blocked = true;
                break;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                blocked = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(blocked, "the sender was held back after {sent_lines} lines");
    assert!(sent_lines < 200_000);
    // Finish the partial line (blocking) while the processor drains; then close.
    s.set_nonblocking(false).unwrap();
    let writer = std::thread::spawn(move || {
        s.write_all(&rest).expect("finish the partial line");
        drop(s);
    });
    // Drain as fast as triggers go: the queue holds 10 messages, the sockets many thousands.
    let deadline = Instant::now() + Duration::from_secs(60);
    while r.count("success") < sent_lines {
        assert!(Instant::now() < deadline, "{} of {sent_lines} lines arrived", r.count("success"));
        r.run(1).unwrap();
    }
    writer.join().unwrap();
    assert_eq!(r.count("success"), sent_lines);
    assert!(r.output("success").iter().all(|f| f.size() == 99));
}

#[test]
fn listen_tcp_limits_connections_and_releases_its_port() {
    let port = free_tcp_port();
    let blocker = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let mut r = listener("ListenTCP", port);
    r.set_property("Max Number of TCP Connections", "1");
    r.run(1).unwrap();
    assert!(r.bulletins().iter().any(|b| b.contains("cannot listen")), "busy port reported");
    drop(blocker);
    r.run(1).unwrap();
    let mut first = connect(port);
    first.write_all(b"a\n").unwrap();
    run_until(&mut r, |r| r.count("success") == 1);
    let mut second = connect(port);
    second.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1];
    let res = second.read(&mut buf);
    assert!(closed(&res), "a connection beyond the maximum is closed: {res:?}");
    r.controller.unprepare("under-test").unwrap();
    drop(TcpListener::bind(("127.0.0.1", port)).expect("port released on stop"));
}

#[test]
fn listen_udp_datagrams_become_flowfiles() {
    let port = free_udp_port();
    let mut r = listener("ListenUDP", port);
    r.run(1).unwrap();
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    for m in ["alpha", "beta", "gamma"] {
        s.send_to(m.as_bytes(), ("127.0.0.1", port)).unwrap();
    }
    run_until(&mut r, |r| r.count("success") == 3);
    let mut got = contents(&mut r, "success");
    got.sort();
    assert_eq!(got, vec!["alpha", "beta", "gamma"]);
    let ff = &r.output("success")[0];
    assert_eq!(ff.attr("udp.sender"), Some("127.0.0.1"));
    assert_eq!(ff.attr("udp.port"), Some(port.to_string().as_str()));
}

#[test]
fn listen_udp_keeps_only_the_sending_host_and_port() {
    let port = free_udp_port();
    let allowed = UdpSocket::bind("127.0.0.1:0").unwrap();
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut r = listener("ListenUDP", port);
    r.set_property("Sending Host", "127.0.0.1")
        .set_property("Sending Host Port", &allowed.local_addr().unwrap().port().to_string());
    r.run(1).unwrap();
    other.send_to(b"ignored", ("127.0.0.1", port)).unwrap();
    allowed.send_to(b"kept", ("127.0.0.1", port)).unwrap();
    run_until(&mut r, |r| r.count("success") == 1);
    std::thread::sleep(Duration::from_millis(100));
    r.run(2).unwrap();
    assert_eq!(contents(&mut r, "success"), vec!["kept"]);
}

const RFC5424: &str = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\"] An application event";
const RFC3164: &str = "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8";
const INVALID: &str = "this is not syslog";

fn check_syslog(r: &mut TestRunner, protocol: &str) {
    run_until(r, |r| r.count("success") == 2 && r.count("invalid") == 1);
    let ok = r.output("success");
    let a = ok.iter().find(|f| f.attr("syslog.version") == Some("1")).expect("the RFC 5424 message");
    assert_eq!(a.attr("syslog.priority"), Some("165"));
    assert_eq!(a.attr("syslog.severity"), Some("5"));
    assert_eq!(a.attr("syslog.facility"), Some("20"));
    assert_eq!(a.attr("syslog.timestamp"), Some("2003-10-11T22:14:15.003Z"));
    assert_eq!(a.attr("syslog.hostname"), Some("mymachine.example.com"));
    assert_eq!(a.attr("syslog.appname"), Some("evntslog"));
    assert_eq!(a.attr("syslog.procid"), None);
    assert_eq!(a.attr("syslog.messageid"), Some("ID47"));
    assert_eq!(a.attr("syslog.structuredData.exampleSDID@32473.iut"), Some("3"));
    assert_eq!(a.attr("syslog.structuredData.exampleSDID@32473.eventSource"), Some("Application"));
    assert_eq!(a.attr("syslog.body"), Some("An application event"));
    assert_eq!(a.attr("syslog.valid"), Some("true"));
    assert_eq!(a.attr("syslog.sender"), Some("127.0.0.1"));
    assert_eq!(a.attr("syslog.protocol"), Some(protocol));
    assert_eq!(TestRunner::content(a), RFC5424);
    let b = ok.iter().find(|f| f.attr("syslog.version").is_none()).expect("the RFC 3164 message");
    assert_eq!(b.attr("syslog.priority"), Some("34"));
    assert_eq!(b.attr("syslog.severity"), Some("2"));
    assert_eq!(b.attr("syslog.facility"), Some("4"));
    assert_eq!(b.attr("syslog.timestamp"), Some("Oct 11 22:14:15"));
    assert_eq!(b.attr("syslog.hostname"), Some("mymachine"));
    assert_eq!(b.attr("syslog.body"), Some("su: 'su root' failed for lonvick on /dev/pts/8"));
    let bad = &r.output("invalid")[0];
    assert_eq!(TestRunner::content(bad), INVALID);
    assert_eq!(bad.attr("syslog.valid"), Some("false"));
    assert_eq!(bad.attr("syslog.sender"), Some("127.0.0.1"));
}

#[test]
fn listen_syslog_udp_parses_5424_and_3164_and_routes_invalid() {
    let port = free_udp_port();
    let mut r = listener("ListenSyslog", port);
    r.run(1).unwrap();
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    for m in [RFC5424, RFC3164, INVALID] {
        s.send_to(m.as_bytes(), ("127.0.0.1", port)).unwrap();
    }
    check_syslog(&mut r, "UDP");
}

#[test]
fn listen_syslog_tcp_with_octet_counting_and_newlines() {
    let port = free_tcp_port();
    let mut r = listener("ListenSyslog", port);
    r.set_property("Protocol", "TCP");
    r.run(1).unwrap();
    let mut s = connect(port);
    write!(s, "{} {}", RFC5424.len(), RFC5424).unwrap();
    write!(s, "{RFC3164}\r\n{INVALID}\n").unwrap();
    check_syslog(&mut r, "TCP");
}

#[test]
fn listen_syslog_unparsed_passes_everything() {
    let port = free_udp_port();
    let mut r = listener("ListenSyslog", port);
    r.set_property("Parse Messages", "false");
    r.run(1).unwrap();
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.send_to(INVALID.as_bytes(), ("127.0.0.1", port)).unwrap();
    run_until(&mut r, |r| r.count("success") == 1);
    assert_eq!(r.count("invalid"), 0);
    assert_eq!(r.output("success")[0].attr("syslog.priority"), None);
}

/// A TCP server that accepts connections and records everything each one sent.
fn sink_server()
-> (u16, std::sync::mpsc::Receiver<Vec<u8>>, std::thread::JoinHandle<()>, std::sync::Arc<std::sync::atomic::AtomicBool>)
{
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    l.set_nonblocking(true).unwrap();
    let h = std::thread::spawn(move || {
        while !stop2.load(std::sync::atomic::Ordering::Acquire) {
            match l.accept() {
                Ok((mut c, _)) => {
                    let tx = tx.clone();
                    std::thread::spawn(move || {
                        c.set_nonblocking(false).unwrap();
                        let mut all = Vec::new();
                        let _ = c.read_to_end(&mut all);
                        let _ = tx.send(all);
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (port, rx, h, stop)
}

#[test]
fn put_tcp_sends_over_one_pooled_connection() {
    let (port, rx, h, stop) = sink_server();
    let mut r = TestRunner::new(registry(), "PutTCP");
    r.set_property("Hostname", "127.0.0.1")
        .set_property("Port", &port.to_string())
        .set_property("Outgoing Message Delimiter", "\\n");
    for m in ["a", "bb", "ccc"] {
        r.enqueue(m, &[]);
    }
    r.run(1).unwrap();
    assert_eq!(r.count("success"), 3);
    let ev = r.events();
    assert!(ev.iter().all(|e| e.event_type == EventType::Send));
    r.controller.unprepare("under-test").unwrap(); // closes the pooled connection
    let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(got, b"a\nbb\nccc\n");
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "one connection for all");
    stop.store(true, std::sync::atomic::Ordering::Release);
    h.join().unwrap();
}

#[test]
fn put_tcp_connection_per_flowfile() {
    let (port, rx, h, stop) = sink_server();
    let mut r = TestRunner::new(registry(), "PutTCP");
    r.set_property("Hostname", "127.0.0.1")
        .set_property("Port", "${port}")
        .set_property("Connection Per FlowFile", "true");
    let p = port.to_string();
    for m in ["x", "y"] {
        r.enqueue(m, &[("port", &p)]);
    }
    r.run(1).unwrap();
    let mut got =
        vec![rx.recv_timeout(Duration::from_secs(5)).unwrap(), rx.recv_timeout(Duration::from_secs(5)).unwrap()];
    got.sort();
    assert_eq!(got, vec![b"x".to_vec(), b"y".to_vec()]);
    stop.store(true, std::sync::atomic::Ordering::Release);
    h.join().unwrap();
}

#[test]
fn put_tcp_server_down_lost_and_bad_input() {
    // Down at start: failure with the reason, a bulletin, the rest stays queued.
    let dead = free_tcp_port();
    let mut r = TestRunner::new(registry(), "PutTCP");
    r.set_property("Hostname", "127.0.0.1").set_property("Port", &dead.to_string()).set_property("Timeout", "1 sec");
    r.enqueue("one", &[]);
    r.enqueue("two", &[]);
    r.run(1).unwrap();
    let f = r.output("failure");
    assert_eq!(f.len(), 1);
    assert!(f[0].attr("puttcp.error").unwrap().contains("failed"));
    assert_eq!(r.input_queue().len(), 1, "the rest waits for the next trigger");
    assert!(r.bulletins().iter().any(|b| b.contains("sending to")));

    // Lost mid-stream: a pooled connection whose server went away is noticed.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let mut r = TestRunner::new(registry(), "PutTCP");
    r.set_property("Hostname", "127.0.0.1").set_property("Port", &port.to_string()).set_property("Timeout", "1 sec");
    r.enqueue("first", &[]);
    r.run(1).unwrap();
    assert_eq!(r.count("success"), 1);
    let (mut conn, _) = server.accept().unwrap();
    let mut buf = [0u8; 5];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"first");
    drop(conn);
    drop(server);
    std::thread::sleep(Duration::from_millis(50));
    r.enqueue("second", &[]);
    r.run(1).unwrap();
    assert_eq!(r.count("failure"), 1, "sending after the server went away fails");

    // Bad input: a port that is not a number.
    let mut r = TestRunner::new(registry(), "PutTCP");
    r.set_property("Port", "${port}");
    r.enqueue("x", &[("port", "not-a-port")]);
    r.run(1).unwrap();
    assert!(r.output("failure")[0].attr("puttcp.error").unwrap().contains("port"));
}

#[test]
fn put_udp_sends_datagrams_and_refuses_oversized_content() {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = receiver.local_addr().unwrap().port();
    let mut r = TestRunner::new(registry(), "PutUDP");
    r.set_property("Hostname", "127.0.0.1").set_property("Port", &port.to_string());
    r.enqueue("first datagram", &[]);
    r.enqueue("second", &[]);
    r.enqueue(vec![b'z'; 70_000], &[]);
    r.run(1).unwrap();
    assert_eq!(r.count("success"), 2);
    let f = r.output("failure");
    assert_eq!(f.len(), 1);
    assert!(f[0].attr("putudp.error").unwrap().contains("do not fit"));
    let mut buf = [0u8; 100];
    let n = receiver.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"first datagram");
    let n = receiver.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"second");
}

#[test]
fn put_udp_to_a_closed_port_fails() {
    let dead = free_udp_port();
    let mut r = TestRunner::new(registry(), "PutUDP");
    r.set_property("Hostname", "127.0.0.1").set_property("Port", &dead.to_string());
    // UDP learns of the closed port from the ICMP answer to an earlier datagram.
    for _ in 0..5 {
        r.enqueue("x", &[]);
        r.run(1).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        if r.count("failure") > 0 {
            break;
        }
    }
    assert!(r.count("failure") >= 1);
    assert!(r.output("failure")[0].attr("putudp.error").unwrap().contains("sending to"));
}

#[test]
fn put_tcp_to_listen_tcp_end_to_end() {
    let port = free_tcp_port();
    let mut listen = listener("ListenTCP", port);
    listen.run(1).unwrap();
    let mut put = TestRunner::new(registry(), "PutTCP");
    put.set_property("Hostname", "127.0.0.1")
        .set_property("Port", &port.to_string())
        .set_property("Outgoing Message Delimiter", "\\n");
    for i in 0..20 {
        put.enqueue(format!("event {i}"), &[]);
    }
    put.run(1).unwrap();
    assert_eq!(put.count("success"), 20);
    run_until(&mut listen, |r| r.count("success") == 20);
    let expected: Vec<String> = (0..20).map(|i| format!("event {i}")).collect();
    assert_eq!(contents(&mut listen, "success"), expected);
}
