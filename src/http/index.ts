import { FastifyGateway } from './gateway.js'
import type { Gateway, GatewayComponents, GatewayInit } from './types.js'

export type { CatalogRow } from './catalog-routes.js'
export { createPeerMetrics, UNMATCHED_ROUTE, type JobOutcomeLabel, type MetricsSources, type PeerMetrics, type PeerMetricsInit, type RaftFigures, type StoreFigures } from './metrics.js'
export type { CoordinatorView, JobCatalogView, JobsView, LaunchRequest, PeerView, NetworkView, RingView, PeerSelf, Gateway, GatewayComponents, GatewayInit } from './types.js'

export function createGateway (components: GatewayComponents, init: GatewayInit): Gateway {
  return new FastifyGateway(components, init)
}
export { ClusterEventFeed } from './cluster-events/feed.js'
export type { ClusterEvents, ClusterEventsComponents, ClusterEventsInit, JobTableSource } from './cluster-events/types.js'
