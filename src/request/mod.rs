//! What the API handlers and the network edge share, so neither imports the other: the request's
//! context, the one "answer now or later" type, and responses that splice in file ranges.

mod context;
pub mod response;

pub use context::{Client, RequestContext};
pub use response::{Chunk, EncodeError, Frame, Spliced, Splicer};

use futures::future::BoxFuture;

/// An answer that is ready now, or once a future completes: a JoinGroup waiting for the round to
/// end, a produce waiting for its fsync. The connection goes on reading and handling the requests
/// behind a later answer meanwhile, and answers them all in order.
pub enum Answer<T> {
    /// Ready.
    Now(T),
    /// Ready once the future completes.
    Later(BoxFuture<'static, T>),
}

impl<T: Send + 'static> Answer<T> {
    /// Waits for the answer.
    pub async fn settle(self) -> T {
        match self {
            Answer::Now(t) => t,
            Answer::Later(f) => f.await,
        }
    }

    /// The answer with `f` applied to it, now or when it is ready.
    pub fn map<U>(self, f: impl FnOnce(T) -> U + Send + 'static) -> Answer<U> {
        match self {
            Answer::Now(t) => Answer::Now(f(t)),
            Answer::Later(later) => Answer::Later(Box::pin(async move { f(later.await) })),
        }
    }
}
