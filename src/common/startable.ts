/** A long-lived component: both calls are async and idempotent. */
export interface Startable {
  start(): Promise<void>
  stop(): Promise<void>
}

/**
 * Starts components in order; if one fails, stops those already started (in
 * reverse) before rethrowing, so a failed start leaks nothing.
 */
export async function startAll (components: Startable[], onStopError?: (err: unknown) => void): Promise<void> {
  const started: Startable[] = []
  try {
    for (const c of components) {
      await c.start()
      started.push(c)
    }
  } catch (err) {
    await stopAll(started, onStopError)
    throw err
  }
}

/** Stops components in reverse order; one failing stop does not skip the rest. */
export async function stopAll (components: Startable[], onError?: (err: unknown) => void): Promise<void> {
  for (const c of [...components].reverse()) {
    try {
      await c.stop()
    } catch (err) {
      onError?.(err)
    }
  }
}
