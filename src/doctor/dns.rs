//! The doctor's DNS: one resolver (the system's, or the one `--dns` names),
//! and lookups that tell "there is no such record" (an empty answer) from
//! "the question got no answer" (an error, named).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Result, anyhow};
use mail_auth::MessageAuthenticator;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::net::NetError;
use mail_auth::hickory_resolver::proto::rr::RData;

/// A resolver, and the verifier that asks it.
pub(super) struct Dns {
    auth: MessageAuthenticator,
    /// Who is asked, for messages.
    server: String,
}

impl Dns {
    /// Asks `server` (UDP, then TCP for long answers), or the system's
    /// resolvers; each query within `timeout`, tried once.
    pub(super) fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<Dns> {
        let mut options = ResolverOpts::default();
        options.timeout = timeout;
        options.attempts = 1;
        let (config, name) = if let Some(at) = server {
            let mut udp = ConnectionConfig::udp();
            udp.port = at.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = at.port();
            let server = NameServerConfig::new(at.ip(), true, vec![udp, tcp]);
            (
                ResolverConfig::from_parts(None, vec![], vec![server]),
                at.to_string(),
            )
        } else {
            let (config, _) = mail_auth::hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| anyhow!("cannot read the system's DNS settings: {e}"))?;
            (config, "the system's resolver".to_string())
        };
        let auth = MessageAuthenticator::new(config, options)
            .map_err(|e| anyhow!("cannot set up DNS: {e}"))?;
        Ok(Dns { auth, server: name })
    }

    /// Who is asked: `HOST:PORT`, or the system's resolver.
    pub(super) fn server(&self) -> &str {
        &self.server
    }

    /// The verifier, asking this resolver.
    pub(super) fn authenticator(&self) -> &MessageAuthenticator {
        &self.auth
    }

    /// Each TXT record at `name`, its strings joined (a 2048-bit DKIM key
    /// comes as two).
    pub(super) async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
        let lookup = self.auth.resolver().txt_lookup(fqdn(name)).await;
        self.records(name, "TXT", lookup, |data| match data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|part| String::from_utf8_lossy(part))
                    .collect(),
            ),
            _ => None,
        })
    }

    /// The mail exchangers of `name`, by preference.
    pub(super) async fn mx(&self, name: &str) -> Result<Vec<String>, String> {
        let lookup = self.auth.resolver().mx_lookup(fqdn(name)).await;
        let mut found = self.records(name, "MX", lookup, |data| match data {
            RData::MX(mx) => Some((mx.preference, host(&mx.exchange.to_ascii()))),
            _ => None,
        })?;
        found.sort();
        Ok(found.into_iter().map(|(_, name)| name).collect())
    }

    /// The addresses of `name` (A and AAAA).
    pub(super) async fn ips(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        let v4 = self.auth.resolver().ipv4_lookup(fqdn(name)).await;
        let mut found = self.records(name, "A", v4, |data| match data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })?;
        let v6 = self.auth.resolver().ipv6_lookup(fqdn(name)).await;
        found.extend(self.records(name, "AAAA", v6, |data| match data {
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })?);
        Ok(found)
    }

    /// The names `ip` points back to (PTR).
    pub(super) async fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, String> {
        let lookup = self.auth.resolver().reverse_lookup(ip).await;
        self.records(&ip.to_string(), "PTR", lookup, |data| match data {
            RData::PTR(ptr) => Some(host(&ptr.to_ascii())),
            _ => None,
        })
    }

    /// The answers of one type; none when the name or the record does not
    /// exist; an error naming the question and the resolver otherwise.
    fn records<T>(
        &self,
        name: &str,
        kind: &str,
        lookup: Result<mail_auth::hickory_resolver::lookup::Lookup, NetError>,
        pick: impl Fn(&RData) -> Option<T>,
    ) -> Result<Vec<T>, String> {
        match lookup {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| pick(&r.data))
                .collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(format!(
                "{kind} {name}: {} did not answer: {e}",
                self.server
            )),
        }
    }
}

/// `name` as a fully-qualified name, so no search domain is tried.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// A name from DNS as it is written in a record: lower case, no final dot.
fn host(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}
