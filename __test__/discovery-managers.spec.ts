// Discovery of Pythons that environment managers make (issue 5): conda environments
// (CONDA_PREFIX), `uv venv` environments and the Python uv picks, pyenv shims, a distro Python,
// and a Python without a shared libpython. Each starts in a child process with the one binary.
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import test from 'ava'
import { candidates, findPython, onPath, PythonNotFoundError } from '../js/index'
import { childJson, cpython, discoveryTree, libpythonOf, runNode, VENV } from './_helpers'

const py312 = cpython('3.12')
const py313 = cpython('3.13')
const uv = [join(VENV, 'bin', 'uv'), onPath('uv')].find((p) => p && existsSync(p))
const PYENV_SHIMS = join(process.env.PYENV_ROOT || join(process.env.HOME ?? '/root', '.pyenv'), 'shims')

let tmp = ''
/** A directory laid out like a conda environment: bin/python and lib/libpython of CPython 3.12. */
let conda = ''
/** A project with a ./.venv (made by `python -m venv`). */
let project = ''
let empty = ''

test.before(() => {
  ;({ tmp, empty, project } = discoveryTree('managers'))
  if (py312) {
    conda = join(tmp, 'envs', 'py312')
    mkdirSync(join(conda, 'bin'), { recursive: true })
    mkdirSync(join(conda, 'lib'))
    mkdirSync(join(conda, 'conda-meta'))
    symlinkSync(py312.executable, join(conda, 'bin', 'python'))
    symlinkSync(libpythonOf(py312), join(conda, 'lib', 'libpython3.12.so.1.0'))
  }
})

test.after.always(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true })
})

interface Started {
  version: string
  executable: string
  prefix: string
  source: string
  libpython: string
  sum: number
}

const REPORT = `
  const i = pynode.python.info
  console.log(JSON.stringify({ version: i.version, executable: i.executable, prefix: i.prefix, source: i.source,
    libpython: i.libpython, sum: pynode.python.eval('sum(range(10))') }))
`

function started(t: import('ava').ExecutionContext, options: Parameters<typeof runNode>[1]): Started {
  const result = runNode(REPORT, { ...options, env: { VIRTUAL_ENV: undefined, ...options?.env } })
  t.is(result.status, 0, result.stderr)
  const info = childJson<Started>(result)
  t.is(info.sum, 45)
  return info
}

test('candidates(): an activated conda env comes after VIRTUAL_ENV and before ./.venv; conda base after ./.venv', (t) => {
  const env = { VIRTUAL_ENV: '/v', CONDA_PREFIX: '/conda/envs/x' }
  t.deepEqual(
    candidates({}, env, '/p').map((c) => `${c.source} ${c.path}`),
    ['VIRTUAL_ENV /v/bin/python', 'CONDA_PREFIX /conda/envs/x/bin/python', '.venv /p/.venv/bin/python', 'PATH python3'],
  )
  t.deepEqual(
    candidates({}, { CONDA_PREFIX: '/conda', CONDA_DEFAULT_ENV: 'base' }, '/p').map((c) => c.source),
    ['.venv', 'CONDA_PREFIX', 'PATH'],
  )
})

test('candidates(): uv is asked only when it is on PATH, before python3 on PATH', (t) => {
  const bin = join(tmp, 'uv-bin')
  mkdirSync(bin, { recursive: true })
  writeFileSync(join(bin, 'uv'), '')
  t.deepEqual(
    candidates({}, { PATH: bin }, '/p').map((c) => `${c.source} ${c.path}`),
    ['.venv /p/.venv/bin/python', `uv ${join(bin, 'uv')}`, 'PATH python3'],
  )
  t.false(candidates({}, { PATH: join(tmp, 'nothing') }, '/p').some((c) => c.source === 'uv'))
})

test('CONDA_PREFIX: a conda-style env is picked, sys.executable is its bin/python', (t) => {
  if (!py312) return t.fail('needs CPython 3.12')
  const info = started(t, { cwd: empty, env: { CONDA_PREFIX: conda, CONDA_DEFAULT_ENV: 'py312' } })
  t.is(info.source, 'CONDA_PREFIX')
  t.is(info.version, py312.version)
  t.is(info.executable, join(conda, 'bin', 'python'))
})

test("CONDA_PREFIX of conda's base env does not beat the project's ./.venv", (t) => {
  if (!py312) return t.fail('needs CPython 3.12')
  const env = { CONDA_PREFIX: conda, CONDA_DEFAULT_ENV: 'base' }
  t.is(started(t, { cwd: project, env }).source, '.venv')
  t.is(started(t, { cwd: empty, env }).source, 'CONDA_PREFIX')
})

test('a `uv venv` environment is found as ./.venv and through VIRTUAL_ENV', (t) => {
  if (!uv || !py313) return t.fail(`needs uv (in ${VENV}, from __test__/requirements.txt) and CPython 3.13`)
  const dir = join(tmp, 'uv-project')
  mkdirSync(dir)
  execFileSync(uv, ['venv', '--quiet', '--no-python-downloads', '--python', py313.executable, join(dir, '.venv')], { stdio: 'pipe' })
  const local = started(t, { cwd: dir })
  t.is(local.source, '.venv')
  t.is(local.prefix, join(dir, '.venv'))
  t.is(local.version, py313.version)
  const activated = started(t, { cwd: empty, env: { VIRTUAL_ENV: join(dir, '.venv') } })
  t.is(activated.source, 'VIRTUAL_ENV')
  t.is(activated.prefix, join(dir, '.venv'))
})

test('uv on PATH: the Python `uv python find` picks (here from .python-version) beats python3 on PATH', (t) => {
  if (!uv || !py312 || !py313) return t.fail('needs uv, CPython 3.12 and 3.13')
  const dir = join(tmp, 'uv-pinned')
  const bin = join(tmp, 'uv-only')
  mkdirSync(dir)
  mkdirSync(bin)
  symlinkSync(uv, join(bin, 'uv'))
  writeFileSync(join(dir, '.python-version'), '3.13\n')
  // python3 on PATH is 3.12; uv must choose 3.13 for this project.
  const PATH = [bin, dirname(py312.executable), dirname(py313.executable)].join(':')
  const info = started(t, { cwd: dir, env: { PATH } })
  t.is(info.source, 'uv')
  t.is(info.version, py313.version)
})

// Machine-specific: skipped (visibly) where there is no pyenv, e.g. on CI runners with setup-python.
const withPyenv = existsSync(join(PYENV_SHIMS, 'python3')) ? test : test.skip
withPyenv('a pyenv shim on PATH is resolved to the real interpreter (needs pyenv)', (t) => {
  if (!py312) return t.fail('needs CPython 3.12')
  const info = started(t, {
    cwd: empty,
    env: { PATH: `${PYENV_SHIMS}:/usr/bin:/bin`, PYENV_VERSION: py312.version },
  })
  t.is(info.source, 'PATH')
  t.is(info.version, py312.version)
  // sys.executable is pyenv's real python, not the shim: subprocess/multiprocessing use it.
  t.true(info.executable.startsWith(join(py312.prefix, 'bin', 'python')), info.executable)
})

const withDebianPython = existsSync('/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0') ? test : test.skip
withDebianPython("a distro Python (Debian's /usr/bin/python3.11 with libpython3.11) starts", (t) => {
  const info = started(t, { cwd: empty, env: { PYNODE_PYTHON: '/usr/bin/python3.11' } })
  t.is(info.prefix, '/usr')
  t.regex(info.libpython, /libpython3\.11\.so/)
})

// Every CPython on this machine has a shared libpython and none can be built here without
// sources, so this one is a script that answers the probe as a `--disable-shared` build does
// (sysconfig: Py_ENABLE_SHARED 0, LDLIBRARY libpython3.12.a, which the probe never offers).
test('a Python built without a shared libpython -> PythonNotFoundError with the fix', (t) => {
  const fake = join(tmp, 'static-python3.12')
  writeFileSync(fake, `#!/bin/sh\necho '{"executable": "${fake}", "version": "3.12.4", "shared": false, "libs": []}'\n`)
  chmodSync(fake, 0o755)
  const err = t.throws(() => findPython({ executable: fake }), { instanceOf: PythonNotFoundError, code: 'ERR_PYNODE_PYTHON_NOT_FOUND' })
  const problem = err?.tried[0].problem ?? ''
  t.regex(problem, /^it was built without a shared libpython \(--enable-shared\)\. Fix: /)
  t.true(problem.includes('`env PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install 3.12.4`'), problem)
  t.true(problem.includes('`apt install libpython3.12`'), problem)
  t.true(err?.message.includes(`  - option: ${fake}: it was built without a shared libpython`), err?.message)
})

test('a shared libpython that is missing from disk is reported with what was looked for', (t) => {
  const fake = join(tmp, 'missing-lib-python3.10')
  writeFileSync(
    fake,
    `#!/bin/sh\necho '{"executable": "${fake}", "version": "3.10.9", "shared": true, "libs": ["${tmp}/lib/libpython3.10.so.1.0"]}'\n`,
  )
  chmodSync(fake, 0o755)
  const err = t.throws(() => findPython({ executable: fake }), { instanceOf: PythonNotFoundError })
  t.is(err?.tried[0].problem.split('. Fix: ')[0], `its shared libpython was not found; looked for ${tmp}/lib/libpython3.10.so.1.0`)
})
