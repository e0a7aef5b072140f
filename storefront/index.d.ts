/** What `cartMetadata()` returns: the plugin's storefront contract on cart.metadata (only the keys found). */
export interface SegmentCartMetadata {
  /** analytics.js's anonymousId (window.analytics, the ajs_anonymous_id cookie or localStorage) */
  segment_anonymous_id?: string
  /** the GA4 client id from the _ga cookie ("<random>.<timestamp>") */
  ga_client_id?: string
  /** the GA4 session id and number from the _ga_<stream id> cookie */
  ga_session_id?: string
  ga_session_number?: string
  /** Meta's _fbp and _fbc cookies (_fbc built from ?fbclid= when the cookie is not set yet) */
  fbp?: string
  fbc?: string
  /** Google Ads click id: ?gclid= or the _gcl_aw cookie */
  gclid?: string
  /** Segment consent categoryPreferences, as given in `consent` */
  segment_consent?: Record<string, boolean>
}

export type CookieSource = string | { name: string; value: string }[] | Record<string, string>

export interface CartMetadataOptions {
  /** categoryPreferences from your consent tool, e.g. { analytics: true, advertising: false } */
  consent?: Record<string, boolean>
  /** GA4 measurement id ("G-XXXX") whose _ga_<id> cookie holds the session; default: the first _ga_* cookie */
  measurementId?: string
  /** default: document.cookie (on a server: the request's cookies, e.g. Next.js `(await cookies()).getAll()`) */
  cookies?: CookieSource
  /** landing URL read for gclid / fbclid; default: location.href */
  url?: string
  /** an analytics.js instance; default: window.analytics */
  analytics?: { user?: () => { anonymousId?: () => string | null } } | null
  /** default: window.localStorage */
  storage?: Pick<Storage, "getItem"> | null
  /** ms timestamp for an _fbc built from fbclid; default: Date.now() */
  now?: number
}

/** The cart.metadata object for `sdk.store.cart.create` / `sdk.store.cart.update`. */
export declare function cartMetadata(options?: CartMetadataOptions): SegmentCartMetadata
/** Cookies as a name -> value map. */
export declare function parseCookies(cookies: CookieSource | undefined | null): Record<string, string>
export default cartMetadata
