//! Every session's socket has TCP_NODELAY set (issue 17: Nagle's algorithm held each small
//! request back for about 55 ms). Observed on the socket itself: the test finds its own TCP
//! connection to the broker in /proc/self/fd and asks the kernel.

use std::net::SocketAddr;
use std::os::fd::RawFd;

use ank_bus::Session;

use crate::harness::{on_every_broker, TestBroker};

/// The peer address of socket `fd`, if it is a connected IPv4 TCP socket.
fn peer(fd: RawFd) -> Option<SocketAddr> {
    // SAFETY: a zeroed sockaddr_in is valid; getpeername writes at most `len` bytes into it.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let rc = unsafe { libc::getpeername(fd, std::ptr::addr_of_mut!(addr).cast(), &mut len) };
    if rc != 0 || i32::from(addr.sin_family) != libc::AF_INET {
        return None;
    }
    let ip = std::net::Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr));
    Some(SocketAddr::from((ip, u16::from_be(addr.sin_port))))
}

/// TCP_NODELAY of socket `fd`.
fn nodelay(fd: RawFd) -> bool {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is a c_int and `len` says so.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            std::ptr::addr_of_mut!(value).cast(),
            &mut len,
        )
    };
    rc == 0 && value != 0
}

/// Every socket of this process connected to `broker`, with its TCP_NODELAY.
fn sockets_to(broker: SocketAddr) -> Vec<(RawFd, bool)> {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
        .filter(|fd| peer(*fd) == Some(broker))
        .map(|fd| (fd, nodelay(fd)))
        .collect()
}

async fn issue_17_sessions_set_tcp_nodelay(broker: TestBroker) {
    let url = broker.url();
    let addr: SocketAddr = url
        .trim_start_matches("mqtt://")
        .parse()
        .expect("the test broker's URL is ip:port");
    let opts = ank_bus::ConnectOptions::from_url(&url, "nodelay").expect("url");
    let (session, _incoming) = Session::connect(opts, None).await.expect("connects");
    let sockets = sockets_to(addr);
    assert!(
        !sockets.is_empty(),
        "no socket of this process is connected to {addr}"
    );
    assert!(
        sockets.iter().all(|(_, on)| *on),
        "TCP_NODELAY is off on a session socket: {sockets:?}"
    );
    session.shutdown(None).await;
}

on_every_broker!(issue_17_sessions_set_tcp_nodelay);
