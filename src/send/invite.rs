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

/// `missive subscribers add EMAIL` (without `--confirmed`): mails the
/// reader a confirmation link now, through the configured transport, and
/// records a pending sign-up for the author. Returns the server's reply.
pub(crate) async fn invite(
    project: &Project,
    email: &lettre::Address,
    name: &str,
) -> Result<String> {
    match Inviter::new(project)?.invite(email, name, "author").await? {
        Invited::Sent(reply) => Ok(reply),
        Invited::OverLimit { relay, limit } => Err(anyhow!(
            "not sent: the relay {relay} has sent its daily limit of {limit} messages"
        )),
    }
}

/// Mails confirmation links, one reader after another, through the
/// project's first relay: the author's invitation, and `subscribers
/// reconfirm` for the readers an import left pending. Each message counts
/// against the relay's `daily_limit` as `serve`'s confirmations do (the
/// `signup` journal), and the pending sign-up is recorded once the relay
/// took it: a reader the relay refused is asked again by the next run.
pub(crate) struct Inviter {
    letterhead: Letterhead,
    secret: Secret,
    confirm_url: String,
    log: events::Log,
    relay: super::transport::Relay,
    state_dir: std::path::PathBuf,
    journal: super::journal::Journal,
}

/// What became of one invitation.
#[derive(Debug)]
pub(crate) enum Invited {
    /// The relay took it: its reply.
    Sent(String),
    /// The relay has sent its `daily_limit` over the last day: nothing was
    /// sent.
    OverLimit { relay: String, limit: u64 },
}

impl Inviter {
    /// Everything a confirmation needs, checked before anyone is mailed:
    /// `[signup]`, the secret that seals the link, the templates, the
    /// relay.
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
        let relay = super::transport::Relays::from_project(project)?
            .primary()
            .clone();
        relay.transport.prepare()?;
        let state_dir = project.state_dir();
        let journal = super::journal::Journal::open(&super::journal::path_for(
            &state_dir,
            super::mailer::SIGNUP_JOURNAL,
        ))?;
        Ok(Inviter {
            letterhead,
            secret,
            confirm_url,
            log,
            relay,
            state_dir,
            journal,
        })
    }

    /// Mails `email` a confirmation link (unless the relay's daily limit
    /// is reached), journals it, and records their pending sign-up (by
    /// `source`).
    pub(crate) async fn invite(
        &mut self,
        email: &lettre::Address,
        name: &str,
        source: &str,
    ) -> Result<Invited> {
        if let Some(limit) = self.relay.daily_limit {
            let used = super::quota::Usage::load(&self.state_dir)?.used(&self.relay.name);
            if used >= limit {
                return Ok(Invited::OverLimit {
                    relay: self.relay.name.clone(),
                    limit,
                });
            }
        }
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
        let reply = self
            .relay
            .transport
            .deliver_one(&message)
            .await
            .map_err(|e| anyhow!("not sent: {e}"))?;
        let sent = super::journal::Outcome::new(
            super::journal::State::Sent,
            claim.email.clone(),
            reply.clone(),
        )
        .via(&self.relay.name);
        self.journal.record(&sent.into())?;
        self.journal.sync()?;
        self.log
            .append_about(&claim.email, Event::Pending, source, "", "")?;
        Ok(Invited::Sent(reply))
    }
}
