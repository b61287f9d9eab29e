//! A rolling restart: two `fedml server` processes over one catalogue and store behind a small
//! TCP balancer (as a load balancer would stand in front of them, their `--public-url` its
//! address), SDK clients uploading, downloading, listing and deleting through it, and each
//! instance in turn stopped with SIGTERM and started again, twice over. No request may be lost.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::process::{ServerProcess, admin_key};

/// A free port on 127.0.0.1 below the kernel's ephemeral range (`ip_local_port_range`), so
/// that no outgoing connection of another test takes it as its source port between the moment it
/// is chosen here and the moment an instance binds it (again, after each restart).
fn free_port() -> u16 {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let low: u16 = range.split_whitespace().next().and_then(|p| p.parse().ok()).unwrap_or(32768);
    let (first, span) = (10_000u16, low.saturating_sub(10_000).max(1));
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    for i in 0..span as u32 {
        let port = first + ((seed.wrapping_add(i.wrapping_mul(7919))) % span as u32) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Copies one direction of a proxied connection until either side ends.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 64 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

/// A round-robin TCP balancer on `listener` over `backends`: each connection goes to the next
/// backend that takes it. Runs until `stop`.
fn balance(listener: TcpListener, backends: Vec<u16>, stop: Arc<AtomicBool>) {
    listener.set_nonblocking(true).expect("nonblocking");
    let next = AtomicUsize::new(0);
    while !stop.load(Ordering::Relaxed) {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            Err(_) => continue,
        };
        let _ = client.set_nonblocking(false);
        let first = next.fetch_add(1, Ordering::Relaxed);
        let backend = (0..backends.len()).find_map(|i| {
            let port = backends[(first + i) % backends.len()];
            TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).ok()
        });
        let Some(backend) = backend else { continue };
        let _ = (client.set_nodelay(true), backend.set_nodelay(true));
        let (c2, b2) = (client.try_clone().expect("clone"), backend.try_clone().expect("clone"));
        std::thread::spawn(move || pipe(client, backend));
        std::thread::spawn(move || pipe(b2, c2));
    }
}

#[test]
fn a_rolling_restart_of_two_instances_loses_no_request() {
    let work = tempfile::tempdir().expect("tmp");
    let backend = Backend::fresh();
    let data = work.path().join("data");
    let log = work.path().join("servers.log");
    let front = TcpListener::bind("127.0.0.1:0").expect("bind the balancer");
    let front_url = format!("http://{}", front.local_addr().expect("addr"));
    let first = free_port();
    let ports = [first, std::iter::repeat_with(free_port).find(|&p| p != first).unwrap_or(first)];
    let flags_for = |port: u16| {
        let mut flags = backend.server_flags(&data);
        flags.extend(
            ["--listen", &format!("127.0.0.1:{port}"), "--public-url", &front_url, "--shutdown-grace", "10"]
                .map(str::to_string),
        );
        flags
    };
    let mut servers: Vec<ServerProcess> =
        ports.iter().map(|&port| ServerProcess::start(&flags_for(port), &log)).collect();
    let key = admin_key(&data);
    let stop_balancer = Arc::new(AtomicBool::new(false));
    let balancer = {
        let stop = stop_balancer.clone();
        let backends = ports.to_vec();
        std::thread::spawn(move || balance(front, backends, stop))
    };

    // Clients: upload, download and verify, list, look up, delete — through the balancer.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..6)
        .map(|c| {
            let (stop, done, errors) = (stop.clone(), done.clone(), errors.clone());
            let target = fedml_client::Target {
                api_key: Some(key.clone()),
                server: Some(front_url.clone()),
                parallel: Some(2),
                ..Default::default()
            };
            let dir = work.path().join(format!("client-{c}"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("c{c}-{i}");
                    let data = bytes(((i % 5) as usize + 1) * (700 << 10) + c, c as u64 * 1000 + i);
                    let file = dir.join(&name);
                    std::fs::write(&file, &data).expect("write");
                    let fail = |what: &str, message: &str| {
                        errors.lock().expect("lock").push(format!("{name} {what}: {message}"));
                    };
                    let r = fedml_client::upload_with(&file, &upload_opts(target.clone(), &name));
                    if !r.is_success() {
                        fail("upload", &r.message);
                    }
                    let out = dir.join(format!("out-{i}"));
                    let r = fedml_client::download_with(&name, &download_opts(target.clone(), &out));
                    if !r.is_success() {
                        fail("download", &r.message);
                    } else if std::fs::read(out.join(&name)).ok().as_deref() != Some(&data[..]) {
                        fail("download", "the bytes differ");
                    }
                    let r = fedml_client::list_storage_objects_with(&target);
                    if !r.is_success() {
                        fail("list", &r.message);
                    }
                    let r = fedml_client::get_storage_metadata_with(&name, None, &target);
                    if !r.is_success() {
                        fail("metadata", &r.message);
                    }
                    let r = fedml_client::delete_with(&name, None, &target);
                    if !r.is_success() {
                        fail("delete", &r.message);
                    }
                    let _ = std::fs::remove_dir_all(&out);
                    let _ = std::fs::remove_file(&file);
                    done.fetch_add(5, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();

    // Each instance in turn: SIGTERM, wait for it to exit 0, start it again on its port.
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    for (i, port) in ports.iter().enumerate().cycle().take(4) {
        let before = done.load(Ordering::Relaxed);
        let status = servers[i].terminate(Duration::from_secs(20)).expect("the instance exits within its grace");
        assert!(status.success(), "instance {i} exited with {status}");
        std::thread::sleep(Duration::from_secs(1));
        servers[i] = ServerProcess::start(&flags_for(*port), &log);
        std::thread::sleep(Duration::from_secs(2));
        assert!(done.load(Ordering::Relaxed) > before, "no operation went through while instance {i} restarted");
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    stop_balancer.store(true, Ordering::Relaxed);
    let _ = balancer.join();
    let operations = done.load(Ordering::Relaxed);
    let errors = errors.lock().expect("lock").clone();
    println!("rolling restart: {operations} operations in {:?}, {} errors", started.elapsed(), errors.len());
    assert!(errors.is_empty(), "requests were lost during the rolling restart: {errors:#?}");
    assert!(operations >= 50, "too little load to mean anything: {operations} operations");
}
