//! Every session's socket has TCP_NODELAY set (issue 17: Nagle's algorithm held each small
//! request back for about 55 ms). Observed on the socket itself: the test finds its own TCP
//! connection to the broker in /proc/self/fd and asks the kernel.

use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};

use ank_bus::Session;

use crate::harness::{on_every_broker, TestBroker};

/// Socket `fd` of this process, borrowed for one question to the kernel.
#[allow(unsafe_code)] // the only way from a number in /proc/self/fd to an fd rustix accepts
fn borrowed(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: the fd was listed in /proc/self/fd just now, and the kernel refuses calls on an fd
    // that closed meanwhile (EBADF) without touching memory; the borrow is used at once.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// The peer address of socket `fd`, if it is a connected IPv4 TCP socket.
fn peer(fd: RawFd) -> Option<SocketAddr> {
    let addr = rustix::net::getpeername(borrowed(fd)).ok()??;
    SocketAddr::try_from(addr).ok()
}

/// TCP_NODELAY of socket `fd`.
fn nodelay(fd: RawFd) -> bool {
    rustix::net::sockopt::tcp_nodelay(borrowed(fd)).unwrap_or(false)
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
