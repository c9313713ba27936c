// Drives the chat page in headless Chromium (Debian's /usr/bin/chromium,
// through puppeteer-core): two pages, each on its own chat_server, sign in,
// join a room and chat.  Then server A is killed and started again (by the
// harness: this script asks on stdout, "kill A" / "start A", and waits for
// a line on stdin): alice's page says it is reconnecting, comes back, and
// shows what bob said meanwhile, once.
// Usage: node chat_page_test.js URL_A URL_B SCREENSHOT.PNG
"use strict";
const puppeteer = require("puppeteer-core");

const [urlA, urlB, screenshot] = process.argv.slice(2);
let failed = 0;
function check(ok, what) {
  console.log((ok ? "ok   " : "FAIL ") + what);
  if (!ok) failed++;
}

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
  await page.waitForFunction(() => document.querySelector("#room-title").textContent === "# lobby",
                             { timeout: 10000, polling: 100 });
  return page;
}

async function say(page, text) {
  await page.bringToFront(); // (typing goes to the focused tab)
  await page.type("#text", text);
  await page.click("#say-form button");
}

// Polls on a timer, not on animation frames (puppeteer's default): a tab in
// the background gets no animation frames, so a "raf" wait on it can time out
// with the message already on the page.
async function waitForMessage(page, text) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll(".message")].some((m) => m.textContent.includes(t)),
    { timeout: 10000, polling: 100 }, text);
}

// Asks the harness to do something to the servers, and waits until it has.
const harness = require("readline").createInterface({ input: process.stdin });
const replies = harness[Symbol.asyncIterator]();
async function ask(what) {
  console.log(what);
  const reply = await replies.next();
  if (reply.done) throw new Error("the harness went away");
}

async function statusOf(page) {
  return page.$eval("#status", (s) => s.textContent);
}

async function main() {
  const browser = await puppeteer.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking"],
  });
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

    await alice.waitForFunction(
      () => [...document.querySelectorAll("#members li")].map((li) => li.textContent)
        .join(",").includes("bob"), { timeout: 10000, polling: 100 });
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
    await alice.waitForFunction(() => /reconnecting/.test(document.querySelector("#status").textContent),
                                { timeout: 10000, polling: 100 });
    check(true, "alice's page shows: " + (await statusOf(alice)));
    await say(bob, "said while server A was down");
    await ask("start A");
    await waitForMessage(alice, "said while server A was down");
    await alice.waitForFunction(() => /signed in as/.test(document.querySelector("#status").textContent),
                                { timeout: 10000, polling: 100 });
    check(true, "alice's page came back by itself and shows what bob said meanwhile");
    const after = await alice.$$eval(".message .seq", (s) => s.map((e) => e.textContent));
    check(new Set(after).size === after.length && after.length === seqs.length + 1,
          "each message once: " + after.join(" "));
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(failed ? 1 : 0),
            (e) => { console.log("FAIL " + e.stack); process.exit(1); });
