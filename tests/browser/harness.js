// What the browser tests share: Debian's chromium launched through
// puppeteer-core with the flags the project's tests use, ok/FAIL lines,
// waits that poll on a timer (puppeteer's default waits for animation
// frames, which a tab in the background never gets), and the line protocol
// with the Python harness that starts and kills the servers: ask("kill A")
// prints the request and waits for the harness's answer on stdin.
"use strict";
const puppeteer = require("puppeteer-core");
const readline = require("readline");

let failed = 0;
function check(ok, what) {
  console.log((ok ? "ok   " : "FAIL ") + what);
  if (!ok) failed++;
}

function launch() {
  return puppeteer.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking"],
  });
}

function poll(page, f, timeout, ...args) {
  return page.waitForFunction(f, { timeout, polling: 50 }, ...args);
}

let replies = null;
async function ask(what) {
  if (!replies) replies = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  console.log(what);
  const reply = await replies.next();
  if (reply.done) throw new Error("the harness went away");
  return reply.value;
}

// Runs main(), then exits 0 only if it finished and every check passed.
function run(main) {
  main().then(() => process.exit(failed ? 1 : 0),
              (e) => { console.log("FAIL " + e.stack); process.exit(1); });
}

module.exports = { check, launch, poll, ask, run };
