// The email's design, measured in Debian's Chromium in every mode a reader
// may meet: 600, 480, 375 and 320 px wide, light and dark, with every
// <style> removed, and with the CSS that Gmail and Outlook for Windows drop
// (per caniemail) taken out. Run by tests/it/inbox.rs as:
//   node tests/preview/design.mjs SCREENSHOT_DIR NAME=HTML_FILE...
// Exits non-zero with a message on the first failed check.
import { check, contrast, launchWithImages, textColours } from "./browser.mjs";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const [shots, ...emails] = process.argv.slice(2);


// What each mode does to the page once loaded.
const MODES = {
  light: { scheme: "light" },
  dark: { scheme: "dark" },
  // The Gmail app with other accounts and several webmails drop <style>.
  "no-style": { scheme: "light", strip: () => document.querySelectorAll("style").forEach((s) => s.remove()) },
  "dark-no-style": { scheme: "dark", strip: () => document.querySelectorAll("style").forEach((s) => s.remove()) },
  // Gmail: no negative text-indent or margins, no position, no clip.
  gmail: {
    scheme: "light",
    strip: () => {
      for (const el of document.querySelectorAll("*")) {
        const s = getComputedStyle(el);
        if (parseFloat(s.textIndent) < 0) el.style.setProperty("text-indent", "0", "important");
        for (const side of ["Left", "Right", "Top", "Bottom"]) {
          if (parseFloat(s["margin" + side]) < 0) el.style.setProperty("margin-" + side.toLowerCase(), "0", "important");
        }
        if (s.position === "absolute") el.style.setProperty("position", "static", "important");
      }
    },
  },
  // Outlook for Windows (Word): no padding, margin or background on
  // anything but table cells; no max-width; no inline-block.
  outlook: {
    scheme: "light",
    strip: () => {
      for (const el of document.querySelectorAll("body *")) {
        if (el.tagName === "TD" || el.tagName === "TABLE" || el.tagName === "TR") continue;
        el.style.setProperty("padding", "0", "important");
        el.style.setProperty("max-width", "none", "important");
        if (getComputedStyle(el).display === "inline-block") el.style.setProperty("display", "inline", "important");
        if (el.tagName === "DIV") el.style.setProperty("background", "none", "important");
      }
    },
  },
};

// The geometry a reader feels.
function geometry() {
  const px = (el) => parseFloat(getComputedStyle(el).fontSize);
  const lines = (el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    // Boxes that overlap vertically are one line (a small label beside a
    // large title sits lower but on the same line).
    const rects = [...range.getClientRects()].filter((r) => r.width > 0 && r.height > 0)
      .sort((a, b) => a.top - b.top);
    const out = [];
    for (const r of rects) {
      const line = out[out.length - 1];
      if (line && r.top < line.bottom - 2) {
        line.left = Math.min(line.left, r.left);
        line.bottom = Math.max(line.bottom, r.bottom);
      } else {
        out.push({ left: r.left, bottom: r.bottom });
      }
    }
    return out.map((l) => l.left);
  };
  // Titles: the first line starts where the wrapped ones do.
  let worst = 0, wrapped = 0, numberLeftOfTitle = true;
  for (const h3 of document.querySelectorAll("h3")) {
    const l = lines(h3);
    if (l.length > 1) {
      wrapped++;
      worst = Math.max(worst, Math.abs(l[0] - Math.min(...l.slice(1))));
    }
    const n = h3.closest("table")?.querySelector(".n");
    if (n && n.getBoundingClientRect().right > h3.getBoundingClientRect().left + 1) numberLeftOfTitle = false;
  }
  // Excerpts: how many characters of their own text a line holds (the
  // line's width over the text's average character width).
  let fewest = Infinity;
  const canvas = document.createElement("canvas").getContext("2d");
  for (const q of document.querySelectorAll("blockquote")) {
    for (const p of q.querySelectorAll("p")) {
      const text = p.textContent.trim();
      if (text.length < 80) continue;
      const s = getComputedStyle(p);
      canvas.font = `${s.fontStyle} ${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
      const average = canvas.measureText(text).width / text.length;
      fewest = Math.min(fewest, p.clientWidth / average);
    }
  }
  const body = document.querySelector("blockquote p") || document.querySelector("p");
  return {
    worst, wrapped, numberLeftOfTitle,
    fewest,
    title: px(document.querySelector("h3")),
    body: px(body),
    section: document.querySelector("h2") ? px(document.querySelector("h2")) : null,
    scroll: document.documentElement.scrollWidth,
    images: [...document.querySelectorAll("img")].map((i) => i.getBoundingClientRect().right),
  };
}

// Every remote image is 1200 px wide, as a photograph from a site may be.
const context = await launchWithImages(1200, 600);
try {
  for (const arg of emails) {
    const [name, file] = arg.split("=");
    const html = readFileSync(file, "utf8");
    const page = await context.newPage();
    for (const [mode, how] of Object.entries(MODES)) {
      // Outlook for Windows is a desktop program: never a phone's width.
      const widths = mode === "light" ? [600, 480, 375, 320] : mode === "outlook" ? [600] : [600, 375];
      for (const width of widths) {
        await page.setViewportSize({ width, height: 900 });
        await page.emulateMedia({ colorScheme: how.scheme });
        await page.setContent(html, { waitUntil: "load" });
        if (how.strip) await page.evaluate(how.strip);
        const at = `${name}, ${mode}, ${width} px`;
        await page.screenshot({ path: join(shots, `${name}-${mode}-${width}.png`) });
        const g = await page.evaluate(geometry);
        check(g.scroll <= width, `${at}: no horizontal overflow (scrollWidth ${g.scroll})`);
        check(g.images.every((r) => r <= width), `${at}: every image within the page (${g.images})`);
        check(g.worst <= 1, `${at}: the first line of every title starts where its wrapped lines do (worst ${g.worst.toFixed(1)} px over ${g.wrapped} wrapped titles)`);
        check(g.numberLeftOfTitle, `${at}: every item's number stands left of its title`);
        check(g.title / g.body >= 1.2, `${at}: titles ${g.title} px, ${(g.title / g.body).toFixed(2)}× the body's ${g.body} px`);
        check(g.section === null || g.section >= g.body, `${at}: section heads (${g.section} px) at least the body's size`);
        if (width === 375 && g.fewest !== Infinity) {
          check(g.fewest >= 40, `${at}: excerpts hold ${g.fewest.toFixed(0)} characters a line (at least 40)`);
        }
        const weak = (await page.evaluate(textColours)).filter((t) => contrast(t.color, t.bg) < 4.5);
        check(weak.length === 0, `${at}: every text has 4.5:1 contrast (${JSON.stringify(weak.slice(0, 3))})`);
      }
    }
    await page.close();
  }
  console.log("all design checks passed");
} finally {
  await context.close();
}
