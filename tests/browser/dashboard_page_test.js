// Drives the dashboard page in headless Chromium (Debian's /usr/bin/chromium,
// through puppeteer-core), with sensor_sim feeding dashboard_server.  The
// harness (dashboard_browser_test.py) does what the page cannot: this script
// asks on stdout ("probe", "kill", "restart") and waits for its answer on
// stdin.  Usage: node dashboard_page_test.js PAGE_URL SCREENSHOT.PNG
"use strict";
const { check, launch, poll, ask, run } = require("./harness");

const [url, screenshot] = process.argv.slice(2);
const status = (page) => page.$eval("#status", (s) => s.textContent);

async function main() {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 720 });
    page.on("pageerror", (e) => check(false, "page error: " + e.message));
    await page.goto(url, { waitUntil: "load" });
    await poll(page, () => document.querySelectorAll(".card").length >= 2, 10000);
    await poll(page, () => [...document.querySelectorAll(".card .n")].every((n) => /sensors/.test(n.textContent)), 10000);
    check(true, "the page follows the buildings as they appear, with live numbers; status: " + await status(page));
    check(await page.evaluate(() => typeof uPlot === "function" && document.querySelectorAll(".card .uplot").length >= 2),
          "charts drawn with uPlot (served by dashboard_server from npm's package)");

    // A reading shows within 1 s of being sent.
    const sent = Number(await ask("probe"));
    // (The card's "last" line moves on with the next sensor's reading within
    // tens of ms: the page's own record of the sensor is what is checked.)
    await poll(page, () => window.dashboard.state.buildings.get("b0").sensors.get("probe")?.co2 === 777, 1000);
    check(true, "a reading sent to udp:// shows on the page within 1 s (" + (Date.now() - sent) + " ms)");
    await poll(page, () => window.dashboard.state.buildings.get("b0").data[0].length >= 3, 10000);
    const points = await page.evaluate(() => window.dashboard.state.buildings.get("b0").data[0].length);

    // The server goes away: the page says so, and comes back by itself.
    await ask("kill");
    await poll(page, () => /reconnecting/.test(document.querySelector("#status").textContent), 10000);
    check(true, "server killed: the page shows \"" + await status(page) + "\"");
    await ask("restart, then raise an alert");
    await poll(page, () => document.querySelector("#status").textContent === "live", 15000);
    await poll(page, () => /probe-alarm/.test(document.querySelector("#active").textContent), 10000);
    check(true, "back live by itself, and the alert raised while it was away is shown: " +
          (await page.$eval("#active", (a) => a.textContent)));
    await poll(page, () => /s\d/.test(document.querySelector('.card[data-building="b0"] .last').textContent) &&
                           !/probe/.test(document.querySelector('.card[data-building="b0"] .last').textContent), 10000);
    // (A point a second; one taken while disconnected is a gap, null.)
    await poll(page, (n) => window.dashboard.state.buildings.get("b0").data[2].length > n + 2 &&
                            window.dashboard.state.buildings.get("b0").data[2].at(-1) !== null, 10000, points);
    const [later, gaps] = await page.evaluate(() => {
      const d = window.dashboard.state.buildings.get("b0").data;
      return [d[0].length, d[2].filter((v) => v === null).length];
    });
    check(true, "the charts go on (" + points + " points before, " + later + " now, " + gaps +
          " of them taken while disconnected)");
    await new Promise((r) => setTimeout(r, 4000)); // more chart
    await page.screenshot({ path: screenshot });
    check(true, "screenshot: " + screenshot);
  } finally {
    await browser.close();
  }
}

run(main);
