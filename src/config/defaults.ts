/**
 * Every default of pmz, in one place. `config/server.conf` mirrors this file
 * key for key (a unit test checks that they agree).
 */
/** Pulzar's published cluster key: fine on one machine, never on a shared network. */
export const DEFAULT_CLUSTER_KEY = 'l415S4Nt05'

export const DEFAULTS = {
  node: {
    /** Peer id; empty means "generate one and keep it in the data dir". */
    id: '',
    /** Roles of this peer. @default all */
    roles: ['volume', 'worker', 'gateway', 'coordinator'] as Role[],
    /** Address to bind; 0.0.0.0 binds every interface. @default 0.0.0.0 */
    host: '0.0.0.0',
    /**
     * Host other peers and clients are given for this one (its mesh address,
     * its gateway URL in admin/network, get_node and redirects). Empty = the
     * bound host, or for 0.0.0.0 this machine's first non-internal IPv4
     * address (127.0.0.1 when it has none). @default ''
     */
    advertise: '',
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
    /**
     * Bearer token every write and admin request must carry
     * (`Authorization: Bearer TOKEN`); empty means no token is asked. Reads
     * of keys, GET extensions and OPTIONS stay open. @default '' (none)
     */
    token: '',
    /** Seconds an upload may send nothing before it is cut (408) and its partial value removed. @default 30 */
    bodyIdleTimeoutS: 30,
    /** Uploads one client address may have in progress at once; more are refused with 429. @default 128 */
    maxUploadsPerClient: 128,
    /** Events of `GET /events` a peer keeps for clients that resume (Last-Event-ID). @default 10000 */
    eventsBuffer: 10_000,
    /** Key events `GET /events` records per second; past it they are counted (`sampled`). @default 50 */
    eventsKeyRate: 50,
    /** KiB one `GET /events` stream may queue for a client that does not read; past it the stream is closed. @default 1024 */
    eventsQueueKb: 1024
  },
  mesh: {
    /** Mesh (ZeroMQ) port; 0 picks a free one. @default 31415 */
    port: 31415,
    /** Cluster name; peers of other names never merge. @default pmz */
    cluster: 'pmz',
    /**
     * Shared secret the mesh keys derive from (Pulzar's server.key). The
     * default is published: set your own (`pmz keygen`) on any network.
     */
    clusterKey: DEFAULT_CLUSTER_KEY,
    /** Discovery methods. @default mdns, broadcast, static */
    discovery: ['mdns', 'broadcast', 'static'] as DiscoveryMethod[],
    /** Static join list, HOST:MESHPORT entries. @default none */
    join: [] as string[],
    /** UDP port of the broadcast beacons. @default 31416 */
    broadcastPort: 31416,
    /** Refused mesh traffic is logged as one summary line per this many seconds. @default 10 */
    rejectSummaryS: 10
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
    sync: 'flush' as StoreSync,
    /**
     * MiB of free space on the data disk under which the peer takes no new
     * value (client writes and replicas answer 507) and says so in
     * admin/status; deletes and reads go on. 0 = no floor. @default 64
     */
    minFreeMb: 64
  },
  coordinator: {
    /**
     * Coordinator-role peers (this one included) that must be alive before
     * the one with the lowest id bootstraps the coordinator cluster; the
     * others wait to be added. 1 = automatic: a peer with a static join list
     * never bootstraps (it is added by the cluster it joins); one without a
     * join list bootstraps at once when discovery is static or none, else
     * (mDNS, broadcast) after a quiet period, lowest id first. Set it to the
     * number of coordinator peers started together when they find each other
     * by discovery or all have join lists. @default 1
     */
    bootstrapExpect: 1
  },
  jobs: {
    /** Job attempts a worker peer runs at once (more wait queued); 0 = the core count. @default 0 */
    slots: 0
  },
  pipelines: {
    /**
     * The rx directory: a file dropped into `{rx_dir}/{tag}/` is injected as
     * a packet of that tag (its bytes; its parsed JSON when it ends in
     * `.json`) and moved to `{rx_dir}/done/` once the pipeline took it.
     * Empty = no rx directory. @default ''
     */
    rxDir: '',
    /**
     * Where module stages run when their seed does not say (`isolation`
     * export): `thread`, a worker thread of the peer; `process`, a child
     * process each. @default 'thread'
     */
    isolation: 'thread' as StageIsolationSetting
  },
  general: {
    /** Days of job history kept (Pulzar's retention_policy). @default 90 */
    retentionDays: 90
  },
  log: {
    /** pino level: trace, debug, info, warn, error, fatal, silent (debug adds one line per HTTP request). @default info */
    level: 'info' as LogLevel,
    /** `auto`: pretty on a terminal, JSON otherwise; `json`: one JSON object per line; `pretty`: one readable line per event. @default auto */
    format: 'auto' as LogFormatSetting
  }
}

export type Role = 'volume' | 'worker' | 'gateway' | 'coordinator'
export const ROLES: readonly Role[] = ['volume', 'worker', 'gateway', 'coordinator']
export type DiscoveryMethod = 'mdns' | 'broadcast' | 'static'
export const DISCOVERY_METHODS: readonly DiscoveryMethod[] = ['mdns', 'broadcast', 'static']
export type StoreSync = 'flush' | 'os'
export const STORE_SYNC: readonly StoreSync[] = ['flush', 'os']
export type StageIsolationSetting = 'thread' | 'process'
export const STAGE_ISOLATION: readonly StageIsolationSetting[] = ['thread', 'process']
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']
export type LogFormatSetting = 'auto' | 'json' | 'pretty'
export const LOG_FORMATS: readonly LogFormatSetting[] = ['auto', 'json', 'pretty']

/** The whole, validated configuration of one peer. Frozen once built. */
export interface PmzConfig {
  readonly node: Readonly<{ id: string, roles: readonly Role[], host: string, advertise: string, dataDir: string, seedsDir: string }>
  readonly http: Readonly<{ port: number, maxsizeMb: number, token: string, bodyIdleTimeoutS: number, maxUploadsPerClient: number, eventsBuffer: number, eventsKeyRate: number, eventsQueueKb: number }>
  readonly mesh: Readonly<{
    port: number, cluster: string, clusterKey: string, discovery: readonly DiscoveryMethod[], join: readonly string[], broadcastPort: number, rejectSummaryS: number
  }>
  readonly store: Readonly<{ replicas: number, writeQuorum: number, tombstoneGraceHours: number, sweepIntervalS: number, deadPeerGraceS: number, sync: StoreSync, minFreeMb: number }>
  readonly coordinator: Readonly<{ bootstrapExpect: number }>
  readonly jobs: Readonly<{ slots: number }>
  readonly pipelines: Readonly<{ rxDir: string, isolation: StageIsolationSetting }>
  readonly general: Readonly<{ retentionDays: number }>
  readonly log: Readonly<{ level: LogLevel, format: LogFormatSetting }>
}
