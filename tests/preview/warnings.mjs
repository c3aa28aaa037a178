// The preview's findings panel in a real headless Chromium (Debian's):
// a 95-item draft that Gmail clips, with no urls yet and seven kinds of
// warning. Run by tests/it/warnings.rs as:
//   node tests/preview/warnings.mjs URL
// Exits non-zero with a message on the first failed check.
import { check, launch } from "./browser.mjs";

const [url] = process.argv.slice(2);
const context = await launch({ viewport: { width: 1280, height: 900 } });
try {
  const page = context.pages()[0] || (await context.newPage());
  await page.goto(url);
  await page.waitForFunction(() => Number(document.body.dataset.version) > 0, null, { timeout: 15000 });
  const desktop = page.frameLocator("#desktop-frame");
  await desktop.locator("#item-95").waitFor({ state: "attached", timeout: 15000 });

  const top = await page.evaluate(() => document.getElementById("desktop-frame").getBoundingClientRect().top + window.scrollY);
  check(top < 900, "the email frame starts within the first 900 px (at " + Math.round(top) + " px)");
  const summary = await page.textContent("#findings-summary");
  check(summary.includes("warnings") && summary.includes("notes (hidden)"), "one summary line: " + summary);
  check(!(await page.isVisible("#warnings")), "more than five kinds: the panel is collapsed to its summary");

  await page.click("#findings-expand");
  check(await page.isVisible("#warnings"), "expanding shows the groups");
  const groups = await page.$$eval("#warnings > li", (lis) => lis.filter((li) => li.offsetParent !== null)
    .map((li) => li.dataset.code));
  check(groups.length === 7 && groups[0] === "gmail-clip", "one line per kind, the clip first: " + groups.join(", "));
  check(!groups.includes("no-url"), "notes are hidden");
  const top2 = await page.evaluate(() => document.getElementById("desktop-frame").getBoundingClientRect().top + window.scrollY);
  check(top2 < 900, "expanded, the email still starts within 900 px (at " + Math.round(top2) + " px)");

  await page.click("#notes-toggle");
  const noUrl = page.locator('#warnings > li[data-code="no-url"]');
  check(await noUrl.isVisible(), "the notes toggle shows the notes");
  const line = await noUrl.locator("summary").textContent();
  check(line.includes("92 items have no url: 4–95"), "the urls are one grouped line: " + line);

  // Clicking item 42's finding scrolls the email to item 42.
  await noUrl.locator("summary").click();
  const before = await page.evaluate(() => document.getElementById("desktop-frame").contentWindow.scrollY);
  await noUrl.locator('[data-item="42"]').click();
  await page.waitForFunction(() => {
    const frame = document.getElementById("desktop-frame");
    const item = frame.contentDocument.getElementById("item-42");
    const box = item.getBoundingClientRect();
    return box.top > -2 && box.top < frame.clientHeight; // -2: sub-pixel rounding
  }, null, { timeout: 5000 });
  const after = await page.evaluate(() => document.getElementById("desktop-frame").contentWindow.scrollY);
  check(after > before + 1000, "the email frame scrolled to item 42 (" + before + " → " + after + ")");
  console.log("all browser checks passed");
} finally {
  await context.close();
}
