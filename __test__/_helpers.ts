/**
 * Shared test helpers. Imported by every spec before it uses `python`.
 *
 * The specs import the TypeScript source (`../js/index`), which tsc compiles to build/js; its
 * native.ts would look for the addons in build/native, so PYNODE_NATIVE_DIR points it at the
 * real ones. The in-process interpreter must be the repo's .venv (ava runs from the repo
 * root), so an activated virtualenv, conda environment or a PYNODE_PYTHON in the developer's
 * shell is ignored.
 *
 * `npm run test:matrix` (scripts/test-matrix.mjs) runs the suite once per CPython with the same
 * binary: it sets PYNODE_TEST_VENV to a venv of that CPython, which the in-process interpreter
 * and child processes then find through VIRTUAL_ENV (so `VENV_SOURCE` is 'VIRTUAL_ENV').
 */
import { execFileSync, type SpawnSyncReturns, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { type PyObject, python } from '../js/index'

/** The repository root (specs run from build/__test__). */
export const ROOT = resolve(__dirname, '..', '..')
export const NATIVE_DIR = join(ROOT, 'native')
/** The built package, for child processes. */
export const DIST = join(ROOT, 'dist', 'index.js')
export const FIXTURES = join(ROOT, '__test__', 'fixtures')
/** The virtualenv the suite runs against: the repo's .venv, or the matrix's venv. */
export const VENV = process.env.PYNODE_TEST_VENV ? resolve(process.env.PYNODE_TEST_VENV) : join(ROOT, '.venv')
/** How discovery finds {@link VENV} from the repo root. */
export const VENV_SOURCE = process.env.PYNODE_TEST_VENV ? 'VIRTUAL_ENV' : '.venv'

process.env.PYNODE_NATIVE_DIR ??= NATIVE_DIR
delete process.env.PYNODE_PYTHON
delete process.env.CONDA_PREFIX
delete process.env.CONDA_DEFAULT_ENV
if (process.env.PYNODE_TEST_VENV) process.env.VIRTUAL_ENV = VENV
else delete process.env.VIRTUAL_ENV

/** The text of a fixture file. */
export function fixtureSource(file: string): string {
  return readFileSync(join(FIXTURES, file), 'utf8')
}

/** Loads `__test__/fixtures/<name>.py` as module `name`. */
export function loadFixture(name: string): PyObject {
  return python.module(name, fixtureSource(`${name}.py`))
}

/** The 1-based line of the first line of `file` containing `text`. */
export function lineOf(file: string, text: string): number {
  const index = fixtureSource(file)
    .split('\n')
    .findIndex((line) => line.includes(text))
  if (index < 0) throw new Error(`${text} is not in ${file}`)
  return index + 1
}

export interface ChildOptions {
  /** Variables to set; `undefined` removes one. PYNODE_NATIVE_DIR is always set. */
  env?: Record<string, string | undefined>
  cwd?: string
  /** Node options before the script, e.g. `--expose-gc`. */
  nodeArgs?: string[]
  /** Arguments after the script. */
  args?: string[]
}

function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PYNODE_NATIVE_DIR: NATIVE_DIR }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key]
    else env[key] = value
  }
  return env
}

/** Runs `node -e <script>` where the script sees `pynode` (the built package) in scope. */
export function runNode(script: string, options: ChildOptions = {}): SpawnSyncReturns<string> {
  const source = `const pynode = require(${JSON.stringify(DIST)});\n${script}`
  return spawnSync(process.execPath, [...(options.nodeArgs ?? []), '-e', source, ...(options.args ?? [])], {
    cwd: options.cwd ?? ROOT,
    env: childEnv(options.env),
    encoding: 'utf8',
    timeout: 60_000,
  })
}

/** Runs a JS file with node. */
export function runNodeFile(file: string, options: ChildOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [...(options.nodeArgs ?? []), file, ...(options.args ?? [])], {
    cwd: options.cwd ?? ROOT,
    env: childEnv(options.env),
    encoding: 'utf8',
    timeout: 60_000,
  })
}

/** The JSON a child printed on its last stdout line; throws with its stderr if there is none. */
export function childJson<T = Record<string, unknown>>(result: SpawnSyncReturns<string>): T {
  const lines = result.stdout.trim().split('\n')
  try {
    return JSON.parse(lines[lines.length - 1]) as T
  } catch {
    throw new Error(`child printed no JSON (status ${result.status}, signal ${result.signal}):\n${result.stdout}\n${result.stderr}`)
  }
}

/** A CPython installed on this machine, found by {@link cpython}. */
export interface InstalledPython {
  executable: string
  /** e.g. `'3.12.1'`. */
  version: string
  /** `sys.base_prefix`. */
  prefix: string
}

const installed = new Map<string, InstalledPython | undefined>()

/**
 * CPython `minor` (e.g. `'3.12'`): pyenv's newest 3.12.* (`$PYENV_ROOT`, default ~/.pyenv),
 * else `python3.12` on PATH (how actions/setup-python installs several); undefined if neither.
 */
export function cpython(minor: string): InstalledPython | undefined {
  if (installed.has(minor)) return installed.get(minor)
  const versions = join(process.env.PYENV_ROOT || join(homedir(), '.pyenv'), 'versions')
  const patch = (v: string) => Number(v.split('.')[2])
  const pyenv = existsSync(versions)
    ? readdirSync(versions)
        .filter((v) => v.startsWith(`${minor}.`) && /^\d+\.\d+\.\d+$/.test(v))
        .sort((a, b) => patch(b) - patch(a))
        .map((v) => join(versions, v, 'bin', `python${minor}`))
        .find((p) => existsSync(p))
    : undefined
  const script = 'import sys; print("%d.%d.%d" % sys.version_info[:3]); print(sys.base_prefix); print(sys.executable)'
  const result = spawnSync(pyenv ?? `python${minor}`, ['-I', '-c', script], { encoding: 'utf8' })
  const [version, prefix, executable] = result.status === 0 ? result.stdout.trim().split('\n') : []
  const found = version?.startsWith(`${minor}.`) ? { executable, version, prefix } : undefined
  installed.set(minor, found)
  return found
}

/** Where a CPython's shared libpython sits (pyenv, setup-python and python.org builds on Linux). */
export function libpythonOf(py: InstalledPython): string {
  return join(py.prefix, 'lib', `libpython${py.version.split('.').slice(0, 2).join('.')}.so.1.0`)
}

/** A temporary tree for discovery tests: `empty/` (no .venv) and `project/.venv` (`python3 -m venv`). */
export function discoveryTree(name: string): { tmp: string; empty: string; project: string; venv: string } {
  const tmp = mkdtempSync(join(tmpdir(), `pynode-${name}-`))
  const empty = join(tmp, 'empty')
  const project = join(tmp, 'project')
  mkdirSync(empty)
  mkdirSync(project)
  const venv = join(project, '.venv')
  execFileSync('python3', ['-m', 'venv', '--without-pip', venv], { stdio: 'pipe' })
  return { tmp, empty, project, venv }
}
