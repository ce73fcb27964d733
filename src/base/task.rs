//! Boxing futures before they are spawned. tokio compiles its task machinery (the harness
//! that polls, completes, joins and drops a task) once per future type; a boxed future has
//! one type per output type, so the tasks the crate spawns itself share one copy. A spawn
//! costs one more allocation, which is nothing next to a task's own.

use std::future::Future;
use std::pin::Pin;

/// A spawned future, boxed.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// `f`, boxed for spawning: `tokio::spawn(boxed(f))`, `tasks.spawn(boxed(f))`.
pub fn boxed<T, F>(f: F) -> BoxFuture<T>
where
    F: Future<Output = T> + Send + 'static,
{
    Box::pin(f)
}
