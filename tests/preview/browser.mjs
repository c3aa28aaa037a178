// Shared by the browser tests: Debian's Chromium, launched headless with a
// fresh profile, a check that stops the test on the first failure, and the
// contrast of the text colours a page shows.
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function check(ok, what) {
  if (!ok) throw new Error("check failed: " + what);
  console.log("ok: " + what);
}

export function launch(options = {}) {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "missive-chromium-")), {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-quic"],
    ...options,
  });
}

// Chromium whose every request to the web is answered with one image of
// `width` × `height` (the emails' remote images, wherever they point).
export async function launchWithImages(width, height) {
  const image = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<rect width="${width}" height="${height}" fill="#7a9cb8"/></svg>`;
  const context = await launch();
  await context.route(/^https?:\/\//, (route) =>
    route.fulfill({ status: 200, contentType: "image/svg+xml", body: image }));
  return context;
}

// The contrast ratio of two CSS colours (WCAG 2).
export function contrast(a, b) {
  const lum = (c) => {
    const [r, g, bl] = c.match(/[\d.]+/g).slice(0, 3).map(Number).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

// Each visible element that holds text of its own: its colour and the
// colour of the background it sits on. Runs in the page
// (`page.evaluate(textColours)`).
export function textColours() {
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const bg = getComputedStyle(e).backgroundColor;
      if (bg && bg !== "rgba(0, 0, 0, 0)" && bg !== "transparent") return bg;
    }
    return "rgb(255, 255, 255)";
  };
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const style = getComputedStyle(el);
    if (!own || style.display === "none" || el.closest("[aria-hidden=true]")) continue;
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1) continue;
    out.push({ tag: el.tagName, cls: el.className, text: el.textContent.trim().slice(0, 40),
               color: style.color, bg: background(el) });
  }
  return out;
}
