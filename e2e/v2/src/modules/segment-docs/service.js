// The guide's provider, in plain CommonJS: identify (actor -> identify,
// group -> group), track (userId = actor_id or the group's id, else
// properties.anonymousId), shutdown flushes and closes the client.
const { AbstractAnalyticsProviderService } = require("@medusajs/framework/utils")
const { Analytics } = require("@segment/analytics-node")

class SegmentDocsProvider extends AbstractAnalyticsProviderService {
  static identifier = "segment"

  constructor(container, options) {
    super()
    // host/flush settings: the bench points it at the local sink with the same batching as ours
    this.client = new Analytics({
      writeKey: options.writeKey,
      host: options.host,
      flushAt: options.flushAt,
      flushInterval: options.flushInterval,
    })
  }

  async identify(data) {
    const props = data.properties || {}
    if ("group" in data && data.group) {
      this.client.group({
        groupId: data.group.id,
        userId: data.actor_id,
        anonymousId: props.anonymousId,
        traits: props.traits,
        context: props,
      })
    } else {
      this.client.identify({ userId: data.actor_id, anonymousId: props.anonymousId, traits: props.traits, context: props })
    }
  }

  async track(data) {
    const props = data.properties || {}
    const userId = data.actor_id || (data.group && data.group.id)
    const anonymousId = props.anonymousId
    if (!userId && !anonymousId) throw new Error("Actor or group ID is required")
    this.client.track({ event: data.event, userId, anonymousId, properties: props, timestamp: props.timestamp })
  }

  async shutdown() {
    await this.client.closeAndFlush()
  }
}

module.exports = SegmentDocsProvider
