//! Fetching a page for `missive add`: `reqwest` over rustls, a `User-Agent`
//! that names missive and the newsletter, a timeout, redirects followed, the
//! body capped, and its charset decoded (`encoding_rs`) from the
//! `Content-Type` header or the page's own `<meta charset>`.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use crate::project::Project;

/// The largest HTML page read.
pub(crate) const MAX_HTML: usize = 5 * 1024 * 1024;
/// The largest PDF read.
pub(crate) const MAX_PDF: usize = 20 * 1024 * 1024;

/// How long a page may take, redirects included.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A page as fetched.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    /// Where the redirects ended.
    pub url: String,
    /// The media type, lower-cased, without parameters.
    pub media_type: String,
    /// The body as text (empty for a PDF).
    pub text: String,
    /// The body of a PDF (empty for anything else).
    pub pdf: Vec<u8>,
}

/// The HTTP client: rustls with the web's roots, missive's `User-Agent`,
/// redirects followed.
pub(crate) fn client(project: &Project) -> Result<reqwest::Client> {
    builder(project, TIMEOUT)?
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= 10 {
                return attempt.error("more than 10 redirects");
            }
            // A public page may not send missive to this machine or the
            // local network (an internal page's title would end up in the
            // issue); a first URL that was private itself may.
            let started_private = attempt.previous().first().is_some_and(is_private);
            if is_private(attempt.url()) && !started_private {
                let to = attempt.url().to_string();
                return attempt.error(format!(
                    "a redirect to a private address ({to}) from a public page: not followed"
                ));
            }
            attempt.follow()
        }))
        .build()
        .context("cannot set up the HTTP client")
}

/// Whether `url` names this machine or a private network: `localhost`, or
/// an IP address that is loopback, private, link-local, unique-local or
/// unspecified. (A public name that resolves to such an address is not
/// caught here.)
pub(crate) fn is_private(url: &url::Url) -> bool {
    use std::net::IpAddr;
    match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
        }
        Some(url::Host::Ipv6(ip)) => {
            let ip = IpAddr::V6(ip);
            ip.is_loopback()
                || ip.is_unspecified()
                || match ip {
                    IpAddr::V6(v6) => {
                        (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                            || (v6.segments()[0] & 0xffc0) == 0xfe80 // link local
                            || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback() || v4.is_private())
                    }
                    IpAddr::V4(_) => false,
                }
        }
        None => false,
    }
}

/// The link checker's client: like [`client`], but each redirect is left
/// to the caller, and `timeout` per request.
pub(crate) fn checker(project: &Project, timeout: Duration) -> Result<reqwest::Client> {
    builder(project, timeout)?
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot set up the HTTP client")
}

fn builder(project: &Project, timeout: Duration) -> Result<reqwest::ClientBuilder> {
    let tls = crate::tls::client_config(None, "")?;
    let contact = project
        .config
        .newsletter
        .web_url
        .as_ref()
        .map_or_else(String::new, |u| format!("; +{u}"));
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .user_agent(format!(
            "missive/{} (newsletter link checker{contact})",
            env!("CARGO_PKG_VERSION")
        ))
        .timeout(timeout))
}

/// Fetches `url`: a page that cannot be fetched, answers with an error
/// status, or is larger than [`MAX_HTML`] is an error that says so.
pub(crate) async fn fetch(client: &reqwest::Client, url: &str) -> Result<Page> {
    let mut response = client.get(url).send().await.map_err(|e| {
        if e.is_timeout() {
            anyhow!("{url}: no answer within {} s", TIMEOUT.as_secs())
        } else {
            anyhow!(
                "{url}: cannot fetch it: {}",
                crate::project::error_chain(&e)
            )
        }
    })?;
    let status = response.status();
    if !status.is_success() {
        bail!("{url}: the server answered {status}");
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let final_url = response.url().to_string();
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let is_pdf = media_type == "application/pdf";
    let cap = if is_pdf { MAX_PDF } else { MAX_HTML };
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("{url}: the page broke off"))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > cap {
            bail!(
                "{url}: the document is larger than {} MB",
                cap / 1024 / 1024
            );
        }
    }
    Ok(if is_pdf {
        Page {
            url: final_url,
            text: String::new(),
            pdf: body,
            media_type,
        }
    } else {
        Page {
            url: final_url,
            text: decode(&body, &content_type),
            pdf: Vec::new(),
            media_type,
        }
    })
}

/// The text of `body`, in the charset the `Content-Type` names, or else the
/// one the page's `<meta>` declares, or else UTF-8 (windows-1252 where it
/// is not valid UTF-8).
fn decode(body: &[u8], content_type: &str) -> String {
    let declared = charset_param(content_type).or_else(|| meta_charset(body));
    let encoding = declared
        .and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes()))
        .unwrap_or_else(|| {
            if std::str::from_utf8(body).is_ok() {
                encoding_rs::UTF_8
            } else {
                encoding_rs::WINDOWS_1252
            }
        });
    encoding.decode_with_bom_removal(body).0.into_owned()
}

fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The charset a page declares in its first 1,024 bytes (`<meta
/// charset=…>` or the `http-equiv` form), as the HTML standard prescans.
/// A `<meta>` that names UTF-16 means UTF-8 (the page could not have been
/// read that far in UTF-16), and one that names x-user-defined means
/// windows-1252, as the standard says.
fn meta_charset(body: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&body[..body.len().min(1024)]).to_ascii_lowercase();
    let at = head.find("charset=")? + "charset=".len();
    let rest = head[at..].trim_start_matches(['"', '\'']);
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(rest.len());
    let label = Some(rest[..end].to_string()).filter(|c| !c.is_empty())?;
    let encoding = encoding_rs::Encoding::for_label(label.as_bytes());
    Some(
        if encoding == Some(encoding_rs::UTF_16LE) || encoding == Some(encoding_rs::UTF_16BE) {
            "utf-8".into()
        } else if encoding == Some(encoding_rs::X_USER_DEFINED) {
            "windows-1252".into()
        } else {
            label
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_told_from_public_ones() {
        for private in [
            "http://localhost/x",
            "http://127.0.0.1:8080/",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
        ] {
            assert!(is_private(&url::Url::parse(private).unwrap()), "{private}");
        }
        for public in [
            "https://example.org/",
            "http://93.184.216.34/",
            "http://[2001:db8::1]/",
        ] {
            assert!(!is_private(&url::Url::parse(public).unwrap()), "{public}");
        }
    }

    #[test]
    fn charsets_come_from_the_header_or_the_page() {
        let latin = b"<meta charset=\"windows-1252\"><title>Caf\xe9 \x93quoted\x94</title>";
        assert!(decode(latin, "text/html").contains("Café “quoted”"));
        assert!(
            decode(b"<title>Caf\xe9</title>", "text/html; charset=ISO-8859-1").contains("Café")
        );
        assert!(decode("<title>Café</title>".as_bytes(), "text/html").contains("Café"));
        // A page that says UTF-16 in its <meta> is read as UTF-8.
        let utf16 = "<meta charset=\"utf-16\"><title>Café</title>".as_bytes();
        assert!(decode(utf16, "text/html").contains("<title>Café</title>"));
        let utf16le = "<meta http-equiv=content-type content=\"text/html; charset=UTF-16LE\"><title>Ünï</title>";
        assert!(decode(utf16le.as_bytes(), "text/html").contains("Ünï"));
    }
}
