//! `missive doctor`: DNS authentication, the message, the relays and the
//! one-click endpoint, checked before the first send.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::ExitStatus;
use crate::cli::{DoctorArgs, DoctorPart};
use crate::compose::compose;
use crate::doctor::{Level, Part, Settings, examine};
use crate::ui;
use crate::ui::out;

pub(super) async fn run(config: Option<&Path>, args: &DoctorArgs) -> Result<ExitStatus> {
    let project = crate::project::Project::open(config)?;
    let parts: Vec<Part> = if args.only.is_empty() {
        vec![Part::Dns, Part::Message, Part::Relays, Part::Endpoint]
    } else {
        args.only
            .iter()
            .map(|p| match p {
                DoctorPart::Dns => Part::Dns,
                DoctorPart::Message => Part::Message,
                DoctorPart::Relays => Part::Relays,
                DoctorPart::Endpoint => Part::Endpoint,
            })
            .collect()
    };
    let composed = if parts.contains(&Part::Message) {
        let issue = match &args.issue {
            Some(issue) => issue.clone(),
            None => crate::curate::newest_issue(&project)?,
        };
        Some(compose(&project, &issue)?)
    } else {
        None
    };
    let settings = Settings {
        ips: args.ip.clone(),
        dns: args.dns,
        parts,
        timeout: Duration::from_secs(args.timeout.max(1)),
        save_message: args.save_message.clone(),
    };
    let report = examine(&project, composed.as_ref(), &settings).await?;
    if args.json {
        out!("{}", ui::json(&report)?);
    } else {
        out!("{}", ui::doctor::DoctorScreen(&report));
    }
    Ok(if report.count(Level::Error) > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}
