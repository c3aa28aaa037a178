//! `missive serve`: unsubscribes, sign-ups and the archive, until Ctrl-C or SIGTERM.

use std::path::Path;

use anyhow::Result;

use super::ExitStatus;
use crate::cli::ServeArgs;
use crate::project::Project;
use crate::ui;
use crate::ui::outln;
use crate::web::serve;

pub(super) async fn run(config: Option<&Path>, args: &ServeArgs) -> Result<ExitStatus> {
    let project = Project::open(config)?;
    let options = serve::Options {
        bind: args.bind,
        site: project.resolve(&args.site),
        subscribers: args.subscribers.clone(),
        send_latest: args.send_latest,
    };
    let site = options.site.clone();
    let signup = project.config.signup.is_some();
    let counts = project
        .config
        .clicks
        .is_some()
        .then(|| project.state_dir().join("clicks").join("counts.jsonl"));
    serve::serve(
        &project,
        &options,
        |ready| {
            eprint!("{}", ui::MigratedNotes(&ready.migrated));
            outln!(
                "Serving unsubscribes{} (into {}){} and the archive ({}) at http://{}/ (Ctrl-C to stop)",
                if signup { " and sign-ups" } else { "" },
                ui::path(&ready.log),
                counts.as_ref().map_or_else(String::new, |c| format!(
                    ", click links (counted into {})",
                    ui::path(c)
                )),
                ui::path(&site),
                ready.address
            );
        },
        // Through the log (text or JSON, as --log-format says), with any
        // address in it masked.
        |problem| {
            tracing::error!(
                problem = %crate::list::address::mask_addresses(&ui::printable(problem)),
                "request problem"
            );
        },
    )
    .await?;
    Ok(ExitStatus::Success)
}
