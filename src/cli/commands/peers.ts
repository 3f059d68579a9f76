import { GatewayClient } from '../client.js'
import { formatTable, type Column } from '../table.js'
import type { ClientFlags } from './storage.js'

interface PeerRow {
  node: string
  state: string
  roles: string[]
  http: string
  mesh: string
  percent: number
  load: number
  coordinator?: boolean
  last_heard: string | null
}

const COLUMNS: ReadonlyArray<Column<PeerRow>> = [
  ['PEER', p => p.coordinator === true ? `${p.node} *` : p.node],
  ['STATE', p => p.state],
  ['ROLES', p => p.roles.join(',')],
  ['HTTP', p => p.http],
  ['MESH', p => p.mesh],
  ['DISK%', p => String(p.percent)],
  ['LOAD', p => String(p.load)],
  ['LAST HEARD', p => p.last_heard === null ? '(self)' : ago(p.last_heard)]
]

/** `pmz peers [--json]`: the gateway's membership view as a table; `*` marks the coordinator. */
export async function peers (flags: ClientFlags & { json?: boolean }): Promise<void> {
  const env = await new GatewayClient(flags.gateway, flags.token).json<PeerRow[]>('GET', '/admin/network')
  if (flags.json === true) {
    process.stdout.write(`${JSON.stringify(env.data)}\n`)
    return
  }
  process.stdout.write(formatTable(COLUMNS, env.data))
}

function ago (iso: string): string {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000)
  return s < 60 ? `${s.toFixed(1)} s ago` : `${Math.round(s / 60)} min ago`
}
