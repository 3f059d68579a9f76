import type { Clock } from '../../common/clock.js'
import type { Logger } from '../../common/logger.js'
import type { Random } from '../../common/random.js'
import type { Transport } from '../transport/types.js'
import * as C from './constants.js'
import type { MemberMeta } from './types.js'

/** The live collaborators of membership. */
export interface MembershipComponents {
  /** Carries the protocol; its `peerId` and `address()` are this member's. */
  transport: Transport
  clock: Clock
  log: Logger
  /** Source of the protocol's randomness (probe order, gossip targets, jitter). @default Math.random */
  random?: Random
}

/** Options of SWIM membership; every duration in ms. */
export interface MembershipInit {
  /** Messages of another cluster name are ignored. @default 'pmz' */
  cluster?: string
  /** What this peer publishes about itself. @default { http: '', roles: [] } */
  meta?: Partial<MemberMeta>
  /** Incarnation to start at (a restarted peer starts at 0 and climbs above what others hold). @default 0 */
  incarnation?: number
  /** @default PROBE_INTERVAL_MS (200) */
  probeIntervalMs?: number
  /** @default PROBE_TIMEOUT_MS (100) */
  probeTimeoutMs?: number
  /** Peers asked to probe a member that missed a direct ping. @default INDIRECT_PROBES (3) */
  indirectProbes?: number
  /** @default SUSPICION_MULT (4) */
  suspicionMult?: number
  /** Floor of the base suspicion timeout. @default SUSPICION_MIN_MS (1000) */
  suspicionMinMs?: number
  /** @default SUSPICION_MAX_MULT (3) */
  suspicionMaxMult?: number
  /** @default RETRANSMIT_MULT (4) */
  retransmitMult?: number
  /** @default MAX_UPDATES_PER_MESSAGE (16) */
  maxUpdatesPerMessage?: number
  /** @default GOSSIP_INTERVAL_MS (200) */
  gossipIntervalMs?: number
  /** @default GOSSIP_NODES (3) */
  gossipNodes?: number
  /** @default GOSSIP_TO_DEAD_MS (30000) */
  gossipToDeadMs?: number
  /** Base period of the full state exchange with a random member; 0 turns it off. @default PUSH_PULL_INTERVAL_MS (15000) */
  pushPullIntervalMs?: number
  /** A successful join is followed by one more exchange with another member after this long; 0 turns it off. @default JOIN_FOLLOW_UP_MS (2000) */
  joinFollowUpMs?: number
  /** Least time between two state exchanges started because an unknown or dead peer wrote. @default REPAIR_COOLDOWN_MS (5000) */
  repairCooldownMs?: number
  /** @default SYNC_TIMEOUT_MS (3000) */
  syncTimeoutMs?: number
  /** How long dead and left members stay listed. @default DEAD_RETENTION_MS (30000) */
  deadRetentionMs?: number
  /** @default AWARENESS_MAX_MULT (8) */
  awarenessMaxMult?: number
}

export type SwimConfig = Required<Omit<MembershipInit, 'meta'>> & { meta: MemberMeta }

/** Fills every option with its default. */
export function resolveInit (init: MembershipInit): SwimConfig {
  return {
    cluster: init.cluster ?? C.CLUSTER_NAME,
    meta: { ...init.meta, http: init.meta?.http ?? '', roles: [...(init.meta?.roles ?? [])] },
    incarnation: init.incarnation ?? 0,
    probeIntervalMs: init.probeIntervalMs ?? C.PROBE_INTERVAL_MS,
    probeTimeoutMs: init.probeTimeoutMs ?? C.PROBE_TIMEOUT_MS,
    indirectProbes: init.indirectProbes ?? C.INDIRECT_PROBES,
    suspicionMult: init.suspicionMult ?? C.SUSPICION_MULT,
    suspicionMinMs: init.suspicionMinMs ?? C.SUSPICION_MIN_MS,
    suspicionMaxMult: init.suspicionMaxMult ?? C.SUSPICION_MAX_MULT,
    retransmitMult: init.retransmitMult ?? C.RETRANSMIT_MULT,
    maxUpdatesPerMessage: init.maxUpdatesPerMessage ?? C.MAX_UPDATES_PER_MESSAGE,
    gossipIntervalMs: init.gossipIntervalMs ?? C.GOSSIP_INTERVAL_MS,
    gossipNodes: init.gossipNodes ?? C.GOSSIP_NODES,
    gossipToDeadMs: init.gossipToDeadMs ?? C.GOSSIP_TO_DEAD_MS,
    pushPullIntervalMs: init.pushPullIntervalMs ?? C.PUSH_PULL_INTERVAL_MS,
    joinFollowUpMs: init.joinFollowUpMs ?? C.JOIN_FOLLOW_UP_MS,
    repairCooldownMs: init.repairCooldownMs ?? C.REPAIR_COOLDOWN_MS,
    syncTimeoutMs: init.syncTimeoutMs ?? C.SYNC_TIMEOUT_MS,
    deadRetentionMs: init.deadRetentionMs ?? C.DEAD_RETENTION_MS,
    awarenessMaxMult: init.awarenessMaxMult ?? C.AWARENESS_MAX_MULT
  }
}
