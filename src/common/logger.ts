import { pino, type Logger, type DestinationStream, type Level } from 'pino'
import { PinoPretty } from 'pino-pretty'

export type { Logger }

/** `json`: one JSON object per line (for machines, and what the tests read); `pretty`: one readable line per event. */
export type LogFormat = 'json' | 'pretty'

export interface LoggerInit {
  /** Bound to every line as `peer`. */
  peerId?: string
  /** @default 'info' */
  level?: Level | 'silent'
  /** @default 'json' */
  format?: LogFormat
  /** Colours in the pretty format. @default false */
  colorize?: boolean
  /** Where lines go; stdout when absent. Tests pass an in-memory stream. */
  destination?: DestinationStream
}

/** The root logger of a peer; components take `log.child({ component })`. */
export function createLogger (init: LoggerInit = {}): Logger {
  const destination = init.format === 'pretty'
    ? PinoPretty({
      colorize: init.colorize ?? false,
      singleLine: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      destination: init.destination ?? 1,
      sync: init.destination === undefined ? false : undefined
    })
    : init.destination ?? pino.destination({ fd: 1, sync: false })
  return pino({
    level: init.level ?? 'info',
    base: init.peerId !== undefined ? { peer: init.peerId } : {},
    redact: { paths: ['clusterKey', '*.clusterKey', '*.*.clusterKey', 'token', '*.token'], censor: '[redacted]' }
  }, destination)
}
