//! `missive preview`: the live preview, until Ctrl-C.

use std::path::Path;

use anyhow::Result;

use super::ExitStatus;
use crate::cli::PreviewArgs;
use crate::ui;
use crate::ui::outln;
use crate::web::preview;

pub(super) async fn run(config: Option<&Path>, args: PreviewArgs) -> Result<ExitStatus> {
    let issue = args.issue.clone();
    let open = args.open;
    preview::serve(
        preview::Options {
            issue: args.issue,
            config: config.map(Path::to_path_buf),
            bind: args.bind,
            port: args.port,
            as_email: args.as_email,
        },
        move |url| {
            outln!("Previewing {} at {url} (Ctrl-C to stop)", ui::path(&issue));
            if open && let Err(e) = opener::open_browser(url) {
                eprintln!("warning: cannot open a browser: {e}");
            }
        },
    )
    .await?;
    Ok(ExitStatus::Success)
}
