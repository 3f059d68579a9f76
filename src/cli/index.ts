import { randomBytes } from 'node:crypto'
import { Command } from 'commander'
import { isPmzError } from '../common/errors.js'
import { resolveGateway, resolveToken } from '../config/index.js'
import { VERSION } from '../common/version.js'
import { CliError } from './client.js'
import { peers } from './commands/peers.js'
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

/** Adds `--gateway` and `--progress` and resolves the gateway before the action runs. */
function clientCommand (program: Command, spec: string, description: string): Command {
  return program.command(spec)
    .description(description)
    .option('--gateway <url>', 'gateway URL (env PMZ_GATEWAY)', undefined)
    .option('--progress', 'always show a progress bar')
    .option('--no-progress', 'never show a progress bar')
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
    .showHelpAfterError()

  program.command('node')
    .description('run a peer (a one-peer cluster with no flags)')
    .option('--config <file>', 'config file (default config/server.conf if present)')
    .option('--role <roles>', 'all, or a list of volume,worker,gateway,coordinator')
    .option('--id <name>', 'peer id (default: kept in the data dir)')
    .option('--data <dir>', 'data directory')
    .option('--host <addr>', 'address to bind')
    .option('--http-port <port>', 'HTTP port (0: any free port)')
    .option('--mesh-port <port>', 'mesh port (0: any free port)')
    .option('--discovery <methods>', 'mdns,broadcast,static or none')
    .option('--join <list>', 'HOST:MESHPORT,... to join')
    .option('--cluster <name>', 'cluster name')
    .option('--key <secret>', 'cluster key')
    .option('--seeds <dir>', 'seeds directory')
    .option('--replicas <n>', 'replicas per key (N)')
    .option('--write-quorum <w>', 'replicas that must commit a write (W)')
    .option('--maxsize <mb>', 'largest value, in MiB')
    .option('--broadcast-port <port>', 'UDP port of broadcast beacons')
    .option('--log-level <level>', 'trace, debug, info, warn, error, fatal, silent')
    .action(guarded(async (opts: Record<string, unknown>) => {
      // Loaded on demand: client subcommands never pay for LMDB and fastify.
      const { runNode } = await import('./commands/node.js')
      await runNode(opts)
    }))

  program.command('keygen')
    .description('print a fresh random cluster key (for --key, PMZ_KEY or [server] key)')
    .action(() => { process.stdout.write(`${randomBytes(KEY_BYTES).toString('base64url')}\n`) })

  clientCommand(program, 'put <file> <key>', 'store FILE under KEY (FILE - reads stdin)')
    .option('--temporal <days>', 'expire the key after DAYS days')
    .action(guarded(async (file: string, key: string, opts) => { await put(file, key, opts) }))

  clientCommand(program, 'get <key>', 'write the value of KEY to stdout or a file')
    .option('-o, --output <file>', 'write to FILE instead of stdout')
    .action(guarded(async (key: string, opts) => { await get(key, opts) }))

  clientCommand(program, 'rm <key>', 'delete KEY')
    .action(guarded(async (key: string, opts) => { await rm(key, opts) }))

  clientCommand(program, 'ls [prefix]', 'list keys, optionally under PREFIX')
    .action(guarded(async (prefix: string | undefined, opts) => { await ls(prefix, opts) }))

  clientCommand(program, 'status', 'show the store statistics of the gateway peer')
    .action(guarded(async opts => { await status(opts) }))

  clientCommand(program, 'peers', 'list the peers of the cluster as the gateway sees them')
    .action(guarded(async opts => { await peers(opts) }))

  return program
}

quietOnClosedStdout()
await buildProgram().parseAsync(process.argv)
