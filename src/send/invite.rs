//! Confirmation mail: the message that carries a reader's confirmation
//! link (for `serve`'s sign-ups and the author's `subscribers add`), and
//! the author's invitation, sent at once through the configured transport.

use anyhow::{Result, anyhow};

use super::message::{Letterhead, MessageError, Transfer};
use crate::list::address::normalize;
use crate::list::events::{self, Event};
use crate::list::reader::Subscriber;
use crate::list::signup;
use crate::list::token::{Secret, SignupClaim};
use crate::project::Project;

/// The confirmation email of `claim`, its link under `confirm_url`. The
/// name the form gave stays out of it (it is recorded once the reader
/// confirms): whatever anyone types in a form must not become words in a
/// message from the newsletter's own domain.
pub(crate) fn confirmation(
    letterhead: &Letterhead,
    confirm_url: &str,
    secret: &Secret,
    address: lettre::Address,
    claim: &SignupClaim,
) -> Result<lettre::Message, MessageError> {
    let link = signup::link(confirm_url, secret, claim);
    let reader = Subscriber::with_values(
        address,
        "",
        &[(crate::compose::confirm::CONFIRM_URL, link.as_str())],
    );
    letterhead.message(&reader, Transfer::SevenBit)
}

/// `missive subscribers add EMAIL` (without `--confirmed`): records a
/// pending sign-up for the author and mails its confirmation link now,
/// through the configured transport. Returns the server's reply.
pub(crate) async fn invite(
    project: &Project,
    email: &lettre::Address,
    name: &str,
) -> Result<String> {
    Inviter::new(project)?.invite(email, name, "author").await
}

/// Mails confirmation links, one reader after another, through the
/// configured transport: the author's invitation, and `subscribers
/// reconfirm` for the readers an import left pending.
pub(crate) struct Inviter {
    letterhead: Letterhead,
    secret: Secret,
    confirm_url: String,
    log: events::Log,
    transport: super::Transport,
}

impl Inviter {
    /// Everything a confirmation needs, checked before anyone is mailed:
    /// `[signup]`, the secret that seals the link, the templates, the
    /// transport.
    pub(crate) fn new(project: &Project) -> Result<Inviter> {
        let settings = project.config.signup.as_ref().ok_or_else(|| {
            anyhow!(
                "{}: a confirmation link needs [signup] (or add the reader with --confirmed)",
                project.config_label().display()
            )
        })?;
        let secret = Secret::for_project(project)?.ok_or_else(|| {
            anyhow!(
                "{}: it seals the confirmation link",
                crate::list::token::SECRET_ENV
            )
        })?;
        let templates = crate::compose::Templates::load(&project.templates_dir())?;
        let rendered = crate::compose::confirm::confirmation(
            project,
            &templates,
            settings.confirm_hours.get(),
        )?;
        let letterhead = Letterhead::new(
            &project.config,
            &project.root,
            "signup",
            &crate::compose::confirm::subject(project),
            &rendered,
            Some(secret.clone()),
        )?;
        let confirm_url = format!("{}/confirm", signup::base_url(project)?);
        let (_, log, _) = events::open_project(project, &project.list_path(None))?;
        let transport = super::Transport::from_project(project)?;
        transport.prepare()?;
        Ok(Inviter {
            letterhead,
            secret,
            confirm_url,
            log,
            transport,
        })
    }

    /// Records a pending sign-up of `email` (by `source`) and mails its
    /// confirmation link. Returns the server's reply.
    pub(crate) async fn invite(
        &mut self,
        email: &lettre::Address,
        name: &str,
        source: &str,
    ) -> Result<String> {
        let claim = SignupClaim {
            email: normalize(email.as_ref()),
            name: name.to_string(),
            fields: Vec::new(),
            at: time::OffsetDateTime::now_utc().unix_timestamp(),
        };
        let message = confirmation(
            &self.letterhead,
            &self.confirm_url,
            &self.secret,
            email.clone(),
            &claim,
        )?;
        self.log
            .append_about(&claim.email, Event::Pending, source, "", "")?;
        self.transport
            .deliver_one(&message)
            .await
            .map_err(|e| anyhow!("not sent: {e}"))
    }
}
