// End-to-end test of `missive preview` in a real headless Chromium (Debian's),
// driven by playwright-core. Run by tests/preview.rs as:
//   node tests/preview/e2e.mjs URL ISSUE_FILE SCREENSHOT_DIR OUTBOX_DIR
// Exits non-zero with a message on the first failed check.
import { check, launch } from "./browser.mjs";
import { readFileSync, writeFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const [url, issuePath, shots, outbox, longIssuePath] = process.argv.slice(2);
const original = readFileSync(issuePath, "utf8");

const context = await launch({ viewport: { width: 1280, height: 900 } });
try {
  const page = context.pages()[0] || (await context.newPage());
  const version = async () => Number(await page.evaluate(() => document.body.dataset.version));
  const waitVersionAbove = (v) => page.waitForFunction((v) => Number(document.body.dataset.version) > v, v, { timeout: 10000 });

  await page.goto(url);
  await waitVersionAbove(0);
  const desktop = page.frameLocator("#desktop-frame");
  await desktop.getByText("Beneath the Harbor: how port cities are learning to float").waitFor({ timeout: 10000 });
  check(true, "the desktop frame shows the item titles");
  check(await page.frameLocator("#mobile-frame").getByText("The lost art of the station clock").count() === 1,
        "the mobile frame shows the item titles");
  check((await page.textContent("#subject")) === "Tides and timetables: what the week meant", "the subject is shown");
  await page.screenshot({ path: join(shots, "preview-1280.png") });

  // The inbox line: who, the subject, and the preheader's first 90
  // characters, as Gmail shows them.
  const first = await (await fetch(url + "state")).json();
  check((await page.textContent("#inbox-from")) === "Matt Example", "the inbox line names the sender as From does");
  check((await page.textContent("#inbox-subject")) === first.subject, "the inbox line has the subject");
  const preview = await page.textContent("#inbox-preview");
  check(preview.startsWith("– On slow infrastructure") && first.preview_text.length <= 90,
        "the inbox line has the preheader: " + preview);
  // The frames end inside the window.
  const bottoms = await page.evaluate(() => ["desktop-frame", "mobile-frame"].map(
    (id) => document.getElementById(id).getBoundingClientRect().bottom));
  check(bottoms.every((b) => b <= 900), "the frames fit the window (bottoms " + bottoms.join(", ") + ")");
  // Dark mode: the email's own dark colours; without <style>: none left.
  const frameBody = () => page.evaluate(() => {
    const doc = document.getElementById("desktop-frame").contentDocument;
    let bg = "";
    for (let e = doc.querySelector("h3"); e && !bg; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor;
      if (c !== "rgba(0, 0, 0, 0)") bg = c;
    }
    return { bg, styles: doc.querySelectorAll("style").length };
  });
  await page.check("#dark");
  await page.waitForFunction(() => /161616|rgb\(22, 22, 22\)/.test(getComputedStyle(document.getElementById("desktop-frame")
    .contentDocument.querySelector(".bg")).backgroundColor), null, { timeout: 5000 });
  await page.screenshot({ path: join(shots, "preview-dark.png") });
  check((await frameBody()).bg === "rgb(22, 22, 22)", "dark mode shows the email's dark colours");
  await page.uncheck("#dark");
  await page.check("#nostyle");
  await page.waitForFunction(() => document.getElementById("desktop-frame").contentDocument.querySelectorAll("style").length === 0,
    null, { timeout: 5000 });
  check((await frameBody()).styles === 0, "without <style> the frame has none");
  await page.uncheck("#nostyle");
  check(await page.frameLocator("#desktop-frame").locator("#missive-clip").count() === 0,
        "no clip line where Gmail does not clip");

  // The plain-text tab shows exactly the text part.
  await page.click("nav button[data-tab=text]");
  const state = await (await fetch(url + "state")).json();
  const shown = await page.textContent("#text");
  check(await page.isVisible("#text"), "the plain-text tab is visible");
  check(shown === state.text && shown.includes("1. Beneath the Harbor"), "the plain-text tab shows the text part");
  await page.click("nav button[data-tab=desktop]");

  // Saving the TOML updates the page without a reload, keeping the scroll position.
  await page.evaluate(() => { window.__notReloaded = true; });
  await page.evaluate(() => document.getElementById("desktop-frame").contentWindow.scrollTo(0, 1500));
  let v = await version();
  writeFileSync(issuePath, original.replace("what the week meant", "what the week really meant"));
  await waitVersionAbove(v);
  await page.waitForFunction(() => document.getElementById("subject").textContent.includes("really meant"));
  await desktop.getByText("Tides and timetables: what the week really meant").first().waitFor({ timeout: 10000 });
  check(await page.evaluate(() => window.__notReloaded === true), "the edit arrived without a page reload");
  await page.waitForFunction(() => document.getElementById("desktop-frame").contentWindow.scrollY > 1000, null, { timeout: 5000 });
  check(true, "the scroll position was kept");

  // A broken TOML shows the error in place of the email; fixing it brings the email back.
  v = await version();
  writeFileSync(issuePath, original.replace('subject = "Tides', 'subject = Tides'));
  await waitVersionAbove(v);
  await page.waitForSelector("#error", { state: "visible" });
  const error = await page.textContent("#error");
  check(error.includes(issuePath.split("/").pop() + ":1:") && error.includes("subject = Tides"),
        "the error names the file and line and shows the line: " + error.split("\n")[0]);
  check(!(await page.isVisible("#frames")), "the email is hidden while the issue is broken");
  v = await version();
  writeFileSync(issuePath, original);
  await waitVersionAbove(v);
  await page.waitForSelector("#error", { state: "hidden" });
  await desktop.getByText("Tides and timetables: what the week meant").first().waitFor({ timeout: 10000 });
  check(await page.isVisible("#frames"), "the email is back after the fix");

  // A long issue: the line where Gmail clips, before the first item it cuts.
  v = await version();
  writeFileSync(issuePath, readFileSync(longIssuePath, "utf8"));
  await waitVersionAbove(v);
  const long = await (await fetch(url + "state")).json();
  check(long.clip_before !== null && long.html_sent_bytes > 102000, "the long issue is clipped: " + long.clip_before);
  await page.frameLocator("#desktop-frame").locator("#missive-clip").waitFor({ timeout: 10000 });
  const next = await page.evaluate(() =>
    document.getElementById("desktop-frame").contentDocument.getElementById("missive-clip").nextElementSibling.id);
  check(next === long.clip_before, "the clip line stands before " + next);
  await page.frameLocator("#desktop-frame").locator("#missive-clip").scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(shots, "preview-clip.png") });
  v = await version();
  writeFileSync(issuePath, original);
  await waitVersionAbove(v);

  // The send-test button goes through the configured transport (a file outbox here).
  const before = readdirSync(outbox).length;
  await page.click("#send");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("sent a test"), null, { timeout: 15000 });
  check(readdirSync(outbox).length === before + 1, "the send-test button sent one message");

  // At 375 px the email does not overflow horizontally.
  const mobile = await context.newPage();
  await mobile.setViewportSize({ width: 375, height: 800 });
  await mobile.goto(url + "email");
  const width = await mobile.evaluate(() => document.documentElement.scrollWidth);
  await mobile.screenshot({ path: join(shots, "email-375.png"), fullPage: false });
  check(width <= 375, "no horizontal overflow at 375 px (scrollWidth " + width + ")");
  const wide = await context.newPage();
  await wide.setViewportSize({ width: 1280, height: 900 });
  await wide.goto(url + "email");
  await wide.screenshot({ path: join(shots, "email-1280.png") });
  check((await wide.evaluate(() => document.documentElement.scrollWidth)) <= 1280, "no overflow at 1280 px");
  console.log("all browser checks passed");
} finally {
  writeFileSync(issuePath, original);
  await context.close();
}
