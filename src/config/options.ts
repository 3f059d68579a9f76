import { isIP } from 'node:net'
import { DISCOVERY_METHODS, LOG_FORMATS, LOG_LEVELS, ROLES, STAGE_ISOLATION, STORE_SYNC, type DiscoveryMethod, type Role } from './defaults.js'

/** Thrown by a parser; the loader adds the key and the source. */
export class InvalidValue extends Error {}

/**
 * One configuration option: where it lives in the typed config, in
 * `server.conf`, in the environment and on the command line, and how a raw
 * string becomes a value.
 */
export interface OptionSpec {
  /** `section.field` in PmzConfig. */
  path: string
  /** `section.key` in server.conf (Pulzar's names where Pulzar has the key). */
  ini: string
  /** Environment variable. */
  env: string
  /** Commander's camelCase name of the `pmz node` flag, when there is one. */
  flag?: string
  parse: (raw: string) => unknown
}

const int = (min: number, max: number) => (raw: string): number => {
  const s = raw.trim()
  if (!/^-?\d+$/.test(s)) throw new InvalidValue(`expected an integer from ${min} to ${max}, got "${raw}"`)
  const n = Number(s)
  if (n < min || n > max) throw new InvalidValue(`expected an integer from ${min} to ${max}, got ${n}`)
  return n
}

const positiveNumber = (raw: string): number => {
  const s = raw.trim()
  const n = Number(s)
  if (s === '' || !Number.isFinite(n) || n <= 0) throw new InvalidValue(`expected a positive number, got "${raw}"`)
  return n
}

const nonNegativeNumber = (raw: string): number => {
  const s = raw.trim()
  const n = Number(s)
  if (s === '' || !Number.isFinite(n) || n < 0) throw new InvalidValue(`expected a number >= 0, got "${raw}"`)
  return n
}

const nonEmpty = (what: string) => (raw: string): string => {
  const s = raw.trim()
  if (s === '') throw new InvalidValue(`expected ${what}, got an empty value`)
  return s
}

const port = int(0, 65535)

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '*'])
const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/
const advertise = (raw: string): string => {
  const s = raw.trim()
  if (s === '') return s
  const bare = s.replace(/^\[(.*)\]$/, '$1')
  if ((isIP(bare) === 0 && !HOST_NAME.test(s)) || WILDCARD_HOSTS.has(bare)) {
    throw new InvalidValue(`expected a host name or IP address others can reach (no port, not 0.0.0.0), got "${raw}"`)
  }
  return s
}
const optionalSecret = (raw: string): string => raw.trim()
/** A directory, or empty for none. */
const optionalDir = (raw: string): string => raw.trim()

const PEER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const peerId = (raw: string): string => {
  const s = raw.trim()
  if (s !== '' && !PEER_ID.test(s)) throw new InvalidValue(`expected 1-64 of [A-Za-z0-9._-] starting with a letter or digit, got "${raw}"`)
  return s
}

const clusterName = (raw: string): string => {
  const s = raw.trim()
  if (!PEER_ID.test(s)) throw new InvalidValue(`expected 1-64 of [A-Za-z0-9._-], got "${raw}"`)
  return s
}

const list = (raw: string): string[] => raw.split(',').map(s => s.trim()).filter(s => s !== '')

const roles = (raw: string): Role[] => {
  const items = list(raw)
  if (items.length === 1 && items[0] === 'all') return [...ROLES]
  if (items.length === 0) throw new InvalidValue(`expected "all" or a list of ${ROLES.join(', ')}`)
  for (const r of items) {
    if (!ROLES.includes(r as Role)) throw new InvalidValue(`unknown role "${r}"; expected "all" or a list of ${ROLES.join(', ')}`)
  }
  return [...new Set(items)] as Role[]
}

const discovery = (raw: string): DiscoveryMethod[] => {
  const items = list(raw)
  if (items.length === 1 && items[0] === 'none') return []
  if (items.length === 0) throw new InvalidValue(`expected "none" or a list of ${DISCOVERY_METHODS.join(', ')}`)
  for (const d of items) {
    if (!DISCOVERY_METHODS.includes(d as DiscoveryMethod)) {
      throw new InvalidValue(`unknown discovery method "${d}"; expected "none" or a list of ${DISCOVERY_METHODS.join(', ')}`)
    }
  }
  return [...new Set(items)] as DiscoveryMethod[]
}

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/
const joinList = (raw: string): string[] => {
  const items = list(raw)
  for (const item of items) {
    const m = HOST_PORT.exec(item)
    if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new InvalidValue(`expected HOST:MESHPORT entries, got "${item}"`)
  }
  return items
}

const storeSync = (raw: string): string => {
  const s = raw.trim().toLowerCase()
  if (!STORE_SYNC.includes(s as never)) throw new InvalidValue(`expected one of ${STORE_SYNC.join(', ')}, got "${raw}"`)
  return s
}

const stageIsolation = (raw: string): string => {
  const s = raw.trim().toLowerCase()
  if (!STAGE_ISOLATION.includes(s as never)) throw new InvalidValue(`expected one of ${STAGE_ISOLATION.join(', ')}, got "${raw}"`)
  return s
}

const logLevel = (raw: string): string => {
  const s = raw.trim().toLowerCase()
  if (!LOG_LEVELS.includes(s as never)) throw new InvalidValue(`expected one of ${LOG_LEVELS.join(', ')}, got "${raw}"`)
  return s
}

const logFormat = (raw: string): string => {
  const s = raw.trim().toLowerCase()
  if (!LOG_FORMATS.includes(s as never)) throw new InvalidValue(`expected one of ${LOG_FORMATS.join(', ')}, got "${raw}"`)
  return s
}

/** Every option pmz reads. `config/server.conf` documents each `ini` key. */
export const OPTIONS: readonly OptionSpec[] = [
  { path: 'node.id', ini: 'node.id', env: 'PMZ_ID', flag: 'id', parse: peerId },
  { path: 'node.roles', ini: 'node.roles', env: 'PMZ_ROLE', flag: 'role', parse: roles },
  { path: 'node.host', ini: 'server.host', env: 'PMZ_HOST', flag: 'host', parse: nonEmpty('a host name or address') },
  { path: 'node.advertise', ini: 'server.advertise', env: 'PMZ_ADVERTISE', flag: 'advertise', parse: advertise },
  { path: 'node.dataDir', ini: 'volume.dir', env: 'PMZ_DATA', flag: 'data', parse: nonEmpty('a directory') },
  { path: 'node.seedsDir', ini: 'jobs.dir', env: 'PMZ_SEEDS', flag: 'seeds', parse: nonEmpty('a directory') },
  { path: 'http.port', ini: 'server.port', env: 'PMZ_HTTP_PORT', flag: 'httpPort', parse: port },
  { path: 'http.maxsizeMb', ini: 'general.maxsize', env: 'PMZ_MAXSIZE', flag: 'maxsize', parse: positiveNumber },
  { path: 'http.token', ini: 'server.token', env: 'PMZ_TOKEN', parse: optionalSecret },
  { path: 'http.bodyIdleTimeoutS', ini: 'http.body_idle_timeout_s', env: 'PMZ_BODY_IDLE_TIMEOUT_S', parse: positiveNumber },
  { path: 'http.maxUploadsPerClient', ini: 'http.max_uploads_per_client', env: 'PMZ_MAX_UPLOADS_PER_CLIENT', parse: int(1, 1_000_000) },
  { path: 'http.eventsBuffer', ini: 'http.events_buffer', env: 'PMZ_EVENTS_BUFFER', parse: int(1, 10_000_000) },
  { path: 'http.eventsKeyRate', ini: 'http.events_key_rate', env: 'PMZ_EVENTS_KEY_RATE', parse: int(1, 10_000_000) },
  { path: 'http.eventsQueueKb', ini: 'http.events_queue_kb', env: 'PMZ_EVENTS_QUEUE_KB', parse: int(1, 1_048_576) },
  { path: 'mesh.port', ini: 'volume.port', env: 'PMZ_MESH_PORT', flag: 'meshPort', parse: port },
  { path: 'mesh.cluster', ini: 'mesh.cluster', env: 'PMZ_CLUSTER', flag: 'cluster', parse: clusterName },
  { path: 'mesh.clusterKey', ini: 'server.key', env: 'PMZ_KEY', flag: 'key', parse: nonEmpty('a secret') },
  { path: 'mesh.discovery', ini: 'mesh.discovery', env: 'PMZ_DISCOVERY', flag: 'discovery', parse: discovery },
  { path: 'mesh.join', ini: 'mesh.join', env: 'PMZ_JOIN', flag: 'join', parse: joinList },
  { path: 'mesh.broadcastPort', ini: 'mesh.broadcast_port', env: 'PMZ_BROADCAST_PORT', flag: 'broadcastPort', parse: int(1, 65535) },
  { path: 'mesh.rejectSummaryS', ini: 'mesh.reject_summary_s', env: 'PMZ_REJECT_SUMMARY_S', parse: positiveNumber },
  { path: 'store.replicas', ini: 'store.replicas', env: 'PMZ_REPLICAS', flag: 'replicas', parse: int(1, 16) },
  { path: 'store.writeQuorum', ini: 'store.write_quorum', env: 'PMZ_WRITE_QUORUM', flag: 'writeQuorum', parse: int(1, 16) },
  { path: 'store.tombstoneGraceHours', ini: 'store.tombstone_grace_hours', env: 'PMZ_TOMBSTONE_GRACE_HOURS', parse: positiveNumber },
  { path: 'store.sweepIntervalS', ini: 'store.sweep_interval_s', env: 'PMZ_SWEEP_INTERVAL_S', parse: positiveNumber },
  { path: 'store.deadPeerGraceS', ini: 'store.dead_peer_grace_s', env: 'PMZ_DEAD_PEER_GRACE_S', parse: positiveNumber },
  { path: 'coordinator.bootstrapExpect', ini: 'coordinator.bootstrap_expect', env: 'PMZ_BOOTSTRAP_EXPECT', parse: int(1, 99) },
  { path: 'jobs.slots', ini: 'jobs.slots', env: 'PMZ_JOB_SLOTS', flag: 'jobSlots', parse: int(0, 4096) },
  { path: 'pipelines.rxDir', ini: 'pipelines.rx_dir', env: 'PMZ_RX_DIR', flag: 'rxDir', parse: optionalDir },
  { path: 'pipelines.isolation', ini: 'pipelines.isolation', env: 'PMZ_STAGE_ISOLATION', parse: stageIsolation },
  { path: 'general.retentionDays', ini: 'general.retention_policy', env: 'PMZ_RETENTION_DAYS', parse: int(0, 36500) },
  { path: 'store.sync', ini: 'store.sync', env: 'PMZ_STORE_SYNC', parse: storeSync },
  { path: 'store.minFreeMb', ini: 'store.min_free_mb', env: 'PMZ_MIN_FREE_MB', parse: nonNegativeNumber },
  { path: 'log.level', ini: 'log.level', env: 'PMZ_LOG_LEVEL', flag: 'logLevel', parse: logLevel },
  { path: 'log.format', ini: 'log.format', env: 'PMZ_LOG_FORMAT', flag: 'logFormat', parse: logFormat }
]

/** Keys of Pulzar's server.conf that pmz reads and deliberately ignores. */
export const IGNORED_INI_KEYS: readonly string[] = [
  'server.cors', 'backup.active', 'backup.type', 'backup.address', 'backup.user', 'backup.psw'
]
