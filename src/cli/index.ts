import { randomBytes } from 'node:crypto'
import { Command } from 'commander'
import { isPmzError } from '../common/errors.js'
import { DEFAULTS, DEFAULT_GATEWAY, OPTIONS, resolveGateway, resolveToken } from '../config/index.js'
import { VERSION } from '../common/version.js'
import { CliError } from './client.js'
import { cancelJob, launchJob, listJobs, retryJob } from './commands/jobs.js'
import { mapBatch } from './commands/batches.js'
import { peers } from './commands/peers.js'
import { inject, pipelineStatus, redrive, sendEvent } from './commands/pipelines.js'
import { get, ls, put, rm, status } from './commands/storage.js'

/** Random bytes in a key from `pmz keygen`: 192 bits, 32 base64url characters. */
const KEY_BYTES = 24

type Action = (...args: any[]) => Promise<void>

/** Runs a subcommand; a failure prints one line and exits non-zero. */
function guarded (fn: Action): Action {
  return async (...args) => {
    try {
      await fn(...args)
    } catch (err) {
      fail(err)
    }
  }
}

function fail (err: unknown): never {
  if (err instanceof CliError || isPmzError(err)) process.stderr.write(`pmz: ${(err as Error).message}\n`)
  else process.stderr.write(`pmz: ${(err as Error)?.stack ?? String(err)}\n`)
  process.exit(1)
}

/** `pmz node` flags: commander's spec, what it means, and the flag's name in OPTIONS (for its default and variable). */
const NODE_FLAGS: ReadonlyArray<[string, string, string]> = [
  ['--role <roles>', 'all, or a list of volume,worker,gateway,coordinator', 'role'],
  ['--id <name>', 'peer id (empty: generated once, kept in the data dir)', 'id'],
  ['--data <dir>', 'data directory', 'data'],
  ['--host <addr>', 'address to bind', 'host'],
  ['--advertise <addr>', 'address given to other peers and clients (empty: the bound one; with 0.0.0.0 the first LAN IPv4)', 'advertise'],
  ['--http-port <port>', 'HTTP port (0: any free port)', 'httpPort'],
  ['--mesh-port <port>', 'mesh port (0: any free port)', 'meshPort'],
  ['--discovery <methods>', 'mdns,broadcast,static or none', 'discovery'],
  ['--join <list>', 'HOST:MESHPORT,... to join', 'join'],
  ['--cluster <name>', 'cluster name', 'cluster'],
  ['--key <secret>', 'cluster key (pmz keygen makes one)', 'key'],
  ['--seeds <dir>', 'seeds directory', 'seeds'],
  ['--rx-dir <dir>', 'rx directory: files dropped in DIR/TAG/ become packets of TAG, then move to DIR/done/', 'rxDir'],
  ['--job-slots <n>', 'job attempts run at once on this peer (0: the core count)', 'jobSlots'],
  ['--replicas <n>', 'replicas per key (N)', 'replicas'],
  ['--write-quorum <w>', 'replicas that must commit a write (W)', 'writeQuorum'],
  ['--maxsize <mb>', 'largest value, in MiB', 'maxsize'],
  ['--broadcast-port <port>', 'UDP port of broadcast beacons', 'broadcastPort'],
  ['--log-level <level>', 'trace, debug, info, warn, error, fatal, silent (debug: one line per HTTP request)', 'logLevel'],
  ['--log-format <format>', 'auto (pretty on a terminal, JSON otherwise), json or pretty', 'logFormat']
]

/** `(default: 31414; env: PMZ_HTTP_PORT)` for a `pmz node` flag, from the one table of defaults. */
function defaultAndEnv (flag: string): string {
  const opt = OPTIONS.find(o => o.flag === flag)
  if (opt === undefined) return ''
  const [section, field] = opt.path.split('.') as [string, string]
  const value = (DEFAULTS as unknown as Record<string, Record<string, unknown>>)[section][field]
  const shown = opt.path === 'mesh.clusterKey'
    ? 'published, set your own'
    : opt.path === 'node.roles'
      ? 'all'
      : Array.isArray(value) ? (value.length === 0 ? 'none' : value.join(',')) : value === '' ? 'none' : String(value)
  return `(default: ${shown}; env: ${opt.env})`
}

/** The options only a variable or the config file sets, one per line for `pmz node --help`. */
function envOnly (): string {
  return OPTIONS.filter(o => o.flag === undefined).map(o => {
    const [section, key] = o.ini.split('.') as [string, string]
    return `  ${o.env.padEnd(26)} [${section}] ${key}`
  }).join('\n')
}

/** Adds `--gateway` (and `--progress` where a transfer happens) and resolves the gateway and token before the action runs. */
function clientCommand (program: Command, spec: string, description: string, options: { progress?: boolean } = {}): Command {
  const cmd = program.command(spec)
    .description(description)
    .option('--gateway <url>', `gateway URL (default: ${DEFAULT_GATEWAY}; env: PMZ_GATEWAY)`, undefined)
  if (options.progress === true) {
    cmd.option('--progress', 'always show a progress bar')
      .option('--no-progress', 'never show a progress bar')
  }
  return cmd
    .addHelpText('after', '\nEnvironment: PMZ_TOKEN, the bearer token sent when the gateway asks for one.')
    .hook('preAction', cmd => {
      const opts = cmd.opts()
      try {
        cmd.setOptionValue('gateway', resolveGateway(opts.gateway as string | undefined, process.env))
        cmd.setOptionValue('token', resolveToken(process.env))
      } catch (err) {
        fail(err)
      }
    })
}

/**
 * A reader that went away (`pmz get KEY | head -c 10`) closes stdout: end
 * quietly with status 0, as Unix tools do, instead of an unhandled EPIPE.
 */
function quietOnClosedStdout (): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0)
    fail(err)
  })
}

export function buildProgram (): Command {
  const program = new Command('pmz')
    .description('pmz: a peer-to-peer mesh that stores files and runs jobs on a local network')
    .version(VERSION)
    // A usage error is one `pmz:` line and one hint, not the whole help.
    .configureOutput({ outputError: (text, write) => { write(text.replace(/^error: /, 'pmz: ')) } })
    .showHelpAfterError('(add --help to see the options)')

  const node = program.command('node')
    .description('run a peer (a one-peer cluster with no flags)')
    .option('--config <file>', 'config file (default: config/server.conf when present; env: PMZ_CONFIG)')
  for (const [spec, description, flag] of NODE_FLAGS) node.option(spec, `${description} ${defaultAndEnv(flag)}`)
  node
    .addHelpText('after', `\nSettings without a flag (see config/server.conf):\n${envOnly()}\n` +
      'Precedence: defaults < config file < PMZ_* variables < flags.')
    .action(guarded(async (opts: Record<string, unknown>) => {
      // Loaded on demand: client subcommands never pay for LMDB and fastify.
      const { runNode } = await import('./commands/node.js')
      await runNode(opts)
    }))

  program.command('keygen')
    .description('print a fresh random cluster key (for --key, PMZ_KEY or [server] key)')
    .action(() => { process.stdout.write(`${randomBytes(KEY_BYTES).toString('base64url')}\n`) })

  clientCommand(program, 'put <file> <key>', 'store FILE under KEY (FILE - reads stdin)', { progress: true })
    .option('--temporal <days>', 'expire the key after DAYS days')
    .action(guarded(async (file: string, key: string, opts) => { await put(file, key, opts) }))

  const job = program.command('job').description('launch, map, cancel and retry jobs')
  clientCommand(job, 'launch <seed>', 'launch the seed DIR/SCRIPT; prints the job id (with --every or --cron: the schedule id)')
    .option('--args <json>', 'the job\'s arguments, a JSON object', '{}')
    .option('--wait', 'follow the job to its end, print its output, exit 1 when it fails')
    .option('--every <interval>', 'fire it every INTERVAL until cancelled: "30 seconds", "5 minutes", "2 hours", "1 day"')
    .option('--cron <expr>', 'fire it on a cron expression ("*/5 * * * *"; 6 fields: with seconds)')
    .option('--tz <zone>', 'the IANA time zone of --cron (default: UTC), e.g. Europe/Madrid')
    .option('--catch-up <policy>', 'ticks missed while no coordinator ran: none, last (default) or all')
    .option('--overlap <policy>', 'a tick while the previous firing runs: skip (default), queue or allow')
    .action(guarded(async (seed: string, opts) => { await launchJob(seed, opts) }))
  clientCommand(job, 'map <seed>', 'run the seed DIR/SCRIPT once per stored key (--prefix or --keys), each on a peer holding its key; shows progress, prints the summary')
    .option('--prefix <prefix>', 'every key starting with PREFIX, e.g. photos/2024/')
    .option('--keys <keys>', 'these keys, comma-separated')
    .option('--args <json>', 'arguments of every task, a JSON object (each task also gets its "key")')
    .option('--max-workers <n>', 'peers working on it at once (default: every worker)')
    .option('--per-worker-queue <n>', 'tasks of the batch live on one peer at once')
    .option('--task-timeout <ms>', 'run time of one try of a task; an overrun is tried again elsewhere')
    .option('--max-tries <n>', 'tries of a task before it fails (default: 3)')
    .option('--peers <glob>', 'only workers whose peer id matches, e.g. "gpu-*"')
    .option('--locality <mode>', 'soft (default: after --locality-wait any worker may fetch the value) or hard (replicas only)')
    .option('--locality-wait <ms>', 'how long a free worker without local tasks waits before taking others (default: 2000)')
    .option('--max-pending <n>', 'add a peer to the batch only while more than N tasks wait (default: 0)')
    .option('--output-prefix <prefix>', 'also store each task\'s output under PREFIX + key')
    .option('--detach', 'print the batch id and return at once')
    .option('--json', 'print the summary as JSON')
    .option('--progress', 'draw the progress bar even when stderr is not a terminal')
    .action(guarded(async (seed: string, opts) => { await mapBatch(seed, opts) }))
  clientCommand(job, 'cancel <id>', 'cancel a job (queued or running) or a schedule (no more firings)')
    .action(guarded(async (id: string, opts) => { await cancelJob(id, opts) }))
  clientCommand(job, 'retry <id>', 'run a failed job again (fresh retries)')
    .action(guarded(async (id: string, opts) => { await retryJob(id, opts) }))

  clientCommand(program, 'jobs', 'list the newest jobs of the cluster')
    .option('--state <states>', 'only jobs in these states: queued, assigned, running, cancelling, retrying, ready, failed, cancelled (comma-separated); ' +
      'scheduled, canceled, done list the schedules in those states instead')
    .option('--limit <n>', `list at most N jobs (default: 100)`)
    .option('--json', 'print admin/all_jobs\'s data (admin/scheduled_jobs\'s for schedules) as a JSON array')
    .action(guarded(async opts => { await listJobs(opts) }))

  program.command('check')
    .description('check a running cluster: concurrent add_key of shared keys, reads, deletes; every acknowledged write must read back (exit 1 on a violation)')
    .option('--gateway <url...>', `gateways to spread the requests over (default: ${DEFAULT_GATEWAY}; env: PMZ_GATEWAY)`)
    .option('--seconds <n>', 'how long to run (default: 30)')
    .option('--workers <n>', 'keys worked on at once (default: 4)')
    .option('--contenders <n>', 'concurrent add_key of one key per round, through random gateways (default: 3)')
    .option('--keep', 'keep the keys written (under pmzcheck/) instead of deleting them')
    .option('--json', 'print the summary as JSON')
    .addHelpText('after', '\nEnvironment: PMZ_TOKEN, the bearer token sent when the gateways ask for one.')
    .action(guarded(async (opts: { gateway?: string[] }) => {
      const { check } = await import('./commands/check.js')
      const gateways = (opts.gateway ?? [undefined]).map(g => resolveGateway(g, process.env))
      await check(gateways, { ...opts, token: resolveToken(process.env) })
    }))

  clientCommand(program, 'inject <tag> <file>', 'send FILE (- reads stdin) into the pipelines as one packet of TAG; prints the packet id')
    .option('--key <key>', 'the packet\'s key: packets of one key go to one instance of a stage, in order')
    .option('--priority <p>', 'priority from 0 (default) to 9 (first)')
    .option('--json', 'send the file as a JSON value (checked first) instead of its bytes')
    .action(guarded(async (tag: string, file: string, opts) => { await inject(tag, file, opts) }))

  const pipeline = program.command('pipeline').description('the pipelines: their stages, events and dead letters')
  clientCommand(pipeline, 'status', 'show the stages of the pipelines on every peer: state, instances, queues, rates, errors')
    .option('--json', 'print admin/pipelines\'s data as JSON')
    .action(guarded(async opts => { await pipelineStatus(opts) }))
  clientCommand(pipeline, 'events <event>', 'send an event to the stages: start, pause, resume, stop, kill, or a custom one the stages handle')
    .option('--stages <list>', 'only these stages, comma-separated (default: every stage)')
    .option('--args <json>', 'the event\'s arguments, a JSON value')
    .action(guarded(async (event: string, opts) => { await sendEvent(event, opts) }))
  clientCommand(pipeline, 'redrive <stage>', 'send the dead letters of STAGE (DIR/SCRIPT) to it again')
    .action(guarded(async (stage: string, opts) => { await redrive(stage, opts) }))

  clientCommand(program, 'get <key>', 'write the value of KEY to stdout or a file', { progress: true })
    .option('-o, --output <file>', 'write to FILE instead of stdout')
    .action(guarded(async (key: string, opts) => { await get(key, opts) }))

  clientCommand(program, 'rm <key>', 'delete KEY')
    .action(guarded(async (key: string, opts) => { await rm(key, opts) }))

  clientCommand(program, 'ls [prefix]', 'list keys, optionally under PREFIX')
    .option('--limit <n>', 'list at most N keys')
    .option('--json', 'print a JSON array of {key, size, sha256, created, expires}')
    .action(guarded(async (prefix: string | undefined, opts) => { await ls(prefix, opts) }))

  clientCommand(program, 'backup', 'write every key (with its upload time, expiry and type) and the coordinator\'s settings and schedules to one tar archive', { progress: true })
    .requiredOption('--out <file>', 'the archive to write (FILE.pmz-part until it is whole)')
    .option('--prefix <prefix>', 'only keys starting with PREFIX, e.g. photos/2024/')
    .option('--json', 'print the summary as JSON')
    .action(guarded(async opts => {
      const { backup } = await import('./commands/backup.js')
      await backup(opts)
    }))

  clientCommand(program, 'restore [file]', 'restore an archive of pmz backup (or a Pulzar volume directory) into the cluster; verified whole before anything is written', { progress: true })
    .option('--pulzar-dir <dir>', 'import a Pulzar volume directory (files named by the base64 of their key) instead of an archive')
    .option('--overwrite', 'replace keys (and settings) that exist; without it they are skipped')
    .option('--resurrect', 'also restore keys this cluster deleted (still remembered by a tombstone); without it they stay deleted')
    .option('--json', 'print the counts as JSON')
    .action(guarded(async (file: string | undefined, opts) => {
      const { restore } = await import('./commands/backup.js')
      await restore(file, opts)
    }))

  clientCommand(program, 'status', 'show the store statistics of the gateway peer')
    .option('--json', 'print the statistics as a JSON object')
    .action(guarded(async opts => { await status(opts) }))

  clientCommand(program, 'peers', 'list the peers of the cluster as the gateway sees them')
    .option('--json', 'print the peers as a JSON array (admin/network\'s data)')
    .action(guarded(async opts => { await peers(opts) }))

  return program
}

quietOnClosedStdout()
await buildProgram().parseAsync(process.argv)
