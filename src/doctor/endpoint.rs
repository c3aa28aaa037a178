//! The one-click endpoint: a POST of `List-Unsubscribe=One-Click` (RFC
//! 8058) to the configured unsubscribe URL, with a signed token for the
//! canary address no reader has, must get a 2xx and no redirect. `missive
//! serve` knows the canary: it answers as to a reader and records nothing.

use std::time::Duration;

use super::findings::{About, Code, Finding, Level};
use crate::list::token::{CANARY, Secret};
use crate::project::Project;
use crate::send::message::UnsubscribeLinks;

/// The endpoint check, into `findings`.
pub(super) async fn examine(
    project: &Project,
    timeout: Duration,
    findings: &mut Vec<Finding>,
    checked: &mut Vec<String>,
) {
    let config = &project.config;
    let Some(url) = &config.unsubscribe.url else {
        findings.push(
            Finding::new(
                Level::Error,
                Code::EndpointMissing,
                About::Endpoint(String::new()),
                "no [unsubscribe] url: the mail has no one-click unsubscribe, which Gmail and \
                 Yahoo require of bulk senders",
            )
            .fix("[unsubscribe] url = \"https://your-site/unsubscribe?token={token}\", served by missive serve"),
        );
        return;
    };
    let about = || About::Endpoint(url.template().to_string());
    let Ok(Some(secret)) = Secret::for_project(project) else {
        findings.push(
            Finding::new(
                Level::Error,
                Code::EndpointNoSecret,
                about(),
                "MISSIVE_UNSUBSCRIBE_SECRET is not set (or too short): the links cannot be \
                 signed, and the endpoint cannot be tried",
            )
            .fix("export MISSIVE_UNSUBSCRIBE_SECRET=<at least 16 random characters> (the same value serve has)"),
        );
        return;
    };
    let Some(target) = UnsubscribeLinks::new(&config.unsubscribe, Some(&secret), CANARY).url else {
        return;
    };
    checked.push(format!("the one-click endpoint {}", url.template()));
    let client = crate::tls::client_config(None, "").and_then(|tls| {
        reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .user_agent(concat!("missive-doctor/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(anyhow::Error::from)
    });
    let client = match client {
        Ok(client) => client,
        Err(e) => {
            findings.push(Finding::new(
                Level::Error,
                Code::EndpointUnreachable,
                about(),
                format!("cannot set up HTTP: {e:#}"),
            ));
            return;
        }
    };
    let answer = client
        .post(&target)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body("List-Unsubscribe=One-Click")
        .send()
        .await;
    let response = match answer {
        Ok(response) => response,
        Err(e) => {
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why = format!("{why}: {s}");
                source = s.source();
            }
            findings.push(
                Finding::new(
                    Level::Error,
                    Code::EndpointUnreachable,
                    about(),
                    format!("the one-click POST got no answer: {why}"),
                )
                .fix("run missive serve where the URL points, and check it is reachable from outside"),
            );
            return;
        }
    };
    let status = response.status();
    if status.is_redirection() {
        let to = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .unwrap_or("nowhere said")
            .to_string();
        findings.push(
            Finding::new(
                Level::Error,
                Code::EndpointRedirects,
                about(),
                format!(
                    "the one-click POST was answered {status}, a redirect to {to}: mail clients do \
                     not follow it (RFC 8058 §3.2), so nobody is unsubscribed"
                ),
            )
            .fix("point [unsubscribe] url at the final address (https, the right host and path), with no redirect in between"),
        );
    } else if !status.is_success() {
        findings.push(
            Finding::new(
                Level::Error,
                Code::EndpointRefused,
                about(),
                format!("the one-click POST was answered {status}"),
            )
            .fix("the URL must reach missive serve, with the same MISSIVE_UNSUBSCRIBE_SECRET"),
        );
    }
}
