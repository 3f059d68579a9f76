import { Transform, type TransformCallback } from 'node:stream'
import { SingleBar, Presets } from 'cli-progress'

/** Transfers at least this large get a progress bar. */
export const PROGRESS_MIN_BYTES = 4 * 1024 * 1024

/**
 * A pass-through stream that drives a progress bar on stderr, for transfers
 * over a few MB when stderr is a terminal (or when forced).
 */
export function progressStream (total: number, label: string, force: boolean | undefined): Transform {
  const show = force ?? (process.stderr.isTTY && total >= PROGRESS_MIN_BYTES)
  const bar = show
    ? new SingleBar({
      format: `${label} {bar} {percentage}% | {done}/{all} MB | {speed} MB/s`,
      stream: process.stderr,
      noTTYOutput: force === true,
      notTTYSchedule: 500,
      hideCursor: true
    }, Presets.shades_classic)
    : undefined
  const started = performance.now()
  let done = 0
  const mb = (n: number): string => (n / 1048576).toFixed(1)
  bar?.start(total, 0, { done: mb(0), all: mb(total), speed: '0' })
  return new Transform({
    transform (chunk: Buffer, _enc, cb: TransformCallback) {
      done += chunk.length
      const seconds = (performance.now() - started) / 1000
      bar?.update(done, { done: mb(done), speed: seconds > 0 ? (done / 1048576 / seconds).toFixed(1) : '0' })
      cb(null, chunk)
    },
    flush (cb) {
      bar?.stop()
      cb()
    },
    destroy (err, cb) {
      bar?.stop()
      cb(err)
    }
  })
}
