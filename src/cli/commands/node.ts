import { loadConfig } from '../../config/index.js'
import { createNode } from '../../node.js'
import { isLmdbOrphanRejection } from '../../store/index.js'
import { CliError } from '../client.js'

/** Bound on a graceful stop after SIGINT/SIGTERM; a second signal exits at once. */
const STOP_DEADLINE_MS = 15_000

export interface NodeFlags { config?: string, [flag: string]: unknown }

/** `pmz node`: starts a peer and runs until SIGINT or SIGTERM. */
export async function runNode (flags: NodeFlags): Promise<void> {
  const { config, warnings } = loadConfig({ configFile: flags.config, env: process.env, flags })
  const node = createNode(config, { warnings })
  let signalled = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      node.log.warn({ signal }, 'second signal, exiting now')
      process.exit(130)
    }
    signalled = true
    node.log.info({ signal }, 'signal received, stopping')
    const deadline = setTimeout(() => {
      node.log.error({ deadlineMs: STOP_DEADLINE_MS }, 'stop took too long, exiting')
      process.exit(1)
    }, STOP_DEADLINE_MS)
    deadline.unref()
    node.stop().then(() => process.exit(0), err => {
      node.log.error({ err }, 'stop failed')
      process.exit(1)
    })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // A failed LMDB commit (a full disk) must not exit the peer through a promise lmdb-js
  // rejected for itself; any other unhandled rejection still ends the process, as by default.
  process.on('unhandledRejection', (reason) => {
    if (!isLmdbOrphanRejection(reason)) throw reason
    node.log.warn({ err: reason }, 'an LMDB commit failed (see the write that failed)')
  })
  try {
    await node.start()
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { port?: number }
    if (e.code === 'EADDRINUSE') throw new CliError(`cannot listen: address ${e.message.replace(/^.*EADDRINUSE:?\s*/, '').replace(/^address already in use\s*/, '')} is already in use`)
    if (e.code === 'EADDRNOTAVAIL') throw new CliError(`cannot listen on --host ${config.node.host}: address not available`)
    throw err
  }
}
