// How the email looks where inboxes are hard on it, in Debian's Chromium:
// with every <style> removed (the Gmail app with other accounts, several
// webmails), at 375 px with a 1600 px wide image, in dark mode, and whether
// the table of contents scrolls to a section. Run by tests/it/inbox.rs as:
//   node tests/preview/inbox.mjs SCREENSHOT_DIR NAME=HTML_FILE...
// An email named `before-…` is only photographed (at 600 and 375 px), for
// comparison. Exits non-zero with a message on the first failed check.
import { check, contrast, launchWithImages, textColours } from "./browser.mjs";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const [shots, ...emails] = process.argv.slice(2);


// Every image, wherever it would come from, is 1600 px wide.
const context = await launchWithImages(1600, 400);

try {
  for (const arg of emails) {
    const [name, file] = arg.split("=");
    const html = readFileSync(file, "utf8");
    const page = await context.newPage();
    const load = async (width, scheme) => {
      await page.setViewportSize({ width, height: 900 });
      await page.emulateMedia({ colorScheme: scheme });
      await page.setContent(html, { waitUntil: "load" });
    };

    if (name.startsWith("before-")) {
      for (const width of [600, 375]) {
        await load(width, "light");
        await page.screenshot({ path: join(shots, `${name}-${width}.png`) });
      }
      await page.close();
      continue;
    }
    // Light, at 600 and 375 px: every text colour readable (4.5:1).
    for (const width of [600, 375]) {
      await load(width, "light");
      await page.screenshot({ path: join(shots, `${name}-${width}.png`) });
      const weak = (await page.evaluate(textColours)).filter((t) => contrast(t.color, t.bg) < 4.5);
      check(weak.length === 0, `${name} at ${width} px: every text has 4.5:1 contrast (${JSON.stringify(weak.slice(0, 3))})`);
      const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
      check(scroll <= width, `${name} at ${width} px: no horizontal overflow (scrollWidth ${scroll})`);
    }

    // The table of contents scrolls to section 3.
    await load(600, "light");
    await page.click('a[href="#section-3"]');
    await page.waitForTimeout(200);
    const top = await page.evaluate(() => document.getElementById("section-3").getBoundingClientRect().top);
    check(top >= -5 && top < 200, `${name}: the contents link took the reader to section 3 (top ${top})`);

    // Without any <style>: titles still stand out, comments are still boxed,
    // bylines still grey, nothing overflows a phone.
    await load(375, "light");
    await page.evaluate(() => document.querySelectorAll("style").forEach((s) => s.remove()));
    const bare = await page.evaluate(() => {
      const px = (el) => parseFloat(getComputedStyle(el).fontSize);
      const body = document.querySelector("blockquote p, .c td p, p");
      const comment = document.querySelector(".c td");
      return {
        styles: document.querySelectorAll("style").length,
        title: px(document.querySelector("h3")),
        text: px(body),
        commentBg: comment ? getComputedStyle(comment).backgroundColor : null,
        commentRule: comment ? getComputedStyle(comment).borderLeftWidth : null,
        byline: getComputedStyle(document.querySelector(".b")).color,
        scroll: document.documentElement.scrollWidth,
      };
    });
    check(bare.styles === 0, `${name}: every <style> removed`);
    check(bare.title > bare.text, `${name} without <style>: titles (${bare.title}px) larger than text (${bare.text}px)`);
    check(bare.commentBg === null || (bare.commentBg !== "rgba(0, 0, 0, 0)" && bare.commentRule !== "0px"),
          `${name} without <style>: comments boxed (${bare.commentBg}, ${bare.commentRule})`);
    check(bare.byline !== "rgb(0, 0, 0)", `${name} without <style>: bylines keep their colour (${bare.byline})`);
    check(bare.scroll <= 375, `${name} without <style>: no overflow at 375 px with a 1600 px image (${bare.scroll})`);
    await page.screenshot({ path: join(shots, `${name}-375-no-style.png`) });

    // Dark mode: light text on a dark background, every text colour
    // readable (4.5:1) there too.
    await load(375, "dark");
    await page.screenshot({ path: join(shots, `${name}-375-dark.png`) });
    const colours = await page.evaluate(textColours);
    const weakDark = colours.filter((t) => contrast(t.color, t.bg) < 4.5);
    check(weakDark.length === 0, `${name} in dark mode: every text has 4.5:1 contrast (${JSON.stringify(weakDark.slice(0, 3))})`);
    // Body text: a paragraph of the letter or an excerpt, not a muted line.
    const body = colours.find((t) => t.tag === "P" && !t.cls);
    check(contrast(body.bg, "rgb(0, 0, 0)") < 2 && contrast(body.color, "rgb(255, 255, 255)") < 2,
          `${name} in dark mode: light text (${body.color}) on a dark background (${body.bg})`);
    await page.close();
  }
  console.log("all inbox checks passed");
} finally {
  await context.close();
}
