#!/usr/bin/env node
"use strict";
// One event end to end with whatever binary the loader picks on this machine:
// start a local Segment-compatible server on 127.0.0.1, track() through
// SegmentService, flush, and check the server got exactly that event. Used by
// the release workflow on each native runner (macOS, Windows, Linux).
const assert = require("node:assert/strict");
const { startSegmentServer } = require("../__tests__/support/segment-server");

(async () => {
  const srv = await startSegmentServer({ port: 0 });
  try {
    const { SegmentService } = require("..");
    const s = new SegmentService({}, { write_key: "smoke_" + "k".repeat(26), host: srv.url, flush_at: 1, flush_interval: 100 });
    s.track({ userId: "cus_smoke", event: "Order Completed", properties: { order_id: "order_smoke" } });
    await s.flush();
    const got = await srv.waitForMessages(1, 30000);
    assert.equal(got.length, 1);
    assert.equal(got[0].event, "Order Completed");
    assert.equal(got[0].properties.order_id, "order_smoke");
    const loaded = process.report.getReport().sharedObjects.filter((f) => f.endsWith(".node"));
    console.log(`ok: ${process.platform}-${process.arch} Node ${process.version} delivered 1 event with ${loaded.join(", ")}`);
  } finally {
    await srv.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
