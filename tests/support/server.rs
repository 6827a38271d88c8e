//! The thread-and-runtime wrapper every in-process fake runs on. Its own
//! file so the benchmark fake (`benches/fake_ses.rs`) can reuse the fakes
//! without the rest of the test support.

use std::time::Duration;

/// An async server running on a thread and runtime of its own, so blocking
/// tests (that run the binary) and async tests can both talk to it. Its
/// future gets a stop signal; dropping the handle sends it, then joins the
/// thread, and dropping the runtime cancels whatever tasks remain.
pub struct ServerThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerThread {
    pub fn spawn<F, Fut>(serve: F) -> ServerThread
    where
        F: FnOnce(tokio::sync::oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(serve(stopped));
            rt.shutdown_timeout(Duration::from_secs(2));
        });
        ServerThread {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
