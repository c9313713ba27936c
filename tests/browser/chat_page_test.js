// Drives the chat page in headless Chromium (Debian's /usr/bin/chromium,
// through puppeteer-core): two pages, each on its own chat_server, sign in,
// join a room and chat.  Then server A is killed and started again (by the
// harness: this script asks on stdout, "kill A" / "start A", and waits for
// a line on stdin): alice's page says it is reconnecting, comes back, and
// shows what bob said meanwhile, once.
// Usage: node chat_page_test.js URL_A URL_B SCREENSHOT.PNG
"use strict";
const { check, launch, poll, ask, run } = require("./harness");

const [urlA, urlB, screenshot] = process.argv.slice(2);

async function signIn(browser, url, name) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1000, height: 620 });
  page.on("pageerror", (e) => check(false, name + ": page error " + e.message));
  await page.goto(url, { waitUntil: "load" });
  await page.type("#name", name);
  await page.click("#login-form button");
  await page.waitForSelector("#app:not([hidden])", { timeout: 10000 });
  await page.type("#room", "lobby");
  await page.click("#join-form button");
  await poll(page, () => document.querySelector("#room-title").textContent === "# lobby", 10000);
  return page;
}

async function say(page, text) {
  await page.bringToFront(); // (typing goes to the focused tab)
  await page.type("#text", text);
  await page.click("#say-form button");
}

async function waitForMessage(page, text) {
  await poll(page, (t) => [...document.querySelectorAll(".message")].some((m) => m.textContent.includes(t)),
             10000, text);
}

async function statusOf(page) {
  return page.$eval("#status", (s) => s.textContent);
}

async function main() {
  const browser = await launch();
  try {
    const alice = await signIn(browser, urlA, "alice");
    const bob = await signIn(browser, urlB, "bob");
    check(true, "two pages on two servers signed in and joined #lobby");

    // Bob speaks first: his server publishes only once its own subscription
    // to the room is confirmed, so after his message every server is
    // listening (a message published before a server's SUBSCRIBE lands
    // would not reach it: Redis pub/sub is at most once, docs/groups.md).
    await say(bob, "hello from Chromium on server B");
    await waitForMessage(alice, "hello from Chromium on server B");
    check(true, "alice (server A) got bob's message (server B) through Redis");
    await say(alice, "hi back from server A");
    await waitForMessage(bob, "hi back from server A");
    check(true, "bob got alice's reply");

    await poll(alice, () => [...document.querySelectorAll("#members li")].map((li) => li.textContent)
      .join(",").includes("bob"), 10000);
    const members = await alice.$$eval("#members li", (lis) => lis.map((li) => li.textContent));
    check(members.includes("alice (you)") && members.includes("bob"),
          "alice's page lists the members: " + members.join(", "));
    const seqs = await alice.$$eval(".message .seq", (s) => s.map((e) => e.textContent));
    check(seqs.length >= 2, "messages show their seq: " + seqs.join(" "));
    await alice.bringToFront();
    await alice.screenshot({ path: screenshot });
    check(true, "screenshot: " + screenshot);

    // Server A crashes: alice's page says so and keeps trying.
    await ask("kill A");
    await poll(alice, () => /reconnecting/.test(document.querySelector("#status").textContent), 10000);
    check(true, "alice's page shows: " + (await statusOf(alice)));
    await say(bob, "said while server A was down");
    await ask("start A");
    await waitForMessage(alice, "said while server A was down");
    await poll(alice, () => /signed in as/.test(document.querySelector("#status").textContent), 10000);
    check(true, "alice's page came back by itself and shows what bob said meanwhile");
    const after = await alice.$$eval(".message .seq", (s) => s.map((e) => e.textContent));
    check(new Set(after).size === after.length && after.length === seqs.length + 1,
          "each message once: " + after.join(" "));
  } finally {
    await browser.close();
  }
}

run(main);
