//! Personalized messages: the rendered issue (merge tags filled in for one
//! reader) wrapped in the headers bulk senders need — List-Id,
//! List-Unsubscribe, one-click unsubscribe — and signed with DKIM when
//! configured. Entry point: [`Letterhead::message`].

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use lettre::Message;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::{
    ContentTransferEncoding, ContentType, Header, HeaderName, HeaderValue,
};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};

use crate::compose::clicks::key_number;
use crate::compose::merge::{Escape, Merge, UNSUBSCRIBE_URL};
use crate::compose::render::Rendered;
use crate::list::reader::Subscriber;
use crate::list::token::{SECRET_ENV, Secret, TAG_LEN};
use crate::project::config::{Config, Dkim, Unsubscribe};
use crate::project::values::UnsubscribeUrl;

/// Merge tags every reader has values for.
pub(crate) const BUILT_IN_TAGS: &[&str] = &["name", "email", UNSUBSCRIBE_URL];

/// Everything shared by all the messages of one issue.
pub(crate) struct Letterhead {
    from: Mailbox,
    reply_to: Option<Mailbox>,
    /// The Subject, with any merge tags still in it.
    subject: Merge,
    list_id: Option<String>,
    unsubscribe: Unsubscribe,
    secret: Option<Secret>,
    html: Forms,
    text: Forms,
    dkim: Option<DkimConfig>,
    /// The part of Message-IDs after the `@`.
    id_domain: String,
    /// `Feedback-ID`, for the mailbox providers' complaint loops.
    feedback_id: Option<String>,
    /// With `[bounces]`: where each message's envelope sender points.
    return_path: Option<ReturnPath>,
    /// The issue's file stem, which bounce tags name.
    issue: String,
    /// With `[clicks]`: the links each message carries.
    clicks: Option<super::clicks::ClickLinks>,
}

/// What bodies a relay carries: 7-bit ones only, or 8-bit ones too (it
/// offers 8BITMIME, RFC 6152).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transfer {
    SevenBit,
    EightBit,
}

/// A part's template in the two forms it may be sent in.
struct Forms {
    /// As written, CRLF line ends (HTML folded into short lines).
    as_is: Merge,
    /// Whether `as_is` is ASCII but for what readers' values bring.
    ascii: bool,
    quoted_printable: Merge,
}

impl Forms {
    /// Both forms of `merge`: the quoted-printable one encodes the text as
    /// it is sent as it is (folded HTML included), so the two decode to
    /// the same bytes.
    fn new(merge: &Merge) -> Forms {
        let as_is = merge.as_is();
        Forms {
            ascii: as_is.is_ascii(),
            quoted_printable: as_is.quoted_printable(),
            as_is,
        }
    }

    /// The part's body for one reader and how it is encoded: as it is when
    /// every line fits SMTP's limit — `7bit` when ASCII, `8bit` when the
    /// relay carries it — else quoted-printable. Decided here, before DKIM
    /// signs, so the signature covers exactly what is sent.
    fn body<'a>(
        &self,
        lookup: &impl Fn(&str) -> Option<Cow<'a, str>>,
        transfer: Transfer,
    ) -> (String, ContentTransferEncoding) {
        if self.ascii || transfer == Transfer::EightBit {
            let body = self.as_is.fill(lookup);
            if lines_fit(&body) {
                if self.ascii && body.is_ascii() {
                    return (body, ContentTransferEncoding::SevenBit);
                }
                if transfer == Transfer::EightBit {
                    return (body, ContentTransferEncoding::EightBit);
                }
            }
        }
        (
            self.quoted_printable.fill(lookup),
            ContentTransferEncoding::QuotedPrintable,
        )
    }
}

/// Whether every line of `body` (CRLF line ends, as [`Merge::as_is`] makes
/// them) is at most 998 bytes (RFC 5321 §4.5.3.1.6): it may go without a
/// transfer encoding.
fn lines_fit(body: &str) -> bool {
    const MAX_LINE: usize = 998;
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', body.as_bytes()) {
        if end - start > MAX_LINE + 1 {
            return false;
        }
        start = end + 1;
    }
    body.len() - start <= MAX_LINE
}

/// The parts of a VERP bounce address: `<user>+<tag>@<domain>`, the tag
/// naming the issue and the reader.
struct ReturnPath {
    user: String,
    domain: String,
}

/// A message for one reader could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MessageError {
    #[error("the name of {email} contains a line break")]
    NameLineBreak { email: String },
    #[error("cannot make the bounce address for {email}: {source}")]
    BounceAddress {
        email: String,
        source: lettre::address::AddressError,
    },
    #[error("cannot record the click links' wave for {email}: {source:#}")]
    Clicks {
        email: String,
        source: anyhow::Error,
    },
    #[error("cannot build the message for {email}: {source}")]
    Build {
        email: String,
        source: lettre::error::Error,
    },
}

impl Letterhead {
    /// Checks the config for sending and prepares the shared parts.
    /// `secret` is needed when the unsubscribe URL has a `{token}`.
    pub(crate) fn new(
        config: &Config,
        root: &Path,
        issue: &str,
        subject: &str,
        rendered: &Rendered,
        secret: Option<Secret>,
    ) -> Result<Letterhead> {
        let newsletter = &config.newsletter;
        let from = newsletter
            .from
            .as_ref()
            .map(|m| m.0.clone())
            .ok_or_else(|| anyhow!("newsletter.from is not set: who is the issue from?"))?;
        let url = config.unsubscribe.url.clone();
        if url.as_ref().is_some_and(UnsubscribeUrl::needs_token) && secret.is_none() {
            bail!(
                "unsubscribe.url has a {{token}}, but {SECRET_ENV} is not set: \
                 set it to a long random secret (e.g. `openssl rand -hex 32`)"
            );
        }
        let dkim = config
            .dkim
            .as_ref()
            .map(|d| dkim_config(d, root))
            .transpose()?;
        let id_domain = from.email.domain().to_string();
        let return_path = match config.bounces.as_ref().and_then(|b| b.address.as_ref()) {
            None => None,
            Some(address) => {
                if secret.is_none() {
                    bail!(
                        "[bounces] address is set, but {SECRET_ENV} is not set: bounce addresses \
                         are signed with it"
                    );
                }
                let (user, domain) = (address.0.user(), address.0.domain());
                // `user+<tag>` must fit the 64-byte local part.
                let most = 64 - 1 - TAG_LEN;
                if user.len() > most {
                    bail!(
                        "bounces.address: the part before the @ is too long to carry a bounce \
                         tag (at most {most} characters)"
                    );
                }
                Some(ReturnPath {
                    user: user.to_string(),
                    domain: domain.to_string(),
                })
            }
        };
        Ok(Letterhead {
            reply_to: newsletter.reply_to.as_ref().map(|m| m.0.clone()),
            subject: Merge::parse(subject, Escape::None),
            list_id: newsletter.list_id.as_ref().map(ToString::to_string),
            unsubscribe: config.unsubscribe.clone(),
            secret,
            html: Forms::new(&rendered.html_merge()),
            text: Forms::new(&rendered.text_merge()),
            dkim,
            from,
            id_domain,
            feedback_id: config.sending.feedback_id.as_ref().map(ToString::to_string),
            return_path,
            issue: issue.to_string(),
            clicks: None,
        })
    }

    /// The same, its HTML's links click links (`[clicks]`): `rendered` is
    /// what [`new`](Letterhead::new) was given.
    #[must_use]
    pub(crate) fn with_clicks(
        mut self,
        rendered: &Rendered,
        clicks: super::clicks::ClickLinks,
    ) -> Letterhead {
        self.html = Forms::new(&Merge::parse(
            &clicks.table.tagged(&rendered.html),
            Escape::Html,
        ));
        self.clicks = Some(clicks);
        self
    }

    /// With `[clicks]`, the click links.
    pub(crate) fn clicks(&self) -> Option<&super::clicks::ClickLinks> {
        self.clicks.as_ref()
    }

    /// Whether readers have a way to unsubscribe; a dispatch to a list needs one.
    pub(crate) fn has_unsubscribe(&self) -> bool {
        self.unsubscribe.url.is_some() || self.unsubscribe.mailto.is_some()
    }

    /// Merge tags the issue uses that neither missive nor the list's
    /// `columns` provide.
    pub(crate) fn unknown_tags(&self, columns: &[String]) -> BTreeSet<String> {
        self.html
            .as_is
            .keys()
            .into_iter()
            .chain(self.text.as_is.keys())
            .chain(self.subject.keys())
            .filter(|k| !BUILT_IN_TAGS.contains(k) && !columns.iter().any(|c| c == k))
            .filter(|k| self.clicks.is_none() || key_number(k).is_none())
            .map(String::from)
            .collect()
    }

    /// The message for one reader, its bodies in a form a relay that
    /// carries `transfer` takes.
    pub(crate) fn message(
        &self,
        reader: &Subscriber,
        transfer: Transfer,
    ) -> Result<Message, MessageError> {
        self.build(reader, None, transfer)
    }

    /// The message for `send --test`: personalized as `reader` would get
    /// it, but sent to `to` with `[TEST] ` before the subject. Its
    /// unsubscribe links (header and footer) are those of `to`, never the
    /// reader's: pressing Unsubscribe in a test cannot unsubscribe a reader.
    pub(crate) fn test_message(
        &self,
        reader: &Subscriber,
        to: &Mailbox,
    ) -> Result<Message, MessageError> {
        self.build(reader, Some(to), Transfer::SevenBit)
    }

    /// A new `Message-ID`. With the secret, it begins with the signed tag
    /// of the issue and its recipient, so a delivery report or a complaint
    /// that quotes the original's headers traces back to them even when a
    /// forwarder rewrote the envelope: `<tag.random@domain>`.
    fn message_id(&self, recipient: &str) -> String {
        let unique = format!("{:016x}", fastrand::u64(..));
        match &self.secret {
            Some(secret) => format!(
                "<{}.{unique}@{}>",
                secret.verp_tag(&self.issue, recipient),
                self.id_domain
            ),
            None => format!("<{unique}{:016x}@{}>", fastrand::u64(..), self.id_domain),
        }
    }

    /// The Subject for one reader: merge tags filled in, on one line.
    fn subject_for<'a>(&self, lookup: &impl Fn(&str) -> Option<Cow<'a, str>>) -> String {
        let filled = self.subject.fill(lookup);
        let one_line: String = filled
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        one_line.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    fn build(
        &self,
        reader: &Subscriber,
        test_to: Option<&Mailbox>,
        transfer: Transfer,
    ) -> Result<Message, MessageError> {
        let email = reader.email.to_string();
        // Whose unsubscribe links these are: the reader's, or in a test the
        // test recipient's.
        let link_owner = test_to.map_or_else(|| email.clone(), |to| to.email.to_string());
        let links = UnsubscribeLinks::new(&self.unsubscribe, self.secret.as_ref(), &link_owner);
        let clicks = match &self.clicks {
            Some(clicks) => Some(clicks.next().map_err(|source| MessageError::Clicks {
                email: email.clone(),
                source,
            })?),
            None => None,
        };
        let values = reader_values(reader, &email, links.primary());
        let lookup = |key: &str| {
            let click = clicks
                .as_ref()
                .zip(key_number(key))
                .and_then(|(urls, n)| urls.get(usize::try_from(n).ok()?));
            match click {
                Some(url) => Some(Cow::Borrowed(url.as_str())),
                None => values(key),
            }
        };
        let html = self.html.body(&lookup, transfer);
        let text = self.text.body(&lookup, transfer);
        let (url_link, mailto_link) = (&links.url, &links.mailto);

        if reader.name.contains(['\r', '\n']) {
            return Err(MessageError::NameLineBreak {
                email: email.clone(),
            });
        }
        let subject = self.subject_for(&lookup);
        let (to, subject) = if let Some(to) = test_to {
            (to.clone(), format!("[TEST] {subject}"))
        } else {
            let name = (!reader.name.is_empty()).then(|| reader.name.clone());
            (Mailbox::new(name, reader.email.clone()), subject)
        };

        let sender = match (&self.return_path, &self.secret) {
            (Some(path), Some(secret)) => {
                // A test returns to its own recipient's tag, never the reader's.
                let tag = secret.verp_tag(&self.issue, &link_owner);
                lettre::Address::new(format!("{}+{tag}", path.user), &path.domain).map_err(
                    |source| MessageError::BounceAddress {
                        email: email.clone(),
                        source,
                    },
                )?
            }
            _ => self.from.email.clone(),
        };
        let envelope = lettre::address::Envelope::new(Some(sender), vec![to.email.clone()])
            .map_err(|source| MessageError::Build {
                email: email.clone(),
                source,
            })?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .header(To(to))
            .envelope(envelope);
        builder = if subject.split(' ').any(|word| word.len() > MAX_WORD) {
            // A word no line can hold: encoded words, which fold anywhere.
            builder.header(Subject(subject))
        } else {
            builder.subject(subject)
        };
        let mut builder = builder
            .date_now()
            .message_id(Some(self.message_id(&link_owner)));
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        if let Some(list_id) = &self.list_id {
            builder = builder.raw_header(raw("List-Id", list_id.clone()));
        }
        // Bulk mail: out-of-office and other automatic replies stay away.
        builder = builder
            .raw_header(raw("Precedence", "bulk".into()))
            .raw_header(raw("X-Auto-Response-Suppress", "OOF, AutoReply".into()));
        if let Some(id) = &self.feedback_id {
            builder = builder.raw_header(raw("Feedback-ID", id.clone()));
        }
        let targets: Vec<String> = [url_link, mailto_link]
            .into_iter()
            .flatten()
            .map(|l| format!("<{l}>"))
            .collect();
        if !targets.is_empty() {
            builder = builder.raw_header(raw("List-Unsubscribe", targets.join(", ")));
        }
        if self
            .unsubscribe
            .url
            .as_ref()
            .is_some_and(UnsubscribeUrl::one_click)
        {
            builder = builder.raw_header(raw(
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click".into(),
            ));
        }
        // The parts come out of the templates already encoded.
        let part = |content_type: ContentType,
                    (body, encoding): (String, ContentTransferEncoding)| {
            SinglePart::builder()
                .header(content_type)
                .body(Body::dangerous_pre_encoded(body.into_bytes(), encoding))
        };
        let mut message = builder
            .multipart(
                MultiPart::alternative()
                    .singlepart(part(ContentType::TEXT_PLAIN, text))
                    .singlepart(part(ContentType::TEXT_HTML, html)),
            )
            .map_err(|source| MessageError::Build {
                email: email.clone(),
                source,
            })?;
        if let Some(dkim) = &self.dkim {
            message.sign(dkim);
        }
        Ok(message)
    }
}

/// One reader's unsubscribe links: their own URL (with its token) and the mailto.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UnsubscribeLinks {
    pub url: Option<String>,
    pub mailto: Option<String>,
}

impl UnsubscribeLinks {
    /// The links for `email`; without a secret, `{token}` is left empty.
    pub(crate) fn new(
        unsubscribe: &Unsubscribe,
        secret: Option<&Secret>,
        email: &str,
    ) -> UnsubscribeLinks {
        UnsubscribeLinks {
            url: unsubscribe.url.as_ref().map(|url| {
                let token = secret
                    .map(|s| {
                        if url.sealed() {
                            s.seal(email)
                        } else {
                            s.token(email)
                        }
                    })
                    .unwrap_or_default();
                url.fill(email, &token)
            }),
            mailto: unsubscribe.mailto_link(),
        }
    }

    /// The link `{{ unsubscribe_url }}` stands for: the URL, else the mailto.
    pub(crate) fn primary(&self) -> Option<&str> {
        self.url.as_deref().or(self.mailto.as_deref())
    }
}

/// The merge tag values of one reader: `name`, `email`,
/// `unsubscribe_url` and the list's columns.
pub(crate) fn reader_values<'a>(
    reader: &'a Subscriber,
    email: &'a str,
    unsubscribe: Option<&'a str>,
) -> impl Fn(&str) -> Option<Cow<'a, str>> {
    move |key| match key {
        "name" => Some(Cow::Borrowed(reader.name.as_str())),
        "email" => Some(Cow::Borrowed(email)),
        UNSUBSCRIBE_URL => unsubscribe.map(Cow::Borrowed),
        column => reader.column(column).map(Cow::Borrowed),
    }
}

/// Reads the DKIM key and names the headers the signature covers. (Not
/// Content-Type: lettre writes it with the body, after signing the headers.)
fn dkim_config(dkim: &Dkim, root: &Path) -> Result<DkimConfig> {
    let key = DkimKey::read(dkim, root)?.signing().with_context(|| {
        format!(
            "dkim.private_key: {}",
            root.join(&dkim.private_key).display()
        )
    })?;
    let headers = [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "Reply-To",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Precedence",
        "X-Auto-Response-Suppress",
        "Feedback-ID",
        "MIME-Version",
    ]
    .into_iter()
    .map(HeaderName::new_from_ascii_str)
    .collect();
    Ok(DkimConfig::new(
        dkim.selector.to_string(),
        dkim.domain.to_string(),
        key,
        headers,
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    ))
}

/// A DKIM private key: RSA (PKCS#1 or PKCS#8 PEM) or Ed25519 (PKCS#8 PEM).
pub(crate) enum DkimKey {
    Rsa(rsa::RsaPrivateKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl DkimKey {
    /// The key in `pem`, in whichever of its forms.
    fn parse(pem: &str) -> Result<DkimKey> {
        use ed25519_dalek::pkcs8::DecodePrivateKey as _;
        use rsa::pkcs1::DecodeRsaPrivateKey as _;
        if pem.contains("BEGIN RSA PRIVATE KEY") {
            return rsa::RsaPrivateKey::from_pkcs1_pem(pem)
                .map(DkimKey::Rsa)
                .map_err(|e| anyhow!("not a usable RSA key: {e}"));
        }
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            return Ok(DkimKey::Ed25519(key));
        }
        rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .map(DkimKey::Rsa)
            .map_err(|_| anyhow!("not an RSA or Ed25519 private key in PEM form"))
    }

    /// The key `[dkim] private_key` names (relative to `root`); errors name
    /// the setting and the file.
    pub(crate) fn read(dkim: &Dkim, root: &Path) -> Result<DkimKey> {
        let path = root.join(&dkim.private_key);
        let pem = std::fs::read_to_string(&path)
            .with_context(|| format!("dkim.private_key: cannot read {}", path.display()))?;
        DkimKey::parse(&pem).with_context(|| format!("dkim.private_key: {}", path.display()))
    }

    /// The key as lettre signs with it.
    fn signing(&self) -> Result<DkimSigningKey> {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        match self {
            DkimKey::Rsa(key) => {
                let pkcs1 = key
                    .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
                    .map_err(|e| anyhow!("cannot use the RSA key: {e}"))?;
                DkimSigningKey::new(&pkcs1, DkimSigningAlgorithm::Rsa)
                    .map_err(|e| anyhow!("not a usable RSA key: {e}"))
            }
            DkimKey::Ed25519(key) => {
                let raw = data_encoding::BASE64.encode(&key.to_bytes());
                DkimSigningKey::new(&raw, DkimSigningAlgorithm::Ed25519)
                    .map_err(|e| anyhow!("not a usable Ed25519 key: {e}"))
            }
        }
    }

    /// Its public half, as DNS publishes it.
    pub(crate) fn public(&self) -> DkimPublicKey {
        match self {
            DkimKey::Rsa(key) => DkimPublicKey::Rsa(key.to_public_key()),
            DkimKey::Ed25519(key) => DkimPublicKey::Ed25519(key.verifying_key().to_bytes()),
        }
    }
}

#[cfg(test)]
fn signing_key(pem: &str) -> Result<DkimSigningKey> {
    DkimKey::parse(pem)?.signing()
}

/// The public half of a DKIM key, as DNS publishes it (RFC 6376 §3.6.1,
/// RFC 8463 for Ed25519).
#[derive(Debug, Clone)]
pub(crate) enum DkimPublicKey {
    Rsa(rsa::RsaPublicKey),
    Ed25519([u8; 32]),
}

impl DkimPublicKey {
    /// `k=`: `rsa` or `ed25519`.
    pub(crate) fn algorithm(&self) -> &'static str {
        match self {
            DkimPublicKey::Rsa(_) => "rsa",
            DkimPublicKey::Ed25519(_) => "ed25519",
        }
    }

    /// `p=`: the SubjectPublicKeyInfo of an RSA key, the 32 bytes of an
    /// Ed25519 key, in base64.
    pub(crate) fn encoded(&self) -> String {
        use rsa::pkcs8::EncodePublicKey as _;
        match self {
            DkimPublicKey::Rsa(key) => key
                .to_public_key_der()
                .map(|der| data_encoding::BASE64.encode(der.as_bytes()))
                .unwrap_or_default(),
            DkimPublicKey::Ed25519(key) => data_encoding::BASE64.encode(key),
        }
    }

    /// Whether `k=` and `p=` (base64, whitespace removed) publish this key:
    /// the same modulus and exponent (as SubjectPublicKeyInfo or a bare
    /// PKCS#1 key), or the same point.
    pub(crate) fn is_published_as(&self, k: &str, p: &str) -> bool {
        use rsa::pkcs1::DecodeRsaPublicKey as _;
        use rsa::pkcs8::DecodePublicKey as _;
        let Ok(der) = data_encoding::BASE64.decode(p.as_bytes()) else {
            return false;
        };
        match self {
            DkimPublicKey::Rsa(key) => {
                k.eq_ignore_ascii_case("rsa")
                    && rsa::RsaPublicKey::from_public_key_der(&der)
                        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_der(&der))
                        .is_ok_and(|published| published == *key)
            }
            DkimPublicKey::Ed25519(key) => k.eq_ignore_ascii_case("ed25519") && der == key,
        }
    }

    /// The modulus size of an RSA key.
    pub(crate) fn rsa_bits(&self) -> Option<usize> {
        use rsa::traits::PublicKeyParts as _;
        match self {
            DkimPublicKey::Rsa(key) => Some(key.n().bits()),
            DkimPublicKey::Ed25519(_) => None,
        }
    }
}

/// The longest word a Subject may have and still be folded at spaces
/// within RFC 5322's 998-byte line limit.
const MAX_WORD: usize = 900;

/// A Subject written as RFC 2047 encoded words, folded to short lines.
#[derive(Clone)]
struct Subject(String);

impl Header for Subject {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Subject")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Subject(s.to_string()))
    }

    fn display(&self) -> HeaderValue {
        pre_encoded(Self::name(), self.0.clone(), |w| {
            email_encoding::headers::rfc2047::encode(&self.0, w)
        })
    }
}

/// The `To` header, with an ASCII display name always as a quoted string
/// (`"Turing, Alan" <alan@…>`, never base64 encoded words, which read as
/// spam) and any other name encoded as RFC 2047 words.
#[derive(Clone)]
struct To(Mailbox);

impl Header for To {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("To")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(To(s.parse()?))
    }

    fn display(&self) -> HeaderValue {
        use std::fmt::Write as _;
        let address = &self.0.email;
        pre_encoded(Self::name(), self.0.to_string(), |w| {
            match self.0.name.as_deref().filter(|n| !n.is_empty()) {
                None => w.write_str(address.as_ref()),
                Some(name) => {
                    if name.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
                        let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
                        w.write_char('"')?;
                        w.folding().write_str(&escaped)?;
                        w.write_char('"')?;
                    } else {
                        email_encoding::headers::quoted_string::encode(name, w)?;
                    }
                    w.space();
                    w.folding().write_str(&format!("<{address}>"))
                }
            }
        })
    }
}

/// A header value encoded by `write` (folded as it goes, the line starting
/// after `Name: `), kept as written so that DKIM signs what is sent.
fn pre_encoded(
    name: HeaderName,
    raw: String,
    write: impl FnOnce(&mut email_encoding::headers::writer::EmailWriter<'_>) -> std::fmt::Result,
) -> HeaderValue {
    let mut encoded = String::with_capacity(raw.len() * 3 / 2);
    {
        let mut writer = email_encoding::headers::writer::EmailWriter::new(
            &mut encoded,
            name.len() + ": ".len(),
            0,
            false,
        );
        write(&mut writer).expect("writing to a String cannot fail");
    }
    HeaderValue::dangerous_new_pre_encoded(name, raw, encoded)
}

/// A header whose value is written as given (it is ASCII and one line).
fn raw(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_goes_as_it_is_only_with_lines_of_at_most_998_bytes() {
        let line = |n: usize| "x".repeat(n);
        assert!(lines_fit(&format!("{}\r\nend", line(998))));
        assert!(lines_fit(&format!("a\r\n{}", line(998))));
        assert!(!lines_fit(&format!("{}\r\nend", line(999))));
        assert!(!lines_fit(&format!("a\r\n{}", line(999))));
    }

    #[test]
    fn values_with_stray_line_breaks_or_nul_still_make_a_body_that_goes_as_it_is() {
        let secret = Secret::new("0123456789abcdef").unwrap();
        let l = letterhead(CONFIG, Some(secret)).unwrap();
        let csv = "email,name,city\nb@example.org,B,\"Cardiff\r\nWales\rUK\u{0}\"\n";
        let m = l.message(&reader(csv), Transfer::EightBit).unwrap();
        let raw = m.formatted();
        assert!(!raw.contains(&0));
        let text = String::from_utf8(raw).unwrap();
        assert!(!text.contains("\r\r") && !text.contains("\n\n\n"));
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                assert_eq!(text.as_bytes()[i - 1], b'\r', "a bare LF at {i}");
            }
        }
    }

    use crate::compose::Templates;
    use crate::compose::issue::Issue;
    use crate::project::config::Config;
    use std::str::FromStr;

    const CONFIG: &str = r#"
[newsletter]
name = "N"
from = "Matt <matt@example.com>"
list_id = "N <n.example.com>"
[unsubscribe]
url = "https://n.example.com/u?e={email}&t={token}"
"#;

    fn letterhead(config: &str, secret: Option<Secret>) -> Result<Letterhead> {
        letterhead_with_subject(config, secret, "Hi")
    }

    fn letterhead_with_subject(
        config: &str,
        secret: Option<Secret>,
        subject: &str,
    ) -> Result<Letterhead> {
        let config = Config::parse(config, Path::new("missive.toml")).unwrap();
        let project = crate::project::Project {
            root: ".".into(),
            config_path: None,
            config,
        };
        let text = "subject = \"Hi\"\ndate = 2026-11-27\n[letter]\ngreeting = \"Dear {{ name | you }} in {{ city }},\"\nbody = \"x\"\n";
        let issue = crate::compose::issue::LoadedIssue {
            path: "i.toml".into(),
            text: text.into(),
            issue: Issue::parse(text, Path::new("i.toml")).unwrap(),
        };
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();
        let rendered = crate::compose::render::render(&issue, &project, &templates).unwrap();
        Letterhead::new(
            &project.config,
            &project.root,
            "i",
            subject,
            &rendered,
            secret,
        )
    }

    fn parse(raw: &[u8]) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default().parse(raw).unwrap()
    }

    #[test]
    fn merge_tags_in_the_subject_are_filled_in_on_one_line() {
        let secret = Secret::new("0123456789abcdef").unwrap();
        let l = letterhead_with_subject(CONFIG, Some(secret.clone()), "Hello {{ name | friend }}!")
            .unwrap();
        let m = l
            .message(
                &reader("email,name\nada@example.org,Ada\n"),
                Transfer::SevenBit,
            )
            .unwrap();
        let raw = m.formatted();
        assert_eq!(parse(&raw).subject(), Some("Hello Ada!"));
        let m = l
            .message(&reader("email\nbob@example.org\n"), Transfer::SevenBit)
            .unwrap();
        assert_eq!(parse(&m.formatted()).subject(), Some("Hello friend!"));
        assert!(
            l.unknown_tags(&["city".into()]).is_empty(),
            "name is a built-in tag, so nothing is unknown"
        );
        let l = letterhead_with_subject(CONFIG, Some(secret), "For {{ town }}").unwrap();
        assert!(l.unknown_tags(&["city".into()]).contains("town"));
    }

    #[test]
    fn a_subject_with_a_huge_word_is_folded_within_the_line_limit() {
        let secret = Secret::new("0123456789abcdef").unwrap();
        let subject = format!("Big {}", "x".repeat(3000));
        let l = letterhead_with_subject(CONFIG, Some(secret), &subject).unwrap();
        let raw = l
            .message(&reader("email\nada@example.org\n"), Transfer::SevenBit)
            .unwrap()
            .formatted();
        let text = String::from_utf8(raw.clone()).unwrap();
        assert!(
            text.split("\r\n").all(|line| line.len() <= 998),
            "a line is over 998 bytes"
        );
        assert_eq!(parse(&raw).subject(), Some(subject.as_str()));
    }

    #[test]
    fn a_test_message_carries_the_test_recipients_links_not_the_readers() {
        let secret = Secret::new("0123456789abcdef").unwrap();
        let reader_token = secret.token("ada@example.org");
        let me_token = secret.token("me@example.com");
        let l = letterhead(CONFIG, Some(secret)).unwrap();
        let test_mail = l
            .test_message(
                &reader("email,name,city\nada@example.org,Ada,Paris\n"),
                &Mailbox::from_str("me@example.com").unwrap(),
            )
            .unwrap();
        let raw = String::from_utf8(test_mail.formatted()).unwrap();
        let parsed = parse(raw.as_bytes());
        let body = format!(
            "{}{}",
            parsed.body_text(0).unwrap(),
            parsed.body_html(0).unwrap()
        );
        assert!(
            body.contains("Dear Ada in Paris,"),
            "personalized as the reader"
        );
        assert!(!raw.contains(&reader_token) && !body.contains(&reader_token));
        assert!(!raw.contains("ada%40example.org") && !body.contains("ada%40example.org"));
        assert!(raw.contains(&me_token), "{raw}");
    }

    #[test]
    fn a_test_message_returns_to_the_test_recipients_bounce_tag() {
        let secret = Secret::new("0123456789abcdef").unwrap();
        let config = format!("{CONFIG}\n[bounces]\naddress = \"b@n.example.com\"\n");
        let l = letterhead(&config, Some(secret.clone())).unwrap();
        let trial = l
            .test_message(
                &reader("email,name,city\nada@example.org,Ada,Paris\n"),
                &Mailbox::from_str("me@example.com").unwrap(),
            )
            .unwrap();
        let sender = trial.envelope().from().unwrap().to_string();
        assert_eq!(
            sender,
            format!("b+{}@n.example.com", secret.verp_tag("i", "me@example.com"))
        );
    }

    #[test]
    fn ascii_names_are_quoted_strings_and_others_encoded_words() {
        let secret = Secret::new("0123456789abcdef").unwrap();
        let config = CONFIG.replace(
            "[unsubscribe]",
            "[sending]\nfeedback_id = \"87:weekly:slowcommute\"\n[unsubscribe]",
        );
        let l = letterhead(&config, Some(secret)).unwrap();
        for (name, header) in [
            ("Turing, Alan", "To: \"Turing, Alan\" <a@example.org>"),
            (
                "Ann \"Q\" O'Brien",
                "To: \"Ann \\\"Q\\\" O'Brien\" <a@example.org>",
            ),
            ("Zoë", "To: =?utf-8?b?Wm/Dqw==?= <a@example.org>"),
        ] {
            let csv = format!(
                "email,name\na@example.org,\"{}\"\n",
                name.replace('"', "\"\"")
            );
            let raw = String::from_utf8(
                l.message(&reader(&csv), Transfer::SevenBit)
                    .unwrap()
                    .formatted(),
            )
            .unwrap();
            assert!(raw.contains(header), "{header} not in\n{raw}");
            let parsed = parse(raw.as_bytes());
            assert_eq!(
                parsed.to().unwrap().first().unwrap().name.as_deref(),
                Some(name)
            );
            assert!(raw.contains("Feedback-ID: 87:weekly:slowcommute"), "{raw}");
        }
    }

    #[test]
    fn one_click_needs_an_https_url_with_a_token_in_any_case() {
        let secret = Secret::new("0123456789abcdef").unwrap();
        let upper = CONFIG.replace("https://", "HTTPS://");
        let l = letterhead(&upper, Some(secret.clone())).unwrap();
        let raw = String::from_utf8(
            l.message(&reader("email\nb@example.org\n"), Transfer::SevenBit)
                .unwrap()
                .formatted(),
        )
        .unwrap();
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        let no_token = CONFIG.replace("&t={token}", "");
        let l = letterhead(&no_token, Some(secret)).unwrap();
        let raw = String::from_utf8(
            l.message(&reader("email\nb@example.org\n"), Transfer::SevenBit)
                .unwrap()
                .formatted(),
        )
        .unwrap();
        assert!(raw.contains("List-Unsubscribe: <https://n.example.com/u?e=b%40example.org>"));
        assert!(!raw.contains("List-Unsubscribe-Post"), "{raw}");
    }

    fn reader(csv: &str) -> Subscriber {
        let mut rows = crate::list::reader::Reader::from_reader(
            Path::new("l.csv"),
            Box::new(std::io::Cursor::new(csv.to_string())),
        )
        .unwrap();
        match rows.next() {
            Some(crate::list::reader::Row::Subscriber(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_token_url_needs_the_secret() {
        let e = letterhead(CONFIG, None).err().unwrap().to_string();
        assert!(e.contains("MISSIVE_UNSUBSCRIBE_SECRET is not set"), "{e}");
    }

    #[test]
    fn unknown_tags_are_those_no_column_provides() {
        let l = letterhead(CONFIG, Some(Secret::new("0123456789abcdef").unwrap())).unwrap();
        let unknown = l.unknown_tags(&["email".into(), "name".into()]);
        assert_eq!(
            unknown.into_iter().collect::<Vec<_>>(),
            vec!["city".to_string()]
        );
        assert!(l.unknown_tags(&["city".into()]).is_empty());
    }

    #[test]
    fn messages_carry_list_headers_and_personal_links() {
        let secret = Secret::new("0123456789abcdef").unwrap();
        let token = secret.token("ada@example.org");
        let l = letterhead(CONFIG, Some(secret)).unwrap();
        let m = l
            .message(
                &reader("email,name,city\nada@example.org,Ada,Paris\n"),
                Transfer::SevenBit,
            )
            .unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        let parsed = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        let text = parsed.body_text(0).unwrap().into_owned();
        assert!(raw.contains("To: \"Ada\" <ada@example.org>"), "{raw}");
        assert!(raw.contains("Precedence: bulk"), "{raw}");
        assert!(
            raw.contains("X-Auto-Response-Suppress: OOF, AutoReply"),
            "{raw}"
        );
        assert!(raw.contains("List-Id: N <n.example.com>"));
        assert!(raw.contains(&format!(
            "List-Unsubscribe: <https://n.example.com/u?e=ada%40example.org&t={token}>"
        )));
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(text.contains("Dear Ada in Paris,"), "{text}");

        let trial = l
            .test_message(
                &reader("email,name,city\nada@example.org,,\n"),
                &Mailbox::from_str("me@example.com").unwrap(),
            )
            .unwrap();
        let raw = String::from_utf8(trial.formatted()).unwrap();
        let parsed = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        assert!(raw.contains("Subject: [TEST] Hi"));
        assert!(raw.contains("To: me@example.com"));
        assert!(
            parsed.body_text(0).unwrap().contains("Dear you in ,"),
            "{raw}"
        );
    }

    #[test]
    fn no_one_click_header_without_an_https_url() {
        let config = CONFIG.replace(
            "url = \"https://n.example.com/u?e={email}&t={token}\"",
            "mailto = \"u@n.example.com\"",
        );
        let l = letterhead(&config, None).unwrap();
        let m = l
            .message(&reader("email\nb@example.org\n"), Transfer::SevenBit)
            .unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(raw.contains("List-Unsubscribe: <mailto:u@n.example.com?subject=unsubscribe>"));
        assert!(!raw.contains("List-Unsubscribe-Post"));
    }

    #[test]
    fn signing_keys_in_pem_forms() {
        // Ed25519 PKCS#8 (RFC 8410's test key).
        let ed = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        assert!(signing_key(ed).is_ok());
        let e = signing_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("not an RSA or Ed25519 private key"), "{e}");
    }
}
