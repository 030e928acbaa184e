//! HTTP/1 transactions on a stream (interim: HTTP mode is refused at
//! start-up until the transaction analyzers land; this module only keeps
//! the stream's hooks in one place).

use super::{End, Env, Stream};
use crate::worker::{Msg, Worker};
use reactor::Cx;
use std::os::fd::RawFd;

pub struct Txn {
    pub exp: u64,
}

pub fn analyze(_s: &mut Stream, _env: &mut Env) -> Result<bool, End> {
    Err(End)
}
pub fn finished(_s: &mut Stream, _env: &mut Env) -> bool {
    true
}
pub fn want_read_cli(_s: &Stream) -> bool {
    false
}
pub fn want_read_srv(_s: &Stream) -> bool {
    false
}
pub fn hash_key(_s: &Stream, _env: &Env, _be: &crate::runtime::ProxyRt) -> crate::lb::HashKey {
    None
}
pub fn local_error(_s: &mut Stream, _env: &mut Env, _code: u16) {}
pub fn try_reuse(_s: &mut Stream, _env: &mut Env) -> Option<bool> {
    None
}
pub fn on_connected(_s: &mut Stream, _env: &mut Env) {}
pub fn on_timer(_s: &mut Stream, _env: &mut Env) -> bool {
    false
}
pub fn release(_s: &mut Stream, _env: &mut Env) {}
pub fn idle_event(_w: &mut Worker, _cx: &mut Cx<'_, Msg>, _fd: RawFd, _tok: u64) {}
