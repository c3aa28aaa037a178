// A sign-up as a reader makes it, in a real headless Chromium (Debian's),
// driven by playwright-core. Run by tests/it/signup.rs in two steps:
//   node tests/preview/signup.mjs form PAGE_URL EMAIL NAME
//     opens the author's page holding the form `missive signup-form` printed,
//     fills it in and submits it, and checks where the answer leads;
//   node tests/preview/signup.mjs confirm LINK
//     opens the link of the confirmation email, checks that the page alone
//     subscribes nobody (the test reads the log after it), presses the button.
import { check, launch } from "./browser.mjs";

const [step, ...args] = process.argv.slice(2);

const context = await launch();
try {
  const page = context.pages()[0] || (await context.newPage());
  if (step === "form") {
    const [url, email, name] = args;
    await page.goto(url);
    await page.fill("input[name=email]", email);
    await page.fill("input[name=name]", name);
    const trap = await page.locator("input[name=website]").boundingBox();
    check(trap && trap.x + trap.width < 0, "the honeypot is out of sight");
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    check(new URL(page.url()).pathname === "/subscribed", "the answer leads to the thanks page: " + page.url());
    check((await page.textContent("body")).includes("check your inbox"), "the page says to check the inbox");
  } else if (step === "confirm") {
    const [link] = args;
    const response = await page.goto(link);
    check(response.status() === 200, "the confirmation link opens a page");
    check(await page.isVisible("button[type=submit]"), "the page has the button");
    console.log("waiting");
    // The test checks here that nothing was confirmed yet, then says go.
    await new Promise((resolve) => process.stdin.once("data", resolve));
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    check((await page.textContent("body")).includes("You are subscribed"), "pressing it subscribes");
  } else {
    throw new Error("unknown step " + step);
  }
} finally {
  await context.close();
}
