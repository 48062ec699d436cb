// Drives slabcast's web console (/admin/) in Chromium the way an operator
// would, for cmd/slabcast/console_test.go:
//
//   log in (Basic auth) → Add → a bad URL shows its error beside URL →
//   Create with the real source → the stream page opens → back in the list
//   its light turns green → the filter finds it → its page plays in the
//   live player (hls.js, > 2 s of media, no fatal error) → Delete, with the
//   Edit refuses a bad segment duration beside its field and saves a good
//   change → Delete, with the confirmation → it is gone, from the list and
//   from the API.
//
// Usage:
//   node console.mjs --url http://HOST:PORT/admin/ --user U --pass P \
//     --source udp://239.0.0.1:1234 [--name NAME] [--expect other=running,…] \
//     [--shot-list streams.png] [--shot-stream stream.png] [--shot-fail fail.png]
// (or SLABCAST_CONSOLE_URL, SLABCAST_USER, SLABCAST_PASS, SLABCAST_SOURCE).
// Chromium is /usr/bin/chromium or SLABCAST_CHROMIUM; Playwright's own
// browser download is never used.
//
// Prints one JSON line (the result) and exits 1 on failure.

import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { values: opt } = parseArgs({
  options: {
    url: { type: "string", default: process.env.SLABCAST_CONSOLE_URL },
    user: { type: "string", default: process.env.SLABCAST_USER },
    pass: { type: "string", default: process.env.SLABCAST_PASS },
    source: { type: "string", default: process.env.SLABCAST_SOURCE },
    name: { type: "string", default: "console-test" },
    // NAME=STATUS,…: streams already configured and the light each must show.
    expect: { type: "string", default: "" },
    "shot-list": { type: "string" },
    "shot-stream": { type: "string" },
    "shot-fail": { type: "string" },
    chromium: { type: "string", default: process.env.SLABCAST_CHROMIUM || "/usr/bin/chromium" },
    timeout: { type: "string", default: "150" }, // seconds, for the whole run
  },
});

const result = { ok: false, steps: [], played: 0, video: null, fatal: [], pageErrors: [], consoleErrors: [], dialog: null, row: null, urlError: null, screenshots: {} };

function finish(code) {
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(code);
}

for (const k of ["url", "user", "pass", "source"]) {
  if (!opt[k]) {
    result.error = `missing --${k}`;
    finish(2);
  }
}

const consoleURL = new URL(opt.url);
if (consoleURL.pathname === "/" || consoleURL.pathname === "") consoleURL.pathname = "/admin/";
const origin = consoleURL.origin;
const name = opt.name;
const auth = "Basic " + Buffer.from(`${opt.user}:${opt.pass}`).toString("base64");
const apiURL = (path) => `${origin}/streamer/api/v3${path}`;

setTimeout(() => {
  result.error = `timed out after ${opt.timeout} s`;
  finish(1);
}, Number(opt.timeout) * 1000).unref();

// step runs one named stage and records how long it took.
async function step(label, fn) {
  const t0 = Date.now();
  result.current = label;
  const detail = await fn();
  result.steps.push(Object.assign({ step: label, ms: Date.now() - t0 }, detail === undefined ? {} : { detail }));
  delete result.current;
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

let browser, page;
try {
  // Without credentials, both the console and the API ask for them, the
  // way the browser's own login prompt needs.
  await step("auth", async () => {
    const seen = {};
    for (const u of [consoleURL.href, apiURL("/streams")]) {
      const r = await fetch(u, { redirect: "manual" });
      await r.arrayBuffer();
      const wa = r.headers.get("www-authenticate") || "";
      seen[u] = `${r.status} ${wa}`;
      check(r.status === 401 && /^basic\b/i.test(wa), `${u} without credentials: ${r.status} WWW-Authenticate "${wa}", want 401 Basic`);
    }
    return seen;
  });

  browser = await chromium.launch({
    executablePath: opt.chromium,
    // Nothing but the console's host resolves, no proxy, no QUIC: the
    // browser talks to slabcast and to nothing else.
    args: ["--no-proxy-server", `--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE ${consoleURL.hostname}`,
      "--disable-quic", "--autoplay-policy=no-user-gesture-required", "--mute-audio", "--disable-dev-shm-usage"],
  });
  const context = await browser.newContext({
    httpCredentials: { username: opt.user, password: opt.pass, origin },
    viewport: { width: 1280, height: 800 },
    colorScheme: "light",
  });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on("pageerror", (e) => result.pageErrors.push(String(e.message || e)));
  page.on("console", (m) => {
    if (m.type() === "error" && result.consoleErrors.length < 20) result.consoleErrors.push(m.text());
  });

  await step("open", async () => {
    const r = await page.goto(consoleURL.href);
    check(r && r.status() === 200, `GET ${consoleURL.href}: ${r && r.status()}`);
    await page.getByRole("heading", { name: "Streams", exact: true, level: 1 }).waitFor();
    // The first poll has come (the summary counts streams).
    await page.locator("#summary").filter({ hasText: /stream/ }).waitFor();
    check(await page.locator(`tr[data-stream="${name}"]`).count() === 0, `a stream ${name} exists before the test`);
  });

  // A URL the daemon refuses: its error appears beside URL, not elsewhere.
  await step("bad-url", async () => {
    await page.getByRole("button", { name: "Add", exact: true }).click();
    await page.getByLabel("Name", { exact: true }).fill(name);
    await page.getByLabel("URL", { exact: true }).fill("nonsense://nowhere");
    await page.getByRole("button", { name: "Create", exact: true }).click();
    const urlField = page.getByLabel("URL", { exact: true });
    const urlError = page.locator("#" + (await urlField.getAttribute("aria-describedby")).split(" ").pop());
    await urlError.filter({ hasText: /\S/ }).waitFor();
    result.urlError = (await urlError.innerText()).trim();
    check(await urlField.getAttribute("aria-invalid") === "true", "the URL field is not marked invalid");
    check(await page.getByLabel("Name", { exact: true }).getAttribute("aria-invalid") === null, "the Name field is marked invalid too");
    return result.urlError;
  });

  await step("create", async () => {
    await page.getByLabel("URL", { exact: true }).fill(opt.source);
    await page.getByRole("button", { name: "Create", exact: true }).click();
    // The new stream's page opens.
    await page.waitForURL((u) => u.hash === `#/streams/${encodeURIComponent(name)}`);
    await page.getByRole("heading", { name, exact: true, level: 1 }).waitFor();
  });

  await step("running-in-list", async () => {
    await page.getByRole("link", { name: "Streams", exact: true }).click();
    await page.locator(`tr[data-stream="${name}"] .light[data-status="running"]`).waitFor({ timeout: 30000 });
    // Two polls at least, so the per-minute rate has a value.
    const row = page.locator(`tr[data-stream="${name}"]`);
    await page.waitForFunction((n) => {
      const tr = document.querySelector(`tr[data-stream="${n}"]`);
      return tr && /^\d/.test(tr.cells[7].textContent) && /s ago$/.test(tr.cells[5].textContent);
    }, name, { timeout: 15000 });
    result.row = await row.locator("td").allInnerTexts();
    // The other streams' lights, as the caller knows them.
    result.lights = {};
    for (const pair of opt.expect.split(",").filter(Boolean)) {
      const [other, status] = pair.split("=");
      const light = page.locator(`tr[data-stream="${other}"] .light`);
      try {
        await page.locator(`tr[data-stream="${other}"] .light[data-status="${status}"]`).waitFor({ timeout: 20000 });
      } catch (e) {
        throw new Error(`${other}: light ${await light.getAttribute("data-status").catch(() => "missing")}, want ${status}`);
      }
      result.lights[other] = await light.evaluate((el) => getComputedStyle(el).backgroundColor);
    }
    result.lights[name] = await row.locator(".light").evaluate((el) => getComputedStyle(el).backgroundColor);
    // One colour a status, a different one for each.
    const colour = {};
    for (const [n, c] of Object.entries(result.lights)) {
      const st = n === name ? "running" : opt.expect.split(",").find((p) => p.startsWith(n + "=")).split("=")[1];
      check(!colour[st] || colour[st] === c, `two colours for ${st}: ${colour[st]} and ${c}`);
      colour[st] = c;
    }
    check(new Set(Object.values(colour)).size === Object.keys(colour).length, `statuses share a colour: ${JSON.stringify(colour)}`);
    check(result.row[2].includes(opt.source.replace(/^[a-z]+:\/\//, "")), `active input cell "${result.row[2]}"`);
    check(/bit\/s$/.test(result.row[3]), `bitrate cell "${result.row[3]}"`);
    return { row: result.row, lights: result.lights };
  });

  await step("filter", async () => {
    const filter = page.getByRole("searchbox");
    const row = page.locator(`tr[data-stream="${name}"]`);
    await filter.fill("no-such-stream-zzz");
    await row.waitFor({ state: "detached" });
    await filter.fill(name.slice(0, 4).toUpperCase());
    await row.waitFor();
    await filter.fill("");
  });

  if (opt["shot-list"]) {
    await step("screenshot-list", async () => {
      // No stray focus ring or hover, and the "Created" notice gone.
      await page.evaluate(() => document.activeElement && document.activeElement.blur());
      await page.mouse.move(0, 0);
      await page.locator("#notice").waitFor({ state: "hidden", timeout: 10000 });
      await page.screenshot({ path: opt["shot-list"] });
      result.screenshots.list = opt["shot-list"];
    });
  }

  await step("stream-page", async () => {
    await page.locator(`tr[data-stream="${name}"]`).getByRole("link", { name, exact: true }).click();
    await page.getByRole("heading", { name, exact: true, level: 1 }).waitFor();
    const hls = await page.getByLabel("HLS", { exact: true }).inputValue();
    const ts = await page.getByLabel("HTTP MPEG-TS", { exact: true }).inputValue();
    check(hls === `${origin}/${name}/index.m3u8`, `HLS URL ${hls}`);
    check(ts === `${origin}/${name}/mpegts`, `MPEG-TS URL ${ts}`);
    const fmp4 = await page.getByLabel("HLS fMP4 (CMAF)", { exact: true }).inputValue();
    check(fmp4 === `${origin}/${name}/index.fmp4.m3u8`, `fMP4 URL ${fmp4}`);
    const ll = await page.getByLabel("Low-Latency HLS", { exact: true }).inputValue();
    check(ll === `${origin}/${name}/index.ll.m3u8`, `LL-HLS URL ${ll}`);
    const mpd = await page.getByLabel("MPEG-DASH", { exact: true }).inputValue();
    check(mpd === `${origin}/${name}/index.mpd`, `DASH URL ${mpd}`);
    check(await page.getByRole("button", { name: /^Copy the .* URL$/ }).count() === 5, "not one copy button per URL");
    const inputRow = page.locator("table.inputs tbody tr").filter({ hasText: opt.source });
    await inputRow.filter({ hasText: "active" }).waitFor();
    await page.locator(".tr290 .ind").first().waitFor();
    return { hls, ts, indicators: await page.locator(".tr290 .ind").count() };
  });

  await step("plays", async () => {
    const video = page.locator("video");
    await page.waitForFunction(() => {
      const v = document.querySelector("video");
      return (v && v.readyState >= 2 && v.currentTime > 0) || (v && v.dataset.fatal);
    }, null, { timeout: 40000, polling: 100 });
    const t0 = await video.evaluate((v) => v.currentTime);
    await page.waitForFunction((t) => {
      const v = document.querySelector("video");
      return v.currentTime > t + 2 || v.dataset.fatal;
    }, t0, { timeout: 30000, polling: 100 });
    const v = await video.evaluate((v) => ({ currentTime: v.currentTime, width: v.videoWidth, height: v.videoHeight,
      fatal: v.dataset.fatal || "", frames: v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : null,
      player: document.getElementById("player-status").dataset.state }));
    result.video = v;
    result.played = v.currentTime - t0;
    if (v.fatal) result.fatal = v.fatal.split(" ");
    check(!v.fatal, `hls.js fatal error: ${v.fatal}`);
    check(result.played > 2, `played ${result.played.toFixed(2)} s`);
    check(v.width > 0 && v.height > 0, `video ${v.width}x${v.height}`);
    return v;
  });

  if (opt["shot-stream"]) {
    await step("screenshot-stream", async () => {
      // Let the chart gather a few samples.
      await page.waitForFunction(() => /L/.test(document.querySelector(".chart-svg .line")?.getAttribute("d") || ""), null, { timeout: 15000 });
      await page.mouse.move(0, 0);
      await page.screenshot({ path: opt["shot-stream"], fullPage: true });
      result.screenshots.stream = opt["shot-stream"];
    });
  }

  // Edit: a value the daemon refuses shows its error beside the field; a
  // good change is saved (a PUT of just that field) and the API has it.
  await step("edit", async () => {
    await page.getByRole("button", { name: "Edit", exact: true }).click();
    const dialog = page.getByRole("dialog", { name: `Edit ${name}` });
    await dialog.waitFor();
    const dur = dialog.getByLabel("Segment duration (s)", { exact: true });
    const before = await dur.inputValue();
    await dur.fill("0.1");
    await dialog.getByRole("button", { name: "Save", exact: true }).click();
    const durError = page.locator("#" + (await dur.getAttribute("aria-describedby")).split(" ").pop());
    await durError.filter({ hasText: /\S/ }).waitFor();
    const refused = (await durError.innerText()).trim();
    check(await dur.getAttribute("aria-invalid") === "true", "the segment duration field is not marked invalid");
    await dur.fill(before);
    const count = dialog.getByLabel("Segments in playlist", { exact: true });
    const want = Number(await count.inputValue() || 6) + 1;
    await count.fill(String(want));
    await dialog.getByRole("button", { name: "Save", exact: true }).click();
    await dialog.waitFor({ state: "hidden" });
    const r = await fetch(apiURL("/streams/" + encodeURIComponent(name)), { headers: { Authorization: auth } });
    const st = await r.json();
    check(r.status === 200 && st.segment_count === want, `after the edit the API has segment_count ${st.segment_count}, want ${want}`);
    return { refused, segment_count: st.segment_count };
  });

  await step("delete", async () => {
    page.once("dialog", async (d) => {
      result.dialog = `${d.type()}: ${d.message()}`;
      await d.accept();
    });
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    await page.waitForURL((u) => u.hash === "#/" || u.hash === "");
    await page.getByRole("heading", { name: "Streams", exact: true, level: 1 }).waitFor();
    check(result.dialog && result.dialog.startsWith("confirm") && result.dialog.includes(name), `confirmation: ${result.dialog}`);
    await page.locator(`tr[data-stream="${name}"]`).waitFor({ state: "detached" });
    // The list's next poll still lacks it, and so does the API.
    await page.waitForTimeout(3500);
    check(await page.locator(`tr[data-stream="${name}"]`).count() === 0, "the stream came back in the list");
    const r = await fetch(apiURL("/streams/" + encodeURIComponent(name)), { headers: { Authorization: auth } });
    await r.arrayBuffer();
    check(r.status === 404, `GET the deleted stream: ${r.status}, want 404`);
    return result.dialog;
  });

  check(result.pageErrors.length === 0, `page errors: ${result.pageErrors.join("; ")}`);
  result.ok = true;
} catch (e) {
  result.error = String((e && e.message) || e).split("\n")[0];
  result.stack = String((e && e.stack) || "").split("\n").slice(0, 8).join("\n");
  if (page) {
    try {
      result.url = page.url();
      result.pageText = (await page.locator("body").innerText({ timeout: 2000 })).slice(0, 3000);
      if (opt["shot-fail"]) {
        await page.screenshot({ path: opt["shot-fail"], fullPage: true, timeout: 5000 });
        result.screenshots.fail = opt["shot-fail"];
      }
    } catch (e2) { /* best effort */ }
  }
} finally {
  if (browser) await browser.close().catch(() => {});
}
finish(result.ok ? 0 : 1);
