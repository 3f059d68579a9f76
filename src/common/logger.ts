import { pino, type Logger, type DestinationStream, type Level } from 'pino'

export type { Logger }

export interface LoggerInit {
  /** Bound to every line as `peer`. */
  peerId?: string
  /** @default 'info' */
  level?: Level | 'silent'
  /** Where lines go; stdout when absent. Tests pass an in-memory stream. */
  destination?: DestinationStream
}

/** The root logger of a peer; components take `log.child({ component })`. */
export function createLogger (init: LoggerInit = {}): Logger {
  return pino({
    level: init.level ?? 'info',
    base: init.peerId !== undefined ? { peer: init.peerId } : {},
    redact: { paths: ['clusterKey', '*.clusterKey', '*.*.clusterKey'], censor: '[redacted]' }
  }, init.destination ?? pino.destination({ fd: 1, sync: false }))
}
