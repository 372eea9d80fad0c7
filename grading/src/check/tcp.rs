//! `tcp`: something accepts TCP connections at an address (by connecting, not by reading socket tables).

use super::{Attempt, Context, Kind, Mismatch, Needs};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
    /// `host:port`, e.g. `127.0.0.1:{site_port}`.
    pub address: String,
}

impl TcpCheck {
    pub(crate) async fn attempt_at(&self, ctx: &Context, deadline: Instant) -> Attempt {
        let address = ctx.vars.expand(&self.address);
        let expected = format!("a TCP listener on {address}");
        match tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(&address)).await {
            Ok(Ok(_stream)) => Attempt::Pass,
            Ok(Err(e)) => Attempt::Fail(Mismatch::new(expected, connect_error(&address, &e))),
            Err(_) => Attempt::Fail(Mismatch::cut_off(expected, format!("connecting to {address} timed out"))),
        }
    }
}

impl Kind for TcpCheck {
    fn name(&self) -> &'static str {
        "tcp"
    }

    fn needs(&self) -> Needs {
        Needs::LIVE
    }

    fn strings(&self) -> Vec<&str> {
        vec![self.address.as_str()]
    }

    fn attempt<'a>(&'a self, ctx: &'a Context, deadline: Instant, _interval: Duration) -> BoxFuture<'a, Attempt> {
        Box::pin(self.attempt_at(ctx, deadline))
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
