"use strict"

// The real Medusa 2.21.2 loaders against this package, without a database:
// plugin resolution (getResolvedPlugins), the Analytics Module's provider
// loader and services (validateOptions, registration, track/identify,
// shutdown hook) and the framework's SubscriberLoader. They need a 2.x
// install: the v2 e2e backend's cached one (e2e/v2) or MEDUSA_V2_NODE_MODULES;
// without one the test is skipped with a note (the v2 e2e suite installs it).

const test = require("node:test")
const assert = require("node:assert/strict")
const fs = require("node:fs")
const os = require("node:os")
const path = require("node:path")

const { startSegmentServer } = require("../support/segment-server")

const ROOT = path.join(__dirname, "..", "..")

function findInstall() {
  const candidates = []
  if (process.env.MEDUSA_V2_NODE_MODULES) candidates.push(process.env.MEDUSA_V2_NODE_MODULES)
  const cache = path.join(os.homedir(), ".cache", "medusa-plugin-segment-rs")
  if (fs.existsSync(cache)) {
    for (const d of fs.readdirSync(cache)) if (d.startsWith("medusa-v2-")) candidates.push(path.join(cache, d, "node_modules"))
  }
  return candidates.find((nm) => {
    try {
      return JSON.parse(fs.readFileSync(path.join(nm, "@medusajs", "analytics", "package.json"), "utf8")).version.startsWith("2.")
    } catch (_) {
      return false
    }
  })
}

const NM = findInstall()

test("Medusa 2.x's own loaders accept the plugin and the provider", { skip: NM ? false : "no Medusa 2.x install found (run the v2 e2e suite once)" }, async (t) => {
  const req = (id) => require(require.resolve(id, { paths: [NM] }))
  const utils = req("@medusajs/framework/utils")
  const awilix = req("@medusajs/framework/awilix")
  t.diagnostic(`@medusajs/analytics ${req("@medusajs/analytics/package.json").version} from ${NM}`)

  // a project with the package installed, as the loaders resolve it (from the cwd)
  const project = fs.mkdtempSync(path.join(os.tmpdir(), "segment-v2-loaders-"))
  fs.mkdirSync(path.join(project, "node_modules"))
  fs.symlinkSync(ROOT, path.join(project, "node_modules", "medusa-plugin-segment-rs"), "dir")
  const cwd = process.cwd()
  process.chdir(project)
  const srv = await startSegmentServer()
  try {
    const lines = []
    const logger = {
      info: (m) => lines.push(["info", m]),
      warn: (m) => lines.push(["warn", m]),
      error: (m) => lines.push(["error", m]),
      debug() {},
    }

    // plugins: [{ resolve: "medusa-plugin-segment-rs" }] -> .medusa/server/src, the admin extension, the module `segment` with the plugin options
    const pluginOptions = { write_key: "wk_loaders", host: srv.url, flush_at: 1, flush_interval: 50 }
    const [plugin] = await utils.getResolvedPlugins(project, { plugins: [{ resolve: "medusa-plugin-segment-rs", options: pluginOptions }] }, false)
    assert.equal(fs.realpathSync(plugin.resolve), path.join(ROOT, ".medusa", "server", "src"))
    assert.deepEqual(plugin.admin, { type: "package", resolve: "medusa-plugin-segment-rs/admin" })
    assert.deepEqual(plugin.modules, [{ resolve: "medusa-plugin-segment-rs/.medusa/server/src/modules/segment", options: pluginOptions }])
    // the module resolves through the package's exports, as Medusa resolves it from the project
    // (this checkout is symlinked: its own requires of @medusajs/* look in the 2.x install through NODE_PATH)
    process.env.NODE_PATH = NM
    require("node:module").Module._initPaths()
    const segmentModule = require(require.resolve(plugin.modules[0].resolve, { paths: [project] })).default
    assert.equal(segmentModule.service.name, "SegmentModuleService")
    // its loaders run at start-up with the plugin options: a bad funnel switch stops the start, naming it
    await assert.rejects(
      Promise.all(segmentModule.loaders.map((l) => l({ container: utils.createMedusaContainer(), options: { events: { funnel: "yes" } } }))),
      /invalid option `events(\.funnel|\["funnel"\])`: must be true or false/
    )
    for (const l of segmentModule.loaders) await l({ container: utils.createMedusaContainer(), options: pluginOptions })

    // the framework's SubscriberLoader registers one subscriber per event of the table, and the funnel's
    const framework = req("@medusajs/framework")
    const { SubscriberLoader } = req("@medusajs/framework/subscribers")
    const subscribed = []
    framework.container.register({
      [utils.Modules.EVENT_BUS]: awilix.asValue({ subscribe: (event, fn, ctx) => subscribed.push([event, ctx.subscriberId]) }),
      logger: awilix.asValue(logger),
    })
    await new SubscriberLoader(path.join(plugin.resolve, "subscribers"), plugin.options, framework.container).load()
    const funnelEvents = [].concat(require("../../lib/v2/funnel").subscriber().config.event)
    assert.deepEqual(subscribed.map(([e]) => e).sort(), [...Object.keys(require("../../lib/v2/events").EVENTS), ...funnelEvents].sort())

    // the Analytics Module: provider loader, provider service, module service
    const providersLoader = req("@medusajs/analytics/dist/loaders/providers.js").default
    const ProviderService = req("@medusajs/analytics/dist/services/provider-service.js").default
    const AnalyticsService = req("@medusajs/analytics/dist/services/analytics-service.js").default
    const resolve = "medusa-plugin-segment-rs/providers/segment"

    await assert.rejects(
      providersLoader({ container: utils.createMedusaContainer(), options: { providers: [{ resolve, id: "segment", options: { flush_at: "x" } }] } }),
      /invalid option `flush_at`/
    )

    const container = utils.createMedusaContainer()
    container.register({ logger: awilix.asValue(logger) })
    await providersLoader({ container, options: { providers: [{ resolve, id: "segment", options: pluginOptions }] } })
    assert.ok(Object.keys(container.registrations).includes("aly_segment_segment"))
    const analytics = new AnalyticsService({ analyticsProviderService: new ProviderService(container.cradle) })
    await analytics.track({ event: "Loader Track", actor_id: "cus_l", properties: { n: 1 } })
    await analytics.identify({ actor_id: "cus_l", properties: { email: "l@example.com" } })
    await analytics.track({ event: "No Actor" }) // resolves: counted and logged, not thrown
    await srv.waitForMessages(2)
    assert.deepEqual(srv.messages.map((m) => `${m.type} ${m.event || ""} ${m.userId}`).sort(), ["identify  cus_l", "track Loader Track cus_l"])
    assert.ok(lines.some(([l, m]) => l === "error" && /No Actor.*needs an actor_id/.test(m)))
    await analytics.__hooks.onApplicationShutdown()
    assert.ok(!JSON.stringify(lines).includes("wk_loaders"), "no write key in logs")
  } finally {
    process.chdir(cwd)
    await srv.close()
    fs.rmSync(project, { recursive: true, force: true })
  }
})
