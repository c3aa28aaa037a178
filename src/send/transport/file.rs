//! The file outbox: each message written as one `.eml` file, for a dispatch
//! with no server (the example project, and trying a send out).

use std::path::PathBuf;

use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Deliver, DeliverError, Fatal};

/// Writes each message into `dir`.
pub struct FileLink {
    dir: PathBuf,
}

impl FileLink {
    pub fn new(dir: PathBuf) -> FileLink {
        FileLink { dir }
    }
}

impl Deliver for FileLink {
    async fn deliver(&mut self, message: &Message) -> Result<String, DeliverError> {
        let files = AsyncFileTransport::<Tokio1Executor>::new(&self.dir);
        match files.send(message.clone()).await {
            Ok(id) => Ok(format!(
                "written to {}",
                self.dir.join(format!("{id}.eml")).display()
            )),
            Err(e) => Err(DeliverError::Fatal(Fatal::Outbox {
                dir: self.dir.clone(),
                detail: e.to_string(),
            })),
        }
    }

    async fn close(&mut self) {}
}
