import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../../../src/common/logger.js'
import { parseProcNetTcp } from '../../../../src/mesh/transport/closed-remotes.js'
import { RejectReporter } from '../../../../src/mesh/transport/rejections.js'
import { ManualClock } from '../../../helpers/manual-clock.js'

interface Line { level: number, msg: string, count?: number, connections?: number, remotes?: string[], reasons?: Record<string, number>, peer?: string }

function setup (closing: string[][] = []): { reporter: RejectReporter, router: EventEmitter, clock: ManualClock, lines: Line[] } {
  const lines: Line[] = []
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => { lines.push(JSON.parse(s) as Line) } } })
  const clock = new ManualClock()
  const reporter = new RejectReporter(clock, log, new EventEmitter(), {
    localPort: () => 31415,
    intervalMs: 10_000,
    closingRemotes: () => closing.shift() ?? []
  })
  const router = new EventEmitter()
  reporter.watch(router as never)
  return { reporter, router, clock, lines }
}

const rejected = (lines: Line[]): Line[] => lines.filter(l => l.msg === 'mesh traffic rejected')

describe('RejectReporter', () => {
  it('counts connections that close without a handshake: the first line at once, then one summary per interval', () => {
    const { router, clock, lines } = setup([['10.0.0.9:5000'], ['10.0.0.9:5001', '10.0.0.9:5000']])
    router.emit('accept', {})
    router.emit('disconnect', {})
    expect(rejected(lines)).toMatchObject([{ level: 40, count: 1, connections: 1, remotes: ['10.0.0.9:5000'] }])
    for (let i = 0; i < 500; i++) {
      router.emit('accept', {})
      if (i % 50 === 0) router.emit('handshake:error:protocol', { error: { code: 'ERR_ZMTP_CRYPTOGRAPHIC' } })
      router.emit('disconnect', {})
    }
    expect(rejected(lines)).toHaveLength(1)
    clock.advance(10_000)
    // The remote already named is not named again.
    expect(rejected(lines)[1]).toMatchObject({ count: 500, connections: 500, remotes: ['10.0.0.9:5001'], reasons: { 'handshake failed: ERR_ZMTP_CRYPTOGRAPHIC': 10 } })
    clock.advance(60_000)
    expect(rejected(lines)).toHaveLength(2)
  })

  it('does not count the connections of peers that completed a handshake', () => {
    const { router, clock, lines } = setup()
    for (let i = 0; i < 3; i++) router.emit('accept', {})
    for (let i = 0; i < 3; i++) router.emit('handshake', {})
    for (let i = 0; i < 3; i++) router.emit('disconnect', {})
    clock.advance(20_000)
    expect(rejected(lines)).toEqual([])
  })

  it('keeps the remote address it is given (a ZAP denial) and counts a malformed frame', () => {
    const { reporter, lines } = setup()
    reporter.report('192.168.1.7', 'unknown curve client key')
    expect(rejected(lines)).toMatchObject([{ count: 1, connections: 0, remotes: ['192.168.1.7'] }])
  })

  it('warns once a minute per peer that refuses our handshake', () => {
    const { reporter, clock, lines } = setup()
    for (let i = 0; i < 20; i++) reporter.refusedBy('10.0.0.1:31415', 'handshake failed: EPIPE')
    reporter.refusedBy('10.0.0.2:31415', 'handshake failed: EPIPE')
    clock.advance(60_000)
    reporter.refusedBy('10.0.0.1:31415', 'handshake failed: EPIPE')
    const warnings = lines.filter(l => /refuses our handshake/.test(l.msg))
    expect(warnings.map(l => [l.level, l.peer])).toEqual([[40, '10.0.0.1:31415'], [40, '10.0.0.2:31415'], [40, '10.0.0.1:31415']])
  })
})

describe('parseProcNetTcp', () => {
  it('lists the remote ends of closing connections to one local port, IPv4 and IPv6', () => {
    const v4 = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:7A67 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1',
      '   1: 0100007F:7A67 0100007F:D431 06 00000000:00000000 03:00000F9E 00000000     0        0 0 3',
      '   2: 0100007F:7A67 0200A8C0:D432 01 00000000:00000000 00:00000000 00000000     0        0 2 1',
      '   3: 0100007F:1F90 0100007F:D433 06 00000000:00000000 03:00000F9E 00000000     0        0 0 3'
    ].join('\n')
    expect(parseProcNetTcp(v4, 0x7A67)).toEqual(['127.0.0.1:54321'])
    const v6 = [
      '  sl  local_address                         remote_address                        st',
      '   0: 0000000000000000FFFF00000100007F:7A67 0000000000000000FFFF00000B00000A:D431 06 0',
      '   1: 00000000000000000000000001000000:7A67 000080FE00000000FF005450B6AD1DFE:D432 04 0'
    ].join('\n')
    expect(parseProcNetTcp(v6, 0x7A67)).toEqual(['10.0.0.11:54321', '[fe80:0:0:0:5054:ff:fe1d:adb6]:54322'])
  })
})
