"use strict"
// The sink's own ceiling: a minimal client (pre-serialized 20-event batches,
// keep-alive, a few requests in flight) pushes `n` events to the sink as fast
// as it can. No library does better than this on this machine.
// Forked by run.js; argv[2] = {url, n, inflight}.

const http = require("node:http")
const { buildEvent, now } = require("./event")

const job = JSON.parse(process.argv[2])
const agent = new http.Agent({ keepAlive: true, maxSockets: job.inflight || 4 })

const template = JSON.stringify({
  ...buildEvent(0),
  type: "track",
  messageId: "@@ID@@",
  timestamp: new Date().toISOString(),
  context: { library: { name: "ceiling", version: "0" } },
})
const [head, tail] = template.split("@@ID@@")

function post(body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${job.url}/v1/batch`,
      { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        res.resume()
        res.on("end", resolve)
      }
    )
    req.on("error", reject)
    req.end(body)
  })
}

async function main() {
  const batches = Math.ceil(job.n / 20)
  let next = 0
  const t0 = now()
  const worker = async () => {
    while (next < batches) {
      const b = next++
      const parts = []
      for (let i = 0; i < 20; i++) parts.push(head + `ceil-${b}-${i}` + tail)
      await post(`{"batch":[${parts.join(",")}],"sentAt":"${new Date().toISOString()}"}`)
    }
  }
  await Promise.all(Array.from({ length: job.inflight || 4 }, worker))
  const ms = now() - t0
  process.send({ type: "result", result: { events: batches * 20, ms, eps: (batches * 20 * 1000) / ms } }, () =>
    process.exit(0)
  )
}
main()
