//! Response bodies: bytes from the cache, a slice of a file streamed from disk, or nothing (HEAD, 304).

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

const CHUNK: usize = 64 * 1024;

#[derive(Debug)]
pub enum Body {
    Bytes(Option<Bytes>),
    File { file: tokio::fs::File, remaining: u64 },
    Empty,
}

impl Body {
    pub fn bytes(bytes: Bytes) -> Body {
        Body::Bytes(Some(bytes))
    }

    pub fn text(text: &'static str) -> Body {
        Body::Bytes(Some(Bytes::from_static(text.as_bytes())))
    }

    /// Collects the body (for tests).
    pub async fn collect_bytes(self) -> io::Result<Bytes> {
        Ok(self.collect().await?.to_bytes())
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Body::Bytes(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Empty => Poll::Ready(None),
            Body::File { file, remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let want = (*remaining).min(CHUNK as u64) as usize;
                let mut buf = BytesMut::zeroed(want);
                let mut read_buf = ReadBuf::new(&mut buf);
                match Pin::new(file).poll_read(cx, &mut read_buf) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                    Poll::Ready(Ok(())) => {
                        let n = read_buf.filled().len();
                        if n == 0 {
                            return Poll::Ready(Some(Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "file shrank while being sent",
                            ))));
                        }
                        *remaining -= n as u64;
                        buf.truncate(n);
                        Poll::Ready(Some(Ok(Frame::data(buf.freeze()))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Bytes(bytes) => bytes.is_none(),
            Body::Empty => true,
            Body::File { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Bytes(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Bytes(None) | Body::Empty => SizeHint::with_exact(0),
            Body::File { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}
