/**
 * Finding the Python to embed: an explicit executable, `PYNODE_PYTHON`, `VIRTUAL_ENV`, a
 * `.venv` in the current directory, then `python3` on PATH. Each candidate is asked (once, by
 * running it) where its shared libpython is; the first that works wins, and if none does the
 * error lists every place tried and why it was rejected.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { PythonNotFoundError } from './errors'

/** Where a candidate came from. */
export type PythonSource = 'option' | 'PYNODE_PYTHON' | 'VIRTUAL_ENV' | '.venv' | 'PATH'

/** A Python that can be embedded. */
export interface FoundPython {
  source: PythonSource
  /** The executable as given (a venv's python, a shim…). */
  executable: string
  /** `sys.executable` as that python reports it: the program name pynode starts with. */
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
cands = []
for n in names:
    if n and not n.endswith('.a'):
        for d in (libdir, os.path.join(sys.base_prefix, 'lib'), v('LIBPL') or ''):
            if d:
                cands.append(os.path.join(d, n))
print(json.dumps({'executable': sys.executable, 'version': '%d.%d.%d' % sys.version_info[:3],
                  'shared': bool(v('Py_ENABLE_SHARED')) or sys.platform == 'darwin' and bool(v('PYTHONFRAMEWORK')),
                  'libs': cands}))
`

const isWindows = process.platform === 'win32'

function venvPython(dir: string): string {
  return isWindows ? join(dir, 'Scripts', 'python.exe') : join(dir, 'bin', 'python')
}

/** The candidates in the order they are tried. */
export function candidates(
  options: { executable?: string } = {},
  env = process.env,
  cwd = process.cwd(),
): { source: PythonSource; path: string }[] {
  const out: { source: PythonSource; path: string }[] = []
  if (options.executable) out.push({ source: 'option', path: options.executable })
  if (env.PYNODE_PYTHON) out.push({ source: 'PYNODE_PYTHON', path: env.PYNODE_PYTHON })
  if (env.VIRTUAL_ENV) out.push({ source: 'VIRTUAL_ENV', path: venvPython(env.VIRTUAL_ENV) })
  out.push({ source: '.venv', path: venvPython(join(cwd, '.venv')) })
  out.push({ source: 'PATH', path: isWindows ? 'python' : 'python3' })
  return out
}

/** Runs `path` to learn its version and libpython; returns a reason string if it cannot serve. */
export function probe(source: PythonSource, path: string): FoundPython | string {
  if (source !== 'PATH' && !existsSync(path)) return 'no such file'
  let out: string
  try {
    out = execFileSync(path, ['-I', '-c', PROBE], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 })
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string }
    if (err.code === 'ENOENT') return 'not found on PATH'
    return `could not run it: ${(err.stderr || err.message).toString().trim().split('\n').pop()}`
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
    return `${why}; looked for ${info.libs.join(', ') || 'nothing'}. Fix: pyenv: \`env PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install ${info.version}\`; Debian/Ubuntu: \`apt install libpython${major}.${minor}\`; or use a python.org, uv or conda Python`
  }
  return { source, executable: path, programName: info.executable || path, libpython: lib, version: info.version }
}

/** Finds the Python to embed, or throws a PythonNotFoundError listing every place tried. */
export function findPython(options: { executable?: string } = {}): FoundPython {
  const tried: TriedPython[] = []
  for (const c of candidates(options)) {
    const found = probe(c.source, c.path)
    if (typeof found !== 'string') return found
    tried.push({ ...c, problem: found })
    // An explicit choice that fails is an error, not a reason to pick some other Python.
    if (c.source === 'option' || c.source === 'PYNODE_PYTHON') break
  }
  const lines = tried.map((t) => `  - ${t.source}: ${t.path}: ${t.problem}`)
  throw new PythonNotFoundError(
    `pynode could not find a usable Python. Tried, in order:\n${lines.join('\n')}\n` +
      "Fix: set PYNODE_PYTHON to a python executable (a virtualenv's bin/python works), call python.configure({ executable }), " +
      'activate a virtualenv (VIRTUAL_ENV), create ./.venv, or put python3 on PATH.',
    tried,
  )
}
