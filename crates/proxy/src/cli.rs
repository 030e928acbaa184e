//! The stats socket (interim): sessions are accepted and answered
//! `Unknown command.` until the CLI lands.

use crate::worker::{Msg, Worker};
use reactor::{Cx, Events};
use std::os::fd::RawFd;

pub struct Applet {
    pub fd: RawFd,
}

pub fn accept(_w: &mut Worker, cx: &mut Cx<'_, Msg>, fd: RawFd, _lidx: usize, _sock: usize) {
    let _ = crate::sock::send(fd, b"Unknown command.\n", false);
    cx.fd_insert(fd, 0);
    cx.fd_delete(fd);
}
pub fn on_io(_w: &mut Worker, _cx: &mut Cx<'_, Msg>, _idx: u32, _gen: u32, _ev: Events) {}
pub fn on_timer(_w: &mut Worker, _cx: &mut Cx<'_, Msg>, _idx: u32, _gen: u32) {}
