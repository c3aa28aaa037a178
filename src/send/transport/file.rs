//! The file outbox: each message written as one `.eml` file, for a dispatch
//! with no server (the example project, and trying a send out). The
//! envelope's sender is written first as `Return-Path:`, as a receiving
//! server would, so the return path can be seen.

use std::path::PathBuf;

use super::{Deliver, DeliverError, Fatal, Formatted};

/// Writes each message into `dir`.
pub(crate) struct FileLink {
    dir: PathBuf,
}

impl FileLink {
    pub(crate) fn new(dir: PathBuf) -> FileLink {
        FileLink { dir }
    }
}

impl Deliver for FileLink {
    async fn deliver(&mut self, message: &Formatted) -> Result<String, DeliverError> {
        let name = format!("{:016x}{:016x}.eml", fastrand::u64(..), fastrand::u64(..));
        let path = self.dir.join(name);
        let mut bytes = Vec::new();
        if let Some(sender) = message.envelope.from() {
            bytes.extend_from_slice(format!("Return-Path: <{sender}>\r\n").as_bytes());
        }
        bytes.extend_from_slice(&message.bytes);
        let target = path.clone();
        let written =
            tokio::task::spawn_blocking(move || crate::fsutil::write_atomic(&target, &bytes, None))
                .await;
        match written {
            Ok(Ok(())) => Ok(format!("written to {}", path.display())),
            Ok(Err(e)) => Err(DeliverError::Fatal(Fatal::Outbox {
                dir: self.dir.clone(),
                detail: format!("{e:#}"),
            })),
            Err(e) => Err(DeliverError::Fatal(Fatal::Outbox {
                dir: self.dir.clone(),
                detail: e.to_string(),
            })),
        }
    }

    async fn close(&mut self) {}
}
