// Shared by the browser tests: Debian's Chromium, launched headless with a
// fresh profile, and a check that stops the test on the first failure.
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
