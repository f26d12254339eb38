/**
 * Finding the Python to embed: an explicit executable, `PYNODE_PYTHON`, `VIRTUAL_ENV`, an
 * activated conda environment (`CONDA_PREFIX`), a `.venv` in the current directory, the Python
 * uv would pick, then `python3` on PATH. Each candidate is asked (once, by running it) where
 * its shared libpython is and what its real executable is (a pyenv shim reports the interpreter
 * it runs); the first that works wins, and if none does the error lists every place tried and
 * why it was rejected.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { PythonNotFoundError } from './errors'

/** Where a candidate came from. */
export type PythonSource = 'option' | 'PYNODE_PYTHON' | 'VIRTUAL_ENV' | 'CONDA_PREFIX' | '.venv' | 'uv' | 'PATH'

/** A Python that can be embedded. */
export interface FoundPython {
  source: PythonSource
  /** The executable as given (a venv's python, a pyenv shim…; for `uv`, what `uv python find` printed). */
  executable: string
  /** `sys.executable` as that python reports it (a shim resolved to the real interpreter): the program name pynode starts with. */
  programName: string
  /** Path of the shared libpython to load. */
  libpython: string
  version: string
}

/** A candidate that was looked at and rejected. */
export interface TriedPython {
  source: PythonSource
  path: string
  problem: string
}

const PROBE = `
import json, os, sys, sysconfig
v = sysconfig.get_config_var
libdir, names = v('LIBDIR') or '', [v('INSTSONAME'), v('LDLIBRARY')]
if sys.platform == 'darwin':
    names.append('libpython%d.%d.dylib' % sys.version_info[:2])
if sys.platform == 'win32':
    names.append('python%d%d.dll' % sys.version_info[:2])
dirs = [libdir, os.path.join(sys.base_prefix, 'lib'), v('LIBPL') or '', sys.base_prefix if sys.platform == 'win32' else '']
if v('MULTIARCH'):
    dirs += [os.path.join(libdir, v('MULTIARCH')), os.path.join('/usr/lib', v('MULTIARCH'))]
cands = []
for n in names:
    if n and not n.endswith('.a'):
        for d in dirs:
            if d and os.path.join(d, n) not in cands:
                cands.append(os.path.join(d, n))
print(json.dumps({'executable': sys.executable, 'version': '%d.%d.%d' % sys.version_info[:3],
                  'shared': bool(v('Py_ENABLE_SHARED')) or sys.platform == 'darwin' and bool(v('PYTHONFRAMEWORK')),
                  'libs': cands}))
`

const isWindows = process.platform === 'win32'

function venvPython(dir: string): string {
  return isWindows ? join(dir, 'Scripts', 'python.exe') : join(dir, 'bin', 'python')
}

/** A candidate for discovery: where it came from and what will be run. */
export interface Candidate {
  source: PythonSource
  /** A python executable, or for `uv` the uv executable (asked `uv python find --system`). */
  path: string
}

/** `name` on PATH (PATHEXT on Windows), without running anything; undefined if absent. */
export function onPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const exts = isWindows ? (env.PATHEXT || '.EXE;.CMD').split(';') : ['']
  for (const dir of (env.PATH || '').split(delimiter)) {
    for (const ext of exts) {
      if (dir && existsSync(join(dir, name + ext))) return join(dir, name + ext)
    }
  }
  return undefined
}

/**
 * The candidates in the order they are tried. An activated conda environment counts like an
 * activated virtualenv, except conda's `base`, which many shells activate on start-up: it comes
 * after the project's `./.venv`. uv is asked only if it is on PATH.
 */
export function candidates(options: { executable?: string } = {}, env = process.env, cwd = process.cwd()): Candidate[] {
  const out: Candidate[] = []
  if (options.executable) out.push({ source: 'option', path: options.executable })
  if (env.PYNODE_PYTHON) out.push({ source: 'PYNODE_PYTHON', path: env.PYNODE_PYTHON })
  if (env.VIRTUAL_ENV) out.push({ source: 'VIRTUAL_ENV', path: venvPython(env.VIRTUAL_ENV) })
  const conda = env.CONDA_PREFIX
    ? { source: 'CONDA_PREFIX' as const, path: isWindows ? join(env.CONDA_PREFIX, 'python.exe') : join(env.CONDA_PREFIX, 'bin', 'python') }
    : undefined
  const condaBase = env.CONDA_DEFAULT_ENV === 'base'
  if (conda && !condaBase) out.push(conda)
  out.push({ source: '.venv', path: venvPython(join(cwd, '.venv')) })
  if (conda && condaBase) out.push(conda)
  const uv = onPath('uv', env)
  if (uv) out.push({ source: 'uv', path: uv })
  out.push({ source: 'PATH', path: isWindows ? 'python' : 'python3' })
  return out
}

/** The python `uv python find --system` picks (honours `.python-version`, `UV_PYTHON`, uv-managed Pythons). */
function uvPython(uv: string, cwd: string): { path: string } | string {
  try {
    const out = execFileSync(uv, ['python', 'find', '--system', '--no-python-downloads'], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    })
    return { path: out.trim() }
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string }
    return `\`uv python find\` found no Python: ${(err.stderr || err.message).toString().trim().split('\n').pop()}`
  }
}

/** Runs `path` to learn its version and libpython; returns a reason string if it cannot serve. */
export function probe(source: PythonSource, path: string, cwd = process.cwd()): FoundPython | string {
  if (source === 'uv') {
    const found = uvPython(path, cwd)
    if (typeof found === 'string') return found
    path = found.path
  }
  if (source !== 'PATH' && !existsSync(path)) return 'no such file'
  let out: string
  try {
    out = execFileSync(path, ['-I', '-c', PROBE], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 })
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string }
    if (err.code === 'ENOENT') return 'not found on PATH'
    const stderr = (err.stderr || '').toString().trim()
    const status = (err as { status?: number | null }).status
    return `could not run it: ${stderr ? stderr.split('\n').pop() : status != null ? `exit status ${status}` : err.message}`
  }
  let info: { executable: string; version: string; shared: boolean; libs: string[] }
  try {
    info = JSON.parse(out)
  } catch {
    return `unexpected output from it: ${out.slice(0, 200)}`
  }
  const [major, minor] = info.version.split('.').map(Number)
  if (major !== 3 || minor < 9) return `Python ${info.version} is not supported (pynode needs CPython 3.9 or newer)`
  const lib = info.libs.find((p) => existsSync(p))
  if (!lib) {
    const why = info.shared ? 'its shared libpython was not found' : 'it was built without a shared libpython (--enable-shared)'
    const looked = info.libs.length ? `; looked for ${info.libs.join(', ')}` : ''
    return `${why}${looked}. Fix: ${sharedLibpythonFix(info.version)}`
  }
  return { source, executable: path, programName: info.executable || path, libpython: lib, version: info.version }
}

/** How to get a Python with a shared libpython, for the platforms people meet this on. */
export function sharedLibpythonFix(version: string): string {
  const [major, minor] = version.split('.')
  return (
    `pyenv: \`env PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install ${version}\`; ` +
    `Debian/Ubuntu: \`apt install libpython${major}.${minor}\`; Fedora/RHEL: \`dnf install python${major}-libs\`; ` +
    'from source: `./configure --enable-shared`; or use a python.org, Homebrew, uv (`uv python install`) or conda Python, which all ship one'
  )
}

/** The result of discovery: the Python found (if any) and every candidate rejected before it. */
export interface Discovery {
  found?: FoundPython
  tried: TriedPython[]
}

/** Runs discovery without throwing: what `findPython` and `pynode doctor` share. */
export function discover(options: { executable?: string } = {}, env = process.env, cwd = process.cwd()): Discovery {
  const tried: TriedPython[] = []
  for (const c of candidates(options, env, cwd)) {
    const found = probe(c.source, c.path, cwd)
    if (typeof found !== 'string') return { found, tried }
    tried.push({ ...c, problem: found })
    // An explicit choice that fails is an error, not a reason to pick some other Python.
    if (c.source === 'option' || c.source === 'PYNODE_PYTHON') break
  }
  return { tried }
}

/** Finds the Python to embed, or throws a PythonNotFoundError listing every place tried. */
export function findPython(options: { executable?: string } = {}): FoundPython {
  const { found, tried } = discover(options)
  if (found) return found
  const lines = tried.map((t) => `  - ${t.source}: ${t.path}: ${t.problem}`)
  throw new PythonNotFoundError(
    `pynode could not find a usable Python. Tried, in order:\n${lines.join('\n')}\n` +
      "Fix: set PYNODE_PYTHON to a python executable (a virtualenv's bin/python works), call python.configure({ executable }), " +
      'activate a virtualenv (VIRTUAL_ENV) or conda environment, create ./.venv, or put python3 on PATH.',
    tried,
  )
}
