// Seeds the v2 e2e backend through Medusa's own workflows (run once per
// template database by `medusa exec`): a store selling in EUR and USD, two
// regions (Europe in EUR with 19% German VAT, United States in USD), one
// warehouse with manual fulfilment, flat shipping, a publishable key, two
// products in the "Apparel" collection and an admin user.
const { ContainerRegistrationKeys, Modules } = require("@medusajs/framework/utils")
const wf = require("@medusajs/medusa/core-flows")

const ADMIN = { email: "admin@e2e.test", password: "e2e-password" }

async function seed({ container }) {
  const logger = container.resolve(ContainerRegistrationKeys.LOGGER)
  const link = container.resolve(ContainerRegistrationKeys.LINK)
  const storeModule = container.resolve(Modules.STORE)
  const fulfillmentModule = container.resolve(Modules.FULFILLMENT)

  // Migrations already create the default sales channel and shipping profile.
  const salesChannelModule = container.resolve(Modules.SALES_CHANNEL)
  let [salesChannel] = await salesChannelModule.listSalesChannels({ name: "Default Sales Channel" })
  if (!salesChannel) {
    ;({
      result: [salesChannel],
    } = await wf.createSalesChannelsWorkflow(container).run({
      input: { salesChannelsData: [{ name: "Default Sales Channel" }] },
    }))
  }
  const [store] = await storeModule.listStores()
  await wf.updateStoresWorkflow(container).run({
    input: {
      selector: { id: store.id },
      update: {
        supported_currencies: [
          { currency_code: "eur", is_default: true },
          { currency_code: "usd" },
          { currency_code: "gbp" },
        ],
        default_sales_channel_id: salesChannel.id,
      },
    },
  })

  const europe = ["de", "dk", "fr"]
  const { result: regions } = await wf.createRegionsWorkflow(container).run({
    input: {
      regions: [
        { name: "Europe", currency_code: "eur", countries: europe, payment_providers: ["pp_system_default"] },
        { name: "United States", currency_code: "usd", countries: ["us"], payment_providers: ["pp_system_default"] },
        { name: "United Kingdom", currency_code: "gbp", countries: ["gb"], payment_providers: ["pp_system_default"] },
      ],
    },
  })
  await wf.createTaxRegionsWorkflow(container).run({
    input: [
      { country_code: "de", provider_id: "tp_system", default_tax_rate: { name: "VAT", code: "DE-VAT", rate: 19 } },
      { country_code: "gb", provider_id: "tp_system", default_tax_rate: { name: "VAT", code: "GB-VAT", rate: 20 } },
      ...["dk", "fr", "us"].map((country_code) => ({ country_code, provider_id: "tp_system" })),
    ],
  })

  const {
    result: [location],
  } = await wf.createStockLocationsWorkflow(container).run({
    input: {
      locations: [{ name: "European Warehouse", address: { city: "Copenhagen", country_code: "DK", address_1: "Vesterbrogade 1" } }],
    },
  })
  await link.create({
    [Modules.STOCK_LOCATION]: { stock_location_id: location.id },
    [Modules.FULFILLMENT]: { fulfillment_provider_id: "manual_manual" },
  })
  let [profile] = await fulfillmentModule.listShippingProfiles({ type: "default" })
  if (!profile) {
    ;({
      result: [profile],
    } = await wf.createShippingProfilesWorkflow(container).run({
      input: { data: [{ name: "Default Shipping Profile", type: "default" }] },
    }))
  }
  const fulfillmentSet = await fulfillmentModule.createFulfillmentSets({
    name: "Warehouse delivery",
    type: "shipping",
    service_zones: [
      {
        name: "Everywhere we sell",
        geo_zones: [...europe, "us", "gb"].map((country_code) => ({ country_code, type: "country" })),
      },
    ],
  })
  await link.create({
    [Modules.STOCK_LOCATION]: { stock_location_id: location.id },
    [Modules.FULFILLMENT]: { fulfillment_set_id: fulfillmentSet.id },
  })
  const shippingOption = (name, code, isReturn, eur, usd, gbp) => ({
    name,
    price_type: "flat",
    provider_id: "manual_manual",
    service_zone_id: fulfillmentSet.service_zones[0].id,
    shipping_profile_id: profile.id,
    type: { label: name, description: name, code },
    prices: [
      { currency_code: "eur", amount: eur },
      { currency_code: "usd", amount: usd },
      { currency_code: "gbp", amount: gbp },
    ],
    // plain "true"/"false": the store compares the rule value as a string
    rules: [
      { attribute: "enabled_in_store", value: "true", operator: "eq" },
      { attribute: "is_return", value: isReturn ? "true" : "false", operator: "eq" },
    ],
  })
  await wf.createShippingOptionsWorkflow(container).run({
    input: [
      shippingOption("Standard Shipping", "standard", false, 4.95, 5.99, 3.99),
      shippingOption("Return Shipping", "return", true, 3.5, 4.5, 2.95),
    ],
  })
  await wf.linkSalesChannelsToStockLocationWorkflow(container).run({
    input: { id: location.id, add: [salesChannel.id] },
  })

  const {
    result: [apiKey],
  } = await wf.createApiKeysWorkflow(container).run({
    input: { api_keys: [{ title: "E2E storefront", type: "publishable", created_by: "" }] },
  })
  await wf.linkSalesChannelsToApiKeyWorkflow(container).run({
    input: { id: apiKey.id, add: [salesChannel.id] },
  })

  const {
    result: [collection],
  } = await wf.createCollectionsWorkflow(container).run({
    input: { collections: [{ title: "Apparel", handle: "apparel" }] },
  })
  const { result: types } = await wf.createProductTypesWorkflow(container).run({
    input: { product_types: [{ value: "Shirts" }, { value: "Hoodies" }] },
  })
  const typeId = (value) => types.find((t) => t.value === value).id
  // Prices that make rounding visible: 19% VAT on 12.45 is 2.3655.
  const variant = (title, sku, size, eur, usd, gbp) => ({
    title,
    sku,
    options: { Size: size },
    prices: [
      { currency_code: "eur", amount: eur },
      { currency_code: "usd", amount: usd },
      { currency_code: "gbp", amount: gbp },
    ],
  })
  await wf.createProductsWorkflow(container).run({
    input: {
      products: [
        {
          title: "Medusa T-Shirt",
          subtitle: "Organic cotton",
          handle: "t-shirt",
          status: "published",
          collection_id: collection.id,
          type_id: typeId("Shirts"),
          shipping_profile_id: profile.id,
          options: [{ title: "Size", values: ["S", "M"] }],
          variants: [variant("S", "TSHIRT-BLACK-S", "S", 12.45, 14.99, 10.95), variant("M", "TSHIRT-BLACK-M", "M", 12.45, 14.99, 10.95)],
          sales_channels: [{ id: salesChannel.id }],
        },
        {
          title: "Medusa Hoodie",
          subtitle: "Heavyweight",
          handle: "hoodie",
          status: "published",
          collection_id: collection.id,
          type_id: typeId("Hoodies"),
          shipping_profile_id: profile.id,
          options: [{ title: "Size", values: ["M"] }],
          variants: [variant("M", "HOODIE-GREY-M", "M", 39.9, 44.5, 34.5)],
          sales_channels: [{ id: salesChannel.id }],
        },
      ],
    },
  })

  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const { data: items } = await query.graph({ entity: "inventory_item", fields: ["id"] })
  await wf.createInventoryLevelsWorkflow(container).run({
    input: {
      inventory_levels: items.map((i) => ({ location_id: location.id, stocked_quantity: 1000000, inventory_item_id: i.id })),
    },
  })

  await wf.createReturnReasonsWorkflow(container).run({
    input: { data: [{ value: "too_big", label: "Too big", description: "The item was too big" }] },
  })

  // The admin user: an auth identity with email + password, linked to a user.
  const authModule = container.resolve(Modules.AUTH)
  const { authIdentity } = await authModule.register("emailpass", { body: ADMIN })
  await wf.createUserAccountWorkflow(container).run({
    input: { authIdentityId: authIdentity.id, userData: { email: ADMIN.email } },
  })

  logger.info(`e2e seed: regions ${regions.map((r) => r.currency_code).join(", ")}, location ${location.id}, key ${apiKey.id}`)
}

exports.default = seed
exports.ADMIN = ADMIN
