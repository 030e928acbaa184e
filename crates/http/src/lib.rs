//! rhaproxy's sans-IO HTTP/1 codec: HAProxy 2.6's H1 parsing rules, body
//! framing state machines, head serialisation and built-in error replies.
//!
//! Owns only byte-level HTTP/1 knowledge. It must not do I/O, hold
//! sockets, read configuration files or decide proxy policy; callers pass
//! buffers in and get verdicts, spans and byte counts out. Nothing on the
//! per-request path allocates: heads are spans into the caller's buffer and
//! header lists live in caller-owned reusable vectors.

pub mod added;
pub mod body;
pub mod chars;
pub mod errors;
pub mod head;
pub mod serialize;

pub use added::{AddedHdrs, NO_ADDED};
pub use body::{BodyDecoder, BodyError, BodyEvent};
pub use chars::{eq_ignore_case, list_items};
pub use errors::{builtin_error, builtin_error_htx, parse_errorfile, ErrorFile, ErrorFileError};
pub use head::{
    normalize_target, parse_request, parse_response, BodyFraming, ErrorKind, Flags, Header, HeaderKind, Method,
    ParseError, ParseOptions, RequestHead, ResponseHead, Span, Status,
};
pub use serialize::{write_request_head, write_response_head, ConnMode, ForwardFor, NeedsRoom, OutSide};
