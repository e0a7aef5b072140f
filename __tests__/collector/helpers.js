"use strict";
// Shared by the collector tests (not a test file itself).
const zlib = require("zlib");

const WRITE_KEY = "Rk3ghXLRmY3ln5mYx6KoqCzU9BBgYQvh";

/** POSTs `body` (object or string) to `url + path`; resolves { status, json }. */
async function post(url, path, body, { gzip = false, auth = WRITE_KEY, headers = {} } = {}) {
  let data = typeof body === "string" ? body : JSON.stringify(body);
  const h = { "content-type": "application/json", ...headers };
  if (auth != null) h.authorization = "Basic " + Buffer.from(auth + ":").toString("base64");
  if (gzip) {
    data = zlib.gzipSync(data);
    h["content-encoding"] = "gzip";
  }
  const res = await fetch(url + path, { method: "POST", headers: h, body: data });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

let n = 0;
const track = (extra = {}) => ({
  type: "track",
  event: "Order Completed",
  userId: "cus_1",
  messageId: `msg-${process.pid}-${++n}`,
  properties: { order_id: "order_1", revenue: 40, currency: "EUR" },
  ...extra,
});

module.exports = { WRITE_KEY, post, track };
