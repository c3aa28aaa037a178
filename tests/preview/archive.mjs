// Checks the web archive served by `missive serve` in a real headless
// Chromium (Debian's), driven by playwright-core. Run by tests/serve.rs as:
//   node tests/preview/archive.mjs URL EXPECTED_ISSUES
import { check, launch } from "./browser.mjs";

const [url, expected] = process.argv.slice(2);

const context = await launch();
try {
  const page = context.pages()[0] || (await context.newPage());
  const response = await page.goto(url);
  check(response.status() === 200, "the index loads");
  const links = await page.$$eval("ol li a", (as) => as.map((a) => ({ href: a.href, text: a.textContent })));
  check(links.length === Number(expected), `the index lists every issue (${links.length})`);
  for (const link of links) {
    const r = await page.goto(link.href);
    check(r.status() === 200, "the link to " + link.text + " resolves");
    check((await page.title()) === link.text, "the page of " + link.text + " is that issue");
  }
  await page.goto(url);
  const feedHref = await page.$eval("link[type='application/atom+xml']", (l) => l.href);
  const feed = await page.evaluate(async (href) => {
    const text = await (await fetch(href)).text();
    const doc = new DOMParser().parseFromString(text, "application/xml");
    const root = doc.documentElement;
    return { ok: !doc.querySelector("parsererror"), name: root.localName, ns: root.namespaceURI,
             entries: root.getElementsByTagName("entry").length };
  }, feedHref);
  check(feed.ok && feed.name === "feed" && feed.ns === "http://www.w3.org/2005/Atom",
        "the feed parses as Atom");
  check(feed.entries === Number(expected), "the feed has an entry per issue");
  console.log("all archive checks passed");
} finally {
  await context.close();
}
