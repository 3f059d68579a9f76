import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { clearSpool, createBackupStream, estimateBackup, parseTables, restoreArchive, type BackupTables } from '../backup/index.js'
import type { Clock } from '../common/clock.js'
import { PmzError, badRequest } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import type { Store } from '../store/index.js'
import { tablesOf, localTables, type TablesComponents } from './backup-tables.js'
import { forward } from './coordinator-routes.js'
import { ok, sendEnvelope } from './envelope.js'
import type { BodySource } from './request-body.js'
import { mountRoute, type Handler } from './routes.js'
import type { PeerSelf } from './types.js'

/** Largest body of POST /admin/restore/tables, bytes (as manifest.json). */
const MAX_TABLES_BYTES = 16 * 1024 * 1024

export interface BackupRoutesComponents extends TablesComponents {
  store: Store
  local?: Pick<Store, 'get'>
  clock: Clock
  log: Logger
}

export interface BackupRoutesInit {
  self: PeerSelf
  /** Where a restore spools the archive it verifies (on the data disk). */
  spoolDir: string
  bodies: BodySource
}

/**
 * Backup and restore over HTTP (docs/backup.md):
 * - `GET /admin/backup[?prefix=P]`: the archive of every live key (under P)
 *   and the coordinator's tables, streamed (`application/x-tar`); headers
 *   `x-pmz-backup-keys` and `x-pmz-backup-bytes` say what a listing just
 *   before found (for a progress bar);
 * - `POST /admin/restore[?overwrite=1][&resurrect=1]`: an archive as the
 *   body, verified whole before anything is written; answers the counts;
 * - `GET /admin/backup/tables`, `POST /admin/restore/tables`: the tables
 *   alone, on the coordinator's gateway (a peer without the coordinator
 *   role asks it there, or forwards these).
 * Errors before the archive starts are envelopes; one after it started cuts
 * the answer (the archive then lacks its trailer, which a restore refuses).
 */
export function mountBackupRoutes (app: FastifyInstance, c: BackupRoutesComponents, init: BackupRoutesInit): void {
  const log = c.log.child({ component: 'backup' })
  // Archives spooled by restores a killed peer never finished; none runs yet.
  clearSpool(init.spoolDir).catch(err => { log.warn({ err, dir: init.spoolDir }, 'clearing the restore spool failed') })
  const readBody = async (req: FastifyRequest): Promise<Buffer> => await init.bodies.body(req).readAll(MAX_TABLES_BYTES,
    () => new PmzError('ERR_TOO_LARGE', `the tables are at most ${MAX_TABLES_BYTES} bytes`))
  const routed = (local: Handler): Handler => async (req, reply) => c.coordinator.local ? await local(req, reply) : await forward(c.coordinator, req, reply, log, readBody)

  const start = async (req: FastifyRequest, reply: FastifyReply): Promise<{ prefix?: string, tables: BackupTables }> => {
    const prefix = prefixOf(req)
    // The tables first: without a coordinator the answer is a 503 envelope, not a cut archive.
    const tables = await tablesOf(c, req.headers.authorization).read()
    const { keys, bytes } = await estimateBackup({ store: c.store, tables: async () => tables }, prefix)
    const stamp = new Date(c.clock.now()).toISOString().replace(/[:.]/g, '-')
    reply.code(200).headers({
      'content-type': 'application/x-tar',
      'content-disposition': `attachment; filename="pmz-backup-${stamp}.tar"`,
      'x-pmz-backup-keys': String(keys),
      'x-pmz-backup-bytes': String(bytes)
    })
    return { prefix, tables }
  }

  mountRoute(app, {
    url: '/admin/backup',
    handlers: {
      GET: async (req, reply) => {
        const { prefix, tables } = await start(req, reply)
        log.info({ prefix }, 'backup started')
        // Returned, not sent: fastify pipes the stream (see envelopePayload).
        return createBackupStream({ store: c.store, local: c.local, tables: async () => tables }, { clock: c.clock, log }, { prefix, peer: init.self.id, version: init.self.version })
      },
      HEAD: async (req, reply) => {
        await start(req, reply)
        return await reply.send()
      }
    }
  })

  mountRoute(app, {
    url: '/admin/restore',
    handlers: {
      POST: async (req, reply) => {
        const overwrite = flagOf(req, 'overwrite')
        const resurrect = flagOf(req, 'resurrect')
        const tables = tablesOf(c, req.headers.authorization)
        log.info({ overwrite, resurrect }, 'restore started')
        const report = await restoreArchive(init.bodies.body(req), { store: c.store, applyTables: async (t, o) => await tables.apply(t, o) },
          { clock: c.clock, log }, { spoolDir: init.spoolDir, overwrite, resurrect })
        return sendEnvelope(reply, 200, ok(report, `restored ${report.restored} of ${report.keys} keys`))
      }
    }
  })

  mountRoute(app, {
    url: '/admin/backup/tables',
    handlers: { GET: routed(async (_req, reply) => sendEnvelope(reply, 200, ok(await localTables(c).read()))) }
  })

  mountRoute(app, {
    url: '/admin/restore/tables',
    handlers: {
      POST: routed(async (req, reply) => {
        const tables = parseTables(await readBody(req))
        return sendEnvelope(reply, 200, ok(await localTables(c).apply(tables, { overwrite: flagOf(req, 'overwrite') })))
      })
    }
  })
}

/** `?prefix=`: keys starting with it (the leading `/` added when missing). */
function prefixOf (req: FastifyRequest): string | undefined {
  const v = (req.query as Record<string, unknown>).prefix
  if (v === undefined || v === '') return undefined
  if (typeof v !== 'string') throw badRequest('prefix must appear once')
  return v.startsWith('/') ? v : `/${v}`
}

/** A yes/no query flag: absent, 0 or false is no; present, 1 or true is yes. */
function flagOf (req: FastifyRequest, name: string): boolean {
  const v = (req.query as Record<string, unknown>)[name]
  if (v === undefined || v === '0' || v === 'false') return false
  if (v === '' || v === '1' || v === 'true') return true
  throw badRequest(`${name} must be 1 or 0`)
}
