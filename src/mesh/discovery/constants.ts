/** mDNS service type (`_pmz._tcp.local`). */
export const MDNS_SERVICE_TYPE = 'pmz'
/** How often the mDNS browser asks again, ms (answers also arrive unasked when a peer publishes). */
export const MDNS_REQUERY_MS = 5_000
/** How often a broadcast beacon goes out, ms. */
export const BEACON_INTERVAL_MS = 1_000
/** Beacon wire version; others are ignored. */
export const BEACON_VERSION = 1
/** How often the static join list is proposed again, ms (known peers are skipped; a seed that was not up yet is found within this). */
export const STATIC_REPROPOSE_MS = 1_000
