// Checks `missive stats --html` in a real headless Chromium (Debian's),
// driven by playwright-core. Run by tests/it/clicks.rs as:
//   node tests/preview/report.mjs REPORT.html ITEMS SCREENSHOT.png
// The page is opened from a file: every request it makes is recorded, and
// any but the page itself fails the test.
import { pathToFileURL } from "node:url";
import { check, launch } from "./browser.mjs";

const [file, items, shot] = process.argv.slice(2);
const url = pathToFileURL(file).href;

const context = await launch();
try {
  const requests = [];
  context.on("request", (r) => requests.push(r.url()));
  const page = context.pages()[0] || (await context.newPage());
  await page.setViewportSize({ width: 1100, height: 900 });
  await page.goto(url, { waitUntil: "load" });
  check(requests.every((r) => r === url), "no request leaves the page: " + requests.join(", "));
  const charts = await page.$$eval("figure svg", (svgs) => svgs.map((s) => {
    const box = s.getBoundingClientRect();
    return { width: box.width, height: box.height, shapes: s.querySelectorAll("rect, polyline, path, line").length,
             texts: s.querySelectorAll("text").length };
  }));
  check(charts.length === 3, `three charts (${charts.length})`);
  for (const [i, c] of charts.entries()) {
    check(c.width > 300 && c.height > 100, `chart ${i + 1} has a size (${c.width}×${c.height})`);
    check(c.shapes > 3 && c.texts > 2, `chart ${i + 1} draws shapes and labels (${c.shapes}, ${c.texts})`);
  }
  // The bars of the per-item chart: one per item clicked, inside the chart.
  const bars = await page.$$eval("figure:first-of-type svg rect", (rs) =>
    rs.filter((r) => r.getAttribute("fill") === "#1F5FA8" || r.getAttribute("fill") === "#1f5fa8").length);
  check(bars > 0, `the per-item chart has bars (${bars})`);
  const rows = await page.$$eval("section table tbody tr", (trs) => trs.length);
  const itemRows = await page.$$eval("section:nth-of-type(4) table tbody tr", (trs) => trs.length);
  check(itemRows === Number(items), `every item has a row (${itemRows} of ${items})`);
  check(rows > itemRows, "the other tables have rows");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  check(overflow, "nothing overflows the page's width");
  await page.screenshot({ path: shot, fullPage: true });
  console.log("all report checks passed");
} finally {
  await context.close();
}
