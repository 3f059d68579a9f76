import { describe, expect, it } from 'vitest'
import { ClusterConfigMachine, CompositeMachine } from '../../../src/coordinator/index.js'
import { JobTable } from '../../../src/jobs/index.js'
import { launch } from '../jobs/fixtures.js'

type Cmd = { op: 'set', key: string, value: unknown } | ReturnType<typeof launch>

function build (): { config: ClusterConfigMachine, jobs: JobTable, machine: CompositeMachine<Cmd, unknown> } {
  const config = new ClusterConfigMachine()
  const jobs = new JobTable()
  const machine = new CompositeMachine<Cmd, unknown>({ config, jobs }, c => 'type' in c ? 'jobs' : 'config', 'config')
  return { config, jobs, machine }
}

describe('CompositeMachine', () => {
  it('routes each command to its part and snapshots both', () => {
    const a = build()
    a.machine.apply({ op: 'set', key: 'k', value: 1 }, 1)
    a.machine.apply(launch(1), 2)
    expect(a.config.get('k')).toBe(1)
    expect(a.jobs.get(1)?.state).toBe('queued')
    const b = build()
    b.machine.restore(a.machine.snapshot())
    expect(b.config.get('k')).toBe(1)
    expect(b.jobs.get(1)?.seed).toBe('example/factorial')
  })

  it('restores a settings-only snapshot of an older pmz into the settings, with an empty job table', () => {
    const old = new ClusterConfigMachine()
    old.apply({ op: 'set', key: 'k', value: 'v' })
    const b = build()
    b.machine.apply(launch(1), 1)
    b.machine.restore(old.snapshot())
    expect(b.config.get('k')).toBe('v')
    expect(b.jobs.size).toBe(0)
  })
})
