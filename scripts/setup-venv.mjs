#!/usr/bin/env node
// Creates ./.venv (the test and demo virtualenv) with the packages in
// __test__/requirements.txt, from PyPI. Uses PYNODE_VENV_PYTHON, else python3 on PATH.
// Does nothing if the venv exists and has every package listed there.
//   node scripts/setup-venv.mjs [--python <exe>] [--venv <dir>]   another base python / place
//   (scripts/test-matrix.mjs makes one venv per CPython this way)
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1] : undefined
}
const venv = arg('venv') ?? join(root, '.venv')
const py = process.platform === 'win32' ? join(venv, 'Scripts', 'python.exe') : join(venv, 'bin', 'python')
const base = arg('python') || process.env.PYNODE_VENV_PYTHON || (process.platform === 'win32' ? 'python' : 'python3')
const run = (cmd, args) => {
  console.error(`> ${cmd} ${args.join(' ')}`)
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit' })
}
// Ready when every distribution named in requirements.txt is installed (versions are pip's job).
const requirements = readFileSync(join(root, '__test__', 'requirements.txt'), 'utf8')
  .split('\n')
  .map(
    (line) =>
      line
        .replace(/#.*/, '')
        .trim()
        .split(/[<>=!~;[ ]/)[0],
  )
  .filter(Boolean)
const ready = () => {
  try {
    execFileSync(py, ['-c', `import importlib.metadata as m\nfor n in ${JSON.stringify(requirements)}: m.version(n)`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

if (existsSync(py) && ready()) process.exit(0)
if (!existsSync(py)) run(base, ['-m', 'venv', venv])
run(py, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', join(root, '__test__', 'requirements.txt')])
