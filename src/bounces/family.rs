//! Which mail system wrote a bounce, told from the signs it leaves (its
//! `From`, its subject, headers only it adds, the first words of its
//! report), and the words each uses of a mailbox it does not have: from
//! the system that looked the address up, those words are its verdict
//! whatever SMTP command they answered; passed on from another server
//! without the command, the same words may be a filter's.

use mail_parser::Message;

/// A sign a mail system leaves on its bounces. Texts are matched
/// lower-cased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    /// The `From` header (name and address) contains this.
    From(&'static str),
    /// The subject begins with this.
    SubjectStarts(&'static str),
    /// The message has this header.
    Header(&'static str),
    /// This header's value contains this.
    HeaderHas(&'static str, &'static str),
    /// The report's words contain this.
    Text(&'static str),
}

/// A mail system whose bounces missive knows by name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Family {
    /// The name `--json` gives it (`mta`).
    pub name: &'static str,
    signs: &'static [Sign],
    /// Its own words for a mailbox it does not have.
    own_words: &'static [&'static str],
    /// Words that, from it, are a filter's, whatever code comes with
    /// them.
    filter_words: &'static [&'static str],
}

use Sign::{From, Header, HeaderHas, SubjectStarts, Text};

/// The families, most particular first: the first whose sign a bounce
/// bears is the one named (a relay's generic signs come last).
const FAMILIES: &[Family] = &[
    Family {
        name: "Amazon WorkMail",
        signs: &[HeaderHas("x-mailer", "amazon workmail")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "Amazon SES (receiving)",
        signs: &[Text("inbound-smtp.")],
        own_words: &[],
        // What a receipt rule's bounce action answers by default: the
        // domain's own rule refused the mail, not a missing mailbox.
        filter_words: &["mailbox does not exist"],
    },
    Family {
        name: "Amazon SES",
        signs: &[From("amazonses.com"), Text("\"notificationtype\"")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "SendGrid",
        signs: &[From("sendgrid"), Header("x-sg-eid")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "Mailgun",
        signs: &[From("mailgun"), Header("x-mailgun-sid")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "Postmark",
        signs: &[From("postmarkapp.com"), Header("x-pm-message-id")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "SparkPost",
        signs: &[From("sparkpostmail.com"), Header("x-msfbl")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "McAfee",
        signs: &[HeaderHas("x-nai-header", "mcafee")],
        own_words: &[
            "user unknown",
            "unknown user",
            "no such user",
            "user not exist",
        ],
        filter_words: &[],
    },
    Family {
        name: "Symantec MessageLabs",
        signs: &[Header("x-msg-ref"), From("messagelabs.com")],
        own_words: &["no such user", " rejected"],
        filter_words: &[],
    },
    Family {
        name: "Activehunter",
        signs: &[Header("x-ahmailid")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "m-FILTER",
        signs: &[
            HeaderHas("x-mailer", "m-filter"),
            Text("-------server message"),
        ],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "Trend Micro InterScan",
        signs: &[From("interscan"), Text("interscan messaging security")],
        own_words: &["unable to deliver message to"],
        filter_words: &[],
    },
    Family {
        name: "IMail Server",
        signs: &[
            HeaderHas("x-mailer", "<smtp32 v"),
            SubjectStarts("undeliverable mail"),
        ],
        own_words: &["unknown user", "invalid final delivery userid"],
        filter_words: &[],
    },
    Family {
        name: "Verizon",
        signs: &[From("vtext.com"), From("vzwpix.com")],
        own_words: &["no such user here", "no valid recipients for this mm"],
        filter_words: &[],
    },
    Family {
        name: "NTT docomo",
        signs: &[From("docomo.ne.jp")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "au (KDDI)",
        signs: &[From("ezweb.ne.jp"), From("dion.ne.jp"), From("au.com")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "SoftBank",
        signs: &[From("softbank.ne.jp"), From("vodafone.ne.jp")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "IBM Domino",
        signs: &[
            SubjectStarts("delivery failure:"),
            SubjectStarts("delivery_failure:"),
        ],
        own_words: &[
            "not listed in domino directory",
            "non répertorié dans l'annuaire domino",
        ],
        filter_words: &[],
    },
    Family {
        name: "Lotus Notes",
        signs: &[SubjectStarts("undeliverable message")],
        own_words: &[
            "not listed in public name & address book",
            "ディレクトリのリストにありません",
        ],
        filter_words: &[],
    },
    Family {
        name: "Novell GroupWise",
        signs: &[HeaderHas("x-mailer", "groupwise"), Text("groupwise")],
        own_words: &["user not found"],
        filter_words: &[],
    },
    Family {
        name: "Kerio Connect",
        signs: &[HeaderHas("x-mailer", "kerio"), Text("kerio connect")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "MDaemon",
        signs: &[Header("x-mdaemon-deliver-to"), Text("mdaemon")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "Zimbra",
        signs: &[HeaderHas("x-mailer", "zimbra"), Text("zimbra")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "Cisco IronPort",
        signs: &[Text("ironport"), HeaderHas("x-ironport-av", "")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "FortiMail",
        signs: &[From("fortimail"), Text("fortimail")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "Barracuda",
        signs: &[From("barracuda"), Text("barracuda")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "Proofpoint",
        signs: &[Text("pphosted.com"), Text("proofpoint")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "Mimecast",
        signs: &[From("mimecast"), Text("mimecast")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "Apache James",
        signs: &[HeaderHas("x-mailer", "james"), Text("apache james")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "Oracle Messaging Server",
        signs: &[
            Text("this report relates to a message you sent"),
            From("pmdf"),
        ],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "Outlook.com",
        signs: &[
            Header("x-message-delivery"),
            Header("x-message-info"),
            From("@hotmail.com"),
            From("@outlook.com"),
        ],
        own_words: &["requested action not taken: mailbox unavailable"],
        filter_words: &[],
    },
    Family {
        name: "Microsoft 365",
        signs: &[
            Text("protection.outlook.com"),
            Text("microsoft 365"),
            Text("office 365"),
        ],
        own_words: &["recipnotfound", "recipient address rejected: access denied"],
        filter_words: &[],
    },
    Family {
        name: "Exchange 2003",
        signs: &[Header("x-ms-embedded-report"), Text("msexch:ims")],
        own_words: &["000c05a6", "the recipient name is not recognized"],
        filter_words: &[],
    },
    Family {
        name: "Exchange 2007+",
        signs: &[
            Header("x-ms-exchange-message-is-ndr"),
            Text("diagnostic information for administrators"),
        ],
        own_words: &["recipnotfound"],
        filter_words: &[],
    },
    Family {
        name: "Google Workspace",
        signs: &[Text("google workspace"), Text("g suite")],
        own_words: &["because the address couldn't be found"],
        filter_words: &[],
    },
    Family {
        name: "Gmail",
        signs: &[From("googlemail.com"), From("@gmail.com")],
        own_words: &["because the address couldn't be found"],
        filter_words: &[],
    },
    Family {
        name: "Yahoo",
        signs: &[From("yahoo"), Header("x-ymailisg")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "AOL",
        signs: &[From("aol.com"), Header("x-aol-ip")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "iCloud",
        signs: &[From("icloud.com"), From("@me.com"), From("mac.com")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "Zoho",
        signs: &[From("zoho"), Header("x-zohomail")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "Yandex",
        signs: &[From("yandex")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "Mail.ru",
        signs: &[From("mail.ru")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "GMX",
        signs: &[From("gmx.")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "WEB.DE",
        signs: &[From("web.de")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "1&1 IONOS",
        signs: &[From("kundenserver"), From("1und1"), From("ionos")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "Facebook",
        signs: &[From("facebook.com")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "PowerMTA",
        signs: &[Header("x-powermta-version"), Text("x-powermta")],
        own_words: &["bad-mailbox"],
        filter_words: &[],
    },
    Family {
        name: "OpenSMTPD",
        signs: &[Text("this is the mailer-daemon, please do not reply")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "Courier",
        signs: &[Text("courier mail server at")],
        own_words: &[],
        filter_words: &[],
    },
    Family {
        name: "qmail",
        signs: &[Text("this is the qmail-send program")],
        own_words: &["no mailbox here by that name", "does not like recipient"],
        filter_words: &[],
    },
    Family {
        name: "Exim",
        signs: &[
            Text("this message was created automatically by mail delivery software"),
            Header("x-failed-recipients"),
        ],
        own_words: &["unknown local part", "unknown local-part"],
        filter_words: &[],
    },
    Family {
        name: "Postfix",
        signs: &[Text("this is the mail system at host"), Text("x-postfix")],
        own_words: &[
            "user unknown in local recipient table",
            "user unknown in virtual mailbox table",
            "user unknown in virtual alias table",
        ],
        filter_words: &[],
    },
    Family {
        name: "Sendmail",
        signs: &[
            Text("----- the following addresses had permanent fatal errors -----"),
            Text("----- transcript of session follows -----"),
        ],
        // Its local delivery agent's.
        own_words: &["mail.local: unknown user"],
        filter_words: &[],
    },
];

/// The mail system that wrote `message`, whose report's words are
/// `text`, if its signs say.
pub(crate) fn of(message: &Message, text: &str) -> Option<&'static Family> {
    let lower = |v: &str| v.to_lowercase();
    let from = message.header_raw("From").map(lower).unwrap_or_default();
    let subject = message.subject().map(lower).unwrap_or_default();
    let subject = subject.trim_start();
    let text = lower(text);
    let header = |name: &str| message.header_raw(name).map(lower);
    FAMILIES.iter().find(|family| {
        family.signs.iter().any(|sign| match *sign {
            From(part) => from.contains(part),
            SubjectStarts(start) => subject.starts_with(start),
            Header(name) => header(name).is_some(),
            HeaderHas(name, part) => header(name).is_some_and(|v| v.contains(part)),
            Text(part) => text.contains(part),
        })
    })
}

impl Family {
    /// Whether `words` are, from this mail system, a filter's.
    pub(crate) fn says_filtered(&self, words: &str) -> bool {
        let lower = words.to_lowercase();
        self.filter_words.iter().any(|w| lower.contains(w))
    }

    /// Whether `words` are this mail system's own for a mailbox it does
    /// not have.
    pub(crate) fn says_no_such_mailbox(&self, words: &str) -> bool {
        let lower = words.to_lowercase();
        self.own_words.iter().any(|w| lower.contains(w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    #[test]
    fn the_first_family_whose_sign_a_bounce_bears_is_named() {
        let name = |raw: &str| {
            let message = MessageParser::new().parse(raw.as_bytes()).unwrap();
            let text = message.body_text(0).unwrap_or_default().into_owned();
            of(&message, &text).map(|f| f.name)
        };
        assert_eq!(
            name("From: MAILER-DAEMON@mx.example\r\nX-NAI-Header: Modified by McAfee\r\n\r\nhi"),
            Some("McAfee")
        );
        assert_eq!(
            name(
                "From: Postmaster <postmaster@ex.example>\r\nSubject: DELIVERY FAILURE: User x\r\n\r\nhi"
            ),
            Some("IBM Domino")
        );
        assert_eq!(
            name(
                "From: MAILER-DAEMON@mx.example\r\n\r\nThis is the mail system at host mx.example.\r\n"
            ),
            Some("Postfix")
        );
        assert_eq!(name("From: ada@example.org\r\n\r\nhello"), None);
        let mcafee = FAMILIES.iter().find(|f| f.name == "McAfee").unwrap();
        assert!(mcafee.says_no_such_mailbox("550 Unknown user ada@example.org"));
        assert!(!mcafee.says_no_such_mailbox("552 Mailbox full"));
    }
}
