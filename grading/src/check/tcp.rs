//! `tcp`: something accepts TCP connections at an address (by connecting, not by reading socket tables).

use super::{Attempt, Context, Mismatch};
use serde::Deserialize;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
    /// `host:port`, e.g. `127.0.0.1:{site_port}`.
    pub address: String,
}

impl TcpCheck {
    pub(crate) async fn attempt(&self, ctx: &Context, deadline: Instant) -> Attempt {
        let address = ctx.vars.expand(&self.address);
        let expected = format!("a TCP listener on {address}");
        match tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(&address)).await {
            Ok(Ok(_stream)) => Attempt::Pass,
            Ok(Err(e)) => Attempt::Fail(Mismatch::new(expected, connect_error(&address, &e))),
            Err(_) => Attempt::Fail(Mismatch::cut_off(expected, format!("connecting to {address} timed out"))),
        }
    }
}

/// Words for a failed connection that tell a student what is going on.
pub(crate) fn connect_error(address: &str, error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            format!("connection refused on {address}: nothing listens there")
        }
        _ => format!("cannot connect to {address}: {error}"),
    }
}
