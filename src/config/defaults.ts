/**
 * Every default of pmz, in one place. `config/server.conf` mirrors this file
 * key for key (a unit test checks that they agree).
 */
export const DEFAULTS = {
  node: {
    /** Peer id; empty means "generate one and keep it in the data dir". */
    id: '',
    /** Roles of this peer. @default all */
    roles: ['volume', 'worker', 'gateway', 'coordinator'] as Role[],
    /** Address to bind; 0.0.0.0 binds every interface. @default 0.0.0.0 */
    host: '0.0.0.0',
    /** Data directory (LMDB files, peer id). @default ./data */
    dataDir: './data',
    /** Seeds directory. @default ./seeds */
    seedsDir: './seeds'
  },
  http: {
    /** HTTP gateway port; 0 picks a free one. @default 31414 */
    port: 31414,
    /** Largest value accepted, in MiB, inclusive (Pulzar's maxsize). @default 5 */
    maxsizeMb: 5,
    /** Seconds an upload may send nothing before it is cut (408) and its partial value removed. @default 30 */
    bodyIdleTimeoutS: 30,
    /** Uploads one client address may have in progress at once; more are refused with 429. @default 128 */
    maxUploadsPerClient: 128
  },
  mesh: {
    /** Mesh (ZeroMQ) port; 0 picks a free one. @default 31415 */
    port: 31415,
    /** Cluster name; peers of other names never merge. @default pmz */
    cluster: 'pmz',
    /** Shared secret the mesh keys derive from (Pulzar's server.key). */
    clusterKey: 'l415S4Nt05',
    /** Discovery methods. @default mdns, broadcast, static */
    discovery: ['mdns', 'broadcast', 'static'] as DiscoveryMethod[],
    /** Static join list, HOST:MESHPORT entries. @default none */
    join: [] as string[],
    /** UDP port of the broadcast beacons. @default 31416 */
    broadcastPort: 31416
  },
  store: {
    /** Replicas per key (N). @default 3 */
    replicas: 3,
    /** Replicas that must commit before a write is acknowledged (W). @default 2 */
    writeQuorum: 2,
    /** Hours a tombstone is kept before it is collected. @default 168 */
    tombstoneGraceHours: 168,
    /** Seconds between sweeps of expired keys and old tombstones. @default 60 */
    sweepIntervalS: 60,
    /** Seconds a volume peer may be dead before it leaves the ring and its keys are re-replicated. @default 30 */
    deadPeerGraceS: 30,
    /**
     * When a commit reaches the disk: `flush` = every commit is flushed
     * (fsync) before it is acknowledged; `os` = the OS writes it back later
     * (survives a killed process, not a power loss). @default 'flush'
     */
    sync: 'flush' as StoreSync
  },
  general: {
    /** Days of job history kept (Pulzar's retention_policy). @default 90 */
    retentionDays: 90
  },
  log: {
    /** pino level: trace, debug, info, warn, error, fatal, silent. @default info */
    level: 'info' as LogLevel
  }
}

export type Role = 'volume' | 'worker' | 'gateway' | 'coordinator'
export const ROLES: readonly Role[] = ['volume', 'worker', 'gateway', 'coordinator']
export type DiscoveryMethod = 'mdns' | 'broadcast' | 'static'
export const DISCOVERY_METHODS: readonly DiscoveryMethod[] = ['mdns', 'broadcast', 'static']
export type StoreSync = 'flush' | 'os'
export const STORE_SYNC: readonly StoreSync[] = ['flush', 'os']
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

/** The whole, validated configuration of one peer. Frozen once built. */
export interface PmzConfig {
  readonly node: Readonly<{ id: string, roles: readonly Role[], host: string, dataDir: string, seedsDir: string }>
  readonly http: Readonly<{ port: number, maxsizeMb: number, bodyIdleTimeoutS: number, maxUploadsPerClient: number }>
  readonly mesh: Readonly<{
    port: number, cluster: string, clusterKey: string, discovery: readonly DiscoveryMethod[], join: readonly string[], broadcastPort: number
  }>
  readonly store: Readonly<{ replicas: number, writeQuorum: number, tombstoneGraceHours: number, sweepIntervalS: number, deadPeerGraceS: number, sync: StoreSync }>
  readonly general: Readonly<{ retentionDays: number }>
  readonly log: Readonly<{ level: LogLevel }>
}
